package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// HashJoin joins left (build side) and right (probe side) on key equality.
// Null keys never match. The build side of one task is held in memory.
type HashJoin struct {
	joinSpec
	leftKeys  []expr.Expr
	rightKeys []expr.Expr
	mode      kapotv1.JoinMode
	// buildRanges, when set, is each probe partition's range of left key
	// rangeKey: the task probing partition p builds only rows in
	// buildRanges[p] (see HashJoinNode.build_ranges).
	buildRanges [][2]int64
	rangeKey    int
	// dynamic are the keys whose build-side range filters the probe
	// side's scans (see dynamic_filter.go).
	dynamic []dynamicSource
	// adaptive: the scheduler may turn the join into a broadcast once its
	// left side is computed (HashJoinNode.adaptive_probe_rows).
	adaptive bool
}

var _ ExecutionPlan = (*HashJoin)(nil)

func newHashJoin(left, right ExecutionPlan, n *kapotv1.HashJoinNode) (*HashJoin, error) {
	j := &HashJoin{joinSpec: joinSpec{left: left, right: right, joinType: n.GetJoinType()}, mode: n.GetMode(), adaptive: n.GetAdaptiveProbeRows() > 0}
	if len(n.GetOn()) == 0 {
		return nil, fmt.Errorf("hash join without keys: %w", ErrInvalidPlan)
	}
	for i, on := range n.GetOn() {
		l, err := expr.FromProto(on.GetLeft(), left.Schema())
		if err != nil {
			return nil, fmt.Errorf("hash join left key %d: %w", i, err)
		}
		r, err := expr.FromProto(on.GetRight(), right.Schema())
		if err != nil {
			return nil, fmt.Errorf("hash join right key %d: %w", i, err)
		}
		if !arrow.TypeEqual(l.DataType(), r.DataType()) {
			return nil, fmt.Errorf("hash join key %d: %s is %s but %s is %s (cast one side): %w", i, l, l.DataType(), r, r.DataType(), ErrInvalidPlan)
		}
		j.leftKeys, j.rightKeys = append(j.leftKeys, l), append(j.rightKeys, r)
	}
	if err := j.init(n.GetFilter()); err != nil {
		return nil, err
	}
	return j, j.initBuildRanges(n)
}

// initBuildRanges checks and keeps n's build ranges: only a collect-left
// join that never outputs unmatched build rows may drop build rows, one
// range per probe partition, of a signed integer key.
func (j *HashJoin) initBuildRanges(n *kapotv1.HashJoinNode) error {
	rs := n.GetBuildRanges()
	if len(rs) == 0 {
		return nil
	}
	k := int(n.GetBuildRangeKey())
	switch {
	case j.mode != kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT || j.emitsUnmatchedBuild():
		return fmt.Errorf("hash join build ranges on a %v %v join, which needs every build row: %w", j.mode, j.joinType, ErrInvalidPlan)
	case len(rs) != j.right.OutputPartitions():
		return fmt.Errorf("hash join has %d build ranges for %d probe partitions: %w", len(rs), j.right.OutputPartitions(), ErrInvalidPlan)
	case k >= len(j.leftKeys):
		return fmt.Errorf("hash join build range key %d of %d keys: %w", k, len(j.leftKeys), ErrInvalidPlan)
	}
	switch j.leftKeys[k].DataType().ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
	default:
		return fmt.Errorf("hash join build ranges over %s keys (signed integers only): %w", j.leftKeys[k].DataType(), ErrInvalidPlan)
	}
	j.rangeKey = k
	for _, r := range rs {
		j.buildRanges = append(j.buildRanges, [2]int64{r.GetLo(), r.GetHi()})
	}
	return nil
}

// inBuildRange is the rows of build batch b whose range key lies in
// [lo, hi] (b itself, retained, when all do).
func (j *HashJoin) inBuildRange(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, lo, hi int64) (arrow.RecordBatch, error) {
	keys, err := j.leftKeys[j.rangeKey].Eval(ctx, mem, b)
	if err != nil {
		return nil, err
	}
	defer keys.Release()
	keep, ok := rowsInRange(keys, lo, hi)
	if !ok {
		return nil, fmt.Errorf("hash join build range key is %s: %w", keys.DataType(), ErrInvalidPlan)
	}
	return kernel.TakeRows(ctx, mem, b, keep)
}

