package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// Task is what the executor hands an Engine to run.
type Task struct {
	Def        *kapotv1.TaskDefinition
	ExecutorID string
	WorkDir    string
	Mem        memory.Allocator
	// Pool is the executor's memory pool the task's operators reserve from.
	Pool    *engine.MemoryPool
	Fetcher shuffle.Fetcher
	// HostLocal finds the peers whose shuffle files are read from disk.
	HostLocal *shuffle.HostLocal
	// Store opens the data files scans read (local, S3, HTTP), through the
	// executor's data cache when it has one.
	Store *objstore.Registry
	// ShuffleCompression applies when the session does not choose one.
	ShuffleCompression string
	// Footers keeps the Parquet footers the executor's scans read.
	Footers *engine.FooterCache
}

// Engine runs one task: decode its plan, run its partition and write its
// shuffle output. It is pluggable; ArrowEngine is the default.
type Engine interface {
	RunTask(ctx context.Context, t *Task) (*kapotv1.SuccessfulTask, error)
}

// ArrowEngine runs plans with the vectorized Arrow engine.
type ArrowEngine struct{}

var _ Engine = ArrowEngine{}

// RunTask implements Engine.
func (ArrowEngine) RunTask(ctx context.Context, t *Task) (*kapotv1.SuccessfulTask, error) {
	plan, err := engine.DecodePlanWith(t.Def.GetPlan(), engine.BuildOptions{Ctx: ctx, Store: t.Store, Properties: t.Def.GetSessionProperties(), Footers: t.Footers})
	if err != nil {
		return nil, err
	}
	w, ok := plan.(*engine.ShuffleWriter)
	if !ok {
		return nil, fmt.Errorf("stage plan root is %s, want a shuffle writer: %w", plan, engine.ErrInvalidPlan)
	}
	if w.JobID != t.Def.GetJobId() || w.StageID != t.Def.GetStageId() {
		return nil, fmt.Errorf("plan writes job %s stage %d, task is job %s stage %d: %w", w.JobID, w.StageID, t.Def.GetJobId(), t.Def.GetStageId(), engine.ErrInvalidPlan)
	}
	tc := &engine.TaskContext{
		JobID: t.Def.GetJobId(), StageID: t.Def.GetStageId(), Partition: int(t.Def.GetPartition()),
		ExecutorID: t.ExecutorID, WorkDir: t.WorkDir, Mem: t.Mem, Fetcher: t.Fetcher, HostLocal: t.HostLocal,
		Properties: t.Def.GetSessionProperties(), Metrics: &engine.Metrics{}, Pool: t.Pool,
	}
	if tc.Properties[engine.PropShuffleCompression] == "" && t.ShuffleCompression != "" {
		props := maps.Clone(tc.Properties)
		if props == nil {
			props = map[string]string{}
		}
		props[engine.PropShuffleCompression] = t.ShuffleCompression
		tc.Properties = props
	}
	if tc.Properties == nil {
		tc.Properties = map[string]string{}
	}
	if tc.BatchSize, err = engine.BatchSizeProperty(tc.Properties); err != nil {
		return nil, err
	}
	stats, err := w.Run(ctx, int(t.Def.GetPartition()), tc)
	tc.End()
	if err != nil {
		return nil, err
	}
	out := make([]*kapotv1.ShuffleWritePartition, len(stats))
	for i, s := range stats {
		out[i] = &kapotv1.ShuffleWritePartition{OutputPartition: uint32(i), Stats: &kapotv1.PartitionStats{NumRows: s.Rows, NumBatches: s.Batches, NumBytes: s.Bytes}}
	}
	return &kapotv1.SuccessfulTask{Partitions: out, OperatorMetrics: tc.Metrics.Proto(), WrittenFiles: tc.Written()}, nil
}

// failure classifies a task error into the wire's failure reasons.
func failure(ctx context.Context, err error) *kapotv1.FailedTask {
	f := &kapotv1.FailedTask{Error: errorText(err)}
	var fe *shuffle.FetchError
	var pe interface{ Timeout() bool }
	switch {
	case errors.As(err, &fe):
		f.Retryable = true
		f.Reason = &kapotv1.FailedTask_FetchPartitionError{FetchPartitionError: &kapotv1.FetchPartitionError{
			ExecutorId: fe.ExecutorID, MapStageId: fe.MapStageID, MapPartition: fe.MapPartition}}
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ctx.Err())):
		f.Retryable = true
		f.Reason = &kapotv1.FailedTask_TaskKilled{TaskKilled: &kapotv1.TaskKilled{}}
	case errors.Is(err, engine.ErrInvalidPlan), errors.Is(err, engine.ErrNotSupported), errors.Is(err, shuffle.ErrInvalidID), errors.Is(err, objstore.ErrForbidden):
		f.Retryable = false
		f.Reason = &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}
	case isIOError(err) || errors.As(err, &pe) || transientRPC(err):
		f.Retryable = true
		f.Reason = &kapotv1.FailedTask_IoError{IoError: &kapotv1.IoError{}}
	case errors.Is(err, engine.ErrResourcesExhausted):
		// Another executor, or this one later, may have the memory.
		f.Retryable = true
		f.Reason = &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}
	default:
		// What the data or the plan makes fail (a bad cast, a corrupt
		// file, an overflow) fails the same way on every attempt: the job
		// fails at once instead of after --task-retries more runs.
		f.Retryable = false
		f.Reason = &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}
	}
	return f
}

// transientRPC reports a gRPC error that another attempt may not meet
// (a peer or service unavailable, a deadline, an abort).
func transientRPC(err error) bool {
	st, ok := status.FromError(err) // unwraps
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}
