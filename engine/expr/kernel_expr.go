package expr

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/kernel"
)

// kernelFn computes one output array from argument arrays of equal length.
type kernelFn func(ctx context.Context, mem memory.Allocator, args []arrow.Array) (arrow.Array, error)

// kernelExpr evaluates its arguments to arrays and hands them to a kernel
// written in Go for what Arrow's compute registry lacks.
type kernelExpr struct {
	display string
	args    []Expr
	typ     arrow.DataType
	fn      kernelFn
	// infix prints as "a display b" instead of "display(a, b)".
	infix bool
	// shown, when set, are the operands to print in place of args.
	shown []Expr
}

func (k *kernelExpr) DataType() arrow.DataType { return k.typ }

func (k *kernelExpr) String() string {
	args := k.args
	if k.shown != nil {
		args = k.shown
	}
	if k.infix && len(args) == 2 {
		p := precedence(k)
		return operand(args[0], p, false) + " " + k.display + " " + operand(args[1], p, true)
	}
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = a.String()
	}
	return fmt.Sprintf("%s(%s)", k.display, strings.Join(parts, ", "))
}

func (k *kernelExpr) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, k, mem, b)
}

func (k *kernelExpr) evalDatum(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	mem := exec.GetAllocator(ctx)
	args := make([]arrow.Array, 0, len(k.args))
	defer func() {
		for _, a := range args {
			a.Release()
		}
	}()
	for _, e := range k.args {
		a, err := evalArg(ctx, e, mem, b)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	out, err := k.fn(ctx, mem, args)
	if err != nil {
		return nil, err
	}
	// The datum holds out's data; out itself is released here, with the
	// child arrays a nested array (LIST, STRUCT, MAP) keeps of its own.
	defer out.Release()
	return compute.NewDatum(out), nil
}

// evalArg evaluates e over b to an array of b's length without wrapping the
// error (the outermost expression names itself once).
func evalArg(ctx context.Context, e Expr, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	d, err := e.evalDatum(ctx, b)
	if err != nil {
		return nil, err
	}
	return materialize(ctx, mem, d, int(b.NumRows()))
}

// caseExpr is CASE WHEN … THEN … ELSE … END. Each THEN is evaluated only on
// the rows that take its branch, so a branch guarded against bad input (a
// division by zero, say) never sees it.
type caseExpr struct {
	whens []Expr // boolean conditions (operand = value already folded in)
	thens []Expr
	els   Expr // nil gives null
	typ   arrow.DataType
}

func (c *caseExpr) DataType() arrow.DataType { return c.typ }

func (c *caseExpr) String() string {
	var sb strings.Builder
	sb.WriteString("CASE")
	for i := range c.whens {
		fmt.Fprintf(&sb, " WHEN %s THEN %s", c.whens[i], c.thens[i])
	}
	if c.els != nil {
		fmt.Fprintf(&sb, " ELSE %s", c.els)
	}
	sb.WriteString(" END")
	return sb.String()
}

func (c *caseExpr) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, c, mem, b)
}

func (c *caseExpr) evalDatum(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	mem := exec.GetAllocator(ctx)
	n := int(b.NumRows())
	// branch[i] is the index of the branch row i takes; len(whens) is ELSE.
	branch := make([]int, n)
	undecided := make([]int32, n) // rows of b, in order, still without a branch
	for i := range undecided {
		undecided[i] = int32(i)
	}
	elseIdx := len(c.whens)
	for w, when := range c.whens {
		if len(undecided) == 0 {
			break
		}
		sub, err := kernel.TakeRows(ctx, mem, b, undecided)
		if err != nil {
			return nil, err
		}
		cond, err := evalArg(ctx, when, mem, sub)
		sub.Release()
		if err != nil {
			return nil, err
		}
		bc := cond.(*array.Boolean)
		next := undecided[:0]
		for j, row := range undecided {
			if bc.IsValid(j) && bc.Value(j) {
				branch[row] = w
			} else {
				next = append(next, row)
			}
		}
		cond.Release()
		undecided = next
	}
	for _, row := range undecided {
		branch[row] = elseIdx
	}
	// Evaluate every branch over its rows, then interleave the results.
	results := make([]arrow.Array, 0, len(c.whens)+1)
	defer func() {
		for _, r := range results {
			r.Release()
		}
	}()
	rowsOf := make([][]int32, len(c.whens)+1)
	for row, br := range branch {
		rowsOf[br] = append(rowsOf[br], int32(row))
	}
	pos := make([]int64, n) // position of row in the concatenated results
	var offset int64
	for br, rows := range rowsOf {
		var (
			arr arrow.Array
			err error
		)
		switch {
		case len(rows) == 0:
			continue
		case br == elseIdx && c.els == nil:
			arr = array.MakeArrayOfNull(mem, c.typ, len(rows))
		default:
			e := c.els
			if br < elseIdx {
				e = c.thens[br]
			}
			var sub arrow.RecordBatch
			if sub, err = kernel.TakeRows(ctx, mem, b, rows); err != nil {
				return nil, err
			}
			arr, err = evalArg(ctx, e, mem, sub)
			sub.Release()
			if err != nil {
				return nil, err
			}
		}
		results = append(results, arr)
		for j, row := range rows {
			pos[row] = offset + int64(j)
		}
		offset += int64(len(rows))
	}
	if n == 0 {
		return compute.NewDatumWithoutOwning(array.MakeArrayOfNull(mem, c.typ, 0)), nil
	}
	all, err := array.Concatenate(results, mem)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	idx := make([]int32, len(pos))
	for i, p := range pos {
		idx[i] = int32(p)
	}
	out, err := kernel.Take(ctx, mem, all, idx)
	if err != nil {
		return nil, err
	}
	// The datum holds out's data; out is released with the child arrays
	// of its own a nested result keeps.
	defer out.Release()
	return compute.NewDatum(out), nil
}

// boolKernel builds a boolean array of n rows from a per-row function that
// reports the value and whether it is valid.
func boolKernel(mem memory.Allocator, n int, f func(i int) (v, ok bool)) arrow.Array {
	bld := array.NewBooleanBuilder(mem)
	defer bld.Release()
	bld.Reserve(n)
	for i := 0; i < n; i++ {
		if v, ok := f(i); ok {
			bld.UnsafeAppend(v)
		} else {
			bld.UnsafeAppendBoolToBitmap(false)
		}
	}
	return bld.NewArray()
}
