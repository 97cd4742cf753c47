package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Filter keeps the rows whose predicate is true; null counts as false.
type Filter struct {
	input     ExecutionPlan
	predicate Expr
}

var _ ExecutionPlan = (*Filter)(nil)

// NewFilter checks that predicate is boolean and binds it over input.
func NewFilter(input ExecutionPlan, predicate Expr) (*Filter, error) {
	if predicate.DataType().ID() != arrow.BOOL {
		return nil, fmt.Errorf("filter predicate %s is %s, not boolean: %w", predicate, predicate.DataType(), ErrInvalidPlan)
	}
	return &Filter{input: input, predicate: predicate}, nil
}

func (f *Filter) Schema() *arrow.Schema     { return f.input.Schema() }
func (f *Filter) OutputPartitions() int     { return f.input.OutputPartitions() }
func (f *Filter) Children() []ExecutionPlan { return []ExecutionPlan{f.input} }
func (f *Filter) String() string            { return fmt.Sprintf("Filter(%s)", f.predicate) }

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

func (o *filterOp) Schema() *arrow.Schema { return o.f.input.Schema() }
func (o *filterOp) Close() error          { return o.in.Close() }

func (o *filterOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for {
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

func (o *filterOp) apply(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	mask, err := o.f.predicate.Eval(ctx, o.tc.Mem, b)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	defer mask.Release()
	bm := mask.(*array.Boolean)
	rows := o.rows[:0]
	for i := 0; i < bm.Len(); i++ {
		if bm.IsValid(i) && bm.Value(i) {
			rows = append(rows, int32(i))
		}
	}
	o.rows = rows
	switch len(rows) {
	case int(b.NumRows()):
		b.Retain()
		return b, nil
	case 0:
		return b.NewSlice(0, 0), nil
	}
	out, err := takeRows(ctx, o.tc.Mem, b, rows)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return out, nil
}
