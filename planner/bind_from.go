package planner

import (
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// FROM clauses: tables, derived tables, explicit joins, the join graph of
// a FROM list (ordered later by the optimiser, joinorder.go), and the
// predicate rewrites that decide where filters run.

// fromItem is one relation of the FROM clause with its scope.
type fromItem struct {
	r    rel
	cols map[colID]bool
}

// bindFrom binds FROM and WHERE and returns the relation with the FROM
// clause's columns in FROM order: a join graph of the FROM list's
// relations, each with its own predicates applied. With outer set (a subquery), WHERE
// conjuncts that read outer columns are returned as correlation predicates
// instead of being applied. Subquery predicates (EXISTS, IN, comparisons
// with a scalar subquery) become semi, anti or inner joins on top.
func (b *binder) bindFrom(items []*pg.Node, where *pg.Node, outer *scope) (rel, []*column, []*expr, error) {
	rels, cols, latPreds, err := b.bindFromItems(items)
	if err != nil {
		return nil, nil, nil, err
	}
	all := &scope{cols: cols, outer: outer}
	local := map[colID]bool{}
	for _, c := range all.cols {
		local[c.id] = true
	}
	var conj, corr []*expr
	var subs []*pg.Node
	if where != nil {
		for _, c := range conjuncts(where) {
			if isSubqueryPredicate(c) || containsSubLink(c) {
				subs = append(subs, c)
				continue
			}
			w, err := b.bindExpr(c, all, nil)
			if err != nil {
				return nil, nil, nil, err
			}
			if w.typ.ID() != arrow.BOOL {
				return nil, nil, nil, errAt(location(c), engine.ErrInvalidPlan, "WHERE must be boolean, not %s", catalog.TypeName(w.typ))
			}
			for _, p := range factorOr(w) {
				if coveredBy(p, local) {
					conj = append(conj, p)
				} else {
					corr = append(corr, p)
				}
			}
		}
	}
	// A LATERAL subquery's conditions join it like WHERE's.
	conj = append(conj, latPreds...)
	// Explicit inner joins join like the FROM list: their relations and ON
	// conditions join the graph (the optimiser orders them all).
	var flat []fromItem
	var on []*expr
	for _, fi := range rels {
		if !isInnerJoinTree(fi.r) {
			flat = append(flat, fi)
			continue
		}
		var leaves []rel
		leaves, on = b.flattenInner(fi.r, nil, on)
		for _, l := range leaves {
			flat = append(flat, fromItem{r: l, cols: idSet(l.output())})
		}
	}
	rels, conj = flat, append(on, conj...)
	// Push single-relation predicates down to their relation; into an
	// outer join, as far as it allows (pushInto).
	var rest []*expr
	into := make([][]*expr, len(rels))
	for _, c := range conj {
		placed := false
		for i := range rels {
			if coveredBy(c, rels[i].cols) {
				if isJoinTree(rels[i].r) {
					into[i] = append(into[i], c)
				} else {
					rels[i].r = &filterRel{in: rels[i].r, pred: c}
				}
				placed = true
				break
			}
		}
		if !placed {
			rest = append(rest, c)
		}
	}
	for i := range rels {
		if isJoinTree(rels[i].r) {
			rels[i].r = b.pushInto(rels[i].r, into[i])
		}
	}
	// A disjunction over several relations implies, for each relation that
	// every branch restricts, the disjunction of those restrictions (TPC-H
	// Q7's (n1 = 'FRANCE' AND n2 = 'GERMANY') OR (n1 = 'GERMANY' AND n2 =
	// 'FRANCE') implies n1 IN ('FRANCE', 'GERMANY')). Filter each such
	// relation early; the whole predicate still applies after the join.
	for _, c := range rest {
		for i := range rels {
			if p := impliedFor(c, rels[i].cols); p != nil {
				rels[i].r = &filterRel{in: rels[i].r, pred: p}
			}
		}
	}
	// An IN or EXISTS predicate whose outer columns all come from one
	// relation, over a subquery smaller than that relation, filters it
	// before the joins (TPC-H Q18's o_orderkey IN (…) shrinks orders
	// before it meets lineitem), and the join order sees the smaller
	// relation.
	if outer == nil {
		var later []*pg.Node
		for _, c := range subs {
			if !b.pushSubquery(rels, rest, c, all, local) {
				later = append(later, c)
			}
		}
		subs = later
	}
	// The relations join as the optimiser will order them: a join graph
	// with the predicates over several relations, outer joins of the FROM
	// list's items on top of it (see peelOuterJoins).
	var outers []outerJoin
	if outer == nil && len(rels) > 1 {
		rels, rest, outers = peelOuterJoins(rels, rest)
	}
	r := newJoinGraph(rels, rest)
	r = reattachOuterJoins(r, outers)
	for _, c := range subs {
		var err error
		if r, err = b.applySubquery(r, c, all, nil); err != nil {
			return nil, nil, nil, err
		}
	}
	return r, all.cols, corr, nil
}

// outerJoin is a LEFT or RIGHT join peeled off a FROM item (see
// peelOuterJoins): above are the filters over it; top marks the last of
// all, which also applies the graph's predicates over its padded side.
type outerJoin struct {
	j     *joinRel
	above []*expr
}

// peelOuterJoins takes the outer joins off the FROM items that are A LEFT
// JOIN B (or B RIGHT JOIN A), so that A joins the other items first and B
// after: (A ⟕ B) × C = (A × C) ⟕ B when the ON condition reads only A and
// B, which SQL's scoping guarantees. The inner joins then filter A before
// the outer join instead of after (TPC-DS q40 and q49: catalog_sales and
// web_sales LEFT JOIN their returns, then joined with a two-month or
// one-month date range: 1.4 M rows went through the outer join, 1.7 K
// came out of the date join). Predicates over the padded sides move above
// the outer joins, returned with them (the rest stay the graph's).
func peelOuterJoins(rels []fromItem, preds []*expr) ([]fromItem, []*expr, []outerJoin) {
	var outers []outerJoin
	rels = slices.Clone(rels)
	for i := range rels {
		r := rels[i].r
		var chain []outerJoin
		for {
			base, above := r, []*expr(nil)
			for {
				f, ok := base.(*filterRel)
				if !ok {
					break
				}
				above = append(above, f.pred)
				base = f.in
			}
			j, ok := base.(*joinRel)
			if !ok || (j.jt != kapotv1.JoinType_JOIN_TYPE_LEFT && j.jt != kapotv1.JoinType_JOIN_TYPE_RIGHT) {
				break
			}
			chain = append(chain, outerJoin{j: j, above: above})
			if r = j.left; j.jt == kapotv1.JoinType_JOIN_TYPE_RIGHT {
				r = j.right
			}
		}
		if len(chain) == 0 || linksPadded(preds, rels[i].cols, idSet(r.output())) {
			continue
		}
		outers = append(outers, chain...)
		rels[i] = fromItem{r: r, cols: idSet(r.output())}
	}
	if len(outers) == 0 {
		return rels, preds, nil
	}
	inner := map[colID]bool{}
	for _, fi := range rels {
		for id := range fi.cols {
			inner[id] = true
		}
	}
	var keep, top []*expr
	for _, p := range preds {
		if coveredBy(p, inner) {
			keep = append(keep, p)
		} else {
			top = append(top, p)
		}
	}
	// The last outer join carries the predicates that read padded sides.
	outers[0].above = append(outers[0].above, top...)
	return rels, keep, outers
}

// linksPadded reports whether a predicate joins an item's padded columns
// (in item, not in base) with another item's: the item is then joined
// whole (TPC-DS q93's sr_reason_sk = r_reason_sk: peeled, reason would
// join store_sales as a cross product before the outer join).
func linksPadded(preds []*expr, item, base map[colID]bool) bool {
	for _, p := range preds {
		padded, other := false, false
		p.everyRef(func(id colID) bool {
			switch {
			case !item[id]:
				other = true
			case !base[id]:
				padded = true
			}
			return true
		})
		if padded && other {
			return true
		}
	}
	return false
}

// reattachOuterJoins joins r, the graph of the peeled items, with the
// padded sides of outers, innermost first, each under its filters.
func reattachOuterJoins(r rel, outers []outerJoin) rel {
	for k := len(outers) - 1; k >= 0; k-- {
		o := outers[k]
		j := *o.j
		if j.jt == kapotv1.JoinType_JOIN_TYPE_LEFT {
			j.left = r
		} else {
			j.right = r
		}
		r = &j
		for _, p := range o.above {
			r = &filterRel{in: r, pred: p}
		}
	}
	return r
}

// bindFromItems binds the items of a FROM list and returns them with
// their columns in FROM order (a LATERAL subquery's after those of the
// items before it, though it may join one of them) and the conditions
// that join LATERAL subqueries bound as items of their own.
func (b *binder) bindFromItems(items []*pg.Node) ([]fromItem, []*column, []*expr, error) {
	if len(items) == 0 {
		r := &valuesRel{}
		return []fromItem{{r: r, cols: map[colID]bool{}}}, nil, nil, nil
	}
	var rels []fromItem
	var cols []*column
	var preds []*expr
	for _, it := range items {
		if rf, fc := lateralUnnest(it); fc != nil {
			// FROM t, unnest(t.l): t's rows each once per element.
			if len(rels) == 0 {
				return nil, nil, nil, notSupported(fc.GetLocation(), "unnest in FROM over a column")
			}
			prev := &rels[len(rels)-1]
			n := len(prev.r.output())
			r, err := b.bindLateralUnnest(rf, fc, prev.r)
			if err != nil {
				return nil, nil, nil, err
			}
			*prev = fromItem{r: r, cols: idSet(r.output())}
			cols = append(cols, b.scopeOf(r).cols[n:]...)
			continue
		}
		rs := it.GetRangeSubselect()
		if rs == nil || !rs.GetLateral() || len(rels) == 0 {
			r, err := b.bindFromItem(it)
			if err != nil {
				return nil, nil, nil, err
			}
			rels = append(rels, fromItem{r: r, cols: idSet(r.output())})
			cols = append(cols, b.scopeOf(r).cols...)
			continue
		}
		r, rcols, on, ok, err := b.lateralGraphItem(rels, rs)
		if err != nil {
			return nil, nil, nil, err
		}
		if ok {
			rels = append(rels, fromItem{r: r, cols: idSet(r.output())})
			cols, preds = append(cols, rcols...), append(preds, on...)
			continue
		}
		idx, r, err := b.lateralItem(rels, rs)
		if err != nil {
			return nil, nil, nil, err
		}
		n := len(rels[idx].r.output())
		rels[idx] = fromItem{r: r, cols: idSet(r.output())}
		cols = append(cols, b.scopeOf(r).cols[n:]...)
	}
	return rels, cols, preds, nil
}

// pushSubquery applies the subquery predicate n to the one relation of rels
// its outer columns come from, if there is one, and reports whether it did.
// local holds the columns of all of rels; preds are the predicates that
// will join them.
func (b *binder) pushSubquery(rels []fromItem, preds []*expr, n *pg.Node, all *scope, local map[colID]bool) bool {
	for i := range rels {
		r, err := b.applySubquery(rels[i].r, n, all, nil)
		if err != nil {
			continue // it reads another relation's columns (or fails as a whole later)
		}
		if j, ok := r.(*joinRel); ok && j.left == rels[i].r && (j.jt == kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI || j.jt == kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI) {
			var refs []colID
			for _, k := range j.leftKeys {
				refs = k.refs(refs)
			}
			if j.filter != nil {
				refs = j.filter.refs(refs)
			}
			if slices.ContainsFunc(refs, func(id colID) bool { return local[id] && !rels[i].cols[id] }) {
				continue
			}
			if estimate(j.right) >= estimate(rels[i].r) {
				// A subquery as large as the relation filters it better after
				// the joins have shrunk it (TPC-H Q21's EXISTS over lineitem).
				return false
			}
			if j.jt == kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI && estimate(j.right)*tinySubquery >= estimate(rels[i].r) &&
				dimensionsKeep(rels, i, preds) < semiSelectivity {
				// An anti join keeps most rows (those without a match):
				// when the joins with filtered dimensions shrink the
				// relation more, it filters their result (TPC-DS q16's NOT
				// EXISTS over catalog_returns probed all 1.4 M
				// catalog_sales rows, and kept the dimensions' dynamic
				// filters from its scan; the joins with a state, a county
				// and two months keep 837). A tiny subquery (TPC-H Q16's
				// complaining suppliers) costs little anywhere and stays
				// below. Semi joins stay below: they can keep few rows
				// (q10's EXISTS over a quarter's store sales was 1.3x
				// slower above the joins).
				return false
			}
			rels[i].r = j
			return true
		}
		if b.pushScalarSubquery(rels, i, r) {
			return true
		}
	}
	return false
}

// tinySubquery is how many times smaller than the relation it filters a
// subquery is that is applied below the joins whatever they keep.
const tinySubquery = 32

// semiSelectivity is the share of a relation's rows a semi or anti join
// is estimated to keep (see estimate).
const semiSelectivity = 0.5

// dimensionsKeep estimates the share of rels[i]'s rows its equality joins
// in preds with filtered, smaller relations (dimensions: each a key the
// relation's rows refer to) keep: the product of the share of each such
// relation's rows its filters keep.
func dimensionsKeep(rels []fromItem, i int, preds []*expr) float64 {
	keep := 1.0
	seen := map[int]bool{}
	size := estimate(rels[i].r)
	for _, p := range preds {
		if p.kind != eBinary || p.op != kapotv1.BinaryOp_BINARY_OP_EQ {
			continue
		}
		a, c := p.args[0], p.args[1]
		if a.kind != eCol || c.kind != eCol {
			continue
		}
		for _, pair := range [][2]*expr{{a, c}, {c, a}} {
			if !rels[i].cols[pair[0].col] {
				continue
			}
			for k := range rels {
				if k == i || seen[k] || !rels[k].cols[pair[1].col] {
					continue
				}
				base := rels[k].r
				for f, ok := base.(*filterRel); ok; f, ok = base.(*filterRel) {
					base = f.in
				}
				if base == rels[k].r || estimate(base) >= size {
					continue
				}
				seen[k] = true
				keep *= min(estimate(rels[k].r)/estimate(base), 1)
			}
		}
	}
	return keep
}

// pushScalarSubquery makes r, a comparison with scalar subqueries applied
// to rels[i] alone, that relation, if it reads no other relation's columns
// (TPC-DS q06's d_month_seq = (SELECT DISTINCT d_month_seq …) filters
// date_dim before it meets store_sales, not 2.7 M joined rows after, and
// its i_current_price > 1.2 * (SELECT avg(…) … WHERE j.i_category =
// i.i_category) decorrelates over item's categories, not over the joined
// rows'). A correlated subquery stays above the joins when rels[i] is the
// largest relation, which the joins may shrink first.
func (b *binder) pushScalarSubquery(rels []fromItem, i int, r rel) bool {
	f, ok := r.(*filterRel)
	if !ok || danglingRef(f) {
		return false
	}
	correlated := false
	for c := f.in; c != rels[i].r; {
		j, ok := c.(*joinRel)
		if !ok || (j.jt != kapotv1.JoinType_JOIN_TYPE_INNER && j.jt != kapotv1.JoinType_JOIN_TYPE_LEFT) {
			return false
		}
		correlated = correlated || len(j.leftKeys) > 0
		c = j.left
	}
	if correlated && len(rels) > 1 {
		own := estimate(rels[i].r)
		largest := true
		for k := range rels {
			if k != i && estimate(rels[k].r) > own {
				largest = false
			}
		}
		if largest {
			return false
		}
	}
	// The subqueries' columns stay out of the relation's output: the
	// statement reads the FROM clause's.
	p := &projectRel{in: f}
	for _, id := range rels[i].r.output() {
		p.exprs, p.out = append(p.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ}), append(p.out, id)
	}
	rels[i].r = p
	return true
}

