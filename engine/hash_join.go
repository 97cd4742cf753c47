package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// HashJoin joins left (build side) and right (probe side) on key equality.
// Null keys never match. The build side of one task is held in memory.
type HashJoin struct {
	left, right ExecutionPlan
	leftKeys    []expr.Expr
	rightKeys   []expr.Expr
	joinType    kapotv1.JoinType
	mode        kapotv1.JoinMode
	filter      expr.Expr // over left ++ right columns; may be nil
	// nestedLoop joins without keys: every build row is a candidate.
	nestedLoop bool
	// buildRanges, when set, is each probe partition's range of left key
	// rangeKey: the task probing partition p builds only rows in
	// buildRanges[p] (see HashJoinNode.build_ranges).
	buildRanges [][2]int64
	rangeKey    int
	nodeID      int
	joined      *arrow.Schema
	schema      *arrow.Schema
}

var _ ExecutionPlan = (*HashJoin)(nil)

func newHashJoin(left, right ExecutionPlan, n *kapotv1.HashJoinNode) (*HashJoin, error) {
	j := &HashJoin{left: left, right: right, joinType: n.GetJoinType(), mode: n.GetMode()}
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

// newNestedLoopJoin builds a join without equality keys: every left row
// pairs with every right row and the filter (if any) decides. It runs as a
// collect-left join whose single key matches everything.
func newNestedLoopJoin(left, right ExecutionPlan, n *kapotv1.NestedLoopJoinNode) (*HashJoin, error) {
	j := &HashJoin{left: left, right: right, joinType: n.GetJoinType(), mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, nestedLoop: true}
	return j, j.init(n.GetFilter())
}

// init checks the mode and builds the output schema and filter.
func (j *HashJoin) init(filter *kapotv1.PhysicalExprNode) error {
	left, right := j.left, j.right
	switch j.mode {
	case kapotv1.JoinMode_JOIN_MODE_PARTITIONED:
		if left.OutputPartitions() != right.OutputPartitions() {
			return fmt.Errorf("partitioned hash join: left has %d partitions, right %d: %w", left.OutputPartitions(), right.OutputPartitions(), ErrInvalidPlan)
		}
	case kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT:
		if j.emitsUnmatchedBuild() && right.OutputPartitions() > 1 {
			return fmt.Errorf("%s: collect-left %v join over %d probe partitions would repeat unmatched left rows: %w", j.kind(), j.joinType, right.OutputPartitions(), ErrNotSupported)
		}
	default:
		return fmt.Errorf("hash join mode %v: %w", j.mode, ErrInvalidPlan)
	}
	nullable := func(fs []arrow.Field, force bool) []arrow.Field {
		out := make([]arrow.Field, len(fs))
		for i, f := range fs {
			out[i] = f
			out[i].Nullable = f.Nullable || force
		}
		return out
	}
	lf, rf := left.Schema().Fields(), right.Schema().Fields()
	j.joined = arrow.NewSchema(append(append([]arrow.Field{}, lf...), rf...), nil)
	switch j.joinType {
	case kapotv1.JoinType_JOIN_TYPE_INNER:
		j.schema = j.joined
	case kapotv1.JoinType_JOIN_TYPE_LEFT:
		j.schema = arrow.NewSchema(append(nullable(lf, false), nullable(rf, true)...), nil)
	case kapotv1.JoinType_JOIN_TYPE_RIGHT:
		j.schema = arrow.NewSchema(append(nullable(lf, true), nullable(rf, false)...), nil)
	case kapotv1.JoinType_JOIN_TYPE_FULL:
		j.schema = arrow.NewSchema(append(nullable(lf, true), nullable(rf, true)...), nil)
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		j.schema = left.Schema()
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		j.schema = right.Schema()
	default:
		return fmt.Errorf("join type %v: %w", j.joinType, ErrInvalidPlan)
	}
	if filter != nil {
		f, err := expr.FromProto(filter, j.joined)
		if err != nil {
			return fmt.Errorf("%s filter: %w", j.kind(), err)
		}
		if f.DataType().ID() != arrow.BOOL {
			return fmt.Errorf("%s filter %s is %s, not boolean: %w", j.kind(), f, f.DataType(), ErrInvalidPlan)
		}
		j.filter = f
	}
	return nil
}

func (j *HashJoin) setNodeID(id int) { j.nodeID = id }

func (j *HashJoin) kind() string {
	if j.nestedLoop {
		return "nested loop join"
	}
	return "hash join"
}

// emitsUnmatchedBuild: join types that output build rows after probing.
func (j *HashJoin) emitsUnmatchedBuild() bool {
	switch j.joinType {
	case kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinType_JOIN_TYPE_FULL, kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return true
	}
	return false
}

func (j *HashJoin) Schema() *arrow.Schema     { return j.schema }
func (j *HashJoin) OutputPartitions() int     { return j.right.OutputPartitions() }
func (j *HashJoin) Children() []ExecutionPlan { return []ExecutionPlan{j.left, j.right} }
func (j *HashJoin) String() string {
	on := make([]string, len(j.leftKeys))
	for i := range on {
		on[i] = fmt.Sprintf("%s = %s", j.leftKeys[i], j.rightKeys[i])
	}
	var s string
	if j.nestedLoop {
		s = fmt.Sprintf("NestedLoopJoin(%s", strings.TrimPrefix(j.joinType.String(), "JOIN_TYPE_"))
	} else {
		s = fmt.Sprintf("HashJoin(%s, %s, on=[%s]", strings.TrimPrefix(j.joinType.String(), "JOIN_TYPE_"), strings.TrimPrefix(j.mode.String(), "JOIN_MODE_"), strings.Join(on, ", "))
	}
	if j.filter != nil {
		s += ", filter=" + j.filter.String()
	}
	if j.buildRanges != nil {
		s += fmt.Sprintf(", build=ranges of %s", j.leftKeys[j.rangeKey])
	}
	return s + ")"
}

func (j *HashJoin) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := checkPartition(j, p); err != nil {
		return nil, err
	}
	return &hashJoinOp{j: j, tc: tc, part: p, res: tc.Pool.NewReservation(fmt.Sprintf("%s[partition %d]", j.kind(), p))}, nil
}

