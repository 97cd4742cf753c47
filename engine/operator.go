package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
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

// Operator is a running stream of record batches for one partition.
//
// The contract every operator keeps and may rely on from its inputs:
//
//   - Schema is valid as soon as Execute returns, before any Next, and never
//     changes; every batch Next returns has exactly that schema.
//   - Next returns the next batch, or io.EOF when the stream is done. The
//     caller owns the returned batch: it must Release it exactly once, and
//     Retain it to keep it (or a column of it) beyond that. A batch may
//     have zero rows. After io.EOF or another error, Next may be called
//     again only to get the same or another error.
//   - Buffers come from TaskContext.Mem, which recycles them: once a batch's
//     last reference is released its memory is handed to the next
//     allocation, so a value read from a released batch (a string's bytes,
//     a slice of a column) is garbage. Copy what must outlive the batch, or
//     Retain the batch. Executors started with --poison-buffers overwrite
//     freed memory so such a mistake fails every time, not by chance.
//   - One goroutine at a time calls Next and Close (they need not be the
//     same goroutine, but calls are never concurrent). An operator may run
//     goroutines of its own (the shuffle reader prefetches partitions);
//     it owns them, and Close stops them and waits for them.
//   - Cancellation: the ctx of Execute and of each Next is the task's. When
//     it is cancelled (the job was cancelled, the executor drains past its
//     timeout) operators that wait or loop (scans between batches, fetches,
//     sorts and spills, and any operator that reads several input batches
//     in one Next: filters, aggregates, joins, whose probe loops also look
//     every 1,024 rows) return ctx.Err() from Next; others return when
//     their inputs do. The caller then calls Close, which releases
//     everything the operator holds whether or not its stream ended.
//   - Close releases every batch and buffer the operator holds, is
//     idempotent, and is safe to call without Next. Memory reserved from
//     TaskContext.Pool is returned by Close at the latest; spill files go
//     by Close or, at the latest, when the task ends (TaskContext.AtEnd).
type Operator interface {
	Schema() *arrow.Schema
	Next(ctx context.Context) (arrow.RecordBatch, error)
	Close() error
}

// ExecutionPlan is a node of a physical plan: it knows its output schema and
// partition count and opens an Operator for any one of its partitions.
type ExecutionPlan interface {
	Schema() *arrow.Schema
	// OutputPartitions is the number of partitions Execute accepts.
	OutputPartitions() int
	Children() []ExecutionPlan
	// Execute opens partition p. The returned Operator must be closed.
	Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error)
	// String names the node for EXPLAIN output and errors.
	String() string
}

// TaskContext is what a running task gives its operators.
type TaskContext struct {
	JobID      string
	StageID    uint32
	Partition  int
	ExecutorID string
	// WorkDir is the executor's root directory for job data.
	WorkDir string
	// Mem allocates every Arrow buffer of the task.
	Mem memory.Allocator
	// Fetcher reads shuffle partitions held by other executors.
	Fetcher shuffle.Fetcher
	// HostLocal, when set, finds the other executors whose shuffle files
	// the task opens straight from disk instead of fetching them.
	HostLocal *shuffle.HostLocal
	// BatchSize is the target number of rows per batch.
	BatchSize int
	// Properties are the job's session properties.
	Properties map[string]string
	// Metrics, when set, collects per-operator metrics of the task.
	Metrics *Metrics
	// Pool is the executor's memory pool; nil means unlimited.
	Pool *alloc.MemoryPool

	mu      sync.Mutex
	atEnd   []func()
	written []*kapotv1.WrittenFile
	// shared holds per-task state of plan nodes whose partitions are
	// consumed together (in-stage repartition), keyed by the node.
	shared map[any]any
}

// AddWritten records a file the task wrote (see Writer).
func (tc *TaskContext) AddWritten(f *kapotv1.WrittenFile) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.written = append(tc.written, f)
}

// Written returns the files the task wrote, in the order they were
// completed.
func (tc *TaskContext) Written() []*kapotv1.WrittenFile {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return append([]*kapotv1.WrittenFile(nil), tc.written...)
}

// AtEnd registers f to run when the task ends (End), in reverse order of
// registration: releasing shared buffers, removing spill files.
func (tc *TaskContext) AtEnd(f func()) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.atEnd = append(tc.atEnd, f)
}

// End runs the functions registered with AtEnd. The task's runner calls it
// once every operator is closed; it is idempotent.
func (tc *TaskContext) End() {
	tc.mu.Lock()
	fs := tc.atEnd
	tc.atEnd = nil
	tc.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// sharedState returns the task's state for key, creating it with mk (and
// registering its cleanup) on first use.
func (tc *TaskContext) sharedState(key any, mk func() (any, func())) any {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if v, ok := tc.shared[key]; ok {
		return v
	}
	if tc.shared == nil {
		tc.shared = map[any]any{}
	}
	v, cleanup := mk()
	tc.shared[key] = v
	tc.atEnd = append(tc.atEnd, func() {
		tc.mu.Lock()
		delete(tc.shared, key)
		tc.mu.Unlock()
		cleanup()
	})
	return v
}

// DefaultBatchSize is the row count scans aim for when a plan does not say.
// Larger batches spread each operator's per-batch costs (kernel dispatch,
// allocation, IPC framing of shuffle output) over more rows: at TPC-H SF 1,
// 32 Ki rows ran six scan-heavy queries in 5.3 s against 6.8 s with 8 Ki
// rows (same machine, back to back); 64 Ki rows gained nothing more.
const DefaultBatchSize = 32768

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
		return 0, fmt.Errorf("session property %s=%q: want a row count from 1 to %d: %w", PropBatchSize, v, 1<<20, ErrInvalidPlan)
	}
	return n, nil
}

func (tc *TaskContext) batchSize(override int64) int {
	if override > 0 {
		return int(override)
	}
	if tc != nil && tc.BatchSize > 0 {
		return tc.BatchSize
	}
	return DefaultBatchSize
}

func checkPartition(p ExecutionPlan, partition int) error {
	if partition < 0 || partition >= p.OutputPartitions() {
		return fmt.Errorf("%s: partition %d out of range [0,%d): %w", p, partition, p.OutputPartitions(), ErrInvalidPlan)
	}
	return nil
}

// forEachBatch drains op, calling f with each batch (f retains what it
// keeps), and closes op. It stops with ctx's error between batches.
func forEachBatch(ctx context.Context, op Operator, f func(arrow.RecordBatch) error) error {
	defer op.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := op.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		err = f(b)
		b.Release()
		if err != nil {
			return err
		}
	}
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