func (b *binder) bindFromItem(n *pg.Node) (rel, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if err := checkFields(nodeMessage(n), location(n)); err != nil {
		return nil, err
	}
	if rv := n.GetRangeVar(); rv != nil && len(rv.GetAlias().GetColnames()) > 0 {
		return nil, notSupported(rv.GetLocation(), "column aliases on a table (t AS x(a, b))")
	}
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		if c, ok := b.ctes[strings.ToLower(rv.GetRelname())]; ok {
			alias := rv.GetRelname()
			if a := rv.GetAlias(); a != nil {
				alias = a.GetAliasname()
			}
			if c.bound == nil {
				if c.binding {
					return nil, notSupported(rv.GetLocation(), "a WITH query that names itself (WITH RECURSIVE)")
				}
				c.binding = true
				q, err := b.bindShared(c.sel)
				c.binding = false
				if err != nil {
					return nil, err
				}
				c.bound = q
			}
			return b.relabel(c.bound.r, c.bound.names, alias, c.names), nil
		}
		if q, ok := b.cat.View(rv.GetRelname()); ok {
			alias := rv.GetRelname()
			if a := rv.GetAlias(); a != nil {
				alias = a.GetAliasname()
			}
			return b.view(rv.GetRelname(), q, alias, rv.GetLocation())
		}
		t, ok := b.cat.Lookup(rv.GetRelname())
		if !ok {
			return nil, errAt(rv.GetLocation(), errs.ErrUnknownTable, "table %q does not exist (have: %s)", rv.GetRelname(), strings.Join(b.cat.Names(), ", "))
		}
		qual := rv.GetRelname()
		if a := rv.GetAlias(); a != nil {
			qual = a.GetAliasname()
		}
		// per applies once no split does (useSplits may drop one).
		s := &scanRel{table: t, split: b.tableSplitOf(t), per: filesPerPartition(t, b.parts)}
		for _, f := range t.Schema.Fields() {
			id := b.newCol(qual, f.Name, f.Type)
			b.cols[id].nullable = f.Nullable
			s.cols = append(s.cols, id)
		}
		return s, nil
	case n.GetRangeSubselect() != nil:
		return b.bindRangeSubselect(n.GetRangeSubselect())
	case n.GetJoinExpr() != nil:
		je := n.GetJoinExpr()
		l, err := b.bindFromItem(je.GetLarg())
		if err != nil {
			return nil, err
		}
		if rs := je.GetRarg().GetRangeSubselect(); rs != nil && rs.GetLateral() {
			if r, ok, err := b.lateralJoinExpr(je, l); ok || err != nil {
				return r, err
			}
		}
		r, err := b.bindFromItem(je.GetRarg())
		if err != nil {
			return nil, err
		}
		jt, ok := joinTypes[je.GetJointype()]
		if !ok {
			return nil, notSupported(-1, "join type "+strings.TrimPrefix(je.GetJointype().String(), "JOIN_"))
		}
		j := &joinRel{left: l, right: r, jt: jt}
		// The side an outer join pads with NULLs is nullable above the
		// join, whatever its table says (a NOT IN over it must not take
		// the NULL-free path).
		if jt == kapotv1.JoinType_JOIN_TYPE_LEFT || jt == kapotv1.JoinType_JOIN_TYPE_FULL {
			for _, id := range r.output() {
				b.cols[id].nullable = true
			}
		}
		if jt == kapotv1.JoinType_JOIN_TYPE_RIGHT || jt == kapotv1.JoinType_JOIN_TYPE_FULL {
			for _, id := range l.output() {
				b.cols[id].nullable = true
			}
		}
		if len(je.GetUsingClause()) > 0 || je.GetIsNatural() {
			return b.joinUsing(j, je)
		}
		if je.GetQuals() != nil {
			sc := &scope{cols: append(b.scopeOf(l).cols, b.scopeOf(r).cols...)}
			on, err := b.bindExpr(je.GetQuals(), sc, nil)
			if err != nil {
				return nil, err
			}
			lcols, rcols := idSet(l.output()), idSet(r.output())
			lk, rk := equiKeys(splitAnd(on), lcols, rcols)
			j.leftKeys, j.rightKeys = lk, rk
			for _, c := range splitAnd(on) {
				if isUsedEquality(c, lk, rk) {
					continue
				}
				// A condition on the side whose unmatched rows are dropped
				// (the right of a LEFT join, the left of a RIGHT join, either
				// of an inner join) filters that side before the join: TPC-H
				// Q13's o_comment NOT LIKE … then runs at the orders scan
				// instead of shuffling o_comment to the join.
				refs := c.refs(nil)
				switch {
				case len(refs) > 0 && coveredBy(c, rcols) && (jt == kapotv1.JoinType_JOIN_TYPE_LEFT || jt == kapotv1.JoinType_JOIN_TYPE_INNER):
					j.right = &filterRel{in: j.right, pred: c}
				case len(refs) > 0 && coveredBy(c, lcols) && (jt == kapotv1.JoinType_JOIN_TYPE_RIGHT || jt == kapotv1.JoinType_JOIN_TYPE_INNER):
					j.left = &filterRel{in: j.left, pred: c}
				default:
					j.filter = andExpr(j.filter, c)
				}
			}
		}
		return j, nil
	}
	if rf := n.GetRangeFunction(); rf != nil {
		return b.bindRangeFunction(rf, n)
	}
	return nil, refuseNode("FROM item", n)
}

