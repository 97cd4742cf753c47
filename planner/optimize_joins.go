package planner

import (
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

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
	preds, eq := impliedEqualities(g.items, g.preds)
	cur, rest := joinOrder(g.items, preds, eq, 0)
	best := joinCost(cur.r)
	for first := 1; first < len(g.items); first++ {
		c, r := joinOrder(g.items, preds, eq, first)
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

// columnClasses are the equivalence classes of columns that a join
// graph's stated equalities (column = column, of one type) make equal, and
// which of its predicates were implied by them rather than stated.
type columnClasses struct {
	class   map[colID]int
	implied map[*expr]bool
}

// impliedEqualities returns preds with the equalities they imply but do
// not state appended: a = b and b = c, columns of one type, imply a = c.
// Every row of the graph's result satisfies every stated conjunct, so an
// implied one holds there too, and a join may use it as a key: TPC-H Q5's
// c_nationkey = s_nationkey and s_nationkey = n_nationkey let customer
// meet nation (and region's filter) before orders and lineitem. An implied
// equality is only ever a key, never a filter (joinOrder drops it once its
// columns are joined otherwise).
func impliedEqualities(items []fromItem, preds []*expr) ([]*expr, columnClasses) {
	cc := columnClasses{class: map[colID]int{}, implied: map[*expr]bool{}}
	parent := map[colID]colID{}
	var find func(colID) colID
	find = func(c colID) colID {
		p, ok := parent[c]
		if !ok || p == c {
			return c
		}
		r := find(p)
		parent[c] = r
		return r
	}
	cols := map[colID]*expr{}
	var order []colID
	stated := map[[2]colID]bool{}
	for _, c := range preds {
		a, b, ok := columnEquality(c)
		if !ok {
			continue
		}
		for _, x := range []*expr{a, b} {
			if _, seen := cols[x.col]; !seen {
				cols[x.col] = x
				order = append(order, x.col)
				parent[x.col] = x.col
			}
		}
		stated[[2]colID{a.col, b.col}], stated[[2]colID{b.col, a.col}] = true, true
		parent[find(a.col)] = find(b.col)
	}
	owner := func(id colID) int {
		for i, it := range items {
			if it.cols[id] {
				return i
			}
		}
		return -1
	}
	roots := map[colID]int{}
	for _, id := range order {
		r := find(id)
		if _, ok := roots[r]; !ok {
			roots[r] = len(roots)
		}
		cc.class[id] = roots[r]
	}
	out := slices.Clone(preds)
	for i, a := range order {
		for _, b := range order[i+1:] {
			if cc.class[a] != cc.class[b] || stated[[2]colID{a, b}] {
				continue
			}
			oa, ob := owner(a), owner(b)
			if oa < 0 || ob < 0 || oa == ob {
				continue
			}
			e := &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, typ: arrow.FixedWidthTypes.Boolean,
				args: []*expr{cols[a], cols[b]}}
			cc.implied[e] = true
			out = append(out, e)
		}
	}
	return out, cc
}

// columnEquality reports whether c is column = column over one type, and
// its two columns.
func columnEquality(c *expr) (*expr, *expr, bool) {
	if c.kind != eBinary || c.op != kapotv1.BinaryOp_BINARY_OP_EQ || len(c.args) != 2 {
		return nil, nil, false
	}
	a, b := c.args[0], c.args[1]
	if a.kind != eCol || b.kind != eCol || a.col == b.col || a.typ == nil || b.typ == nil || !arrow.TypeEqual(a.typ, b.typ) {
		return nil, nil, false
	}
	return a, b, true
}

// equalCols is a union-find of columns known equal: those the joins
// built so far equate (keys and equality filters).
type equalCols map[colID]colID

func (u equalCols) find(c colID) colID {
	for {
		p, ok := u[c]
		if !ok || p == c {
			return c
		}
		c = p
	}
}

func (u equalCols) union(a, b colID) { u[u.find(a)] = u.find(b) }

func (u equalCols) clone() equalCols {
	out := make(equalCols, len(u))
	for k, v := range u {
		out[k] = v
	}
	return out
}

// joinKeys are the keys of a join of left and right, and the stated
// conjuncts of rest they account for. A stated equality between them is a
// key unless it is redundant: its right column is another key's and its
// left column equals that key's left column already (eq: what left's joins
// equate), as TPC-H Q9's s_suppkey = l_suppkey beside ps_suppkey =
// l_suppkey once supplier met partsupp. An implied equality is a key only
// for a class of columns no other key equates.
func (cc columnClasses) joinKeys(rest []*expr, left, right map[colID]bool, eq equalCols) (lk, rk, used []*expr) {
	keyed := map[int]bool{}
	add := func(c *expr) {
		l, r := equiKeys([]*expr{c}, left, right)
		if len(l) == 0 {
			return
		}
		la, ra := aligned(l[0]), aligned(r[0])
		cols := la.kind == eCol && ra.kind == eCol
		if cols {
			for i := range lk {
				pl, pr := aligned(lk[i]), aligned(rk[i])
				if pl.kind == eCol && pr.kind == eCol && pr.col == ra.col && eq.find(pl.col) == eq.find(la.col) {
					if !cc.implied[c] {
						used = append(used, c)
					}
					return
				}
			}
		}
		class, classed := cc.class[la.col]
		if cc.implied[c] {
			if !cols || !classed || keyed[class] {
				return
			}
		} else {
			used = append(used, c)
		}
		if cols && classed {
			keyed[class] = true
		}
		lk, rk = append(lk, l[0]), append(rk, r[0])
	}
	for _, c := range rest {
		if !cc.implied[c] {
			add(c)
		}
	}
	for _, c := range rest {
		if cc.implied[c] {
			add(c)
		}
	}
	return lk, rk, used
}

// joinOrder joins rels greedily from rels[first] (see joinGraphRel.best) and returns
// the joined relation with the predicates of rest it did not use (never
// one of cc's implied equalities).
func joinOrder(rels []fromItem, rest []*expr, cc columnClasses, first int) (fromItem, []*expr) {
	rest = slices.Clone(rest)
	cur := rels[first]
	eq := equalCols{}
	pending := append(append([]fromItem{}, rels[:first]...), rels[first+1:]...)
	for len(pending) > 0 {
		pick, lk, rk, used := -1, []*expr(nil), []*expr(nil), []*expr(nil)
		best := 0.0
		for i, cand := range pending {
			l, r, u := cc.joinKeys(rest, cur.cols, cand.cols, eq)
			if len(l) == 0 {
				continue
			}
			est := estimate(&joinRel{left: cur.r, right: cand.r, jt: kapotv1.JoinType_JOIN_TYPE_INNER, leftKeys: l, rightKeys: r})
			if pick < 0 || est < best || (est == best && estimate(cand.r) < estimate(pending[pick].r)) {
				pick, lk, rk, used, best = i, l, r, u, est
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
		eq = eq.clone()
		for i := range lk {
			if l, r := aligned(lk[i]), aligned(rk[i]); l.kind == eCol && r.kind == eCol {
				eq.union(l.col, r.col)
			}
		}
		var remaining []*expr
		for _, c := range rest {
			if slices.Contains(used, c) {
				continue
			}
			if coveredBy(c, merged) {
				if cc.implied[c] {
					continue
				}
				if a, b, ok := columnEquality(c); ok {
					if eq.find(a.col) == eq.find(b.col) {
						continue // the keys equate them already
					}
					eq.union(a.col, b.col)
				}
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