// init checks the mode and builds the output schema and filter.
func (j *HashJoin) init(filter *kapotv1.PhysicalExprNode) error {
	switch j.mode {
	case kapotv1.JoinMode_JOIN_MODE_PARTITIONED:
		if j.left.OutputPartitions() != j.right.OutputPartitions() {
			return fmt.Errorf("partitioned hash join: left has %d partitions, right %d: %w", j.left.OutputPartitions(), j.right.OutputPartitions(), ErrInvalidPlan)
		}
	case kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT:
		if err := j.checkCollectLeft(j.kind()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("hash join mode %v: %w", j.mode, ErrInvalidPlan)
	}
	return j.initSchema(j.kind(), filter)
}

// kind names the join in errors and reservations.
func (j *HashJoin) kind() string { return "hash join" }

// String is HashJoin(type, mode, on=[keys], filter=..., build=...).
func (j *HashJoin) String() string {
	on := make([]string, len(j.leftKeys))
	for i := range on {
		on[i] = fmt.Sprintf("%s = %s", j.leftKeys[i], j.rightKeys[i])
	}
	s := fmt.Sprintf("HashJoin(%s, %s, on=[%s]", strings.TrimPrefix(j.joinType.String(), "JOIN_TYPE_"), strings.TrimPrefix(j.mode.String(), "JOIN_MODE_"), strings.Join(on, ", "))
	if j.filter != nil {
		s += ", filter=" + j.filter.String()
	}
	if j.buildRanges != nil {
		s += fmt.Sprintf(", build=ranges of %s", j.leftKeys[j.rangeKey])
	}
	if j.adaptive {
		s += ", adaptive"
	}
	return s + j.outputString() + ")"
}

func (j *HashJoin) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := operator.CheckPartition(j, p); err != nil {
		return nil, err
	}
	return newHashJoinOp(j, tc, p, tc.Pool.NewReservation(fmt.Sprintf("%s[partition %d]", j.kind(), p))), nil
}

// newHashJoinOp is the operator of partition p of j, holding its build side
// under res.
func newHashJoinOp(j *HashJoin, tc *TaskContext, p int, res *alloc.Reservation) *hashJoinOp {
	return &hashJoinOp{joinProbe: joinProbe{spec: &j.joinSpec, kind: j.kind(), tc: tc, res: res}, j: j, part: p}
}

type hashJoinOp struct {
	joinProbe
	j    *HashJoin
	part int

	built bool
	heads map[string]int32 // key -> first build row
	// heads64 replaces heads when the join's first key is integer-like;
	// buildRest holds the build side's other keys, which candidate pairs
	// must also match. hashed says heads64 is keyed by a hash of all keys
	// (see buildHashed) and buildRest holds them all.
	heads64 *rowkey.IntTable
	// dense, when set, replaces heads64 for a single integer key whose
	// build keys span at most denseSpan(rows) values (the dense surrogate
	// keys of dimension tables): dense[k-denseMin] is the first build row
	// with key k, plus one (0: none). One 4-byte load a probe, where
	// heads64's 16-byte slots of a dimension of 73,000 dates outgrow the
	// caches.
	dense    []int32
	denseMin int64
	// probeKeys is the probe batches' first key widened to int64, reused
	// batch after batch.
	probeKeys []int64
	// packedKeys is a probe batch's two keys packed into one (see
	// probePacked), reused from batch to batch.
	packedKeys []int64
	// probeRows is the rows of a probe batch the key filter let by,
	// reused.
	probeRows []int32
	buildRest []arrow.Array
	hashed    bool
	// packed says heads64 holds a two-key integer join's keys packed into
	// one (first<<shift | second): every build key is non-negative and at
	// most maxKeys, so a probe row outside them cannot match, and no
	// candidate needs its second key compared.
	packed  bool
	shift   uint
	maxKeys [2]int64
	chain   []int32 // build row -> next row with the same key, -1 ends
	// filter, for a build side too large for the caches whose first
	// probes mostly missed, holds probe rows whose key it lacks away from
	// heads64 (see lookup). filterProbes counts the trial probes (-1 once
	// decided), filterHits those that found their key.
	filter                   *rowkey.KeyFilter
	filterProbes, filterHits int
	// indexBytes is what res holds for the index (chains, tables; see
	// reserveIndex).
	indexBytes int64
	probe      Operator
	closed     bool
	// ranges holds, once built, the range (and few keys) of each of j.dynamic's keys
	// (nil: the probe side is not filtered).
	ranges []buildKeys

	// Grace hash join: when the build side does not fit its reservation,
	// both sides are hash-partitioned into spill files and each pair of
	// files is joined by a sub-join (buildFrom/probeFrom set, level+1).
	buildFrom, probeFrom *operator.SpillFile
	level                int
	grace                [][2]*operator.SpillFile
	sub                  *hashJoinOp
}

