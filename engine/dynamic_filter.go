package engine

import (
	"context"

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
// scan reads the row groups of those weeks, not all 11.7 M rows.
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

// withDynamicRange returns ctx carrying [lo, hi] (lo > hi: no key) for
// dynamic filter id.
func withDynamicRange(ctx context.Context, id int, lo, hi int64) context.Context {
	return context.WithValue(ctx, dynamicKey{id}, [2]int64{lo, hi})
}

// dynamicRanges returns the ranges ctx carries for targets.
func dynamicRanges(ctx context.Context, targets []dynamicTarget) []*keyRange {
	var out []*keyRange
	for _, t := range targets {
		if r, ok := ctx.Value(dynamicKey{t.id}).([2]int64); ok {
			out = append(out, &keyRange{col: t.col, lo: r[0], hi: r[1]})
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
		s, name, ok := probeScan(j.right, col)
		if !ok {
			continue
		}
		*next++
		s.format = s.format.(parquetFormat).withTarget(dynamicTarget{id: *next, col: name})
		j.dynamic = append(j.dynamic, dynamicSource{id: *next, key: i})
	}
}

// probeScan follows column col of p down to the Parquet scan it is read
// from, through operators that keep each row's column as it is, in the
// same partition.
func probeScan(p ExecutionPlan, col int) (*fileScan, string, bool) {
	for {
		switch x := operator.Unwrap(p).(type) {
		case *Projection:
			c, ok := expr.ColumnIndex(x.exprs[col])
			if !ok {
				return nil, "", false
			}
			p, col = x.input, c
		case *Filter:
			p = x.input
		case *HashJoin:
			n := len(x.left.Schema().Fields())
			col = x.unnarrowed(col)
			if !passesProbeThrough(x.joinType) || col < n {
				return nil, "", false
			}
			p, col = x.right, col-n
		case *fileScan:
			if _, ok := x.format.(parquetFormat); !ok || !arrow.IsSignedInteger(x.schema.Field(col).Type.ID()) {
				return nil, "", false
			}
			return x, x.schema.Field(col).Name, true
		default:
			return nil, "", false
		}
	}
}

// buildRange is the smallest and largest non-null value of a signed
// integer column (lo > hi when there is none).
func buildRange(a arrow.Array) (lo, hi int64) {
	lo, hi = 1, 0
	first := true
	add := func(v int64) {
		if first {
			lo, hi, first = v, v, false
			return
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	each := func(n int, valid func(int) bool, at func(int) int64) {
		for i := 0; i < n; i++ {
			if valid(i) {
				add(at(i))
			}
		}
	}
	switch x := a.(type) {
	case *array.Int64:
		each(x.Len(), x.IsValid, func(i int) int64 { return x.Value(i) })
	case *array.Int32:
		each(x.Len(), x.IsValid, func(i int) int64 { return int64(x.Value(i)) })
	case *array.Int16:
		each(x.Len(), x.IsValid, func(i int) int64 { return int64(x.Value(i)) })
	case *array.Int8:
		each(x.Len(), x.IsValid, func(i int) int64 { return int64(x.Value(i)) })
	default:
		return -1 << 63, 1<<63 - 1 // not expected: keep every row
	}
	return lo, hi
}

// dynamicSplit returns, of the ranges joins above keep, the one whose
// column's statistics leave the fewest of part's row groups of pf to
// read, with its split; nil when none skips a row group (or the file's
// columns are typed otherwise: then it is read whole).
func dynamicSplit(pf *file.Reader, fr *pqarrow.FileReader, full *arrow.Schema, part filePart, rs []*keyRange) (*keyRange, *rangeSplit) {
	var best *keyRange
	var bestSplit *rangeSplit
	fewest := 0
	lo, hi := part.share.rowGroups(pf.MetaData())
	for _, r := range rs {
		s, err := newRangeSplit(fr, full, r)
		if err != nil {
			continue
		}
		n := 0
		for rg := lo; rg < hi; rg++ {
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
	if best != nil && fewest == hi-lo {
		// Every row group may hold keys of the range: filtering rows as
		// they are read costs more than the join's own misses save
		// (TPC-DS q63's store_sales by item: 4 K of 2.9 M rows dropped,
		// the scan 25 % slower).
		return nil, nil
	}
	return best, bestSplit
}
