package planner

import (
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine/agg"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Correlated MIN/MAX subqueries as windows: x op (SELECT min(y) FROM T
// WHERE T.k = outer.k AND …) whose FROM and WHERE are a part of the outer
// query's own (each of T's tables is one of the outer query's, each of
// T's conditions one of its conditions, the correlation among them) reads
// the same rows the outer query already joins: for an outer row with key
// k, the outer rows with key k hold exactly T's rows with key k, each
// repeated once per row of the outer query's other tables, and a minimum
// does not count repeats. So the subquery becomes min(y) OVER (PARTITION
// BY outer.k) over the outer join, and T is not read or joined a second
// time (Oracle's "subquery removal using window functions"). TPC-H Q2:
// partsupp, supplier, nation and region were joined twice, once for the
// outer rows and once for each part's minimum cost; now once.
//
// The outer query's conditions that T does not have may read only its
// other tables and the correlation keys (a condition on T's columns would
// drop rows of T from a partition that the subquery reads); the
// correlation must be one of the outer query's conditions (so rows with
// a NULL key are gone, as the subquery matches none); only MIN and MAX,
// which repeats do not change. The window runs over the outer rows, so
// the rewrite is taken when they are estimated no more than the rows the
// subquery aggregates.

// windowSubqueries rewrites the correlated MIN/MAX subqueries under r
// that read a part of their outer query's join (see above).
func windowSubqueries(r rel, b *binder) {
	done := map[rel]bool{}
	var walk func(rel) rel
	walk = func(r rel) rel {
		if done[r] {
			return r
		}
		done[r] = true
		if f, ok := r.(*filterRel); ok {
			if w := subqueryWindow(f, b); w != nil {
				f.in = w
			}
		}
		setInputs(r, walk)
		return r
	}
	walk(r)
}

// graphPart is a relation of a join graph: a table's scan with the
// conditions on it alone.
type graphPart struct {
	scan  *scanRel
	preds []*expr
}

// plainGraph reads r as scans with conditions joined on conditions (a
// join graph of filtered scans, or one filtered scan): its parts and every
// condition, theirs and the graph's.
func plainGraph(r rel) ([]graphPart, []*expr, bool) {
	items := []rel{r}
	var preds []*expr
	if g, ok := r.(*joinGraphRel); ok {
		items = items[:0]
		for _, it := range g.items {
			items = append(items, it.r)
		}
		preds = append(preds, g.preds...)
	}
	parts := make([]graphPart, 0, len(items))
	for _, it := range items {
		var p graphPart
		for {
			f, ok := it.(*filterRel)
			if !ok {
				break
			}
			p.preds = append(p.preds, splitAnd(f.pred)...)
			it = f.in
		}
		s, ok := it.(*scanRel)
		if !ok || s.split != nil || s.per > 1 {
			return nil, nil, false
		}
		p.scan = s
		parts = append(parts, p)
		preds = append(preds, p.preds...)
	}
	return parts, preds, true
}

// mappedKey is e's canonical text with its columns renamed by m (an
// equality also in its flipped form, as second).
func mappedKey(e *expr, m map[colID]colID) (string, string) {
	pos := func(id colID) (int, bool) {
		if to, ok := m[id]; ok {
			return int(to), true
		}
		return int(id), true
	}
	key := func(e *expr) string {
		p, err := e.protoOf(pos, true)
		if err != nil {
			return ""
		}
		return p.String()
	}
	k := key(e)
	if e.kind == eBinary && e.op == kapotv1.BinaryOp_BINARY_OP_EQ && len(e.args) == 2 {
		flipped := *e
		flipped.args = []*expr{e.args[1], e.args[0]}
		return k, key(&flipped)
	}
	return k, ""
}

// subqueryWindow is the window that replaces the join under f of a
// correlated MIN/MAX subquery reading a part of the outer join (see
// above), or nil.
func subqueryWindow(f *filterRel, b *binder) rel {
	j, ok := f.in.(*joinRel)
	if !ok || j.jt != kapotv1.JoinType_JOIN_TYPE_INNER || j.filter != nil || j.reduced != nil {
		return nil
	}
	if len(j.leftKeys) == 0 {
		return totalWindow(j, b)
	}
	if w := sameRelationWindow(j, b); w != nil {
		return w
	}
	p, ok := j.right.(*projectRel)
	if !ok {
		return nil
	}
	a, ok := p.in.(*aggRel)
	if !ok || a.local || len(a.aggs) != 1 || len(a.groups) != len(j.leftKeys) {
		return nil
	}
	call := a.aggs[0]
	if (call.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN && call.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX) ||
		call.arg == nil || call.arg2 != nil || len(call.order) > 0 || call.param != nil {
		return nil
	}
	// The projection passes the aggregate's columns (the correlation
	// keys the join reads among them).
	projected := map[colID]colID{} // projection output -> aggregate output
	for i, e := range p.exprs {
		if e.kind != eCol {
			return nil
		}
		projected[p.out[i]] = e.col
	}
	groupOf := map[colID]int{}
	for i, g := range a.gout {
		groupOf[g] = i
	}
	outerKey := make([]*expr, len(a.groups)) // per group
	for i, lk := range j.leftKeys {
		rk := j.rightKeys[i]
		if lk.kind != eCol || rk.kind != eCol || !typesEqual(lk, rk) {
			return nil
		}
		g, ok := groupOf[projected[rk.col]]
		if !ok || outerKey[g] != nil {
			return nil
		}
		outerKey[g] = lk
	}
	outer, outerPreds, ok := plainGraph(j.left)
	if !ok {
		return nil
	}
	inner, innerPreds, ok := plainGraph(a.in)
	if !ok {
		return nil
	}
	innerCols := idSet(a.in.output())
	for _, g := range a.groups {
		if g.kind != eCol || !innerCols[g.col] {
			return nil
		}
	}
	if !call.arg.everyRef(func(id colID) bool { return innerCols[id] }) {
		return nil
	}
	for _, c := range innerPreds {
		if !c.everyRef(func(id colID) bool { return innerCols[id] }) {
			return nil
		}
	}
	return matchGraphs(inner, innerPreds, outer, outerPreds, func(m map[colID]colID, used, matched []bool) rel {
		return subqueryWindowAt(b, j, a, p, outerKey, outer, outerPreds, used, matched, m)
	})
}

// matchGraphs tries each assignment of inner's tables to distinct outer
// tables of the same name under which every condition of inner is one of
// outer's, and returns what found says of the first it accepts (nil: try
// the next). found gets the renaming of inner's columns, the outer tables
// used and the outer conditions matched.
func matchGraphs(inner []graphPart, innerPreds []*expr, outer []graphPart, outerPreds []*expr,
	found func(m map[colID]colID, used, matched []bool) rel) rel {
	if len(inner) > len(outer) {
		return nil
	}
	outerIdx := map[string][]int{}
	for i, c := range outerPreds {
		k, _ := mappedKey(c, nil)
		outerIdx[k] = append(outerIdx[k], i)
	}
	used := make([]bool, len(outer))
	m := map[colID]colID{}
	var try func(i int) rel
	try = func(i int) rel {
		if i < len(inner) {
			for o := range outer {
				if used[o] || outer[o].scan.table != inner[i].scan.table {
					continue
				}
				used[o] = true
				for c, id := range inner[i].scan.cols {
					m[id] = outer[o].scan.cols[c]
				}
				if w := try(i + 1); w != nil {
					return w
				}
				used[o] = false
			}
			return nil
		}
		matched := make([]bool, len(outerPreds))
		for _, c := range innerPreds {
			k, flipped := mappedKey(c, m)
			hit := false
			for _, key := range []string{k, flipped} {
				if key == "" {
					continue
				}
				for _, i := range outerIdx[key] {
					matched[i], hit = true, true
				}
			}
			if !hit {
				return nil
			}
		}
		return found(m, used, matched)
	}
	return try(0)
}

// subqueryWindowAt checks one assignment of the subquery's tables to the
// outer query's (m renames the subquery's columns, used marks the outer
// tables taken) and builds the window when it holds.
func subqueryWindowAt(b *binder, j *joinRel, a *aggRel, p *projectRel, outerKey []*expr, outer []graphPart, outerPreds []*expr,
	used, matched []bool, m map[colID]colID) rel {
	// The outer conditions the subquery lacks read only the other tables
	// and the correlation keys.
	keyCols := map[colID]bool{}
	for _, g := range a.groups {
		keyCols[m[g.col]] = true
	}
	mapped := map[colID]bool{}
	for o, part := range outer {
		if used[o] {
			for _, id := range part.scan.cols {
				mapped[id] = true
			}
		}
	}
	for i, c := range outerPreds {
		if !matched[i] && !c.everyRef(func(id colID) bool { return !mapped[id] || keyCols[id] }) {
			return nil
		}
	}
	// Each correlation is an outer condition: key = outer column.
	for i, g := range a.groups {
		mg := &expr{kind: eCol, col: m[g.col], typ: g.typ}
		eq := &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{mg, outerKey[i]}, typ: arrow.FixedWidthTypes.Boolean}
		k, flipped := mappedKey(eq, nil)
		if !slices.ContainsFunc(outerPreds, func(c *expr) bool {
			ck, _ := mappedKey(c, nil)
			return ck == k || ck == flipped
		}) {
			return nil
		}
	}
	if estimate(j.left) > estimate(a.in) {
		return nil
	}
	call := a.aggs[0]
	w := &windowRel{in: j.left, partBy: outerKey, calls: []windowCall{{
		fn: kapotv1.WindowFunction_WINDOW_FUNCTION_AGGREGATE, agg: call.fn, offset: 1,
		arg: substCols(call.arg, colExprs(m, call.arg)), out: call.out,
	}}}
	return joinColumns(w, j.left, p, a.gout, outerKey, b)
}