// joinTypes are the join types of JOIN clauses kapot plans.
var joinTypes = map[pg.JoinType]kapotv1.JoinType{
	pg.JoinType_JOIN_INNER: kapotv1.JoinType_JOIN_TYPE_INNER, pg.JoinType_JOIN_LEFT: kapotv1.JoinType_JOIN_TYPE_LEFT,
	pg.JoinType_JOIN_RIGHT: kapotv1.JoinType_JOIN_TYPE_RIGHT, pg.JoinType_JOIN_FULL: kapotv1.JoinType_JOIN_TYPE_FULL,
}

// derived binds a subquery in FROM and re-labels its columns under alias,
// renamed by colNames where given.
func (b *binder) derived(sel *pg.SelectStmt, alias string, colNames []string) (rel, error) {
	r, names, err := b.bindSelect(sel)
	if err != nil {
		return nil, err
	}
	return b.relabel(r, names, alias, colNames), nil
}

// bindShared binds a query read in several places (a WITH query, a view)
// once, as a shared relation.
func (b *binder) bindShared(sel *pg.SelectStmt) (*boundQuery, error) {
	r, names, err := b.bindSelect(sel)
	if err != nil {
		return nil, err
	}
	return &boundQuery{r: &sharedRel{in: r}, names: names}, nil
}

