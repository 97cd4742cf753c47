package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/operator"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// NestedLoopJoin joins left (build side) and right (probe side) without
// equality keys: every left row pairs with every right row and the filter,
// if any, decides. Every probe task builds the whole left side (as a
// collect-left hash join does), which must fit its reservation: there are
// no keys to partition it to disk by.
type NestedLoopJoin struct {
	joinSpec
}

var _ ExecutionPlan = (*NestedLoopJoin)(nil)

func newNestedLoopJoin(left, right ExecutionPlan, n *kapotv1.NestedLoopJoinNode) (*NestedLoopJoin, error) {
	j := &NestedLoopJoin{joinSpec{left: left, right: right, joinType: n.GetJoinType()}}
	if err := j.checkCollectLeft(j.kind()); err != nil {
		return nil, err
	}
	return j, j.initSchema(j.kind(), n.GetFilter())
}

// kind names the join in errors and reservations.
func (j *NestedLoopJoin) kind() string { return "nested loop join" }

// String is NestedLoopJoin(type, filter=...).
func (j *NestedLoopJoin) String() string {
	s := fmt.Sprintf("NestedLoopJoin(%s", strings.TrimPrefix(j.joinType.String(), "JOIN_TYPE_"))
	if j.filter != nil {
		s += ", filter=" + j.filter.String()
	}
	return s + ")"
}

// Execute opens probe partition p.
func (j *NestedLoopJoin) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := operator.CheckPartition(j, p); err != nil {
		return nil, err
	}
	res := tc.Pool.NewReservation(fmt.Sprintf("%s[partition %d]", j.kind(), p))
	return &nestedLoopJoinOp{joinProbe: joinProbe{spec: &j.joinSpec, kind: j.kind(), tc: tc, res: res}, j: j, part: p}, nil
}

// nestedLoopPairs bounds the candidate pairs a nested loop join forms at a
// time: probe batches are cut into slices of pairs/buildRows rows.
const nestedLoopPairs = 1 << 16

type nestedLoopJoinOp struct {
	joinProbe
	j     *NestedLoopJoin
	part  int
	built bool
	probe Operator
	// pending is the probe batch being consumed in slices.
	pending    arrow.RecordBatch
	pendingOff int64
	closed     bool
}

var _ Operator = (*nestedLoopJoinOp)(nil)

func (o *nestedLoopJoinOp) Schema() *arrow.Schema { return o.j.schema }

// buildSide holds every row of every left partition.
func (o *nestedLoopJoinOp) buildSide(ctx context.Context) error {
	var batches []arrow.RecordBatch
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	add := func(b arrow.RecordBatch) error {
		if err := o.res.TryGrow(alloc.BatchBytes(b) + b.NumRows()*indexRowBytes); err != nil {
			return fmt.Errorf("%s build side: %w", o.kind, err)
		}
		b.Retain()
		batches = append(batches, b)
		return nil
	}
	for p := 0; p < o.j.left.OutputPartitions(); p++ {
		op, err := o.j.left.Execute(ctx, p, o.tc)
		if err == nil {
			err = operator.ForEachBatch(ctx, op, add)
		}
		if err != nil {
			return err
		}
	}
	if len(batches) == 0 {
		return nil
	}
	all, err := operator.ConcatBatches(o.tc, o.j.left.Schema(), batches)
	if err != nil {
		return fmt.Errorf("%s build: %w", o.kind, err)
	}
	o.build = all
	o.matched = make([]bool, int(all.NumRows()))
	return nil
}

func (o *nestedLoopJoinOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if o.closed {
		return nil, io.EOF
	}
	if !o.built {
		o.built = true
		if err := o.buildSide(ctx); err != nil {
			return nil, err
		}
		probe, err := o.j.right.Execute(ctx, o.part, o.tc)
		if err != nil {
			return nil, err
		}
		o.probe = probe
	}
	return o.output(ctx, func() bool { return o.probe != nil || o.pending != nil }, o.nextProbe, o.probeBatch)
}

// nextProbe returns the next slice of a probe batch (the whole batch when
// the build side is empty), or io.EOF.
func (o *nestedLoopJoinOp) nextProbe(ctx context.Context) (arrow.RecordBatch, error) {
	if o.pending == nil {
		if o.probe == nil {
			return nil, io.EOF
		}
		b, err := o.probe.Next(ctx)
		if err == io.EOF {
			o.probe.Close()
			o.probe = nil
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		if o.build == nil {
			return b, nil
		}
		o.pending, o.pendingOff = b, 0
	}
	step := max(int64(1), nestedLoopPairs/o.build.NumRows())
	end := min(o.pendingOff+step, o.pending.NumRows())
	out := o.pending.NewSlice(o.pendingOff, end)
	o.pendingOff = end
	if end == o.pending.NumRows() {
		o.pending.Release()
		o.pending = nil
	}
	return out, nil
}

// probeBatch pairs every row of probe slice b with every build row.
func (o *nestedLoopJoinOp) probeBatch(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(b.NumRows())
	bi, pi, err := o.matchBuffers(ctx, n)
	if err != nil {
		return nil, err
	}
	defer func() { o.keepMatches(bi, pi) }()
	if o.build != nil {
		nb := int32(o.build.NumRows())
		if need := int(nb) * n; cap(bi) < need {
			if bi, pi, err = o.growMatches(ctx, bi, pi, need); err != nil {
				return nil, err
			}
		}
		for r := 0; r < n; r++ {
			for m := int32(0); m < nb; m++ {
				bi, pi = append(bi, m), append(pi, int32(r))
			}
		}
	}
	return o.emit(ctx, b, bi, pi)
}

func (o *nestedLoopJoinOp) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if o.probe != nil {
		o.probe.Close()
		o.probe = nil
	}
	if o.pending != nil {
		o.pending.Release()
		o.pending = nil
	}
	o.release()
	return nil
}
