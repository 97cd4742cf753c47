package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/kernel"
)

// Filter keeps the rows whose predicate is true; null counts as false.
//
// Stacked filters (the planner pushes each conjunct of a WHERE clause down
// on its own) become one Filter with a list of conjuncts, evaluated in
// order: a batch is gathered once, for the rows that pass all of them,
// instead of once per conjunct. A conjunct is merged only when it cannot
// fail on any row (comparisons, IN, LIKE, AND/OR/NOT of columns and
// literals), since it now also sees rows an earlier conjunct rejected.
type Filter struct {
	input     ExecutionPlan
	conjuncts []expr.Expr
	// keep, when set, are the input's columns the filter outputs (schema):
	// a projection of plain columns over the filter narrows it, so the
	// columns only its predicates read are never gathered (TPC-H Q13's
	// order comments, 99 % of whose rows pass).
	keep   []int
	schema *arrow.Schema
}

var _ ExecutionPlan = (*Filter)(nil)

// NewFilter checks that predicate is boolean and binds it over input.
func NewFilter(input ExecutionPlan, predicate expr.Expr) (*Filter, error) {
	if predicate.DataType().ID() != arrow.BOOL {
		return nil, fmt.Errorf("filter predicate %s is %s, not boolean: %w", predicate, predicate.DataType(), ErrInvalidPlan)
	}
	return &Filter{input: input, conjuncts: []expr.Expr{predicate}}, nil
}

// merge returns the filter of f's conjuncts and then predicate (boolean,
// bound over f's schema), or nil when predicate may fail and must only see
// the rows f keeps.
func (f *Filter) merge(predicate expr.Expr) *Filter {
	if predicate.DataType().ID() != arrow.BOOL || !expr.CannotFail(predicate) || f.keep != nil {
		return nil
	}
	return &Filter{input: f.input, conjuncts: append(slices.Clip(f.conjuncts), predicate)}
}

// narrow makes the filter output only its input's columns cols
// (ascending).
func (f *Filter) narrow(cols []int) {
	in := f.input.Schema()
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = in.Field(c)
	}
	f.keep, f.schema = cols, arrow.NewSchema(fields, nil)
}

// Schema is the input's, or the columns the filter keeps.
func (f *Filter) Schema() *arrow.Schema {
	if f.schema != nil {
		return f.schema
	}
	return f.input.Schema()
}

func (f *Filter) OutputPartitions() int     { return f.input.OutputPartitions() }
func (f *Filter) Children() []ExecutionPlan { return []ExecutionPlan{f.input} }
func (f *Filter) String() string {
	parts := make([]string, len(f.conjuncts))
	for i, c := range f.conjuncts {
		parts[i] = c.String()
		if len(f.conjuncts) > 1 && strings.Contains(parts[i], " OR ") {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	out := ""
	if f.keep != nil {
		in := f.input.Schema()
		cols := make([]string, len(f.keep))
		for i, c := range f.keep {
			cols[i] = fmt.Sprintf("%s@%d", in.Field(c).Name, c)
		}
		out = ", output=[" + strings.Join(cols, ", ") + "]"
	}
	return fmt.Sprintf("Filter(%s%s)", strings.Join(parts, " AND "), out)
}

func (f *Filter) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	in, err := f.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	return &filterOp{f: f, in: in, tc: tc}, nil
}

type filterOp struct {
	f    *Filter
	in   Operator
	tc   *TaskContext
	rows []int32 // selected rows of the current batch, reused
}

func (o *filterOp) Schema() *arrow.Schema { return o.f.Schema() }
func (o *filterOp) Close() error          { return o.in.Close() }

func (o *filterOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err // a long run of batches without a row
		}
		b, err := o.in.Next(ctx)
		if err != nil {
			return nil, err
		}
		out, err := o.apply(ctx, b)
		b.Release()
		if err != nil {
			return nil, err
		}
		if out.NumRows() > 0 {
			return out, nil
		}
		out.Release()
	}
}

// denseSelection: while at least this share of a batch's rows is selected,
// the next conjunct is evaluated over the whole batch (cheaper than
// gathering it first); below, the batch is gathered and the remaining
// conjuncts see only the selected rows.
const denseSelection = 4

// apply returns the rows of b that pass every conjunct (b stays the
// caller's).
func (o *filterOp) apply(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	b.Retain()
	rows, all := o.rows[:0], true
	for _, pred := range o.f.conjuncts {
		if !all && len(rows)*denseSelection < int(b.NumRows()) {
			nb, err := kernel.TakeRows(ctx, o.tc.Mem, b, rows)
			b.Release()
			if err != nil {
				return nil, fmt.Errorf("filter: %w", err)
			}
			b, rows, all = nb, rows[:0], true
		}
		mask, err := pred.Eval(ctx, o.tc.Mem, b)
		if err != nil {
			b.Release()
			return nil, fmt.Errorf("filter: %w", err)
		}
		if all {
			rows = selectTrue(mask.(*array.Boolean), rows[:0])
			all = false
		} else {
			rows = keepTrue(mask.(*array.Boolean), rows)
		}
		mask.Release()
		if len(rows) == 0 {
			break
		}
	}
	o.rows = rows
	if o.f.keep != nil {
		cols := make([]arrow.Array, len(o.f.keep))
		for i, c := range o.f.keep {
			cols[i] = b.Column(c)
		}
		nb := array.NewRecordBatch(o.f.schema, cols, b.NumRows())
		b.Release()
		b = nb
	}
	switch len(rows) {
	case int(b.NumRows()):
		return b, nil
	case 0:
		out := b.NewSlice(0, 0)
		b.Release()
		return out, nil
	}
	out, err := kernel.TakeRows(ctx, o.tc.Mem, b, rows)
	b.Release()
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return out, nil
}

// selectTrue appends to rows the indexes where m is true (not null),
// scanning the bitmaps a word at a time.
func selectTrue(m *array.Boolean, rows []int32) []int32 {
	n, off := m.Len(), m.Data().Offset()
	values := m.Data().Buffers()[1].Bytes()
	var valid []byte
	if m.NullN() > 0 {
		valid = m.Data().Buffers()[0].Bytes()
	}
	i := 0
	if off%8 == 0 {
		values = values[off/8:]
		if valid != nil {
			valid = valid[off/8:]
		}
		for ; i+64 <= n; i += 64 {
			w := binary.LittleEndian.Uint64(values[i/8:])
			if valid != nil {
				w &= binary.LittleEndian.Uint64(valid[i/8:])
			}
			for w != 0 {
				rows = append(rows, int32(i+bits.TrailingZeros64(w)))
				w &= w - 1
			}
		}
		off = 0
	}
	for ; i < n; i++ {
		if bitutil.BitIsSet(values, off+i) && (valid == nil || bitutil.BitIsSet(valid, off+i)) {
			rows = append(rows, int32(i))
		}
	}
	return rows
}

// keepTrue keeps, in place, the rows where m is true (not null).
func keepTrue(m *array.Boolean, rows []int32) []int32 {
	off := m.Data().Offset()
	values := m.Data().Buffers()[1].Bytes()
	var valid []byte
	if m.NullN() > 0 {
		valid = m.Data().Buffers()[0].Bytes()
	}
	k := 0
	for _, r := range rows {
		if bitutil.BitIsSet(values, off+int(r)) && (valid == nil || bitutil.BitIsSet(valid, off+int(r))) {
			rows[k] = r
			k++
		}
	}
	return rows[:k]
}