// colExprs is m as column expressions, typed as e reads them.
func colExprs(m map[colID]colID, e *expr) map[colID]*expr {
	out := map[colID]*expr{}
	for _, id := range e.refs(nil) {
		if to, ok := m[id]; ok {
			out[id] = &expr{kind: eCol, col: to, typ: colType(e, id)}
		}
	}
	return out
}

// totalWindow is the window that replaces the join j of a grouped query
// with an uncorrelated subquery aggregating the same rows (the same
// tables and conditions, no more, no fewer) without groups, or nil: TPC-H
// Q11's HAVING sum(v) > (SELECT sum(v) * 0.0001 FROM the same join). The
// subquery's total is the total of the groups' sums: sum(sum) OVER () over
// the grouped rows, the join computed once. SUM (of integers or decimals:
// a float's sum would round differently) and COUNT add up, MIN and MAX
// take theirs; each must be one of the grouped query's aggregates. The
// groups meet in one task, so only while they are estimated at most
// maxBroadcastRows.
func totalWindow(j *joinRel, b *binder) rel {
	grouped, ok := j.left.(*aggRel)
	if !ok || grouped.local {
		return nil
	}
	p, ok := j.right.(*projectRel)
	if !ok {
		return nil
	}
	total, ok := p.in.(*aggRel)
	if !ok || total.local || len(total.groups) > 0 || len(total.aggs) == 0 {
		return nil
	}
	outer, outerPreds, ok := plainGraph(grouped.in)
	if !ok {
		return nil
	}
	inner, innerPreds, ok := plainGraph(total.in)
	if !ok || len(inner) != len(outer) || estimate(grouped) > maxBroadcastRows {
		return nil
	}
	return matchGraphs(inner, innerPreds, outer, outerPreds, func(m map[colID]colID, _, matched []bool) rel {
		if slices.Contains(matched, false) {
			return nil
		}
		w := &windowRel{in: grouped}
		for _, c := range total.aggs {
			call, ok := totalOf(c, grouped, m, b)
			if !ok {
				return nil
			}
			w.calls = append(w.calls, call)
		}
		return joinColumns(w, grouped, p, nil, nil, b)
	})
}

