package planner

import (
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Eager aggregation (Yan and Larson's "group-by before join"): an
// aggregate over an inner join whose aggregated values all come from one
// side (a fact table) first aggregates that side, in each task, by the
// columns the join and the grouping read of it, so the join probes and the
// aggregate above group one row per such group instead of one per fact
// row. TPC-DS q04's year_total joined 1.1 M store sales to customer and
// grouped them by eight of customer's strings; aggregated by customer key
// and year first, 85 000 rows are joined and grouped.
//
// The early aggregate is a partial one (no exchange: the aggregate above
// merges what each task found, as it merges partial aggregates anyway),
// so a side that does not reduce costs little: a partial aggregate whose
// groups stay about as many as its rows passes them on (see the engine's
// PARTIAL mode). SUM, COUNT, MIN and MAX merge so: a sum of sums, a sum
// of counts, a min of mins, a max of maxes.

// eagerMinRows is the default size of the largest table a join side scans
// below which the side is not aggregated early (Options.EagerRows): small sides cost little to join
// whole. (The side's own estimate is no guide: a fact table joined with a
// filtered dimension is estimated at a fraction of what it is.)
const eagerMinRows = 500_000

// eagerMinReduction is how many fact rows, at least, each group of the
// early aggregate must have (by its columns' distinct values) for the side
// to be aggregated early.
const eagerMinReduction = 4

// aggregateEarly rewrites every aggregate under r that eagerAggregate
// accepts.
func aggregateEarly(r rel, b *binder, c costModel) {
	if c.eager < 0 {
		return
	}
	refs := relRefs(r)
	for x := range refs {
		if a, ok := x.(*aggRel); ok {
			eagerAggregate(a, refs, b, c.eager)
		}
	}
}

// eagerAggregate aggregates a's input join's fact side early, when a
// groups (no grand total: a sum of counts over no rows would be NULL, not
// 0), computes only SUM, COUNT, MIN and MAX without DISTINCT, all of
// values of one side of an inner equi-join only it reads, each of its
// group keys reads one side only and one of the other side's is a string,
// and the fact side scans a large table whose rows the early aggregate
// reduces. A DISTINCT (no aggregates; the larger side is the fact side)
// may read its join through a projection of columns and is aggregated
// early whatever its estimated reduction.
func eagerAggregate(a *aggRel, refs map[rel]int, b *binder, minRows float64) {
	// A DISTINCT's aggregate reads its join through a projection of
	// columns (SELECT DISTINCT's list): its groups are the columns the
	// projection reads.
	in, groups := a.in, a.groups
	var proj *projectRel
	if p, ok := in.(*projectRel); ok && len(a.aggs) == 0 && refs[p] == 1 && !slices.ContainsFunc(p.exprs, func(e *expr) bool { return e.kind != eCol }) {
		proj, in, groups = p, p.in, make([]*expr, len(a.groups))
		for i, g := range a.groups {
			k := -1
			if g.kind == eCol {
				k = slices.Index(p.out, g.col)
			}
			if k < 0 {
				return
			}
			groups[i] = p.exprs[k]
		}
	}
	j, ok := in.(*joinRel)
	if !ok || refs[j] != 1 || len(groups) == 0 || j.jt != kapotv1.JoinType_JOIN_TYPE_INNER ||
		len(j.leftKeys) == 0 || j.filter != nil || j.reduced != nil {
		return
	}
	for _, c := range a.aggs {
		switch c.fn {
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT,
			kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX:
		default:
			return
		}
		if c.distinct || c.arg2 != nil || len(c.order) > 0 || c.param != nil {
			return
		}
	}
	leftCols, rightCols := colSet(j.left.output()), colSet(j.right.output())
	// The fact side holds every aggregated value (the larger side, for
	// counts of rows only).
	fact, factKeys, factCols, dimCols := &j.right, j.rightKeys, rightCols, leftCols
	rowsOnly := true
	for _, c := range a.aggs {
		rowsOnly = rowsOnly && c.arg == nil
	}
	for _, c := range a.aggs {
		if !within(c.arg, rightCols) || rowsOnly && estimate(j.left) > estimate(j.right) {
			fact, factKeys, factCols, dimCols = &j.left, j.leftKeys, leftCols, rightCols
			break
		}
	}
	if len(a.aggs) == 0 && estimate(j.left) > estimate(j.right) {
		fact, factKeys, factCols, dimCols = &j.left, j.leftKeys, leftCols, rightCols
	}
	for _, c := range a.aggs {
		if !within(c.arg, factCols) {
			return
		}
	}
	// The deepest level that pays: the join's fact side, or, where that
	// side is itself an inner equi-join whose one side holds every
	// aggregated value, that side (and so on down), keyed by what the
	// groups and every join above read of it (TPC-H Q10: lineitem and
	// orders aggregated by customer key below customer's join, not only
	// below nation's).
	var keep []colID
	var site *rel
	var siteCols map[colID]bool
	var above []*expr
	for {
		if k, ok := eagerKeys(a, groups, above, fact, factKeys, factCols, dimCols, minRows); ok {
			keep, site, siteCols = k, fact, factCols
		}
		jj, ok := (*fact).(*joinRel)
		if !ok || rowsOnly || len(a.aggs) == 0 || refs[jj] != 1 || jj.jt != kapotv1.JoinType_JOIN_TYPE_INNER ||
			len(jj.leftKeys) == 0 || jj.filter != nil || jj.reduced != nil {
			break
		}
		above = append(above, factKeys...)
		l, r := colSet(jj.left.output()), colSet(jj.right.output())
		switch {
		case !slices.ContainsFunc(a.aggs, func(c aggCall) bool { return !within(c.arg, r) }):
			fact, factKeys, factCols, dimCols = &jj.right, jj.rightKeys, r, l
		case !slices.ContainsFunc(a.aggs, func(c aggCall) bool { return !within(c.arg, l) }):
			fact, factKeys, factCols, dimCols = &jj.left, jj.leftKeys, l, r
		default:
			fact = nil
		}
		if fact == nil {
			break
		}
	}
	if site == nil {
		return
	}
	fact = site
	if proj != nil {
		// The projection above the join reads no fact column the
		// early aggregate drops.
		for _, e := range proj.exprs {
			if siteCols[e.col] && !slices.Contains(keep, e.col) {
				return
			}
		}
	}
	early := &aggRel{in: *fact, local: true}
	for _, id := range keep {
		early.groups = append(early.groups, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		early.gout = append(early.gout, id)
	}
	merged := make([]aggCall, len(a.aggs))
	for i, c := range a.aggs {
		t, err := aggType(c.fn, c.arg, false)
		if err != nil {
			return
		}
		part := b.newCol("", b.cols[c.out].name, t)
		early.aggs = append(early.aggs, aggCall{fn: c.fn, arg: c.arg, out: part})
		fn := c.fn
		if fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT {
			fn = kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM
		}
		arg := &expr{kind: eCol, col: part, typ: t}
		if mt, err := aggType(fn, arg, false); err != nil || !arrow.TypeEqual(mt, b.cols[c.out].typ) {
			return // merging would change the result's type
		}
		merged[i] = aggCall{fn: fn, arg: arg, out: c.out}
	}
	*fact = early
	a.aggs = merged
}

// within reports whether e reads only columns of side (nil: yes).
func within(e *expr, side map[colID]bool) bool {
	return e == nil || e.everyRef(func(id colID) bool { return side[id] })
}

// colSet is the set of ids.
func colSet(ids []colID) map[colID]bool {
	s := make(map[colID]bool, len(ids))
	for _, id := range ids {
		s[id] = true
	}
	return s
}

// eagerKeys is the columns an early aggregate of fact (one side of a join
// under a, whose keys on that side are factKeys and whose other side
// outputs dimCols) groups by: fact's columns the join, the groups and the
// keys of the joins above (above) read. ok is false where it would not
// pay: fact scans fewer than minRows rows, no group of the other side is a
// string, or its groups are not few enough by their columns' distinct
// values.
func eagerKeys(a *aggRel, groups, above []*expr, fact *rel, factKeys []*expr, factCols, dimCols map[colID]bool, minRows float64) ([]colID, bool) {
	rows := scannedRows(*fact)
	if rows < minRows {
		return nil, false
	}
	var keep []colID
	add := func(e *expr) {
		for _, id := range e.refs(nil) {
			if factCols[id] && !slices.Contains(keep, id) {
				keep = append(keep, id)
			}
		}
	}
	for _, k := range factKeys {
		add(k)
	}
	wide := false
	for _, g := range groups {
		switch {
		case within(g, factCols):
		case within(g, dimCols):
			wide = wide || g.typ.ID() == arrow.STRING || g.typ.ID() == arrow.LARGE_STRING
		case g.everyRef(func(id colID) bool { return !factCols[id] }):
			// a column of a join above: not this side's
		default:
			return nil, false
		}
		add(g)
	}
	for _, k := range above {
		add(k)
	}
	if !wide {
		// The early aggregate pays where the join would copy strings of
		// the other side to every fact row and the aggregate hash them;
		// keyed by the fact side's own columns, or numbers, it was a wash
		// or a loss (TPC-DS q65 1.39x, q51 1.15x).
		return nil, false
	}
	// The early aggregate must reduce: its groups, by their columns'
	// distinct values, at most 1/eagerMinReduction of the rows (a column
	// whose values are unknown: no).
	ngroups := 1.0
	for _, id := range keep {
		n := columnNDV(*fact, &expr{kind: eCol, col: id})
		if n == 0 {
			return nil, false
		}
		ngroups *= n
	}
	// A DISTINCT (groups, no aggregates) is aggregated early whatever
	// the estimate: the distinct values' product overestimates the
	// groups of correlated columns (TPC-DS q38's 540 000 store sales of a
	// year are 48 000 (customer, date) pairs, estimated at 70 M), the
	// early aggregate keyed by integers costs a fraction of the join and
	// string aggregate it spares, and one that does not reduce passes its
	// rows on.
	if ngroups*eagerMinReduction > rows && len(a.aggs) > 0 {
		return nil, false
	}
	return keep, true
}
