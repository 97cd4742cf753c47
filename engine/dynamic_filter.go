package engine

import (
	"context"
	"math"
	mathbits "math/bits"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/operator"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Dynamic filters (Trino's dynamic filtering, Spark's and DataFusion's
// runtime filters), within one task: a hash join that collects its build
// side before it probes knows, once built, the smallest and largest key it
// holds. A probe row whose key lies outside cannot match, so the Parquet
// scan that feeds the probe, through projections, filters and the probe
// sides of other joins in the same pipeline, skips the row groups whose
// statistics put every key outside, and drops the other rows outside as it
// reads them (NULL keys too: they never match) — when it skips a row group
// at all: filtering the rows of every row group costs more than it saves. TPC-DS q37 and q82 join
// inventory, stored by date, with the few dates of a two-month window: the
// scan reads the row groups of those weeks, not all 11.7 M rows. A build
// side of few distinct keys (maxDynamicSet) hands over the keys too: a
// scan whose rows hold them rarely (by its row groups' statistics) keeps
// only the rows whose key is one of them, where their range would keep
// nearly all (q37's 14 items of catalog_sales, spread over every key).
//
// The plan is not changed: building it (FromProto) finds the scans a
// join's keys come from and gives both one id; the join hands its ranges
// to its probe side in the context of each Next, where the scan looks them
// up when it opens a file, and of several keeps the one that leaves the
// fewest row groups to read. A scan opened without them reads everything,
// which is always right.

// PropDynamicFilters is the session property that turns dynamic filters
// off ("false"; on by default), to compare plans and timings with and
// without them.
const PropDynamicFilters = "kapot.join.dynamic_filters"

// dynamicKey identifies a dynamic filter in a context.
type dynamicKey struct{ id int }

// dynamicTarget is a scan column a dynamic filter restricts.
type dynamicTarget struct {
	id  int
	col string // the file column
}

// dynamicSource is a join key whose build-side range becomes dynamic
// filter id.
type dynamicSource struct {
	id  int
	key int // index into the join's keys
}

// buildKeys is what a join's build side says of one key: its smallest
// and largest value (lo > hi: no key) and, when they are few or within a
// narrow range, all of them (see buildRange).
type buildKeys struct {
	lo, hi int64
	set    []int64 // sorted, distinct; nil when too many (buildRange)
}

// maxDynamicSet is the most distinct keys a dynamic filter carries as a
// set (each probe row's key looked up in it).
const maxDynamicSet = 1024

// withDynamicRange returns ctx carrying k for dynamic filter id.
func withDynamicRange(ctx context.Context, id int, k buildKeys) context.Context {
	return context.WithValue(ctx, dynamicKey{id}, k)
}

// dynamicRanges returns the ranges ctx carries for targets.
func dynamicRanges(ctx context.Context, targets []dynamicTarget) []*keyRange {
	var out []*keyRange
	for _, t := range targets {
		if k, ok := ctx.Value(dynamicKey{t.id}).(buildKeys); ok {
			out = append(out, &keyRange{col: t.col, lo: k.lo, hi: k.hi, set: k.set})
		}
	}
	return out
}

// dropsUnmatchedProbe reports whether a join of type t outputs no probe
// row without a match: a probe row no build key can match may be dropped
// early.
func dropsUnmatchedProbe(t kapotv1.JoinType) bool {
	switch t {
	case kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinType_JOIN_TYPE_LEFT,
		kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI,
		kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI:
		return true
	}
	return false
}

// passesProbeThrough reports whether a join of type t outputs the build
// side's columns and then each matched probe row's, unchanged.
func passesProbeThrough(t kapotv1.JoinType) bool {
	return t == kapotv1.JoinType_JOIN_TYPE_INNER || t == kapotv1.JoinType_JOIN_TYPE_LEFT
}

// wireDynamicFilters gives j's signed integer keys that a Parquet scan of
// its probe side reads unchanged a dynamic filter each (ids from next).
func wireDynamicFilters(j *HashJoin, next *int) {
	if j.mode != kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT || !dropsUnmatchedProbe(j.joinType) {
		return
	}
	for i, rk := range j.rightKeys {
		col, ok := expr.ColumnIndex(rk)
		if !ok || !arrow.IsSignedInteger(rk.DataType().ID()) {
			continue
		}
		targets := probeScans(j.right, col)
		if len(targets) == 0 {
			continue
		}
		*next++
		for _, t := range targets {
			t.scan.format = t.scan.format.(parquetFormat).withTarget(dynamicTarget{id: *next, col: t.col})
		}
		j.dynamic = append(j.dynamic, dynamicSource{id: *next, key: i})
	}
}

// probeTarget is a Parquet scan's column a dynamic filter can restrict.
type probeTarget struct {
	scan *fileScan
	col  string // the file column
}

// probeScans follows column col of p down to the Parquet scans it is read
// from, through operators that keep each row's column as it is, in the
// same partition, aggregates grouped by it, semi and anti joins that
// keep some probe rows, and each input of a UNION ALL
// (TPC-DS q05's sales and returns of a channel, met by 14 days after
// their union). It returns the scans it reaches (none: no filter).
func probeScans(p ExecutionPlan, col int) []probeTarget {
	for {
		switch x := operator.Unwrap(p).(type) {
		case *Projection:
			c, ok := expr.ColumnIndex(x.exprs[col])
			if !ok {
				return nil
			}
			p, col = x.input, c
		case *Filter:
			if x.keep != nil {
				col = x.keep[col]
			}
			p = x.input
		case *Union:
			var out []probeTarget
			for _, in := range x.inputs {
				out = append(out, probeScans(in, col)...)
			}
			return out
		case *HashAggregate:
			// A group key read as a column of the input: the groups
			// whose key no build key matches are the input rows whose
			// key none matches (TPC-DS q37's catalog_sales aggregated by
			// item before it meets 14 items). FINAL reads partial groups
			// from other tasks: not a scan of this pipeline anyway.
			if x.mode == kapotv1.AggregateMode_AGGREGATE_MODE_FINAL || col >= len(x.groups) {
				return nil
			}
			c, ok := expr.ColumnIndex(x.groups[col])
			if !ok {
				return nil
			}
			p, col = x.input, c
		case *HashJoin:
			if x.joinType == kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI || x.joinType == kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI {
				// Some of the probe rows, as they are (TPC-H Q16's
				// part supplies without a complaining supplier, met
				// by a third of the parts).
				p = x.right
				continue
			}
			n := len(x.left.Schema().Fields())
			col = x.unnarrowed(col)
			if !passesProbeThrough(x.joinType) || col < n {
				return nil
			}
			p, col = x.right, col-n
		case *fileScan:
			if _, ok := x.format.(parquetFormat); !ok || !arrow.IsSignedInteger(x.schema.Field(col).Type.ID()) {
				return nil
			}
			return []probeTarget{{x, x.schema.Field(col).Name}}
		default:
			return nil
		}
	}
}

// buildRange is the smallest and largest non-null value of a signed
// integer column (lo > hi when there is none) and its distinct non-null
// values, sorted, when there are at most maxDynamicSet, or at most
// maxDynamicBitmapKeys within a range of at most maxDynamicBitmapSpan
// values (tested as a bitmap: TPC-H Q9's 22 000 green parts of 200 000
// against every lineitem) or among at most maxDynamicWideRows rows.
func buildRange(a arrow.Array) buildKeys {
	var visit func(f func(int64))
	switch x := a.(type) {
	case *array.Int64:
		visit = func(f func(int64)) { eachValid(x.Len(), x.IsValid, func(i int) { f(x.Value(i)) }) }
	case *array.Int32:
		visit = func(f func(int64)) { eachValid(x.Len(), x.IsValid, func(i int) { f(int64(x.Value(i))) }) }
	case *array.Int16:
		visit = func(f func(int64)) { eachValid(x.Len(), x.IsValid, func(i int) { f(int64(x.Value(i))) }) }
	case *array.Int8:
		visit = func(f func(int64)) { eachValid(x.Len(), x.IsValid, func(i int) { f(int64(x.Value(i))) }) }
	default:
		return buildKeys{lo: -1 << 63, hi: 1<<63 - 1} // not expected: keep every row
	}
	lo, hi := int64(1), int64(0)
	first := true
	seen := map[int64]struct{}{}
	visit(func(v int64) {
		if seen != nil {
			if _, ok := seen[v]; !ok {
				if len(seen) == maxDynamicSet {
					seen = nil
				} else {
					seen[v] = struct{}{}
				}
			}
		}
		if first {
			lo, hi, first = v, v, false
			return
		}
		lo, hi = min(lo, v), max(hi, v)
	})
	k := buildKeys{lo: lo, hi: hi}
	switch {
	case seen != nil:
		k.set = make([]int64, 0, len(seen))
		for v := range seen {
			k.set = append(k.set, v)
		}
		slices.Sort(k.set)
	case uint64(hi-lo) < maxDynamicBitmapSpan:
		bits := make([]uint64, uint64(hi-lo)/64+1)
		visit(func(v int64) {
			d := uint64(v - lo)
			bits[d/64] |= 1 << (d % 64)
		})
		n := 0
		for _, w := range bits {
			n += mathbits.OnesCount64(w)
		}
		if n > maxDynamicBitmapKeys {
			break
		}
		k.set = make([]int64, 0, n)
		for i, w := range bits {
			for ; w != 0; w &= w - 1 {
				k.set = append(k.set, lo+int64(i*64+mathbits.TrailingZeros64(w)))
			}
		}
	case a.Len()-a.NullN() <= maxDynamicWideRows:
		// A wider range: the keys sorted, when there are few enough
		// (tested as a table behind a key filter: TPC-H Q10's 57 000
		// order keys of one quarter, spread over 6 M).
		vals := make([]int64, 0, a.Len()-a.NullN())
		visit(func(v int64) { vals = append(vals, v) })
		slices.Sort(vals)
		if vals = slices.Compact(vals); len(vals) <= maxDynamicBitmapKeys {
			k.set = vals
		}
	}
	return k
}

// maxDynamicWideRows bounds the build rows whose keys a dynamic filter
// over a range wider than maxDynamicBitmapSpan sorts to find at most
// maxDynamicBitmapKeys distinct ones.
const maxDynamicWideRows = 4 * maxDynamicBitmapKeys

// maxDynamicBitmapSpan and maxDynamicBitmapKeys bound a dynamic filter's
// set of more than maxDynamicSet keys: their range (a bitmap of at most
// 128 KiB, as the IN set tests it) and their number (512 KiB of keys,
// reserved by the join).
const (
	maxDynamicBitmapSpan = 1 << 20
	maxDynamicBitmapKeys = 1 << 16
)

// eachValid calls f with each row of n for which valid holds.
func eachValid(n int, valid func(int) bool, f func(int)) {
	for i := range n {
		if valid(i) {
			f(i)
		}
	}
}

// dynamicSplit returns, of the ranges joins above keep, the one whose
// column's statistics leave the fewest of part's row groups of pf to
// read, with its split; nil when none skips a row group (or the file's
// columns are typed otherwise: then it is read whole).
func dynamicSplit(pf *file.Reader, fr *pqarrow.FileReader, full *arrow.Schema, part filePart, rs []*keyRange) (*keyRange, *rangeSplit) {
	var best *keyRange
	var bestSplit *rangeSplit
	fewest := 0
	share := part.share.rowGroups(pf.MetaData())
	for _, r := range rs {
		s, err := newRangeSplit(fr, full, r)
		if err != nil {
			continue
		}
		n := 0
		for _, rg := range share {
			if s.keep(pf, rg) {
				n++
			}
		}
		if best == nil || n < fewest {
			// keep noted the edge groups of every row group: a fresh
			// split notes those of the row groups read.
			fresh, _ := newRangeSplit(fr, full, r)
			best, bestSplit, fewest = r, fresh, n
		}
	}
	if best != nil && fewest == len(share) {
		// Every row group may hold keys of the range: filtering rows as
		// they are read costs more than the join's own misses save
		// (TPC-DS q63's store_sales by item: 4 K of 2.9 M rows dropped,
		// the scan 25 % slower).
		return nil, nil
	}
	return best, bestSplit
}

// dynamicPrefilterShare: a dynamic filter that skips no row group (every
// one may hold keys of its range) still drops rows, as a value prefilter
// on its key column, when the row groups' statistics put at most this
// share of their rows in its range (keys spread evenly between each
// group's smallest and largest): the key column is read first and the
// others gathered for the rows kept only. TPC-DS q25's store_sales, its
// dates in every row group, against the 30 days of one month: 2.9 M rows
// read, 26 K kept. A wide range is left to the join (q63's items: 4 K of
// 2.9 M rows dropped, filtering them made the scan 25 % slower).
const dynamicPrefilterShare = 0.25

// fewestKept returns, of the ranges of rs that usable accepts, the one
// the statistics of part's row groups say keeps the smallest share of
// rows, when that share is at most dynamicPrefilterShare (nil otherwise):
// share is what it keeps of a row group whose keys lie in [mn, mx] (a
// group without statistics counts whole).
func fewestKept(pf *file.Reader, fr *pqarrow.FileReader, full *arrow.Schema, part filePart, rs []*keyRange,
	usable func(*keyRange) bool, share func(r *keyRange, mn, mx int64) float64) *keyRange {
	md := pf.MetaData()
	groups := part.share.rowGroups(md)
	var best *keyRange
	bestShare := dynamicPrefilterShare
	for _, r := range rs {
		if !usable(r) {
			continue
		}
		s, err := newRangeSplit(fr, full, r)
		if err != nil {
			continue
		}
		var rows, kept float64
		for _, rg := range groups {
			g := md.RowGroup(rg)
			n := float64(g.NumRows())
			rows += n
			mn, mx, _, ok := chunkIntRange(g, s.leaf)
			if !ok || mx < mn {
				kept += n
				continue
			}
			kept += n * share(r, mn, mx)
		}
		if rows > 0 && kept/rows <= bestShare {
			best, bestShare = r, kept/rows
		}
	}
	return best
}

// dynamicSetPrefilter returns the prefilter (on out, the scan's output)
// testing a key column against the set of keys of the join above that the
// statistics of part's row groups say keeps the smallest share of rows
// (the keys of the set within a group's smallest and largest, as a share
// of the values between them), when that share is at most
// dynamicPrefilterShare: TPC-DS q37's 14 items of 18 000 against
// catalog_sales, whose item keys are in every row group, where the range
// of the 14 keeps nearly all.
func dynamicSetPrefilter(pf *file.Reader, fr *pqarrow.FileReader, full, out *arrow.Schema, part filePart, rs []*keyRange) (prefilter, bool) {
	best := fewestKept(pf, fr, full, part, rs, func(r *keyRange) bool { return r.set != nil }, func(r *keyRange, mn, mx int64) float64 {
		in := sort.Search(len(r.set), func(i int) bool { return r.set[i] > mx }) - sort.Search(len(r.set), func(i int) bool { return r.set[i] >= mn })
		return min(1, float64(in)/(float64(mx)-float64(mn)+1))
	})
	if best == nil {
		return prefilter{}, false
	}
	idx := out.FieldIndices(best.col)
	if len(idx) != 1 || !arrow.IsSignedInteger(out.Field(idx[0]).Type.ID()) {
		return prefilter{}, false
	}
	col := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(idx[0]), Name: best.col}}}
	in := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_InList{InList: &kapotv1.InListExpr{Expr: col, IntSet: best.set}}}
	if len(best.set) == 0 {
		// No key: every row goes (an empty set is no set on the wire).
		in = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Binary{Binary: &kapotv1.BinaryExpr{
			Left: col, Op: kapotv1.BinaryOp_BINARY_OP_LT, Right: col}}}
	}
	pred, err := expr.FromProto(in, out)
	if err != nil {
		return prefilter{}, false
	}
	return prefilter{col: idx[0], pred: pred, values: true}, true
}

