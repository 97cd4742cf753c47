package optest

import (
	"context"
	"io"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/operator"
)

// Source is a one-partition plan node whose operator returns Batches in
// order, each retained for the caller. The test releases Batches.
type Source struct {
	schema  *arrow.Schema
	Batches []arrow.RecordBatch
}

var _ operator.ExecutionPlan = (*Source)(nil)

// NewSource is an empty source of batches of schema.
func NewSource(schema *arrow.Schema) *Source { return &Source{schema: schema} }

// Schema is the batches' schema.
func (s *Source) Schema() *arrow.Schema { return s.schema }

// OutputPartitions is 1.
func (s *Source) OutputPartitions() int { return 1 }

// Children is none.
func (s *Source) Children() []operator.ExecutionPlan { return nil }

// String is "Mem".
func (s *Source) String() string { return "Mem" }

// Execute opens the one partition.
func (s *Source) Execute(context.Context, int, *operator.TaskContext) (operator.Operator, error) {
	return &sourceOp{s: s}, nil
}

// Rows is the number of rows of Batches.
func (s *Source) Rows() int64 {
	var n int64
	for _, b := range s.Batches {
		n += b.NumRows()
	}
	return n
}

// Bytes is the memory of Batches (alloc.BatchBytes).
func (s *Source) Bytes() int64 {
	var n int64
	for _, b := range s.Batches {
		n += alloc.BatchBytes(b)
	}
	return n
}

type sourceOp struct {
	s *Source
	i int
}

func (o *sourceOp) Schema() *arrow.Schema { return o.s.schema }
func (o *sourceOp) Close() error          { return nil }
func (o *sourceOp) Next(context.Context) (arrow.RecordBatch, error) {
	if o.i >= len(o.s.Batches) {
		return nil, io.EOF
	}
	b := o.s.Batches[o.i]
	o.i++
	b.Retain()
	return b, nil
}
