package expr

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
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
	if d, ok, err := c.masked(ctx, mem, b); ok || err != nil {
		return d, err
	}
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
		var cond arrow.Array
		var err error
		if len(undecided) == n {
			cond, err = evalArg(ctx, when, mem, b) // every row: no copy of b
		} else {
			var sub arrow.RecordBatch
			if sub, err = takeUsed(ctx, mem, b, undecided, when); err != nil {
				return nil, err
			}
			cond, err = evalArg(ctx, when, mem, sub)
			sub.Release()
		}
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
	if lits, err := c.constantBranches(ctx, mem); err != nil || lits != nil {
		if err != nil {
			return nil, err
		}
		// Every branch a constant: the result gathers them by branch.
		defer lits.Release()
		idx := make([]int32, n)
		for i, br := range branch {
			idx[i] = int32(br)
		}
		out, err := kernel.Take(ctx, mem, lits, idx)
		if err != nil {
			return nil, err
		}
		defer out.Release()
		return compute.NewDatum(out), nil
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
	for br, rows := range rowsOf {
		if len(rows) == n && n > 0 {
			// Every row takes one branch (a condition constant within
			// the batch): its value over b as it is.
			if br == elseIdx && c.els == nil {
				return compute.NewDatumWithoutOwning(array.MakeArrayOfNull(mem, c.typ, n)), nil
			}
			e := c.els
			if br < elseIdx {
				e = c.thens[br]
			}
			arr, err := evalArg(ctx, e, mem, b)
			if err != nil {
				return nil, err
			}
			defer arr.Release()
			return compute.NewDatum(arr), nil
		}
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
			if sub, err = takeUsed(ctx, mem, b, rows, e); err != nil {
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

// constantBranches returns, when every THEN and the ELSE are constants
// (cast or not; no ELSE is NULL), their values in branch order, ELSE
// last, as one array of c's type; nil otherwise, or when one fails to
// evaluate. CASE WHEN … THEN 1 ELSE 0
// END then gathers from it by branch (TPC-DS q99's five, q66's).
func (c *caseExpr) constantBranches(ctx context.Context, mem memory.Allocator) (arrow.Array, error) {
	constant := func(e Expr) bool {
		if x, ok := e.(*castExpr); ok {
			e = x.in
		}
		_, ok := e.(*literalExpr)
		return ok
	}
	for _, e := range c.thens {
		if !constant(e) {
			return nil, nil
		}
	}
	if c.els != nil && !constant(c.els) {
		return nil, nil
	}
	one := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1)
	defer one.Release()
	vals := make([]arrow.Array, 0, len(c.thens)+1)
	defer func() {
		for _, v := range vals {
			v.Release()
		}
	}()
	for _, e := range append(slices.Clip(c.thens), c.els) {
		var v arrow.Array
		if e == nil {
			v = array.MakeArrayOfNull(mem, c.typ, 1)
		} else {
			var err error
			if v, err = evalArg(ctx, e, mem, one); err != nil {
				// (A constant that fails, a cast, fails only if a row
				// takes its branch: the general path tells.)
				return nil, nil
			}
		}
		vals = append(vals, v)
		if !arrow.TypeEqual(v.DataType(), c.typ) || v.Len() != 1 {
			return nil, nil
		}
	}
	return array.Concatenate(vals, mem)
}

// takeUsed gathers rows of b for evaluating e over them: the columns e
// reads are gathered, the others stand as null columns of their length
// (a branch THEN 1 ELSE 0 over a join's output gathered every string
// column of it: TPC-DS q99's CASEs, a third of its CPU). When e holds an
// expression kind columnsUsed does not know, every column is gathered.
func takeUsed(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, rows []int32, e Expr) (arrow.RecordBatch, error) {
	used := make([]bool, b.NumCols())
	if !columnsUsed(e, used) {
		return kernel.TakeRows(ctx, mem, b, rows)
	}
	fields := make([]arrow.Field, b.NumCols())
	cols := make([]arrow.Array, b.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		if !used[i] {
			fields[i] = arrow.Field{Name: b.Schema().Field(i).Name, Type: arrow.Null, Nullable: true}
			cols[i] = array.NewNull(len(rows))
			continue
		}
		fields[i] = b.Schema().Field(i)
		c, err := kernel.Take(ctx, mem, b.Column(i), rows)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(rows))), nil
}

// columnsUsed marks in used the input columns e reads, and reports false
// when e holds an expression it does not know (whose columns it cannot
// tell).
func columnsUsed(e Expr, used []bool) bool {
	all := func(es ...Expr) bool {
		for _, a := range es {
			if a != nil && !columnsUsed(a, used) {
				return false
			}
		}
		return true
	}
	switch x := e.(type) {
	case *literalExpr:
		return true
	case *columnExpr:
		if x.index < 0 || x.index >= len(used) {
			return false
		}
		used[x.index] = true
		return true
	case *castExpr:
		return all(x.in)
	case *funcExpr:
		return all(x.args...)
	case *kernelExpr:
		return all(x.args...)
	case *inListExpr:
		return all(x.in) && all(x.list...)
	case *caseExpr:
		return all(x.whens...) && all(x.thens...) && all(x.els)
	}
	return false
}

// masked evaluates CASE WHEN cond THEN x [ELSE NULL] END, where x is a column (which
// cannot fail where the condition does not hold), as x with the rows
// where cond is not true made null: x's buffers are shared, only its
// validity is new (grouping sets null the keys a set leaves out this way,
// expandSets in the planner). ok is false for other CASEs.
func (c *caseExpr) masked(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (d compute.Datum, ok bool, err error) {
	if len(c.whens) != 1 || c.els != nil && !isNullLiteral(c.els) {
		return nil, false, nil
	}
	if _, isCol := c.thens[0].(*columnExpr); !isCol || !arrow.TypeEqual(c.thens[0].DataType(), c.typ) {
		return nil, false, nil
	}
	switch c.typ.ID() {
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.STRUCT, arrow.MAP, arrow.DENSE_UNION, arrow.SPARSE_UNION, arrow.NULL, arrow.RUN_END_ENCODED, arrow.EXTENSION:
		return nil, false, nil
	}
	cond, err := evalArg(ctx, c.whens[0], mem, b)
	if err != nil {
		return nil, true, err
	}
	defer cond.Release()
	bc, isBool := cond.(*array.Boolean)
	if !isBool {
		return nil, false, nil
	}
	x, err := evalArg(ctx, c.thens[0], mem, b)
	if err != nil {
		return nil, true, err
	}
	defer x.Release()
	n, off := x.Len(), x.Data().Offset()
	valid := alloc.NewUninitBuffer(mem, int(bitutil.BytesForBits(int64(off+n))))
	defer valid.Release()
	bits := valid.Bytes()
	cd := bc.Data()
	bitutil.BitmapAnd(cd.Buffers()[1].Bytes(), onesIfNil(cd.Buffers()[0], cd.Offset()+n), int64(cd.Offset()), int64(cd.Offset()), bits, int64(off), int64(n))
	if x.NullN() > 0 {
		bitutil.BitmapAnd(bits, x.NullBitmapBytes(), int64(off), int64(off), bits, int64(off), int64(n))
	}
	bufs := slices.Clone(x.Data().Buffers())
	bufs[0] = valid
	nd := array.NewData(c.typ, n, bufs, x.Data().Children(), array.UnknownNullCount, off)
	if dict := x.Data().Dictionary(); dict != nil {
		nd.SetDictionary(dict)
	}
	defer nd.Release()
	out := array.MakeFromData(nd)
	defer out.Release()
	return compute.NewDatum(out), true, nil
}

// isNullLiteral reports whether e is the constant NULL (of any type),
// cast or not.
func isNullLiteral(e Expr) bool {
	if c, ok := e.(*castExpr); ok {
		e = c.in
	}
	l, ok := e.(*literalExpr)
	return ok && !l.value.IsValid()
}

// onesIfNil is a validity buffer's bytes, or a bitmap of n set bits where
// there is none (no nulls).
func onesIfNil(buf *memory.Buffer, n int) []byte {
	if buf != nil {
		return buf.Bytes()
	}
	ones := make([]byte, bitutil.BytesForBits(int64(n)))
	for i := range ones {
		ones[i] = 0xff
	}
	return ones
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
