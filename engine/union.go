package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/engine/operator"
)

// Union concatenates its inputs (UNION ALL). Its partitions are those of the
// first input, then those of the second, and so on; column names come from
// the first input and types must agree.
type Union struct {
	inputs []ExecutionPlan
	schema *arrow.Schema
}

var _ ExecutionPlan = (*Union)(nil)

// NewUnion checks that the inputs have the same column types.
func NewUnion(inputs []ExecutionPlan) (*Union, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("union without inputs: %w", ErrInvalidPlan)
	}
	first := inputs[0].Schema()
	fields := append([]arrow.Field{}, first.Fields()...)
	for i, in := range inputs[1:] {
		s := in.Schema()
		if s.NumFields() != first.NumFields() {
			return nil, fmt.Errorf("union input %d has %d columns, input 0 has %d: %w", i+1, s.NumFields(), first.NumFields(), ErrInvalidPlan)
		}
		for c, f := range s.Fields() {
			if !arrow.TypeEqual(f.Type, first.Field(c).Type) {
				return nil, fmt.Errorf("union input %d column %d (%s) is %s, input 0 has %s: %w", i+1, c, f.Name, f.Type, first.Field(c).Type, ErrInvalidPlan)
			}
			fields[c].Nullable = fields[c].Nullable || f.Nullable
		}
	}
	return &Union{inputs: inputs, schema: arrow.NewSchema(fields, nil)}, nil
}

func (u *Union) Schema() *arrow.Schema     { return u.schema }
func (u *Union) Children() []ExecutionPlan { return u.inputs }
func (u *Union) String() string            { return fmt.Sprintf("Union(%d inputs)", len(u.inputs)) }

func (u *Union) OutputPartitions() int {
	n := 0
	for _, in := range u.inputs {
		n += in.OutputPartitions()
	}
	return n
}

func (u *Union) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := operator.CheckPartition(u, p); err != nil {
		return nil, err
	}
	for _, in := range u.inputs {
		if p < in.OutputPartitions() {
			op, err := in.Execute(ctx, p, tc)
			if err != nil {
				return nil, err
			}
			return &renameOp{in: op, schema: u.schema}, nil
		}
		p -= in.OutputPartitions()
	}
	return nil, fmt.Errorf("union partition out of range: %w", ErrInvalidPlan)
}

// renameOp passes batches through under another schema with the same types.
type renameOp struct {
	in     Operator
	schema *arrow.Schema
}

func (o *renameOp) Schema() *arrow.Schema { return o.schema }
func (o *renameOp) Close() error          { return o.in.Close() }
func (o *renameOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	b, err := o.in.Next(ctx)
	if err != nil {
		return nil, err
	}
	if b.Schema().Equal(o.schema) {
		return b, nil
	}
	defer b.Release()
	return array.NewRecordBatch(o.schema, b.Columns(), b.NumRows()), nil
}

// CoalesceBatches concatenates small batches until each holds at least the
// target number of rows; batches that are already large pass through.
type CoalesceBatches struct {
	input  ExecutionPlan
	target int64
}

var _ ExecutionPlan = (*CoalesceBatches)(nil)

// NewCoalesceBatches coalesces input's batches to target rows (0: the task's
// batch size).
func NewCoalesceBatches(input ExecutionPlan, target int64) (*CoalesceBatches, error) {
	if target < 0 {
		return nil, fmt.Errorf("coalesce batches target %d is negative: %w", target, ErrInvalidPlan)
	}
	return &CoalesceBatches{input: input, target: target}, nil
}

func (c *CoalesceBatches) Schema() *arrow.Schema     { return c.input.Schema() }
func (c *CoalesceBatches) OutputPartitions() int     { return c.input.OutputPartitions() }
func (c *CoalesceBatches) Children() []ExecutionPlan { return []ExecutionPlan{c.input} }
func (c *CoalesceBatches) String() string            { return fmt.Sprintf("CoalesceBatches(target=%d)", c.target) }

func (c *CoalesceBatches) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	in, err := c.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	return &coalesceBatchesOp{c: c, in: in, tc: tc, target: int64(tc.RowsPerBatch(c.target))}, nil
}

type coalesceBatchesOp struct {
	c      *CoalesceBatches
	in     Operator
	tc     *TaskContext
	target int64
	buf    []arrow.RecordBatch
	rows   int64
	done   bool
}

func (o *coalesceBatchesOp) Schema() *arrow.Schema { return o.c.input.Schema() }

func (o *coalesceBatchesOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for !o.done {
		b, err := o.in.Next(ctx)
		if err == io.EOF {
			o.done = true
			break
		}
		if err != nil {
			return nil, err
		}
		if b.NumRows() == 0 {
			b.Release()
			continue
		}
		if len(o.buf) == 0 && b.NumRows() >= o.target {
			return b, nil
		}
		o.buf = append(o.buf, b)
		o.rows += b.NumRows()
		if o.rows >= o.target {
			return o.flush()
		}
	}
	if len(o.buf) > 0 {
		return o.flush()
	}
	return nil, io.EOF
}

func (o *coalesceBatchesOp) flush() (arrow.RecordBatch, error) {
	out, err := operator.ConcatBatches(o.tc, o.c.input.Schema(), o.buf)
	o.release()
	return out, err
}

func (o *coalesceBatchesOp) release() {
	for _, b := range o.buf {
		b.Release()
	}
	o.buf, o.rows = o.buf[:0], 0
}

func (o *coalesceBatchesOp) Close() error {
	o.release()
	o.done = true
	return o.in.Close()
}
