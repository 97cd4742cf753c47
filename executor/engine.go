package executor

import (
	"context"
	"fmt"
	"maps"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
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
	Pool    *alloc.MemoryPool
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