// totalOf is the window call over grouped's rows that computes the
// aggregate c of the same rows (its columns renamed by m), if grouped has
// the aggregate it adds up.
func totalOf(c aggCall, grouped *aggRel, m map[colID]colID, b *binder) (windowCall, bool) {
	if c.distinct || c.arg2 != nil || len(c.order) > 0 || c.param != nil {
		return windowCall{}, false
	}
	fn := c.fn
	switch c.fn {
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM:
		switch b.cols[c.out].typ.ID() {
		case arrow.INT64, arrow.DECIMAL128:
		default:
			return windowCall{}, false
		}
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT:
		fn = kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX:
	default:
		return windowCall{}, false
	}
	var want string
	if c.arg != nil {
		want, _ = mappedKey(c.arg, m)
	}
	for _, g := range grouped.aggs {
		if g.fn != c.fn || g.distinct || g.arg2 != nil || len(g.order) > 0 || g.param != nil || (g.arg == nil) != (c.arg == nil) {
			continue
		}
		if c.arg != nil {
			if k, _ := mappedKey(g.arg, nil); k != want {
				continue
			}
		}
		in := b.cols[g.out].typ
		if t, err := agg.ResultType(fn, in, false); err != nil || !arrow.TypeEqual(t, b.cols[c.out].typ) {
			return windowCall{}, false
		}
		return windowCall{fn: kapotv1.WindowFunction_WINDOW_FUNCTION_AGGREGATE, agg: fn, offset: 1,
			arg: &expr{kind: eCol, col: g.out, typ: in}, out: c.out}, true
	}
	return windowCall{}, false
}

// renamed follows r through projections that only pass (and rename)
// columns down to a shared relation (a WITH query): the relation, and
// for each of r's columns the relation's column it is.
func renamed(r rel) (*sharedRel, map[colID]colID, bool) {
	m := map[colID]colID{}
	for _, id := range r.output() {
		m[id] = id
	}
	for {
		switch x := r.(type) {
		case *sharedRel:
			return x, m, true
		case *projectRel:
			for out, cur := range m {
				i := slices.Index(x.out, cur)
				if i < 0 || x.exprs[i].kind != eCol {
					return nil, nil, false
				}
				m[out] = x.exprs[i].col
			}
			r = x.in
		default:
			return nil, nil, false
		}
	}
}

