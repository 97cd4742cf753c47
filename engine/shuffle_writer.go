package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/internal/config"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// PropShuffleCompression is the session property choosing shuffle file
// compression (none, lz4, zstd).
const PropShuffleCompression = "kapot.shuffle.compression"

// PropShuffleWriteBuffer is the session property bounding the encoded bytes
// a map task buffers in memory before it spills them to a run file (data
// size: bytes or units like 64MiB).
const PropShuffleWriteBuffer = "kapot.shuffle.write_buffer"

// DefaultShuffleWriteBuffer is the per-task shuffle buffer budget.
const DefaultShuffleWriteBuffer = 64 << 20

// partitioning is a bound Partitioning: how rows map to output partitions.
type partitioning struct {
	kind  string // "none", "single", "hash", "round_robin", "range"
	exprs []expr.Expr
	n     int
	// ranges are a range partitioning's ranges, sorted by lo, each with
	// its partition.
	ranges []partRange
}

// partRange is a range partitioning's range [lo, hi] and its partition.
type partRange struct {
	lo, hi int64
	part   int32
}

func newPartitioning(p *kapotv1.Partitioning, schema *arrow.Schema) (*partitioning, error) {
	if p == nil {
		return &partitioning{kind: "none", n: 1}, nil
	}
	switch s := p.GetScheme().(type) {
	case *kapotv1.Partitioning_Single:
		return &partitioning{kind: "single", n: 1}, nil
	case *kapotv1.Partitioning_RoundRobin:
		if s.RoundRobin.GetPartitionCount() < 1 {
			return nil, fmt.Errorf("round-robin partitioning needs at least 1 partition: %w", ErrInvalidPlan)
		}
		return &partitioning{kind: "round_robin", n: int(s.RoundRobin.GetPartitionCount())}, nil
	case *kapotv1.Partitioning_Hash:
		n := int(s.Hash.GetPartitionCount())
		if n < 1 || n > shuffle.MaxIndexPartitions {
			return nil, fmt.Errorf("hash partitioning into %d partitions: want 1..%d: %w", n, shuffle.MaxIndexPartitions, ErrInvalidPlan)
		}
		if len(s.Hash.GetExprs()) == 0 {
			return nil, fmt.Errorf("hash partitioning without keys: %w", ErrInvalidPlan)
		}
		out := &partitioning{kind: "hash", n: n}
		for _, e := range s.Hash.GetExprs() {
			x, err := expr.FromProto(e, schema)
			if err != nil {
				return nil, fmt.Errorf("hash partitioning key: %w", err)
			}
			out.exprs = append(out.exprs, x)
		}
		return out, nil
	case *kapotv1.Partitioning_Range:
		return newRangePartitioning(s.Range, schema)
	}
	return nil, fmt.Errorf("partitioning %T: %w", p.GetScheme(), ErrNotSupported)
}

// newRangePartitioning checks a range partitioning: a signed integer key
// and disjoint ranges, one per partition (an empty one, lo > hi, gets no
// rows).
func newRangePartitioning(r *kapotv1.RangePartitioning, schema *arrow.Schema) (*partitioning, error) {
	n := len(r.GetRanges())
	if n < 1 || n > shuffle.MaxIndexPartitions {
		return nil, fmt.Errorf("range partitioning into %d partitions: want 1..%d: %w", n, shuffle.MaxIndexPartitions, ErrInvalidPlan)
	}
	if r.GetExpr() == nil {
		return nil, fmt.Errorf("range partitioning without a key: %w", ErrInvalidPlan)
	}
	x, err := expr.FromProto(r.GetExpr(), schema)
	if err != nil {
		return nil, fmt.Errorf("range partitioning key: %w", err)
	}
	if dt := x.DataType(); !arrow.IsSignedInteger(dt.ID()) {
		return nil, fmt.Errorf("range partitioning key is %s, not a signed integer: %w", x.DataType(), ErrInvalidPlan)
	}
	out := &partitioning{kind: "range", n: n, exprs: []expr.Expr{x}}
	for i, kr := range r.GetRanges() {
		if kr.GetLo() <= kr.GetHi() {
			out.ranges = append(out.ranges, partRange{lo: kr.GetLo(), hi: kr.GetHi(), part: int32(i)})
		}
	}
	slices.SortFunc(out.ranges, func(a, b partRange) int { return cmp.Compare(a.lo, b.lo) })
	for i := 1; i < len(out.ranges); i++ {
		if out.ranges[i].lo <= out.ranges[i-1].hi {
			return nil, fmt.Errorf("range partitioning: ranges [%d, %d] and [%d, %d] overlap: %w",
				out.ranges[i-1].lo, out.ranges[i-1].hi, out.ranges[i].lo, out.ranges[i].hi, ErrInvalidPlan)
		}
	}
	return out, nil
}