// dynamicPrefilter returns the prefilter (on out, the scan's output) of
// the range of rs that the statistics of part's row groups say keeps the
// smallest share of rows, when that share is at most
// dynamicPrefilterShare and its column is an integer column of out.
func dynamicPrefilter(pf *file.Reader, fr *pqarrow.FileReader, full, out *arrow.Schema, part filePart, rs []*keyRange) (prefilter, bool) {
	best := fewestKept(pf, fr, full, part, rs, func(r *keyRange) bool { return r.lo <= r.hi }, func(r *keyRange, mn, mx int64) float64 {
		in := float64(min(mx, r.hi)) - float64(max(mn, r.lo)) + 1
		return max(0, min(1, in/(float64(mx)-float64(mn)+1)))
	})
	if best == nil {
		return prefilter{}, false
	}
	idx := out.FieldIndices(best.col)
	if len(idx) != 1 {
		return prefilter{}, false
	}
	var typ *kapotv1.DataType
	switch out.Field(idx[0]).Type.ID() {
	case arrow.INT64:
		typ = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}
	case arrow.INT32:
		if best.lo < math.MinInt32 || best.hi > math.MaxInt32 {
			return prefilter{}, false
		}
		typ = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT32}
	default:
		return prefilter{}, false
	}
	col := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(idx[0]), Name: best.col}}}
	bound := func(op kapotv1.BinaryOp, v int64) *kapotv1.PhysicalExprNode {
		lit := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Literal{Literal: &kapotv1.ScalarValue{Type: typ, Value: &kapotv1.ScalarValue_IntValue{IntValue: v}}}}
		return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Binary{Binary: &kapotv1.BinaryExpr{Left: col, Op: op, Right: lit}}}
	}
	between := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Binary{Binary: &kapotv1.BinaryExpr{
		Left: bound(kapotv1.BinaryOp_BINARY_OP_GTE, best.lo), Op: kapotv1.BinaryOp_BINARY_OP_AND, Right: bound(kapotv1.BinaryOp_BINARY_OP_LTE, best.hi)}}}
	pred, err := expr.FromProto(between, out)
	if err != nil {
		return prefilter{}, false
	}
	return prefilter{col: idx[0], pred: pred, values: true}, true
}