func (o *hashJoinOp) Schema() *arrow.Schema { return o.j.schema }

func (o *hashJoinOp) buildSide(ctx context.Context) error {
	var batches []arrow.RecordBatch
	release := func() {
		for _, b := range batches {
			b.Release()
		}
		batches = nil
	}
	defer release()
	var files []*operator.SpillFile // build side partitions, once spilling
	add := func(b arrow.RecordBatch) error {
		if files != nil {
			return o.partitionTo(ctx, b, o.j.leftKeys, files)
		}
		// The rows stay in memory for the whole probe, with their index.
		if err := o.res.TryGrow(alloc.BatchBytes(b) + b.NumRows()*indexRowBytes); err != nil {
			if o.level >= maxGraceLevel {
				return fmt.Errorf("%s build side does not fit in memory even after %d rounds of partitioning to disk: %w", o.j.kind(), o.level, err)
			}
			var ferr error
			if files, ferr = o.newGraceFiles(o.j.left.Schema()); ferr != nil {
				return ferr
			}
			for _, old := range batches {
				if err := o.partitionTo(ctx, old, o.j.leftKeys, files); err != nil {
					return err
				}
			}
			release()
			o.res.Free()
			return o.partitionTo(ctx, b, o.j.leftKeys, files)
		}
		b.Retain()
		batches = append(batches, b)
		return nil
	}
	var sources []func() (Operator, error)
	switch {
	case o.buildFrom != nil:
		sources = append(sources, func() (Operator, error) { return o.buildFrom.Open(o.tc) })
	case o.j.mode == kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT:
		for p := 0; p < o.j.left.OutputPartitions(); p++ {
			sources = append(sources, func() (Operator, error) { return o.j.left.Execute(ctx, p, o.tc) })
		}
	default:
		sources = append(sources, func() (Operator, error) { return o.j.left.Execute(ctx, o.part, o.tc) })
	}
	if o.j.buildRanges != nil && o.buildFrom == nil {
		// Only build rows in the probe partition's key range can match.
		r, all := o.j.buildRanges[o.part], add
		add = func(b arrow.RecordBatch) error {
			in, err := o.j.inBuildRange(ctx, o.tc.Mem, b, r[0], r[1])
			if err != nil {
				return err
			}
			defer in.Release()
			if in.NumRows() == 0 {
				return nil
			}
			return all(in)
		}
	}
	for _, open := range sources {
		op, err := open()
		if err == nil {
			err = operator.ForEachBatch(ctx, op, add)
		}
		if err != nil {
			for _, f := range files {
				f.Abort()
			}
			return err
		}
	}
	if files != nil {
		return o.spillProbe(ctx, files)
	}
	o.heads = map[string]int32{}
	if len(batches) == 0 {
		return nil
	}
	all, err := operator.ConcatBatches(o.tc, o.j.left.Schema(), batches)
	if err != nil {
		return fmt.Errorf("hash join build: %w", err)
	}
	o.build = all
	n := int(all.NumRows())
	o.indexBytes = int64(n) * indexRowBytes
	o.matched = make([]bool, n)
	o.chain = make([]int32, n)
	if o.j.intKey() {
		return o.buildInt(ctx, all)
	}
	return o.buildMap(ctx, all)
}

