package operator

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ConcatBatches concatenates batches of schema into one, allocated from
// tc.Mem; the inputs keep their references.
func ConcatBatches(tc *TaskContext, schema *arrow.Schema, batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	return ConcatBatchesMem(tc.Mem, schema, batches)
}

// ConcatBatchesMem concatenates batches of schema into one, allocated from
// mem; the inputs keep their references.
func ConcatBatchesMem(mem memory.Allocator, schema *arrow.Schema, batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(batches) == 1 {
		batches[0].Retain()
		return batches[0], nil
	}
	cols := make([]arrow.Array, schema.NumFields())
	var rows int64
	for _, b := range batches {
		rows += b.NumRows()
	}
	for c := range cols {
		parts := make([]arrow.Array, len(batches))
		for i, b := range batches {
			parts[i] = b.Column(c)
		}
		arr, err := array.Concatenate(parts, mem)
		if err != nil {
			for _, a := range cols[:c] {
				a.Release()
			}
			return nil, err
		}
		cols[c] = arr
	}
	out := array.NewRecordBatch(schema, cols, rows)
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}

// ReleaseAll releases every array of as.
func ReleaseAll(as []arrow.Array) {
	for _, a := range as {
		a.Release()
	}
}

// ReleaseBatches releases every non-nil batch of bs.
func ReleaseBatches(bs []arrow.RecordBatch) {
	for _, b := range bs {
		if b != nil {
			b.Release()
		}
	}
}
