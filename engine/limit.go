package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// Limit skips and then fetches rows of each partition; it stops reading its
// input as soon as fetch rows were returned.
type Limit struct {
	input       ExecutionPlan
	skip, fetch int64
}

var _ ExecutionPlan = (*Limit)(nil)

// NewLimit builds a limit; fetch < 0 means no limit.
func NewLimit(input ExecutionPlan, skip, fetch int64) (*Limit, error) {
	if skip < 0 {
		return nil, fmt.Errorf("limit: negative skip %d: %w", skip, ErrInvalidPlan)
	}
	return &Limit{input: input, skip: skip, fetch: fetch}, nil
}

func (l *Limit) Schema() *arrow.Schema     { return l.input.Schema() }
func (l *Limit) OutputPartitions() int     { return l.input.OutputPartitions() }
func (l *Limit) Children() []ExecutionPlan { return []ExecutionPlan{l.input} }
func (l *Limit) String() string            { return fmt.Sprintf("Limit(skip=%d, fetch=%d)", l.skip, l.fetch) }

func (l *Limit) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	in, err := l.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	return &limitOp{l: l, in: in, skip: l.skip, left: l.fetch}, nil
}

type limitOp struct {
	l          *Limit
	in         Operator
	skip, left int64
}

func (o *limitOp) Schema() *arrow.Schema { return o.l.input.Schema() }
func (o *limitOp) Close() error          { return o.in.Close() }

func (o *limitOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if o.left == 0 {
			o.in.Close()
			return nil, io.EOF
		}
		b, err := o.in.Next(ctx)
		if err != nil {
			return nil, err
		}
		n := b.NumRows()
		start := int64(0)
		if o.skip > 0 {
			start = min(o.skip, n)
			o.skip -= start
		}
		end := n
		if o.left > 0 && end-start > o.left {
			end = start + o.left
		}
		if start == end {
			b.Release()
			continue
		}
		if o.left > 0 {
			o.left -= end - start
		}
		if start == 0 && end == n {
			return b, nil
		}
		out := b.NewSlice(start, end)
		b.Release()
		return out, nil
	}
}