// sameRelationWindow is the window that replaces the join j of a
// correlated aggregate subquery over the very relation the outer side
// reads, or nil: TPC-DS q01's ctr_total_return > (SELECT avg(...) * 1.2
// FROM customer_total_return ctr2 WHERE ctr1.ctr_store_sk =
// ctr2.ctr_store_sk), where ctr1 is the same WITH query, unfiltered. The
// subquery's rows for a key are the outer side's rows with that key, one
// for one, so any aggregate (AVG and SUM too, not only MIN and MAX) is
// the window's over the outer side partitioned by the key; the WITH
// query's rows are not aggregated and joined a second time. Rows with a
// NULL key, which the join drops, are filtered out first.
func sameRelationWindow(j *joinRel, b *binder) rel {
	p, ok := j.right.(*projectRel)
	if !ok {
		return nil
	}
	a, ok := p.in.(*aggRel)
	if !ok || a.local || len(a.aggs) == 0 || len(a.groups) != len(j.leftKeys) {
		return nil
	}
	outerRel, outerCols, ok := renamed(j.left)
	if !ok {
		return nil
	}
	innerRel, innerCols, ok := renamed(a.in)
	if !ok || innerRel != outerRel {
		return nil
	}
	// The relation's column -> the outer side's column that reads it.
	toOuter := map[colID]colID{}
	for out, base := range outerCols {
		toOuter[base] = out
	}
	mapCol := func(id colID) (colID, bool) {
		base, ok := innerCols[id]
		if !ok {
			return 0, false
		}
		out, ok := toOuter[base]
		return out, ok
	}
	projected := map[colID]colID{}
	for i, e := range p.exprs {
		if e.kind == eCol {
			projected[p.out[i]] = e.col
		}
	}
	groupOf := map[colID]int{}
	for i, g := range a.gout {
		groupOf[g] = i
	}
	keys := make([]*expr, len(a.groups))
	for i, lk := range j.leftKeys {
		rk := j.rightKeys[i]
		if lk.kind != eCol || rk.kind != eCol || !typesEqual(lk, rk) {
			return nil
		}
		g, ok := groupOf[projected[rk.col]]
		if !ok || keys[g] != nil || a.groups[g].kind != eCol {
			return nil
		}
		if oc, ok := mapCol(a.groups[g].col); !ok || oc != lk.col {
			return nil
		}
		keys[g] = lk
	}
	w := &windowRel{partBy: keys}
	for _, c := range a.aggs {
		if c.distinct || c.arg2 != nil || len(c.order) > 0 || c.param != nil {
			return nil
		}
		call := windowCall{fn: kapotv1.WindowFunction_WINDOW_FUNCTION_AGGREGATE, agg: c.fn, offset: 1, out: c.out}
		in := arrow.DataType(arrow.Null)
		if c.arg != nil {
			m := map[colID]*expr{}
			for _, id := range c.arg.refs(nil) {
				oc, ok := mapCol(id)
				if !ok {
					return nil
				}
				m[id] = &expr{kind: eCol, col: oc, typ: b.cols[oc].typ}
			}
			call.arg = substCols(c.arg, m)
			in = call.arg.typ
		}
		if t, err := agg.ResultType(c.fn, in, false); err != nil || !arrow.TypeEqual(t, b.cols[c.out].typ) {
			return nil
		}
		w.calls = append(w.calls, call)
	}
	var in rel = j.left
	for _, k := range keys {
		in = &filterRel{in: in, pred: &expr{kind: eIsNull, args: []*expr{k}, negated: true, typ: arrow.FixedWidthTypes.Boolean}}
	}
	w.in = in
	return joinColumns(w, j.left, p, a.gout, keys, b)
}

// joinColumns projects w (the window over left that replaces a join of
// left with the subquery's projection p over its aggregate) to the
// join's columns, in its order: left's, then p's, where p's groups gout
// are now the outer keys.
func joinColumns(w rel, left rel, p *projectRel, gout []colID, keys []*expr, b *binder) rel {
	out := &projectRel{in: w}
	for _, id := range left.output() {
		out.exprs = append(out.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		out.out = append(out.out, id)
	}
	byOut := map[colID]*expr{}
	for i, g := range gout {
		byOut[g] = keys[i]
	}
	for i, e := range p.exprs {
		out.exprs = append(out.exprs, substCols(e, byOut))
		out.out = append(out.out, p.out[i])
	}
	return out
}