// relabel projects r's columns as new columns under alias, named names,
// renamed by colNames where given.
func (b *binder) relabel(r rel, names []string, alias string, colNames []string) rel {
	names = slices.Clone(names)
	for i, c := range colNames {
		if i < len(names) {
			names[i] = c
		}
	}
	p := &projectRel{in: r}
	for i, id := range r.output() {
		p.exprs = append(p.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		out := b.newCol(alias, names[i], b.cols[id].typ)
		b.cols[out].nullable = b.cols[id].nullable
		p.out = append(p.out, out)
	}
	return p
}

func idSet(ids []colID) map[colID]bool {
	m := map[colID]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// factorOr splits a predicate into conjuncts and pulls conjuncts common to
// every branch of a disjunction out of it: (a AND b) OR (a AND c) becomes
// a AND (b OR c), so a join condition repeated in each branch (TPC-H Q19)
// becomes a join key instead of a cross product.
func factorOr(e *expr) []*expr {
	var out []*expr
	for _, c := range splitAnd(e) {
		branches := splitOr(c)
		if len(branches) < 2 {
			out = append(out, c)
			continue
		}
		sets := make([][]*expr, len(branches))
		for i, br := range branches {
			sets[i] = splitAnd(br)
		}
		var common []*expr
		for _, cand := range sets[0] {
			k := cand.key()
			inAll := true
			for _, set := range sets[1:] {
				found := false
				for _, x := range set {
					if x.key() == k {
						found = true
						break
					}
				}
				inAll = inAll && found
			}
			if inAll {
				common = append(common, cand)
			}
		}
		if len(common) == 0 {
			out = append(out, c)
			continue
		}
		isCommon := map[string]bool{}
		for _, x := range common {
			isCommon[x.key()] = true
		}
		var or *expr
		for _, set := range sets {
			var and *expr
			for _, x := range set {
				if !isCommon[x.key()] {
					and = andExpr(and, x)
				}
			}
			if and == nil { // a branch that is only the common part: the OR is true
				or = nil
				break
			}
			if or == nil {
				or = and
			} else {
				or = &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_OR, args: []*expr{or, and}, typ: arrow.FixedWidthTypes.Boolean}
			}
		}
		out = append(out, common...)
		if or != nil {
			out = append(out, or)
		}
	}
	return out
}

// impliedFor derives from a disjunction what it says about the columns in
// cols alone: the OR, over its branches, of each branch's conjuncts that
// read only cols. Nil when some branch says nothing about them (or e is not
// a disjunction).
func impliedFor(e *expr, cols map[colID]bool) *expr {
	branches := splitOr(e)
	if len(branches) < 2 {
		return nil
	}
	var or *expr
	for _, br := range branches {
		var and *expr
		for _, x := range splitAnd(br) {
			if coveredBy(x, cols) {
				and = andExpr(and, x)
			}
		}
		if and == nil {
			return nil
		}
		if or == nil {
			or = and
		} else {
			or = &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_OR, args: []*expr{or, and}, typ: arrow.FixedWidthTypes.Boolean}
		}
	}
	return or
}

