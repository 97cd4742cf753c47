package engine

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The joins (HashJoin, NestedLoopJoin) share their plan node's inputs, type,
// filter and output schema (joinSpec) and, once the build side is held, how
// candidate (build, probe) row pairs become output rows (joinProbe). They
// differ in how they find the candidates: by key through an index, or all
// pairs.

// joinSpec is what every join plan node has: its inputs (left is the build
// side, right the probe side), its type, the filter over joined rows and
// the output schema.
type joinSpec struct {
	left, right ExecutionPlan
	joinType    kapotv1.JoinType
	filter      expr.Expr // over left ++ right columns; may be nil
	nodeID      int
	joined      *arrow.Schema
	schema      *arrow.Schema
	// keepL and keepR, when narrowed, are the left and right columns the
	// join outputs (see narrow).
	keepL, keepR []int
	narrowed     bool
}

// narrow makes a join that outputs both sides' columns (inner, left,
// right, full) output only its columns cols, ascending: the join takes
// the matched rows of those only. A projection of plain columns over the
// join (most drop the keys just joined on) narrows it when the plan is
// built, so columns it drops are never gathered.
func (j *joinSpec) narrow(cols []int) {
	nl := j.left.Schema().NumFields()
	fields := make([]arrow.Field, len(cols))
	j.keepL, j.keepR = []int{}, []int{}
	for i, c := range cols {
		fields[i] = j.schema.Field(c)
		if c < nl {
			j.keepL = append(j.keepL, c)
		} else {
			j.keepR = append(j.keepR, c-nl)
		}
	}
	j.schema = arrow.NewSchema(fields, nil)
	j.narrowed = true
}

// unnarrowed is output column col's position among the left then right
// columns (narrow keeps some of them).
func (j *joinSpec) unnarrowed(col int) int {
	if !j.narrowed {
		return col
	}
	if col < len(j.keepL) {
		return j.keepL[col]
	}
	return j.left.Schema().NumFields() + j.keepR[col-len(j.keepL)]
}

// outputString is ", output=[...]", the columns of a narrowed join as
// positions of its left and right columns, or "".
func (j *joinSpec) outputString() string {
	if !j.narrowed {
		return ""
	}
	nl := j.left.Schema().NumFields()
	var cols []string
	for _, c := range j.keepL {
		cols = append(cols, fmt.Sprintf("%s@%d", j.joined.Field(c).Name, c))
	}
	for _, c := range j.keepR {
		cols = append(cols, fmt.Sprintf("%s@%d", j.joined.Field(nl+c).Name, nl+c))
	}
	return ", output=[" + strings.Join(cols, ", ") + "]"
}

// outputsBothSides reports whether the join's output is its left columns
// then its right columns.
func (j *joinSpec) outputsBothSides() bool {
	switch j.joinType {
	case kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinType_JOIN_TYPE_RIGHT, kapotv1.JoinType_JOIN_TYPE_FULL:
		return true
	}
	return false
}

// initSchema builds the output schema and binds filter; kind names the
// join in errors.
func (j *joinSpec) initSchema(kind string, filter *kapotv1.PhysicalExprNode) error {
	nullable := func(fs []arrow.Field, force bool) []arrow.Field {
		out := make([]arrow.Field, len(fs))
		for i, f := range fs {
			out[i] = f
			out[i].Nullable = f.Nullable || force
		}
		return out
	}
	lf, rf := j.left.Schema().Fields(), j.right.Schema().Fields()
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
		j.schema = j.left.Schema()
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		j.schema = j.right.Schema()
	default:
		return fmt.Errorf("join type %v: %w", j.joinType, ErrInvalidPlan)
	}
	if filter != nil {
		f, err := expr.FromProto(filter, j.joined)
		if err != nil {
			return fmt.Errorf("%s filter: %w", kind, err)
		}
		if f.DataType().ID() != arrow.BOOL {
			return fmt.Errorf("%s filter %s is %s, not boolean: %w", kind, f, f.DataType(), ErrInvalidPlan)
		}
		j.filter = f
	}
	return nil
}

