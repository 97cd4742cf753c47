package planner

import (
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Subqueries in WHERE and HAVING are decorrelated into joins:
//   - [NOT] EXISTS (…)            → left semi (anti) join on the correlation
//   - x [NOT] IN (SELECT y …)     → left semi (anti) join on x = y
//   - x op (SELECT agg(…) … )     → inner join with the subquery grouped by
//     its correlation keys (a cross join with its one row when
//     uncorrelated), then a filter x op agg.

// conjuncts splits a WHERE/HAVING tree at its top-level ANDs.
func conjuncts(n *pg.Node) []*pg.Node {
	if be := n.GetBoolExpr(); be != nil && be.GetBoolop() == pg.BoolExprType_AND_EXPR {
		var out []*pg.Node
		for _, a := range be.GetArgs() {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []*pg.Node{n}
}

// subLink returns the subquery of a predicate handled by decorrelation and
// whether it is negated.
func subLink(n *pg.Node) (*pg.SubLink, bool) {
	if be := n.GetBoolExpr(); be != nil && be.GetBoolop() == pg.BoolExprType_NOT_EXPR && len(be.GetArgs()) == 1 {
		if sl := be.GetArgs()[0].GetSubLink(); sl != nil {
			return sl, true
		}
	}
	return n.GetSubLink(), false
}

// scalarComparison returns the parts of `x op (subquery)` or
// `(subquery) op x`.
func scalarComparison(n *pg.Node) (x *pg.Node, op string, sub *pg.SubLink, flipped bool) {
	ae := n.GetAExpr()
	if ae == nil || ae.GetKind() != pg.A_Expr_Kind_AEXPR_OP || len(ae.GetName()) == 0 {
		return nil, "", nil, false
	}
	op = ae.GetName()[len(ae.GetName())-1].GetString_().GetSval()
	if sl := ae.GetRexpr().GetSubLink(); sl != nil && sl.GetSubLinkType() == pg.SubLinkType_EXPR_SUBLINK {
		return ae.GetLexpr(), op, sl, false
	}
	if sl := ae.GetLexpr().GetSubLink(); sl != nil && sl.GetSubLinkType() == pg.SubLinkType_EXPR_SUBLINK {
		return ae.GetRexpr(), op, sl, true
	}
	return nil, "", nil, false
}

func isSubqueryPredicate(n *pg.Node) bool {
	if sl, _ := subLink(n); sl != nil {
		return true
	}
	_, _, sl, _ := scalarComparison(n)
	return sl != nil
}

var flippedOps = map[string]string{"=": "=", "<>": "<>", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

// splitCorrelation splits an equality between an outer expression and an
// inner one (local columns only).
func splitCorrelation(e *expr, local map[colID]bool) (outer, inner *expr, ok bool) {
	if e.kind != eBinary || e.op != kapotv1.BinaryOp_BINARY_OP_EQ {
		return nil, nil, false
	}
	a, b := e.args[0], e.args[1]
	isOuter := func(x *expr) bool {
		refs := x.refs(nil)
		for _, id := range refs {
			if local[id] {
				return false
			}
		}
		return len(refs) > 0
	}
	isInner := func(x *expr) bool { return len(x.refs(nil)) > 0 && coveredBy(x, local) }
	switch {
	case isOuter(a) && isInner(b):
		return a, b, true
	case isOuter(b) && isInner(a):
		return b, a, true
	}
	return nil, nil, false
}

// applySubquery puts one subquery predicate on top of r, whose columns sc
// names (ag is set when r is an aggregate, for HAVING).
func (b *binder) applySubquery(r rel, n *pg.Node, sc *scope, ag *aggBinder) (rel, error) {
	if x, op, sl, flipped := scalarComparison(n); sl != nil {
		return b.applyScalar(r, x, op, sl, flipped, sc, ag)
	}
	if !isSubqueryPredicate(n) {
		return b.applyScalarExpr(r, n, sc, ag)
	}
	sl, negated := subLink(n)
	sub := sl.GetSubselect().GetSelectStmt()
	if sub == nil {
		return nil, notSupported(sl.GetLocation(), "this subquery")
	}
	outerScope := &scope{cols: b.scopeOf(r).cols, outer: sc.outer}
	jt := kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI
	if negated {
		jt = kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI
	}
	switch sl.GetSubLinkType() {
	case pg.SubLinkType_EXISTS_SUBLINK:
		if err := existsShape(sub, sl.GetLocation()); err != nil {
			return nil, err
		}
		inner, _, corr, err := b.bindFrom(sub.GetFromClause(), sub.GetWhereClause(), outerScope)
		if err != nil {
			return nil, err
		}
		return b.semiJoin(r, inner, jt, corr, nil, nil), nil
	case pg.SubLinkType_ANY_SUBLINK:
		if names := sl.GetOperName(); len(names) > 0 && names[len(names)-1].GetString_().GetSval() != "=" {
			return nil, notSupported(sl.GetLocation(), "op ANY (subquery) other than IN")
		}
		if rowFields(sl.GetTestexpr()) != nil {
			return b.applyRowIn(r, sl, negated, sc, ag)
		}
		test, err := b.bindExpr(sl.GetTestexpr(), sc, ag)
		if err != nil {
			return nil, err
		}
		setOp := sub.GetOp() != pg.SetOperation_SET_OPERATION_UNDEFINED && sub.GetOp() != pg.SetOperation_SETOP_NONE
		if !setOp && len(sub.GetValuesLists()) == 0 && len(sub.GetTargetList()) != 1 {
			return nil, errAt(sl.GetLocation(), engine.ErrInvalidPlan, "IN subquery must return one column, not %d", len(sub.GetTargetList()))
		}
		var inner rel
		var key *expr
		var corr []*expr
		var keys []corrKey
		if wholeInSubquery(sub) {
			if inner, _, keys, err = b.bindSubselect(sub, outerScope); err != nil {
				return nil, err
			}
			if n := len(inner.output()) - len(keys); n != 1 {
				return nil, errAt(sl.GetLocation(), engine.ErrInvalidPlan, "IN subquery must return one column, not %d", n)
			}
			id := inner.output()[0]
			key = &expr{kind: eCol, col: id, typ: b.cols[id].typ}
		} else {
			if inner, _, corr, err = b.bindFrom(sub.GetFromClause(), sub.GetWhereClause(), outerScope); err != nil {
				return nil, err
			}
			isc := b.scopeOf(inner)
			isc.outer = outerScope
			if key, err = b.bindExpr(sub.GetTargetList()[0].GetResTarget().GetVal(), isc, nil); err != nil {
				return nil, err
			}
		}
		test, key = b.coercePair(test, key)
		if negated && (b.nullable(test) || b.nullable(key)) {
			if len(corr) > 0 || len(keys) > 0 {
				return nil, notSupported(sl.GetLocation(), "a correlated NOT IN over values that may be NULL")
			}
			// An anti join would keep the rows whose NOT IN is NULL:
			// filter by the three-valued NOT IN instead (bindInValue).
			return b.applyScalarExpr(r, n, sc, ag)
		}
		lk, rk := []*expr{test}, []*expr{key}
		for _, k := range keys {
			lk = append(lk, k.outer)
			rk = append(rk, &expr{kind: eCol, col: k.inner, typ: b.cols[k.inner].typ})
		}
		return b.semiJoin(r, inner, jt, corr, lk, rk), nil
	}
	return nil, notSupported(sl.GetLocation(), "this kind of subquery")
}

// semiJoin joins outer r with inner on the equality correlations in corr
// (plus the given keys); other correlation predicates filter the pairs.
func (b *binder) semiJoin(r, inner rel, jt kapotv1.JoinType, corr []*expr, lk, rk []*expr) rel {
	local := idSet(inner.output())
	for i := range lk {
		lk[i], rk[i] = b.unify(lk[i], rk[i])
	}
	j := &joinRel{left: r, right: inner, jt: jt, leftKeys: lk, rightKeys: rk}
	for _, c := range corr {
		if o, in, ok := splitCorrelation(c, local); ok && typesEqual(o, in) {
			j.leftKeys, j.rightKeys = append(j.leftKeys, o), append(j.rightKeys, in)
			continue
		}
		j.filter = andExpr(j.filter, c)
	}
	return j
}

func typesEqual(a, b *expr) bool {
	return a.typ != nil && b.typ != nil && a.typ.ID() == b.typ.ID() && a.typ.String() == b.typ.String()
}

// applyScalar handles x op (SELECT …) for a subquery returning one value
// (per correlation key).
func (b *binder) applyScalar(r rel, x *pg.Node, op string, sl *pg.SubLink, flipped bool, sc *scope, ag *aggBinder) (rel, error) {
	sub := sl.GetSubselect().GetSelectStmt()
	outerScope := &scope{cols: b.scopeOf(r).cols, outer: sc.outer}
	inner, _, keys, err := b.bindSubselect(sub, outerScope)
	if err != nil {
		return nil, err
	}
	if len(inner.output())-len(keys) != 1 {
		return nil, errAt(sl.GetLocation(), engine.ErrInvalidPlan, "scalar subquery must return one column")
	}
	if len(keys) == 0 && !oneRowShape(sub) {
		// Uncorrelated, and it may return several rows: its value is
		// checked to come from one row at most (joined as it is, each row
		// would count, as if the comparison were IN).
		if inner, _, keys, err = b.bindSubselect(singleRowSubselect(sub), outerScope); err != nil {
			return nil, err
		}
	}
	left, err := b.bindExpr(x, sc, ag)
	if err != nil {
		return nil, err
	}
	id := inner.output()[0]
	val := &expr{kind: eCol, col: id, typ: b.cols[id].typ}
	j := &joinRel{left: r, right: inner, jt: kapotv1.JoinType_JOIN_TYPE_INNER}
	if len(keys) > 0 {
		// An outer row that no group of the subquery matches compares
		// with the aggregate over no rows: NULL for most (the inner join
		// drops the row, as the comparison would), but 0 for COUNT, which
		// a left join and COALESCE supply.
		switch emptyValue(inner, id) {
		case emptyZero:
			j.jt = kapotv1.JoinType_JOIN_TYPE_LEFT
			zero := &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64},
				Value: &kapotv1.ScalarValue_IntValue{IntValue: 0}}, typ: arrow.PrimitiveTypes.Int64}
			val = &expr{kind: eFunc, fn: "coalesce", args: []*expr{val, zero}, typ: val.typ}
		case emptyUnknown:
			return nil, notSupported(sl.GetLocation(), "a correlated scalar subquery whose value over no rows is neither NULL nor a plain COUNT")
		}
	}
	for _, k := range keys {
		o, in := b.unify(k.outer, &expr{kind: eCol, col: k.inner, typ: b.cols[k.inner].typ})
		j.leftKeys = append(j.leftKeys, o)
		j.rightKeys = append(j.rightKeys, in)
	}
	if flipped {
		op = flippedOps[op]
	}
	bop, ok := binOps[op]
	if !ok {
		return nil, notSupported(sl.GetLocation(), "operator "+op+" with a subquery")
	}
	if err := refuseNestedOperands(sl.GetLocation(), "comparison", left, val); err != nil {
		return nil, err
	}
	left, val = b.coercePair(left, val)
	cmp := &expr{kind: eBinary, op: bop, args: []*expr{left, val}}
	if err := b.resolve(cmp); err != nil {
		return nil, errAt(sl.GetLocation(), err, "operator %s cannot be applied to %s and %s", op, catalog.TypeName(left.typ), catalog.TypeName(val.typ))
	}
	return &filterRel{in: j, pred: cmp}, nil
}

// applyScalarExpr filters r by a condition with scalar subqueries inside
// expressions (x > (SELECT …) * 2, CASE WHEN (SELECT …) …): they are
// joined to r as in a select list (correlated ones decorrelated, in WHERE
// only), then the condition filters.
func (b *binder) applyScalarExpr(r rel, n *pg.Node, sc *scope, ag *aggBinder) (rel, error) {
	subs := &scalarSubs{}
	if ag == nil {
		subs.from, subs.sc = r, b.scopeOf(r)
	}
	saved := b.subs
	b.subs = subs
	p, err := b.bindExpr(n, sc, ag)
	b.subs = saved
	if err != nil {
		return nil, err
	}
	if p.typ.ID() != arrow.BOOL && p.typ.ID() != arrow.NULL {
		return nil, errAt(location(n), engine.ErrInvalidPlan, "WHERE must be boolean, not %s", catalog.TypeName(p.typ))
	}
	return &filterRel{in: b.joinScalarSubs(r, subs), pred: p}, nil
}

// nullable reports whether e may be NULL: only columns read straight from a
// table declared NOT NULL are known not to be.
func (b *binder) nullable(e *expr) bool {
	if e.kind != eCol {
		return true
	}
	return b.cols[e.col].nullable
}

// Values of a decorrelated scalar subquery for an outer row no group of it
// matches.
const (
	emptyNull    = iota // NULL
	emptyZero           // COUNT's 0
	emptyUnknown        // something else (COALESCE, CASE, count(*) + 1, HAVING…)
)

// emptyValue classifies what column id of the decorrelated scalar subquery
// inner (projections over one aggregate grouped by the correlation keys)
// is over no rows.
func emptyValue(inner rel, id colID) int {
	e := &expr{kind: eCol, col: id}
	r := inner
	for {
		r = unshared(r)
		p, ok := r.(*projectRel)
		if !ok {
			break
		}
		k := slices.Index(p.out, id)
		if k < 0 {
			return emptyUnknown
		}
		e, r = p.exprs[k], p.in
		if e.kind != eCol {
			break
		}
		id = e.col
	}
	r = unshared(r)
	a, ok := r.(*aggRel)
	if !ok {
		if _, isProj := r.(*projectRel); isProj {
			a, ok = unshared(r.(*projectRel).in).(*aggRel)
		}
	}
	if !ok {
		// Not an aggregate right under projections (HAVING, a join…):
		// only an expression without COUNT is sure to be NULL.
		if hasCount(inner) {
			return emptyUnknown
		}
		return emptyNull
	}
	counts := map[colID]bool{}
	for _, c := range a.aggs {
		if c.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT {
			counts[c.out] = true
		}
	}
	if e.kind == eCol && counts[e.col] {
		return emptyZero
	}
	// nullOnEmpty: e is NULL when every aggregate but COUNT is: a column
	// other than a count, or a strict operator (arithmetic, comparison,
	// cast, negation) over one such operand.
	var nullOnEmpty func(e *expr) bool
	nullOnEmpty = func(e *expr) bool {
		switch e.kind {
		case eCol:
			return !counts[e.col]
		case eBinary:
			if e.op == kapotv1.BinaryOp_BINARY_OP_AND || e.op == kapotv1.BinaryOp_BINARY_OP_OR {
				return false
			}
			fallthrough
		case eCast, eNeg:
			for _, x := range e.args {
				if nullOnEmpty(x) {
					return true
				}
			}
		}
		return false
	}
	if nullOnEmpty(e) {
		return emptyNull
	}
	return emptyUnknown
}

// hasCount reports whether an aggregate under r counts.
func hasCount(r rel) bool {
	switch x := r.(type) {
	case *sharedRel:
		if x.counts == 0 {
			x.counts = 1
			if hasCount(x.in) {
				x.counts = 2
			}
		}
		return x.counts == 2
	case *aggRel:
		for _, c := range x.aggs {
			if c.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT {
				return true
			}
		}
		return hasCount(x.in)
	case *projectRel:
		return hasCount(x.in)
	case *filterRel:
		return hasCount(x.in)
	case *joinRel:
		return hasCount(x.left) || hasCount(x.right)
	case *joinGraphRel:
		return hasCount(x.best())
	}
	return false
}

// scalarSubs collects the scalar subqueries of a select list: each is
// joined to the query's FROM (and WHERE) rel. from and sc are that rel and
// its scope where the query does not aggregate (correlated subqueries are
// only decorrelated there).
type scalarSubs struct {
	joins []*joinRel // right: the subquery; left: filled in by joinScalarSubs
	from  rel
	sc    *scope
}

// magicCtx decorrelates one scalar subquery of a select list by the
// "magic set" method: the subquery is bound against scope, whose columns
// stand for the distinct values of the outer columns outer (same order);
// its correlated conditions (preds) join those distinct rows to its FROM,
// it groups by them, and the outer query joins the result back on them.
type magicCtx struct {
	scope *scope
	outer []*column
	from  rel
	preds []*expr
}

// magicJoin builds the decorrelated input of a subquery's aggregate: the
// distinct values of the outer columns it reads, left-joined to its FROM
// on its correlated conditions (equalities as hash keys), grouped by
// those values. Every aggregate reads a marker that is NULL on the
// padded rows, so an outer row no inner row matches aggregates nothing
// (count 0, sum NULL) exactly as the correlated subquery would.
func (b *binder) magicJoin(m *magicCtx, from rel, ag *aggBinder) (rel, []*expr, []*expr, error) {
	d := &aggRel{in: m.from}
	var corrOuter, corrInner []*expr
	dIDs := map[colID]bool{}
	for i, c := range m.scope.cols {
		if !m.scope.used[c.id] {
			continue
		}
		o := m.outer[i]
		d.groups = append(d.groups, &expr{kind: eCol, col: o.id, typ: o.typ})
		d.gout = append(d.gout, c.id)
		dIDs[c.id] = true
		in := &expr{kind: eCol, col: c.id, typ: c.typ}
		ag.addGroup(in)
		corrOuter, corrInner = append(corrOuter, &expr{kind: eCol, col: o.id, typ: o.typ}), append(corrInner, in)
	}
	// The marker: a constant column of the subquery's rows.
	mark := b.newCol("", "matched", arrow.PrimitiveTypes.Int64)
	mp := &projectRel{in: from}
	for _, id := range from.output() {
		mp.exprs = append(mp.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		mp.out = append(mp.out, id)
	}
	mp.exprs, mp.out = append(mp.exprs, int64Lit(1)), append(mp.out, mark)
	j := &joinRel{left: d, right: mp, jt: kapotv1.JoinType_JOIN_TYPE_LEFT}
	local := idSet(from.output())
	for _, p := range m.preds {
		if o, in, ok := splitCorrelation(p, local); ok && coveredBy(o, dIDs) {
			o, in = b.unify(o, in)
			j.leftKeys, j.rightKeys = append(j.leftKeys, o), append(j.rightKeys, in)
			continue
		}
		j.filter = andExpr(j.filter, p)
	}
	markCol := &expr{kind: eCol, col: mark, typ: arrow.PrimitiveTypes.Int64}
	matched := &expr{kind: eIsNull, args: []*expr{markCol}, negated: true, typ: arrow.FixedWidthTypes.Boolean}
	for i := range ag.aggs {
		c := &ag.aggs[i]
		if c.arg == nil {
			c.arg = markCol // count(*): the matched rows
			continue
		}
		w := &expr{kind: eCase, args: []*expr{matched, c.arg}}
		if err := b.resolve(w); err != nil {
			return nil, nil, nil, err
		}
		c.arg = w
	}
	return j, corrOuter, corrInner, nil
}

// bindScalarSub binds (SELECT …) used as a value in the select list. An
// uncorrelated subquery that always returns exactly one row (an aggregate
// without GROUP BY or HAVING) is joined to every row of the query; a
// correlated one of that shape, in a query that does not aggregate, is
// decorrelated (magicJoin) and left-joined on the outer columns it reads.
// Others — able to return no row or several — are refused rather than
// risk a wrong count of rows.
func (b *binder) bindScalarSub(sl *pg.SubLink) (*expr, error) {
	if sl.GetSubLinkType() != pg.SubLinkType_EXPR_SUBLINK || b.subs == nil {
		return nil, notSupported(sl.GetLocation(), "subqueries here")
	}
	sub := sl.GetSubselect().GetSelectStmt()
	if sub == nil {
		return nil, notSupported(sl.GetLocation(), "this scalar subquery")
	}
	oneRow := oneRowShape(sub)
	if !oneRow {
		// Any other shape may return several rows: its value is checked
		// to come from one row at most, at run time.
		if sub = singleRowSubselect(sub); sub == nil {
			return nil, notSupported(sl.GetLocation(), "a scalar subquery of SELECT * or of more than one column")
		}
	}
	saved := b.subs
	b.subs = nil
	inner, _, keys, err := b.bindSubselect(sub, nil)
	b.subs = saved
	if err != nil && strings.Contains(err.Error(), "does not exist") && saved.from != nil && oneRow {
		inner, keys, err = b.bindCorrelatedScalar(sub, saved)
	}
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") && !oneRow {
			return nil, notSupported(sl.GetLocation(), "a correlated scalar subquery other than an aggregate without GROUP BY")
		}
		if strings.Contains(err.Error(), "does not exist") {
			return nil, notSupported(sl.GetLocation(), "a correlated scalar subquery here (in a query that aggregates, or reading an enclosing query's columns)")
		}
		return nil, err
	}
	if len(inner.output())-len(keys) != 1 {
		return nil, errAt(sl.GetLocation(), engine.ErrInvalidPlan, "scalar subquery must return one column")
	}
	j := &joinRel{right: inner, jt: kapotv1.JoinType_JOIN_TYPE_INNER}
	if len(keys) > 0 {
		// Every outer row's values are among the subquery's groups; the
		// join is a left join anyway, and NULLs match NULLs (the group
		// of NULL values is the one an outer NULL stands for).
		j.jt = kapotv1.JoinType_JOIN_TYPE_LEFT
		for _, k := range keys {
			o, in := b.unify(k.outer, &expr{kind: eCol, col: k.inner, typ: b.cols[k.inner].typ})
			lk, rk, err := b.nullSafeKeys(o, in)
			if err != nil {
				return nil, err
			}
			j.leftKeys, j.rightKeys = append(j.leftKeys, lk...), append(j.rightKeys, rk...)
		}
	}
	saved.joins = append(saved.joins, j)
	id := inner.output()[0]
	return &expr{kind: eCol, col: id, typ: b.cols[id].typ}, nil
}