func splitOr(e *expr) []*expr {
	if e.kind == eBinary && e.op == kapotv1.BinaryOp_BINARY_OP_OR {
		return append(splitOr(e.args[0]), splitOr(e.args[1])...)
	}
	return []*expr{e}
}

func splitAnd(e *expr) []*expr {
	if e.kind == eBinary && e.op == kapotv1.BinaryOp_BINARY_OP_AND {
		return append(splitAnd(e.args[0]), splitAnd(e.args[1])...)
	}
	return []*expr{e}
}

func andExpr(a, b *expr) *expr {
	if a == nil {
		return b
	}
	return &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_AND, args: []*expr{a, b}, typ: arrow.FixedWidthTypes.Boolean}
}

func coveredBy(e *expr, cols map[colID]bool) bool {
	return e.everyRef(func(id colID) bool { return cols[id] })
}

// equiKeys finds conjuncts l = r with one side over left and the other over
// right columns, with equal types.
func equiKeys(conj []*expr, left, right map[colID]bool) (lk, rk []*expr) {
	for _, c := range conj {
		if c.kind != eBinary || c.op != kapotv1.BinaryOp_BINARY_OP_EQ {
			continue
		}
		a, b := c.args[0], c.args[1]
		if !a.readsColumns() || !b.readsColumns() {
			continue
		}
		a, b = alignDecimals(a, b)
		a, b = alignIntegers(a, b)
		if !arrow.TypeEqual(a.typ, b.typ) {
			continue
		}
		switch {
		case coveredBy(a, left) && coveredBy(b, right):
			lk, rk = append(lk, a), append(rk, b)
		case coveredBy(b, left) && coveredBy(a, right):
			lk, rk = append(lk, b), append(rk, a)
		}
	}
	return lk, rk
}