// rangeOf is the partition whose range holds v, or -1.
func (p *partitioning) rangeOf(v int64) int32 {
	rs := p.ranges
	i, j := 0, len(rs)
	for i < j { // first range with hi >= v
		h := int(uint(i+j) >> 1)
		if rs[h].hi < v {
			i = h + 1
		} else {
			j = h
		}
	}
	if i < len(rs) && rs[i].lo <= v {
		return rs[i].part
	}
	return -1
}

func (p *partitioning) String() string {
	switch p.kind {
	case "hash":
		return fmt.Sprintf("Hash(%v, %d)", p.exprs, p.n)
	case "round_robin":
		return fmt.Sprintf("RoundRobin(%d)", p.n)
	case "range":
		return fmt.Sprintf("Range(%v, %d)", p.exprs[0], p.n)
	}
	return p.kind
}

// ShuffleWriter is the root of every stage: it runs one input partition and
// writes its rows, split by partitioning, to one shuffle file.
type ShuffleWriter struct {
	JobID   string
	StageID uint32
	input   ExecutionPlan
	part    *partitioning
	nodeID  int
}

func (w *ShuffleWriter) setNodeID(id int) { w.nodeID = id }

var _ ExecutionPlan = (*ShuffleWriter)(nil)

func (w *ShuffleWriter) Schema() *arrow.Schema     { return w.input.Schema() }
func (w *ShuffleWriter) OutputPartitions() int     { return w.input.OutputPartitions() }
func (w *ShuffleWriter) Children() []ExecutionPlan { return []ExecutionPlan{w.input} }
func (w *ShuffleWriter) String() string {
	return fmt.Sprintf("ShuffleWriter(job=%s, stage=%d, partitioning=%s)", w.JobID, w.StageID, w.part)
}

// OutputPartitionCount is how many shuffle partitions each map task writes.
func (w *ShuffleWriter) OutputPartitionCount() int { return w.part.n }

// Execute is not how a shuffle writer runs; use Run.
func (w *ShuffleWriter) Execute(context.Context, int, *TaskContext) (Operator, error) {
	return nil, fmt.Errorf("%s is a stage root, run it with Run: %w", w, ErrNotSupported)
}

// Run executes input partition p and writes the shuffle file of map task p.
func (w *ShuffleWriter) Run(ctx context.Context, p int, tc *TaskContext) ([]shuffle.PartitionStats, error) {
	if err := operator.CheckPartition(w, p); err != nil {
		return nil, err
	}
	start := time.Now()
	comp, err := shuffle.ParseCompression(tc.Properties[PropShuffleCompression])
	if err != nil {
		return nil, err
	}
	src, err := w.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	// Joins and filters can emit many small batches; each becomes an IPC
	// message per output partition, whose framing, encoding and decoding
	// cost as much as its rows. Gather them to a full batch first.
	in := &coalesceBatchesOp{c: &CoalesceBatches{input: w.input}, in: src, tc: tc, target: int64(tc.RowsPerBatch(0))}
	defer in.Close()
	budget := int64(DefaultShuffleWriteBuffer)
	if v := tc.Properties[PropShuffleWriteBuffer]; v != "" {
		n, err := config.ParseByteSize(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("session property %s=%q: want a data size: %w", PropShuffleWriteBuffer, v, ErrInvalidPlan)
		}
		budget = int64(n)
	}
	fw, err := shuffle.NewFileWriter(tc.WorkDir, w.JobID, w.StageID, uint32(p), w.part.n, w.input.Schema(), tc.Mem, comp)
	if err != nil {
		return nil, err
	}
	res := tc.Pool.NewReservation(fmt.Sprintf("ShuffleWriter[partition %d]", p))
	defer res.Close()
	fw.SetBudget(budget, res)
	ok := false
	defer func() {
		if !ok {
			fw.Abort()
		}
	}()
	ectx := exec.WithAllocator(ctx, tc.Mem)
	rr := p // round robin starts at the map partition so small inputs spread
	for {
		b, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		err = w.route(ectx, fw, b, &rr, tc)
		b.Release()
		if err != nil {
			return nil, err
		}
	}
	stats, err := fw.Finish()
	if err != nil {
		return nil, err
	}
	ok = true
	if tc.Metrics != nil && fw.Spills() > 0 {
		tc.Metrics.AddSpills(w.nodeID, int64(fw.Spills()), fw.SpilledBytes())
	}
	if tc.Metrics != nil {
		var rows, batches int64
		for _, s := range stats {
			rows, batches = rows+s.Rows, batches+s.Batches
		}
		tc.Metrics.AddOutput(w.nodeID, -1, w.String(), rows, batches, time.Since(start))
	}
	return stats, nil
}

