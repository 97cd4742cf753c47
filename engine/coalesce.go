package engine

import (
	"context"
	"errors"
	"io"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine/operator"
)

// CoalescePartitions merges all input partitions into one, reading them in
// partition order.
type CoalescePartitions struct {
	input ExecutionPlan
}

var _ ExecutionPlan = (*CoalescePartitions)(nil)

// NewCoalescePartitions merges the partitions of input.
func NewCoalescePartitions(input ExecutionPlan) *CoalescePartitions {
	return &CoalescePartitions{input: input}
}

func (c *CoalescePartitions) Schema() *arrow.Schema     { return c.input.Schema() }
func (c *CoalescePartitions) OutputPartitions() int     { return 1 }
func (c *CoalescePartitions) Children() []ExecutionPlan { return []ExecutionPlan{c.input} }
func (c *CoalescePartitions) String() string            { return "CoalescePartitions" }

func (c *CoalescePartitions) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := operator.CheckPartition(c, p); err != nil {
		return nil, err
	}
	return &coalesceOp{c: c, tc: tc}, nil
}

type coalesceOp struct {
	c    *CoalescePartitions
	tc   *TaskContext
	cur  Operator
	next int
}

func (o *coalesceOp) Schema() *arrow.Schema { return o.c.input.Schema() }

func (o *coalesceOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if o.cur == nil {
			if o.next >= o.c.input.OutputPartitions() {
				return nil, io.EOF
			}
			op, err := o.c.input.Execute(ctx, o.next, o.tc)
			if err != nil {
				return nil, err
			}
			o.next++
			o.cur = op
		}
		b, err := o.cur.Next(ctx)
		if errors.Is(err, io.EOF) {
			o.cur.Close()
			o.cur = nil
			continue
		}
		return b, err
	}
}

func (o *coalesceOp) Close() error {
	o.next = o.c.input.OutputPartitions()
	if o.cur != nil {
		err := o.cur.Close()
		o.cur = nil
		return err
	}
	return nil
}