// alignIntegers casts the narrower of two signed integers of different
// widths to the wider type, so that they can be a hash join's keys
// (TPC-DS q59: d_week_seq1 = d_week_seq2 - 52, an INTEGER and a BIGINT);
// the cast is exact.
func alignIntegers(l, r *expr) (*expr, *expr) {
	if l.typ == nil || r.typ == nil || arrow.TypeEqual(l.typ, r.typ) || !arrow.IsSignedInteger(l.typ.ID()) || !arrow.IsSignedInteger(r.typ.ID()) {
		return l, r
	}
	if l.typ.(arrow.FixedWidthDataType).BitWidth() < r.typ.(arrow.FixedWidthDataType).BitWidth() {
		return coerceTo(l, r.typ), r
	}
	return l, coerceTo(r, l.typ)
}

// alignDecimals casts two decimals of different scales that a hash join
// takes as keys to one type, decimal(38, larger scale), where Arrow's
// common type would need more than 38 digits: keys must have one type (a
// value the cast cannot hold fails the query). Comparisons need no such
// cast: the engine rescales value by value, exact whatever the digits.
func alignDecimals(l, r *expr) (*expr, *expr) {
	ld, ok1 := l.typ.(*arrow.Decimal128Type)
	rd, ok2 := r.typ.(*arrow.Decimal128Type)
	if !ok1 || !ok2 || ld.Scale == rd.Scale {
		return l, r
	}
	s := max(ld.Scale, rd.Scale)
	intDigits := max(ld.Precision-ld.Scale, rd.Precision-rd.Scale)
	if intDigits+s <= 38 {
		return l, r
	}
	t := &arrow.Decimal128Type{Precision: 38, Scale: s}
	return coerceTo(l, t), coerceTo(r, t)
}