// plainSelect reports whether sub is one SELECT without grouping,
// DISTINCT, LIMIT, set operation or VALUES: its rows are its FROM's rows
// that pass its WHERE.
func plainSelect(sub *pg.SelectStmt) bool {
	return sub != nil && (sub.GetOp() == pg.SetOperation_SET_OPERATION_UNDEFINED || sub.GetOp() == pg.SetOperation_SETOP_NONE) &&
		len(sub.GetGroupClause()) == 0 && sub.GetHavingClause() == nil && sub.GetLimitOffset() == nil && sub.GetLimitCount() == nil &&
		len(sub.GetDistinctClause()) == 0 && len(sub.GetValuesLists()) == 0 && sub.GetWithClause() == nil && len(sub.GetWindowClause()) == 0
}

// existsShape refuses EXISTS over a query whose rows are not its FROM's
// rows that pass its WHERE (the semi join and the count rewrite read only
// those): an aggregate (one row even over none), LIMIT/OFFSET, a set
// operation, VALUES, WITH.
func existsShape(sub *pg.SelectStmt, pos int32) error {
	if sub == nil || !plainSelect(&pg.SelectStmt{Op: sub.GetOp(), GroupClause: sub.GetGroupClause(), HavingClause: sub.GetHavingClause(),
		LimitOffset: sub.GetLimitOffset(), LimitCount: sub.GetLimitCount(), ValuesLists: sub.GetValuesLists(), WithClause: sub.GetWithClause(),
		WindowClause: sub.GetWindowClause()}) {
		return notSupported(pos, "EXISTS over a query with GROUP BY, HAVING, LIMIT, a set operation, VALUES or WITH")
	}
	for _, t := range sub.GetTargetList() {
		if v := t.GetResTarget().GetVal(); containsAgg(v) || containsWindow(v) {
			return notSupported(pos, "EXISTS over an aggregate or window query")
		}
	}
	return nil
}

