package planner

import (
	"fmt"

	"github.com/kapot-go/kapot/catalog"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Merging scalar subqueries: uncorrelated scalar subqueries that each
// aggregate the same rows of one table (the same WHERE) without GROUP BY
// become one aggregate over one scan, as Spark's MergeScalarSubqueries
// does: TPC-DS q09's fifteen subqueries over store_sales, three per
// quantity range, read it five times instead of fifteen. Subqueries with
// different WHEREs stay apart: one scan computing each aggregate over its
// own rows (a CASE per aggregate and row) was slower than the scans.

// oneRowAgg is an uncorrelated scalar subquery's relation in the shape
// mergeScalarSubs merges: an optional projection of an aggregate without
// groups over filters over one scan.
type oneRowAgg struct {
	proj  *projectRel
	agg   *aggRel
	preds []*expr
	scan  *scanRel
}

// asOneRowAgg reads r as a oneRowAgg whose aggregates can be computed
// beside others'.
func asOneRowAgg(r rel) (oneRowAgg, bool) {
	var o oneRowAgg
	if p, ok := r.(*projectRel); ok {
		o.proj, r = p, p.in
	}
	a, ok := r.(*aggRel)
	if !ok || len(a.groups) > 0 || len(a.aggs) == 0 {
		return o, false
	}
	for _, c := range a.aggs {
		switch c.fn {
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM,
			kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN,
			kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX:
		default:
			return o, false
		}
		if c.distinct || c.arg2 != nil || len(c.order) > 0 || c.param != nil {
			return o, false
		}
	}
	o.agg, r = a, a.in
	for {
		f, ok := r.(*filterRel)
		if !ok {
			break
		}
		o.preds, r = append(o.preds, splitAnd(f.pred)...), f.in
	}
	s, ok := r.(*scanRel)
	if !ok || s.split != nil {
		return o, false
	}
	o.scan = s
	return o, true
}

// mergeScalarSubs replaces the uncorrelated scalar subqueries of js (cross
// joins of one-row relations) that aggregate the same rows of one table by
// one join with their merged aggregate; other joins stay as they are, in
// order.
func (b *binder) mergeScalarSubs(js []*joinRel) []*joinRel {
	type group struct {
		at      int // index in out of the group's join
		members []oneRowAgg
	}
	var out []*joinRel
	var groups []*group
	byKey := map[string]*group{}
	canon := map[*catalog.Table]*scanRel{} // the first scan of each table
	for _, j := range js {
		if j.jt != kapotv1.JoinType_JOIN_TYPE_INNER || len(j.leftKeys) > 0 || j.filter != nil {
			out = append(out, j)
			continue
		}
		o, ok := asOneRowAgg(j.right)
		if !ok {
			out = append(out, j)
			continue
		}
		first, seen := canon[o.scan.table]
		if !seen {
			canon[o.scan.table], first = o.scan, o.scan
		}
		key := fmt.Sprintf("%p", o.scan.table)
		for _, p := range o.preds {
			key += "\x00" + renameCols(p, scanRenames(o.scan, first)).key()
		}
		if g := byKey[key]; g != nil {
			g.members = append(g.members, o)
			continue
		}
		g := &group{at: len(out), members: []oneRowAgg{o}}
		byKey[key] = g
		groups = append(groups, g)
		out = append(out, j)
	}
	for _, g := range groups {
		if len(g.members) > 1 {
			out[g.at] = &joinRel{right: b.mergeOneRowAggs(g.members), jt: kapotv1.JoinType_JOIN_TYPE_INNER}
		}
	}
	return out
}

// scanRenames maps each column of scan s to the same column of scan to,
// a scan of the same table.
func scanRenames(s, to *scanRel) map[colID]colID {
	rename := map[colID]colID{}
	for i, id := range s.cols {
		rename[id] = to.cols[i]
	}
	return rename
}

// mergeOneRowAggs is one relation with the output columns of every
// member, all aggregating the same rows (one table under the same
// predicates): one aggregate, over the first member's filtered scan, of
// every member's aggregates.
func (b *binder) mergeOneRowAggs(members []oneRowAgg) rel {
	first := members[0]
	agg := &aggRel{in: first.agg.in}
	proj := &projectRel{in: agg}
	for _, m := range members {
		rename := scanRenames(m.scan, first.scan)
		for _, c := range m.agg.aggs {
			if c.arg != nil {
				c.arg = renameCols(c.arg, rename)
			}
			agg.aggs = append(agg.aggs, c)
		}
		if m.proj != nil {
			for i, e := range m.proj.exprs {
				proj.exprs, proj.out = append(proj.exprs, renameCols(e, rename)), append(proj.out, m.proj.out[i])
			}
			continue
		}
		for _, c := range m.agg.aggs {
			proj.exprs = append(proj.exprs, &expr{kind: eCol, col: c.out, typ: b.cols[c.out].typ})
			proj.out = append(proj.out, c.out)
		}
	}
	return proj
}

// renameCols is a copy of e reading column rename[c] wherever it reads a
// column c that rename has.
func renameCols(e *expr, rename map[colID]colID) *expr {
	c := *e
	if c.kind == eCol {
		if to, ok := rename[c.col]; ok {
			c.col = to
		}
	}
	if len(e.args) > 0 {
		c.args = make([]*expr, len(e.args))
		for i, a := range e.args {
			c.args[i] = renameCols(a, rename)
		}
	}
	return &c
}
