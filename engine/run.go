package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/wire"
)

// ErrNotSupported marks plans, types or expressions the engine cannot run.
// It is the wire package's, so errors.Is works across both.
var ErrNotSupported = wire.ErrNotSupported

// ErrInvalidPlan marks plans that are malformed (missing inputs, bad column
// references, out-of-range partitions).
var ErrInvalidPlan = wire.ErrInvalidPlan

// ErrResourcesExhausted marks a task that needs more memory than its share
// of the pool (see alloc.MemoryPool) or another bound.
var ErrResourcesExhausted = errs.ErrResourcesExhausted

// PropBatchSize is the session property setting the rows per batch of a
// query's scans and coalesced batches (1 to 1 Mi; default DefaultBatchSize).
// Smaller batches fit small memory pools.
const PropBatchSize = "kapot.batch_size"

// BatchSizeProperty returns the batch size props ask for, 0 when they do not.
func BatchSizeProperty(props map[string]string) (int, error) {
	v, ok := props[PropBatchSize]
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1<<20 {
		return 0, fmt.Errorf("session property %s=%q: want a row count from 1 to %d: %w", PropBatchSize, v, 1<<20, errs.ErrInvalidPlan)
	}
	return n, nil
}

// Collect drains op, returning every batch it produced. The caller releases
// the batches; op is closed.
func Collect(ctx context.Context, op Operator) ([]arrow.RecordBatch, error) {
	defer op.Close()
	var out []arrow.RecordBatch
	for {
		b, err := op.Next(ctx)
		if err == nil && ctx.Err() != nil {
			b.Release()
			err = ctx.Err()
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			for _, r := range out {
				r.Release()
			}
			return nil, err
		}
		out = append(out, b)
	}
}

// ExecuteCollect runs every partition of p in turn and returns all batches.
// It ends the task context (TaskContext.End) when done.
func ExecuteCollect(ctx context.Context, p ExecutionPlan, tc *TaskContext) ([]arrow.RecordBatch, error) {
	defer tc.End()
	var out []arrow.RecordBatch
	release := func() {
		for _, r := range out {
			r.Release()
		}
	}
	for i := 0; i < p.OutputPartitions(); i++ {
		op, err := p.Execute(ctx, i, tc)
		if err != nil {
			release()
			return nil, err
		}
		bs, err := Collect(ctx, op)
		if err != nil {
			release()
			return nil, err
		}
		out = append(out, bs...)
	}
	return out, nil
}