// bindExistsValue binds EXISTS (SELECT …) used as a value (in the select
// list, a CASE, …): (SELECT count(*) > 0 FROM … WHERE …), a scalar
// subquery over the same rows, correlated or not.
func (b *binder) bindExistsValue(sl *pg.SubLink) (*expr, error) {
	sub := sl.GetSubselect().GetSelectStmt()
	if err := existsShape(sub, sl.GetLocation()); err != nil {
		return nil, err
	}
	if b.subs == nil {
		return nil, notSupported(sl.GetLocation(), "EXISTS as a value here (only in WHERE)")
	}
	pos := sl.GetLocation()
	count := &pg.Node{Node: &pg.Node_FuncCall{FuncCall: &pg.FuncCall{Funcname: []*pg.Node{pg.MakeStrNode("count")}, AggStar: true, Location: pos}}}
	gt := pg.MakeAExprNode(pg.A_Expr_Kind_AEXPR_OP, []*pg.Node{pg.MakeStrNode(">")}, count, pg.MakeAConstIntNode(0, pos), pos)
	rewritten := &pg.SelectStmt{TargetList: []*pg.Node{pg.MakeResTargetNodeWithVal(gt, pos)}, FromClause: sub.GetFromClause(), WhereClause: sub.GetWhereClause()}
	return b.bindScalarSub(&pg.SubLink{SubLinkType: pg.SubLinkType_EXPR_SUBLINK, Subselect: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: rewritten}}, Location: pos})
}