// checkCollectLeft refuses a collect-left join (every probe task builds
// the whole left side) that would output unmatched build rows once per
// probe partition.
func (j *joinSpec) checkCollectLeft(kind string) error {
	if j.emitsUnmatchedBuild() && j.right.OutputPartitions() > 1 {
		return fmt.Errorf("%s: collect-left %v join over %d probe partitions would repeat unmatched left rows: %w", kind, j.joinType, j.right.OutputPartitions(), ErrNotSupported)
	}
	return nil
}

func (j *joinSpec) setNodeID(id int) { j.nodeID = id }

// emitsUnmatchedBuild: join types that output build rows after probing.
func (j *joinSpec) emitsUnmatchedBuild() bool {
	switch j.joinType {
	case kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinType_JOIN_TYPE_FULL, kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return true
	}
	return false
}

// Schema is the join's output schema.
func (j *joinSpec) Schema() *arrow.Schema { return j.schema }

// OutputPartitions is the probe side's.
func (j *joinSpec) OutputPartitions() int { return j.right.OutputPartitions() }

// Children are the build and the probe side.
func (j *joinSpec) Children() []ExecutionPlan { return []ExecutionPlan{j.left, j.right} }

// joinProbe is a join operator's state once its build side is held: the
// build rows, which of them matched, the reused buffers of candidate pairs
// and the reservation they and the build side are held under.
type joinProbe struct {
	spec *joinSpec
	kind string // names the join in errors
	tc   *TaskContext
	res  *alloc.Reservation

	build   arrow.RecordBatch // all build rows; nil when empty
	matched []bool            // build rows that found a match
	// bi and pi are the (build, probe) match buffers, reused from batch to
	// batch: growing fresh ones per probe batch was ~4% of TPC-H time.
	bi, pi []int32
	// matchBytes is what res holds for bi and pi (see growMatches);
	// probeRows is the largest probe batch so far.
	matchBytes int64
	probeRows  int
	tail       bool // unmatched build rows emitted
}

// matchBuffers returns the (emptied) match buffers with room for n pairs,
// one per row of a probe batch of n rows.
func (o *joinProbe) matchBuffers(ctx context.Context, n int) ([]int32, []int32, error) {
	o.probeRows = max(o.probeRows, n)
	if cap(o.bi) < n && o.build != nil {
		var err error
		if o.bi, o.pi, err = o.growMatches(ctx, o.bi[:0], o.pi[:0], n); err != nil {
			return nil, nil, err
		}
	}
	return o.bi[:0], o.pi[:0], nil
}

// keepMatches keeps whatever the match buffers grew to for the next batch
// (pairs copies what it takes from them).
func (o *joinProbe) keepMatches(bi, pi []int32) {
	if cap(bi) > cap(o.bi) {
		o.bi = bi[:0]
	}
	if cap(pi) > cap(o.pi) {
		o.pi = pi[:0]
	}
}