func isUsedEquality(c *expr, lk, rk []*expr) bool {
	if c.kind != eBinary || c.op != kapotv1.BinaryOp_BINARY_OP_EQ {
		return false
	}
	for i := range lk {
		l, r := aligned(lk[i]), aligned(rk[i])
		if (c.args[0] == l && c.args[1] == r) || (c.args[1] == l && c.args[0] == r) {
			return true
		}
	}
	return false
}

// aligned is the operand of equality e a key was made of: alignIntegers
// and alignDecimals wrap one in an exact cast (the key's equality holds
// exactly when the operands' does), so the conjunct is still the key's.
func aligned(e *expr) *expr {
	if e.kind != eCast || len(e.args) != 1 || e.typ == nil || e.args[0].typ == nil {
		return e
	}
	from, to := e.args[0].typ, e.typ
	fd, d1 := from.(*arrow.Decimal128Type)
	td, d2 := to.(*arrow.Decimal128Type)
	widens := arrow.IsSignedInteger(from.ID()) && arrow.IsSignedInteger(to.ID()) &&
		from.(arrow.FixedWidthDataType).BitWidth() <= to.(arrow.FixedWidthDataType).BitWidth()
	if widens || d1 && d2 && td.Scale >= fd.Scale {
		return e.args[0] // exact, or the query fails
	}
	return e
}