// bindInValue binds x [NOT] IN (SELECT y …) used as a value, with SQL's
// three values: TRUE where some y equals x; FALSE where the subquery is
// empty, or neither x nor any y is NULL; NULL otherwise. The subquery
// (uncorrelated) joins in twice: its distinct values, left-joined on x = y
// (a match), and one row of its counts (rows, non-NULL values).
func (b *binder) bindInValue(sl *pg.SubLink, sc *scope, ag *aggBinder) (*expr, error) {
	pos := sl.GetLocation()
	if names := sl.GetOperName(); len(names) > 0 && names[len(names)-1].GetString_().GetSval() != "=" {
		return nil, notSupported(pos, "op ANY (subquery) other than IN")
	}
	if err := refuseRowInValue(sl); err != nil {
		return nil, err
	}
	if b.subs == nil {
		return nil, notSupported(pos, "IN (subquery) as a value here")
	}
	sub := sl.GetSubselect().GetSelectStmt()
	saved := b.subs
	b.subs = nil
	inner, _, keys, err := b.bindSubselect(sub, nil)
	b.subs = saved
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return nil, notSupported(pos, "a correlated IN (subquery) as a value (only in WHERE)")
		}
		return nil, err
	}
	if len(keys) > 0 || len(inner.output()) != 1 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "IN subquery must return one column, not %d", len(inner.output()))
	}
	x, err := b.bindExpr(sl.GetTestexpr(), sc, ag)
	if err != nil {
		return nil, err
	}
	yID := inner.output()[0]
	y := &expr{kind: eCol, col: yID, typ: b.cols[yID].typ}
	xk, yk := b.unify(x, y)
	if xk.typ.ID() == arrow.NULL {
		xk = b.coerce(xk, yk.typ)
	}
	if err := b.resolve(&expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{xk, yk}}); err != nil {
		return nil, errAt(pos, err, "IN: %s and %s cannot be compared", catalog.TypeName(x.typ), catalog.TypeName(y.typ))
	}
	i64 := arrow.PrimitiveTypes.Int64
	// The distinct values, each with a marker.
	dist := &aggRel{in: inner, groups: []*expr{yk}, gout: []colID{b.newCol("", "in_value", yk.typ)}}
	mark := b.newCol("", "in_match", i64)
	dp := &projectRel{in: dist, exprs: []*expr{{kind: eCol, col: dist.gout[0], typ: yk.typ}, int64Lit(1)}, out: []colID{b.newCol("", "in_value", yk.typ), mark}}
	match := &joinRel{right: dp, jt: kapotv1.JoinType_JOIN_TYPE_LEFT, leftKeys: []*expr{xk}, rightKeys: []*expr{{kind: eCol, col: dp.out[0], typ: yk.typ}}}
	// The counts.
	rows, nonNull := b.newCol("", "in_rows", i64), b.newCol("", "in_values", i64)
	counts := &aggRel{in: inner, aggs: []aggCall{
		{fn: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, out: rows},
		{fn: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, arg: y, out: nonNull},
	}}
	saved.joins = append(saved.joins, match, &joinRel{right: counts, jt: kapotv1.JoinType_JOIN_TYPE_INNER})
	col := func(id colID) *expr { return &expr{kind: eCol, col: id, typ: i64} }
	boolT := arrow.FixedWidthTypes.Boolean
	lit := func(v bool) *expr {
		return &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_BOOL}, Value: &kapotv1.ScalarValue_BoolValue{BoolValue: v}}, typ: boolT}
	}
	null := &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_BOOL}}, typ: boolT}
	bin := func(op kapotv1.BinaryOp, l, r *expr) *expr {
		return &expr{kind: eBinary, op: op, args: []*expr{l, r}, typ: boolT}
	}
	v := &expr{kind: eCase, hasElse: true, args: []*expr{
		{kind: eIsNull, args: []*expr{col(mark)}, negated: true, typ: boolT}, lit(true),
		bin(kapotv1.BinaryOp_BINARY_OP_EQ, col(rows), int64Lit(0)), lit(false),
		bin(kapotv1.BinaryOp_BINARY_OP_OR, &expr{kind: eIsNull, args: []*expr{x}, typ: boolT}, bin(kapotv1.BinaryOp_BINARY_OP_GT, col(rows), col(nonNull))), null,
		lit(false),
	}, typ: boolT}
	return v, nil
}

