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
	r := sinkDimensions(cur.r)
	for _, c := range rest {
		r = &filterRel{in: r, pred: c}
	}
	g.ordered = r
	return r
}

// dimensionKeeps is the largest share of its table's rows a filtered
// dimension may keep for sinkDimensions to move its join down.
const dimensionKeeps = 0.5

// sinkDimensions moves the join of each filtered dimension in the
// left-deep chain r (a relation whose filters keep at most
// dimensionKeeps of its table, small enough to broadcast), whose join
// reads one relation joined earlier by a join neither side of which can
// be broadcast (a repartitioned fact), down to that relation: the fact
// meets it before its own join, which then moves only the rows it keeps. The greedy order is
// left-deep, so a fact that is not the first relation met its
// dimensions only after its own join (TPC-DS q17's store_returns was
// repartitioned whole to meet store_sales, and three quarters' returns
// kept of all years after). Everything else keeps its order, the first
// relation's dimensions too.
func sinkDimensions(r rel) rel {
	var spine []*joinRel // top down
	for x := r; ; {
		j, ok := x.(*joinRel)
		if !ok || j.jt != kapotv1.JoinType_JOIN_TYPE_INNER {
			break
		}
		spine = append(spine, j)
		x = j.left
	}
	if len(spine) < 2 {
		return r
	}
	// items[0] is the first relation; joins[k] joined items[k] (k >= 1).
	n := len(spine)
	items := make([]rel, n+1)
	joins := make([]*joinRel, n+1)
	items[0] = spine[n-1].left
	for k := 1; k <= n; k++ {
		joins[k] = spine[n-k]
		items[k] = joins[k].right
	}
	moved := false
	for k := 2; k <= n; k++ {
		j, d := joins[k], items[k]
		if len(j.leftKeys) == 0 || !filteredDimension(d) {
			continue
		}
		var refs []colID
		if j.filter != nil {
			refs = j.filter.refs(nil)
		}
		for _, e := range j.leftKeys {
			refs = e.refs(refs)
		}
		f := -1
		for i := 0; i < k; i++ {
			if items[i] == nil {
				continue // moved
			}
			cols := idSet(items[i].output())
			if slices.ContainsFunc(refs, func(id colID) bool { return cols[id] }) {
				if f >= 0 {
					f = -2
					break
				}
				f = i
			}
		}
		if f < 1 || !smallSide(d, items[f]) || !repartitions(joins[f]) {
			continue
		}
		if j.filter != nil && !coveredBy(j.filter, idSet(append(items[f].output(), d.output()...))) {
			continue
		}
		items[f] = &joinRel{left: items[f], right: d, jt: kapotv1.JoinType_JOIN_TYPE_INNER,
			leftKeys: j.leftKeys, rightKeys: j.rightKeys, filter: j.filter}
		items[k], joins[k] = nil, nil
		moved = true
	}
	if !moved {
		return r
	}
	out := items[0]
	for k := 1; k <= n; k++ {
		if joins[k] == nil {
			continue
		}
		c := *joins[k]
		c.left, c.right = out, items[k]
		out = &c
	}
	return out
}

// repartitions reports whether neither side of inner join j is small
// enough to broadcast to the other's tasks, by the default thresholds
// (smallSide, and a build computed once: broadcastOnce).
func repartitions(j *joinRel) bool {
	p := costModel{broadcast: broadcastRows, parts: 2}
	return !smallSide(j.left, j.right) && !smallSide(j.right, j.left) &&
		!p.broadcastOnce(j.left, j.right) && !p.broadcastOnce(j.right, j.left)
}

// filteredDimension reports whether r is a filtered relation whose
// filters keep at most dimensionKeeps of its rows.
func filteredDimension(r rel) bool {
	base := r
	for f, ok := base.(*filterRel); ok; f, ok = base.(*filterRel) {
		base = f.in
	}
	return base != r && estimate(r) <= dimensionKeeps*estimate(base)
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
