package planner

import (
	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// (a, b) [NOT] IN (SELECT x, y …) in WHERE or HAVING: a semi join on
// a = x AND b = y; NOT IN an anti join, exact under three-valued logic
// where neither side of a pair may be NULL. A pair that may be NULL joins
// by (a = x OR a IS NULL OR x IS NULL) instead: the row (a, b) <> (x, y)
// is then not true, so an outer row that meets any such inner row is not
// kept (NOT IN is false or NULL), and one that meets none is.

// applyRowIn puts the row-valued IN subquery sl (negated for NOT IN) on
// top of r, whose columns sc names (ag is set for HAVING).
func (b *binder) applyRowIn(r rel, sl *pg.SubLink, negated bool, sc *scope, ag *aggBinder) (rel, error) {
	pos := sl.GetLocation()
	sub := sl.GetSubselect().GetSelectStmt()
	var tests []*expr
	for _, f := range rowFields(sl.GetTestexpr()) {
		if rowFields(f) != nil {
			return nil, notSupported(pos, "a row field that is a row in IN (subquery)")
		}
		e, err := b.bindExpr(f, sc, ag)
		if err != nil {
			return nil, err
		}
		tests = append(tests, e)
	}
	outerScope := &scope{cols: b.scopeOf(r).cols, outer: sc.outer}
	inner, vals, corr, keys, err := b.bindInSubquery(sub, outerScope)
	if err != nil {
		return nil, err
	}
	if len(vals) != len(tests) {
		more := "many"
		if len(vals) < len(tests) {
			more = "few"
		}
		return nil, errAt(pos, engine.ErrInvalidPlan, "subquery has too %s columns (%d for a row of %d)", more, len(vals), len(tests))
	}
	jt := kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI
	if negated {
		jt = kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI
	}
	var lk, rk []*expr
	var nullAware *expr
	boolT := arrow.FixedWidthTypes.Boolean
	for i := range tests {
		t, v := b.coercePair(tests[i], vals[i])
		if !negated || (!b.nullable(t) && !b.nullable(v)) {
			lk, rk = append(lk, t), append(rk, v)
			continue
		}
		if len(keys) > 0 {
			return nil, notSupported(pos, "a correlated NOT IN over values that may be NULL")
		}
		eq := &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{t, v}}
		if err := b.resolve(eq); err != nil {
			return nil, errAt(pos, err, "IN: %s and %s cannot be compared", catalog.TypeName(t.typ), catalog.TypeName(v.typ))
		}
		p := orExpr(orExpr(eq, &expr{kind: eIsNull, args: []*expr{t}, typ: boolT}), &expr{kind: eIsNull, args: []*expr{v}, typ: boolT})
		nullAware = andExpr(nullAware, p)
	}
	for _, k := range keys {
		lk = append(lk, k.outer)
		rk = append(rk, &expr{kind: eCol, col: k.inner, typ: b.cols[k.inner].typ})
	}
	out := b.semiJoin(r, inner, jt, corr, lk, rk)
	if j, ok := out.(*joinRel); ok && nullAware != nil {
		j.filter = andExpr(j.filter, nullAware)
	}
	return out, nil
}

// bindInSubquery binds the subquery of IN over outer: a plain SELECT as
// its FROM and WHERE (correlated conditions returned as corr) and its
// select list over them (vals); another (grouped, DISTINCT, a set
// operation, *) as a whole, its correlation keys returned as keys.
func (b *binder) bindInSubquery(sub *pg.SelectStmt, outer *scope) (rel, []*expr, []*expr, []corrKey, error) {
	if wholeInSubquery(sub) {
		inner, _, keys, err := b.bindSubselect(sub, outer)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		var vals []*expr
		cols := inner.output()
		for _, id := range cols[:len(cols)-len(keys)] {
			vals = append(vals, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		}
		return inner, vals, nil, keys, nil
	}
	inner, _, corr, err := b.bindFrom(sub.GetFromClause(), sub.GetWhereClause(), outer)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	isc := b.scopeOf(inner)
	isc.outer = outer
	var vals []*expr
	for _, t := range sub.GetTargetList() {
		e, err := b.bindExpr(t.GetResTarget().GetVal(), isc, nil)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		vals = append(vals, e)
	}
	return inner, vals, corr, nil, nil
}

// wholeInSubquery reports whether the subquery of IN must be bound as a
// whole: its rows are not its FROM's rows that pass its WHERE, each read
// through its select list (grouped, DISTINCT, LIMIT, a set operation,
// VALUES, window calls, *).
func wholeInSubquery(sub *pg.SelectStmt) bool {
	if sub.GetOp() != pg.SetOperation_SET_OPERATION_UNDEFINED && sub.GetOp() != pg.SetOperation_SETOP_NONE ||
		len(sub.GetGroupClause()) > 0 || sub.GetHavingClause() != nil || len(sub.GetDistinctClause()) > 0 ||
		sub.GetLimitCount() != nil || sub.GetLimitOffset() != nil || len(sub.GetValuesLists()) > 0 || sub.GetWithClause() != nil {
		return true
	}
	for _, t := range sub.GetTargetList() {
		v := t.GetResTarget().GetVal()
		if containsAgg(v) || containsWindow(v) || (v.GetColumnRef() != nil && isStar(v.GetColumnRef())) {
			return true
		}
	}
	return false
}

// refuseRowInValue refuses a row-valued IN (subquery) used as a value.
func refuseRowInValue(sl *pg.SubLink) error {
	if rowFields(sl.GetTestexpr()) == nil {
		return nil
	}
	return notSupported(sl.GetLocation(), "a row value IN (subquery) as a value (only as a condition of WHERE or HAVING, joined by AND)")
}