// bindCorrelatedScalar binds a correlated scalar subquery of the select
// list of the query whose FROM is subs.from, decorrelated.
func (b *binder) bindCorrelatedScalar(sub *pg.SelectStmt, subs *scalarSubs) (rel, []corrKey, error) {
	m := &magicCtx{scope: &scope{used: map[colID]bool{}}, from: subs.from}
	for _, c := range subs.sc.cols {
		id := b.newCol(c.qual, c.name, c.typ)
		b.cols[id].nullable = c.nullable
		m.scope.cols = append(m.scope.cols, b.cols[id])
		m.outer = append(m.outer, c)
	}
	saved := b.magic
	b.magic = m
	inner, _, keys, err := b.bindSubselect(sub, m.scope)
	b.magic = saved
	if err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		return nil, nil, notSupported(-1, "this correlated scalar subquery")
	}
	return inner, keys, nil
}

// nullSafeKeys turns the join key pair l = r into keys under which NULL
// equals NULL: (coalesce(x, zero), x IS NULL) on each side, for keys that
// may be NULL. A type without a zero here is refused: plain keys would
// lose the outer rows whose key is NULL (a timestamp key did: count(*)
// FILTER (WHERE NOT EXISTS (… = CAST(x.t AS VARCHAR))) missed them).
func (b *binder) nullSafeKeys(l, r *expr) ([]*expr, []*expr, error) {
	if !b.nullable(l) && !b.nullable(r) {
		return []*expr{l}, []*expr{r}, nil
	}
	zero, ok := zeroOf(l.typ)
	if !ok {
		return nil, nil, notSupported(-1, "a correlated subquery whose correlation column is a nullable "+catalog.TypeName(l.typ))
	}
	wrap := func(x *expr) []*expr {
		c := &expr{kind: eFunc, fn: "coalesce", args: []*expr{x, zero}, typ: x.typ}
		return []*expr{c, {kind: eIsNull, args: []*expr{x}, typ: arrow.FixedWidthTypes.Boolean}}
	}
	return wrap(l), wrap(r), nil
}