func (w *ShuffleWriter) route(ctx context.Context, fw *shuffle.FileWriter, b arrow.RecordBatch, rr *int, tc *TaskContext) error {
	return w.part.split(ctx, tc.Mem, b, rr, fw.Write)
}

// split sends the rows of b to their output partitions: emit(t, rows) for
// every partition t that gets rows, in partition order. rr carries the
// round-robin position between batches. emit does not take ownership.
func (p *partitioning) split(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, rr *int, emit func(int, arrow.RecordBatch) error) error {
	switch p.kind {
	case "none", "single":
		return emit(0, b)
	case "round_robin":
		*rr = (*rr + 1) % p.n
		return emit(*rr, b)
	}
	rows := int(b.NumRows())
	cols := make([]arrow.Array, len(p.exprs))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, e := range p.exprs {
		c, err := e.Eval(ctx, mem, b)
		if err != nil {
			return fmt.Errorf("%s partitioning: %w", p.kind, err)
		}
		cols[i] = c
	}
	if p.kind == "range" {
		vals, ok := rowkey.IntValues(cols[0])
		if !ok {
			return fmt.Errorf("range partitioning key is %s: %w", cols[0].DataType(), ErrInvalidPlan)
		}
		targets := make([]int32, rows)
		for r, v := range vals {
			targets[r] = p.rangeOf(v)
			if cols[0].IsNull(r) {
				targets[r] = -1
			}
		}
		return scatter(ctx, mem, b, targets, p.n, emit)
	}
	hashes := make([]uint64, rows)
	if err := rowkey.HashColumns(cols, hashes); err != nil {
		return err
	}
	targets := make([]int32, rows)
	for r, h := range hashes {
		targets[r] = int32(h % uint64(p.n))
	}
	return scatter(ctx, mem, b, targets, p.n, emit)
}

// scatter sends row r of b to partition targets[r] in [0,n), or nowhere
// when it is negative: a counting sort of the rows by partition, one take
// for the whole batch, then a zero-copy slice per partition that gets rows
// (emit does not own it).
func scatter(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, targets []int32, n int, emit func(int, arrow.RecordBatch) error) error {
	rows := len(targets)
	if rows == 0 {
		return nil
	}
	counts := make([]int32, n+1)
	kept := int32(0)
	for _, t := range targets {
		if t >= 0 {
			counts[t+1]++
			kept++
		}
	}
	for t := 1; t <= n; t++ {
		counts[t] += counts[t-1]
	}
	for t := 0; t < n; t++ {
		if counts[t+1]-counts[t] == int32(rows) {
			return emit(t, b)
		}
	}
	perm := make([]int32, kept)
	next := append([]int32(nil), counts[:n]...)
	for r, t := range targets {
		if t >= 0 {
			perm[next[t]] = int32(r)
			next[t]++
		}
	}
	sorted, err := kernel.TakeRows(ctx, mem, b, perm)
	if err != nil {
		return err
	}
	defer sorted.Release()
	for t := 0; t < n; t++ {
		lo, hi := counts[t], counts[t+1]
		if lo == hi {
			continue
		}
		part := sorted.NewSlice(int64(lo), int64(hi))
		err := emit(t, part)
		part.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

func shuffleValidate(jobID string) error {
	if err := shuffle.ValidateJobID(jobID); err != nil {
		return fmt.Errorf("shuffle writer: %w: %w", err, ErrInvalidPlan)
	}
	return nil
}