// joinUsing binds JOIN … USING (cols) and NATURAL JOIN (USING the columns
// both sides name): the sides join on the equality of each pair, and the
// output has each USING column once (the left's value, the right's for a
// RIGHT join, the first non-NULL of the two for a FULL join), then the
// left's other columns, then the right's, as in PostgreSQL.
func (b *binder) joinUsing(j *joinRel, je *pg.JoinExpr) (rel, error) {
	find := func(r rel, name, side string) (colID, error) {
		found := colID(-1)
		for _, id := range r.output() {
			if strings.EqualFold(b.cols[id].name, name) {
				if found >= 0 {
					return 0, errAt(-1, engine.ErrInvalidPlan, "common column name %q appears more than once in the %s table", name, side)
				}
				found = id
			}
		}
		if found < 0 {
			return 0, errAt(-1, engine.ErrInvalidPlan, "column %q specified in USING clause does not exist in the %s table", name, side)
		}
		return found, nil
	}
	var names []string
	if je.GetIsNatural() {
		for _, id := range j.left.output() {
			for _, rid := range j.right.output() {
				if strings.EqualFold(b.cols[id].name, b.cols[rid].name) {
					names = append(names, b.cols[id].name)
					break
				}
			}
		}
	} else {
		for _, n := range je.GetUsingClause() {
			names = append(names, n.GetString_().GetSval())
		}
	}
	used := map[colID]bool{}
	p := &projectRel{in: j}
	for _, name := range names {
		lid, err := find(j.left, name, "left")
		if err != nil {
			return nil, err
		}
		rid, err := find(j.right, name, "right")
		if err != nil {
			return nil, err
		}
		le, re := &expr{kind: eCol, col: lid, typ: b.cols[lid].typ}, &expr{kind: eCol, col: rid, typ: b.cols[rid].typ}
		le, re = b.unify(le, re)
		if !arrow.TypeEqual(le.typ, re.typ) {
			return nil, errAt(-1, engine.ErrInvalidPlan, "JOIN USING (%s) compares %s with %s", name, catalog.TypeName(le.typ), catalog.TypeName(re.typ))
		}
		j.leftKeys, j.rightKeys = append(j.leftKeys, le), append(j.rightKeys, re)
		used[lid], used[rid] = true, true
		switch j.jt {
		case kapotv1.JoinType_JOIN_TYPE_RIGHT:
			p.exprs, p.out = append(p.exprs, re), append(p.out, rid)
		case kapotv1.JoinType_JOIN_TYPE_FULL:
			id := b.newCol("", b.cols[lid].name, le.typ)
			p.exprs, p.out = append(p.exprs, &expr{kind: eFunc, fn: "coalesce", args: []*expr{le, re}, typ: le.typ}), append(p.out, id)
		default:
			p.exprs, p.out = append(p.exprs, le), append(p.out, lid)
		}
	}
	for _, side := range []rel{j.left, j.right} {
		for _, id := range side.output() {
			if !used[id] {
				p.exprs, p.out = append(p.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ}), append(p.out, id)
			}
		}
	}
	return p, nil
}

// maxViewDepth bounds views naming views (a cycle made by replacing a view).
const maxViewDepth = 32

// view binds view name's query where the view is named: once per
// statement, read as a shared relation wherever it is named.
func (b *binder) view(name, query, alias string, loc int32) (rel, error) {
	key := strings.ToLower(name)
	if q, ok := b.views[key]; ok {
		return b.relabel(q.r, q.names, alias, nil), nil
	}
	if b.viewDepth >= maxViewDepth {
		return nil, errAt(loc, engine.ErrInvalidPlan, "view %s: views nest more than %d deep (a cycle?)", alias, maxViewDepth)
	}
	res, err := pg.Parse(query)
	if err != nil || len(res.GetStmts()) != 1 || res.GetStmts()[0].GetStmt().GetSelectStmt() == nil {
		return nil, errAt(loc, engine.ErrInvalidPlan, "view %s: its stored query does not parse: %v", alias, err)
	}
	// The view's text is its own: the statement's long lists are not in it.
	b.viewDepth++
	lists := b.lists
	b.lists = nil
	q, err := b.bindShared(res.GetStmts()[0].GetStmt().GetSelectStmt())
	b.lists = lists
	b.viewDepth--
	if err != nil {
		return nil, err
	}
	if b.views == nil {
		b.views = map[string]*boundQuery{}
	}
	b.views[key] = q
	return b.relabel(q.r, q.names, alias, nil), nil
}
