package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

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

// SharedState returns the task's state for key, creating it with mk (and
// registering its cleanup) on first use.
func (tc *TaskContext) SharedState(key any, mk func() (any, func())) any {
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

// RowsPerBatch is the batch size a node aims for: its plan's override when
// set, else the task's, else DefaultBatchSize (tc may be nil).
func (tc *TaskContext) RowsPerBatch(override int64) int {
	if override > 0 {
		return int(override)
	}
	if tc != nil && tc.BatchSize > 0 {
		return tc.BatchSize
	}
	return DefaultBatchSize
}

// CheckPartition refuses a partition p does not have (ErrInvalidPlan).
func CheckPartition(p ExecutionPlan, partition int) error {
	if partition < 0 || partition >= p.OutputPartitions() {
		return fmt.Errorf("%s: partition %d out of range [0,%d): %w", p, partition, p.OutputPartitions(), errs.ErrInvalidPlan)
	}
	return nil
}

// ForEachBatch drains op, calling f with each batch (f retains what it
// keeps), and closes op. It stops with ctx's error between batches.
func ForEachBatch(ctx context.Context, op Operator, f func(arrow.RecordBatch) error) error {
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