// zeroOf is a literal of type t, any value.
func zeroOf(t arrow.DataType) (*expr, bool) {
	pt, err := wire.TypeToProto(t)
	if err != nil {
		return nil, false
	}
	v := &kapotv1.ScalarValue{Type: pt}
	switch {
	case arrow.IsInteger(t.ID()) || t.ID() == arrow.DATE32 || t.ID() == arrow.TIMESTAMP:
		v.Value = &kapotv1.ScalarValue_IntValue{IntValue: 0}
	case arrow.IsFloating(t.ID()):
		v.Value = &kapotv1.ScalarValue_FloatValue{FloatValue: 0}
	case t.ID() == arrow.STRING:
		v.Value = &kapotv1.ScalarValue_StringValue{StringValue: ""}
	case t.ID() == arrow.DECIMAL128:
		v.Value = &kapotv1.ScalarValue_DecimalUnscaled{DecimalUnscaled: "0"}
	case t.ID() == arrow.BOOL:
		v.Value = &kapotv1.ScalarValue_BoolValue{BoolValue: false}
	default:
		return nil, false
	}
	return &expr{kind: eLit, lit: v, typ: t}, true
}

// joinScalarSubs joins the scalar subqueries of a select list to r, those
// that aggregate one table merged (mergeScalarSubs).
func (b *binder) joinScalarSubs(r rel, subs *scalarSubs) rel {
	for _, j := range b.mergeScalarSubs(subs.joins) {
		j.left = r
		r = j
	}
	return r
}

// containsSubLink reports whether n has a subquery.
func containsSubLink(n *pg.Node) bool {
	if n == nil {
		return false
	}
	if n.GetSubLink() != nil {
		return true
	}
	if fc := n.GetFuncCall(); fc != nil {
		for _, a := range fc.GetArgs() {
			if containsSubLink(a) {
				return true
			}
		}
		return false
	}
	for _, c := range children(n) {
		if containsSubLink(c) {
			return true
		}
	}
	return false
}