func (o *hashJoinOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if o.closed {
		return nil, io.EOF
	}
	if !o.built {
		o.built = true
		if err := o.buildSide(ctx); err != nil {
			return nil, err
		}
		if o.grace != nil {
			return o.nextGrace(ctx)
		}
		var probe Operator
		var err error
		if o.probeFrom != nil {
			probe, err = o.probeFrom.Open(o.tc)
		} else {
			if err := o.dynamicRanges(ctx); err != nil {
				return nil, err
			}
			probe, err = o.j.right.Execute(ctx, o.part, o.tc)
		}
		if err != nil {
			return nil, err
		}
		o.probe = probe
	}
	if o.grace != nil || o.sub != nil {
		return o.nextGrace(ctx)
	}
	return o.output(ctx, func() bool { return o.probe != nil }, o.nextProbe, o.probeBatch)
}

// dynamicRanges computes the range of each dynamic filter key over the
// build side just built (an empty one holds no key).
func (o *hashJoinOp) dynamicRanges(ctx context.Context) error {
	if len(o.j.dynamic) == 0 || o.tc.Properties[PropDynamicFilters] == "false" {
		return nil
	}
	o.ranges = make([]buildKeys, len(o.j.dynamic))
	for i, d := range o.j.dynamic {
		o.ranges[i] = buildKeys{lo: 1, hi: 0, set: []int64{}}
		if o.build == nil {
			continue
		}
		a, err := o.j.leftKeys[d.key].Eval(ctx, o.tc.Mem, o.build)
		if err != nil {
			return err
		}
		o.ranges[i] = buildRange(a)
		a.Release()
		// The keys, and for a wide range the table and key filter the
		// scan tests them with (expr's intSet: two 16-byte slots and a
		// byte a key).
		perKey := int64(8)
		if k := o.ranges[i]; uint64(k.hi-k.lo) >= maxDynamicBitmapSpan {
			perKey = 48
		}
		if k := &o.ranges[i]; len(k.set) > maxDynamicSet && o.reserveIndex(o.indexBytes+perKey*int64(len(k.set))) != nil {
			k.set = nil // no room for the keys: their range still filters
		}
	}
	return nil
}

// nextProbe returns the next probe batch, or io.EOF (and closes the probe
// side).
func (o *hashJoinOp) nextProbe(ctx context.Context) (arrow.RecordBatch, error) {
	for i, r := range o.ranges {
		ctx = withDynamicRange(ctx, o.j.dynamic[i].id, r)
	}
	b, err := o.probe.Next(ctx)
	if err == io.EOF {
		o.probe.Close()
		o.probe = nil
	}
	return b, err
}

// probeBatch joins one probe batch against the build side.
func (o *hashJoinOp) probeBatch(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(b.NumRows())
	bi, pi, err := o.matchBuffers(ctx, n)
	if err != nil {
		return nil, err
	}
	defer func() { o.keepMatches(bi, pi) }()
	if o.build != nil && o.j.intKey() {
		if bi, pi, err = o.probeInt(ctx, b, bi, pi); err != nil {
			return nil, err
		}
	} else if o.build != nil {
		encode, release, err := keyRows(ctx, o.tc, o.j.rightKeys, b)
		if err != nil {
			return nil, err
		}
		var key []byte
		for r := 0; r < n && err == nil; r++ {
			if r%probeCheckRows == 0 {
				if err = ctx.Err(); err != nil {
					break
				}
			}
			var ok bool
			if key, ok = encode(key[:0], r); !ok {
				continue
			}
			for m, found := o.heads[string(key)]; found && m >= 0; m = o.chain[m] {
				if len(bi) == cap(bi) {
					if bi, pi, err = o.growMatches(ctx, bi, pi, 0); err != nil {
						break
					}
				}
				bi, pi = append(bi, m), append(pi, int32(r))
			}
		}
		release()
		if err != nil {
			return nil, err
		}
	}
	return o.emit(ctx, b, bi, pi)
}

func (o *hashJoinOp) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if o.probe != nil {
		o.probe.Close()
		o.probe = nil
	}
	for _, c := range o.buildRest {
		c.Release()
	}
	o.buildRest = nil
	if o.sub != nil {
		o.sub.Close()
		o.sub = nil
	}
	o.grace = nil
	o.release()
	o.heads, o.heads64, o.dense = nil, nil, nil
	return nil
}