// emit turns the candidate pairs (bi[i], pi[i]) of probe batch b into the
// join's output for b: it applies the filter, records the build rows that
// matched and, by join type, returns the pairs, the probe rows that
// matched or did not, and probe rows without a match with nulls on the
// build side. Semi and anti joins on the build side return nil: their rows
// come after the probe (finish).
func (o *joinProbe) emit(ctx context.Context, b arrow.RecordBatch, bi, pi []int32) (arrow.RecordBatch, error) {
	ectx := exec.WithAllocator(ctx, o.tc.Mem)
	n := int(b.NumRows())
	if o.spec.filter != nil && len(bi) > 0 {
		var err error
		if bi, pi, err = o.applyFilter(ectx, b, bi, pi); err != nil {
			return nil, err
		}
	}
	for _, m := range bi {
		o.matched[m] = true
	}
	switch o.spec.joinType {
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return nil, nil // emitted after the probe side is done
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		hit := make([]bool, n)
		for _, r := range pi {
			hit[r] = true
		}
		want := o.spec.joinType == kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI
		var rows []int32
		for r, h := range hit {
			if h == want {
				rows = append(rows, int32(r))
			}
		}
		return kernel.TakeRows(ectx, o.tc.Mem, b, rows)
	}
	pairs, err := o.pairs(ectx, b, bi, pi, o.spec.schema, o.spec.narrowed)
	if err != nil {
		return nil, err
	}
	if o.spec.joinType != kapotv1.JoinType_JOIN_TYPE_RIGHT && o.spec.joinType != kapotv1.JoinType_JOIN_TYPE_FULL {
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
	return operator.ConcatBatches(o.tc, o.spec.schema, []arrow.RecordBatch{pairs, unmatched})
}

// output returns the join's next output batch: while more says probe
// batches may come, it joins them, from next (io.EOF when there are no
// more), with probe until one yields rows; after them, the build rows the
// join type outputs once the probe is done (finish).
func (o *joinProbe) output(ctx context.Context, more func() bool, next func(context.Context) (arrow.RecordBatch, error),
	probe func(context.Context, arrow.RecordBatch) (arrow.RecordBatch, error)) (arrow.RecordBatch, error) {
	for more() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		out, err := probe(ctx, b)
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
	return o.finish(ctx)
}

// finish returns, once the probe side is done, the build rows the join
// type outputs then (unmatched or, for a semi join, matched ones), or
// io.EOF.
func (o *joinProbe) finish(ctx context.Context) (arrow.RecordBatch, error) {
	if !o.tail {
		o.tail = true
		if o.spec.emitsUnmatchedBuild() && o.build != nil {
			return o.unmatchedBuild(ctx)
		}
	}
	return nil, io.EOF
}

// release lets go of the build side and the reservation.
func (o *joinProbe) release() {
	if o.build != nil {
		o.build.Release()
		o.build = nil
	}
	o.res.Close()
}

// freeMatches is how many candidate pairs a join holds without reserving
// them, as per-batch scratch (the fixed margin above the pool), when probe
// batches are smaller: one pair per probe row needs no reservation, so a
// build side that fits the pool can always be probed.
const freeMatches = 1 << 16

// growMatches returns bi and pi with room for at least need pairs and at
// least twice their capacity, reserving the bytes beyond freeMatches pairs
// or one pair per probe row from the pool before allocating them: a probe
// batch whose rows each match many build rows fails with
// ErrResourcesExhausted instead of growing the process. It is also where a
// probe loop that keeps finding matches sees its context end.
func (o *joinProbe) growMatches(ctx context.Context, bi, pi []int32, need int) ([]int32, []int32, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c := max(need, 2*cap(bi), 1024)
	free := max(freeMatches, o.probeRows)
	if bytes := 8 * int64(c-free); bytes > o.matchBytes { // two int32 a pair
		if err := o.res.TryGrow(bytes - o.matchBytes); err != nil {
			return nil, nil, fmt.Errorf("%s: %d candidate pairs for one probe batch: %w", o.kind, c, err)
		}
		o.matchBytes = bytes
	}
	nbi, npi := make([]int32, len(bi), c), make([]int32, len(pi), c)
	copy(nbi, bi)
	copy(npi, pi)
	return nbi, npi, nil
}

// pairs materializes matched (build, probe) row pairs as rows of schema:
// left columns then right columns, only the kept ones when narrowed.
func (o *joinProbe) pairs(ctx context.Context, probe arrow.RecordBatch, bi, pi []int32, schema *arrow.Schema, narrowed bool) (arrow.RecordBatch, error) {
	if len(bi) == 0 {
		return emptyBatch(schema), nil
	}
	var keepL, keepR []int
	if narrowed {
		keepL, keepR = o.spec.keepL, o.spec.keepR
	}
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() { operator.ReleaseAll(cols) }()
	var err error
	if cols, err = takeColumns(ctx, o.tc.Mem, o.build, bi, keepL, cols); err != nil {
		return nil, err
	}
	if cols, err = takeColumns(ctx, o.tc.Mem, probe, pi, keepR, cols); err != nil {
		return nil, err
	}
	return array.NewRecordBatch(schema, cols, int64(len(bi))), nil
}

// takeColumns appends to cols the rows of b's columns keep (nil: all) at
// the given indices.
func takeColumns(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, rows []int32, keep []int, cols []arrow.Array) ([]arrow.Array, error) {
	if keep == nil {
		t, err := kernel.TakeRows(ctx, mem, b, rows)
		if err != nil {
			return cols, err
		}
		for _, c := range t.Columns() {
			c.Retain()
			cols = append(cols, c)
		}
		t.Release()
		return cols, nil
	}
	identity := len(rows) == int(b.NumRows()) && kernel.IsIdentity(rows)
	for _, i := range keep {
		c := b.Column(i)
		if identity {
			c.Retain()
			cols = append(cols, c)
			continue
		}
		t, err := kernel.Take(ctx, mem, c, rows)
		if err != nil {
			return cols, err
		}
		cols = append(cols, t)
	}
	return cols, nil
}

// applyFilter keeps the pairs for which the join filter is true.
func (o *joinProbe) applyFilter(ctx context.Context, probe arrow.RecordBatch, bi, pi []int32) ([]int32, []int32, error) {
	joined, err := o.pairs(ctx, probe, bi, pi, o.spec.joined, false)
	if err != nil {
		return nil, nil, err
	}
	defer joined.Release()
	mask, err := o.spec.filter.Eval(ctx, o.tc.Mem, joined)
	if err != nil {
		return nil, nil, fmt.Errorf("%s filter: %w", o.kind, err)
	}
	defer mask.Release()
	m := mask.(*array.Boolean)
	keep := 0
	for i := range bi {
		if m.IsValid(i) && m.Value(i) {
			bi[keep], pi[keep] = bi[i], pi[i]
			keep++
		}
	}
	return bi[:keep], pi[:keep], nil
}

// unmatchedBuild emits build rows by their match state once probing is done:
// unmatched ones (left/full with null probe columns, and anti) or matched
// ones (semi).
func (o *joinProbe) unmatchedBuild(ctx context.Context) (arrow.RecordBatch, error) {
	want := o.spec.joinType == kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI
	var rows []int32
	for r, m := range o.matched {
		if m == want {
			rows = append(rows, int32(r))
		}
	}
	if len(rows) == 0 {
		return nil, io.EOF
	}
	ectx := exec.WithAllocator(ctx, o.tc.Mem)
	l, err := kernel.TakeRows(ectx, o.tc.Mem, o.build, rows)
	if err != nil {
		return nil, err
	}
	switch o.spec.joinType {
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return l, nil
	}
	defer l.Release()
	return o.withNulls(l, nil, len(rows)), nil
}

// withNulls builds joined rows from one side's rows and nulls for the other.
func (o *joinProbe) withNulls(left, right arrow.RecordBatch, n int) arrow.RecordBatch {
	var cols []arrow.Array
	side := func(b arrow.RecordBatch, s *arrow.Schema, keep []int) {
		for i, f := range s.Fields() {
			if o.spec.narrowed && !slices.Contains(keep, i) {
				continue
			}
			if b != nil {
				c := b.Column(i)
				c.Retain()
				cols = append(cols, c)
			} else {
				cols = append(cols, array.MakeArrayOfNull(o.tc.Mem, f.Type, n))
			}
		}
	}
	side(left, o.spec.left.Schema(), o.spec.keepL)
	side(right, o.spec.right.Schema(), o.spec.keepR)
	out := array.NewRecordBatch(o.spec.schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return out
}

func emptyBatch(schema *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, 0)
	}
	b := array.NewRecordBatch(schema, cols, 0)
	for _, c := range cols {
		c.Release()
	}
	return b
}
