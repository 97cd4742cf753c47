package planner

import (
	"slices"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The join order: the binder leaves the inner joins of each FROM clause
// as written, a join graph (its relations and the predicates over several
// of them), and the optimiser turns each graph into a tree of joins.

// joinGraphRel is the relations of one FROM clause, single-relation
// predicates already applied to each, joined by preds (every conjunct of
// WHERE over several of them). Its columns are its relations', in FROM
// order. The cost model reads it as its best order (best): what a
// subquery predicate applied on top of it estimates is what it will
// meet.
type joinGraphRel struct {
	items []fromItem
	preds []*expr
	// ordered is best's answer, once asked.
	ordered rel
}

func (g *joinGraphRel) output() []colID {
	var out []colID
	for _, it := range g.items {
		out = append(out, it.r.output()...)
	}
	return out
}

// newJoinGraph is the join graph of rels over preds; one relation is
// itself, with preds as its filters.
func newJoinGraph(rels []fromItem, preds []*expr) rel {
	if len(rels) == 1 {
		r := rels[0].r
		for _, c := range preds {
			r = &filterRel{in: r, pred: c}
		}
		return r
	}
	return &joinGraphRel{items: rels, preds: preds}
}

// best is g as a tree of joins, chosen once. Join greedily: from a
// starting relation, take the connected relation (an equality links it to
// what is joined so far) that gives the smallest estimated result; cross
// join only when no relation is connected. Every relation is tried as the
// start, and the order whose intermediate results add up to the fewest
// estimated rows (joinCost) wins.
func (g *joinGraphRel) best() rel {
	if g.ordered != nil {
		return g.ordered
	}
	cur, rest := joinOrder(g.items, g.preds, 0)
	best := joinCost(cur.r)
	for first := 1; first < len(g.items); first++ {
		c, r := joinOrder(g.items, g.preds, first)
		if cost := joinCost(c.r); cost < best {
			cur, rest, best = c, r, cost
		}
	}
	r := cur.r
	for _, c := range rest {
		r = &filterRel{in: r, pred: c}
	}
	g.ordered = r
	return r
}

// joinOrder joins rels greedily from rels[first] (see joinGraphRel.best) and returns
// the joined relation with the predicates of rest it did not use.
func joinOrder(rels []fromItem, rest []*expr, first int) (fromItem, []*expr) {
	rest = slices.Clone(rest)
	cur := rels[first]
	pending := append(append([]fromItem{}, rels[:first]...), rels[first+1:]...)
	for len(pending) > 0 {
		pick, lk, rk := -1, []*expr(nil), []*expr(nil)
		best := 0.0
		for i, cand := range pending {
			l, r := equiKeys(rest, cur.cols, cand.cols)
			if len(l) == 0 {
				continue
			}
			est := estimate(&joinRel{left: cur.r, right: cand.r, jt: kapotv1.JoinType_JOIN_TYPE_INNER, leftKeys: l, rightKeys: r})
			if pick < 0 || est < best || (est == best && estimate(cand.r) < estimate(pending[pick].r)) {
				pick, lk, rk, best = i, l, r, est
			}
		}
		if pick < 0 {
			pick = 0
		}
		cand := pending[pick]
		pending = append(pending[:pick:pick], pending[pick+1:]...)
		j := &joinRel{left: cur.r, right: cand.r, jt: kapotv1.JoinType_JOIN_TYPE_INNER, leftKeys: lk, rightKeys: rk}
		merged := map[colID]bool{}
		for id := range cur.cols {
			merged[id] = true
		}
		for id := range cand.cols {
			merged[id] = true
		}
		var remaining []*expr
		for _, c := range rest {
			if isUsedEquality(c, lk, rk) {
				continue
			}
			if coveredBy(c, merged) {
				j.filter = andExpr(j.filter, c)
				continue
			}
			remaining = append(remaining, c)
		}
		rest = remaining
		cur = fromItem{r: j, cols: merged}
	}
	return cur, rest
}

// joinCost is what the join order minimises over the inner joins in r:
// the estimated rows each join produces, plus the rows of both inputs of
// each join that must repartition them (neither side is small enough to
// broadcast, and the files of both do not split the key alike), since
// moving rows between tasks costs about as much as producing them.
func joinCost(r rel) float64 {
	j, ok := r.(*joinRel)
	if !ok || j.jt != kapotv1.JoinType_JOIN_TYPE_INNER {
		return 0
	}
	c := estimate(j) + joinCost(j.left) + joinCost(j.right)
	if !smallSide(j.left, j.right) && !smallSide(j.right, j.left) && !relCoPartitioned(j, relRanged(j.left), relRanged(j.right)) {
		c += estimate(j.left) + estimate(j.right)
	}
	return c
}