type hashJoinOp struct {
	j    *HashJoin
	tc   *TaskContext
	part int
	res  *alloc.Reservation

	built bool
	build arrow.RecordBatch // all build rows; nil when empty
	heads map[string]int32  // key -> first build row
	// heads64 replaces heads when the join's first key is integer-like;
	// buildRest holds the build side's other keys, which candidate pairs
	// must also match. hashed says heads64 is keyed by a hash of all keys
	// (see buildHashed) and buildRest holds them all.
	heads64   *rowkey.IntTable
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
	matched []bool  // build rows that found a match
	// bi and pi are the (build, probe) match buffers, reused from batch to
	// batch: growing fresh ones per probe batch was ~4% of TPC-H time.
	bi, pi []int32
	// indexBytes and matchBytes are what res holds for the index (chains,
	// tables) and for bi and pi (see reserveIndex and growMatches);
	// probeRows is the largest probe batch so far.
	indexBytes, matchBytes int64
	probeRows              int
	probe                  Operator
	// pending is a probe batch a nested loop join is consuming in slices.
	pending    arrow.RecordBatch
	pendingOff int64
	tail       bool // unmatched build rows emitted
	closed     bool

	// Grace hash join: when the build side does not fit its reservation,
	// both sides are hash-partitioned into spill files and each pair of
	// files is joined by a sub-join (buildFrom/probeFrom set, level+1).
	buildFrom, probeFrom *spillFile
	level                int
	grace                [][2]*spillFile
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
	var files []*spillFile // build side partitions, once spilling
	add := func(b arrow.RecordBatch) error {
		if files != nil {
			return o.partitionTo(ctx, b, o.j.leftKeys, files)
		}
		// The rows stay in memory for the whole probe, with their index.
		if err := o.res.TryGrow(alloc.BatchBytes(b) + b.NumRows()*indexRowBytes); err != nil {
			if o.j.nestedLoop {
				return fmt.Errorf("%s build side: %w", o.j.kind(), err)
			}
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
		sources = append(sources, func() (Operator, error) { return o.buildFrom.open(o.tc) })
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
			err = forEachBatch(ctx, op, add)
		}
		if err != nil {
			for _, f := range files {
				f.abort()
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
	all, err := concatBatches(o.tc, o.j.left.Schema(), batches)
	if err != nil {
		return fmt.Errorf("hash join build: %w", err)
	}
	o.build = all
	n := int(all.NumRows())
	o.indexBytes = int64(n) * indexRowBytes
	o.matched = make([]bool, n)
	if o.j.nestedLoop {
		return nil
	}
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
			probe, err = o.probeFrom.open(o.tc)
		} else {
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
	for o.probe != nil || o.pending != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := o.nextProbe(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		out, err := o.probeBatch(ctx, b)
		b.Release()
		if err != nil {
			return nil, err
		}
		if out != nil && out.NumRows() > 0 {
			return out, nil
		}
		if out != nil {
			out.Release()
		}
	}
	if !o.tail {
		o.tail = true
		if o.j.emitsUnmatchedBuild() && o.build != nil {
			return o.unmatchedBuild(ctx)
		}
	}
	return nil, io.EOF
}

// nestedLoopPairs bounds the candidate pairs a nested loop join forms at a
// time: probe batches are cut into slices of pairs/buildRows rows.
const nestedLoopPairs = 1 << 16

// nextProbe returns the next probe batch, or slice of one for a nested loop
// join, or io.EOF.
func (o *hashJoinOp) nextProbe(ctx context.Context) (arrow.RecordBatch, error) {
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
		if !o.j.nestedLoop || o.build == nil {
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

// probeBatch joins one probe batch against the build side.
func (o *hashJoinOp) probeBatch(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	ectx := exec.WithAllocator(ctx, o.tc.Mem)
	n := int(b.NumRows())
	o.probeRows = max(o.probeRows, n)
	if cap(o.bi) < n && o.build != nil {
		var err error
		if o.bi, o.pi, err = o.growMatches(ctx, o.bi[:0], o.pi[:0], n); err != nil {
			return nil, err
		}
	}
	bi, pi := o.bi[:0], o.pi[:0]
	// Keep whatever the matches grew to for the next batch (pairs copies
	// what it takes from them).
	defer func() {
		if cap(bi) > cap(o.bi) {
			o.bi = bi[:0]
		}
		if cap(pi) > cap(o.pi) {
			o.pi = pi[:0]
		}
	}()
	if o.build != nil && o.j.nestedLoop {
		nb := int32(o.build.NumRows())
		if need := int(nb) * n; cap(bi) < need {
			var err error
			if bi, pi, err = o.growMatches(ctx, bi, pi, need); err != nil {
				return nil, err
			}
		}
		for r := 0; r < n; r++ {
			for m := int32(0); m < nb; m++ {
				bi, pi = append(bi, m), append(pi, int32(r))
			}
		}
	} else if o.build != nil && o.j.intKey() {
		var err error
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
	if o.j.filter != nil && len(bi) > 0 {
		var err error
		if bi, pi, err = o.applyFilter(ectx, b, bi, pi); err != nil {
			return nil, err
		}
	}
	for _, m := range bi {
		o.matched[m] = true
	}
	switch o.j.joinType {
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return nil, nil // emitted after the probe side is done
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		hit := make([]bool, n)
		for _, r := range pi {
			hit[r] = true
		}
		want := o.j.joinType == kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI
		var rows []int32
		for r, h := range hit {
			if h == want {
				rows = append(rows, int32(r))
			}
		}
		return kernel.TakeRows(ectx, o.tc.Mem, b, rows)
	}
	pairs, err := o.pairs(ectx, b, bi, pi, o.j.schema)
	if err != nil {
		return nil, err
	}
	if o.j.joinType != kapotv1.JoinType_JOIN_TYPE_RIGHT && o.j.joinType != kapotv1.JoinType_JOIN_TYPE_FULL {
		return pairs, nil
	}
	// Probe rows without a match, with nulls on the build side.
	hit := make([]bool, n)
	for _, r := range pi {
		hit[r] = true
	}
	var miss []int32
	for r, h := range hit {
		if !h {
			miss = append(miss, int32(r))
		}
	}
	if len(miss) == 0 {
		return pairs, nil
	}
	probeRows, err := kernel.TakeRows(ectx, o.tc.Mem, b, miss)
	if err != nil {
		pairs.Release()
		return nil, err
	}
	defer probeRows.Release()
	unmatched := o.withNulls(nil, probeRows, len(miss))
	defer unmatched.Release()
	defer pairs.Release()
	return concatBatches(o.tc, o.j.schema, []arrow.RecordBatch{pairs, unmatched})
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
	if o.build != nil {
		o.build.Release()
		o.build = nil
	}
	for _, c := range o.buildRest {
		c.Release()
	}
	o.buildRest = nil
	if o.pending != nil {
		o.pending.Release()
		o.pending = nil
	}
	if o.sub != nil {
		o.sub.Close()
		o.sub = nil
	}
	o.grace = nil
	o.res.Close()
	o.heads, o.heads64 = nil, nil
	return nil
}
