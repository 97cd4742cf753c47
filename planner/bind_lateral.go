package planner

import (
	"errors"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// LATERAL subqueries in FROM (FROM t, LATERAL (…) s; t CROSS JOIN LATERAL
// (…) s; t [LEFT] JOIN LATERAL (…) s ON …), decorrelated into a join of
// the FROM item they read (left) with the subquery:
//
//   - an aggregate without GROUP BY (one row per outer row): decorrelated
//     as a correlated scalar subquery of a select list is (magicJoin), then
//     joined on the outer values it reads;
//   - an aggregate with GROUP BY: grouped by its correlation keys too
//     (equalities only), joined on them;
//   - rows of its FROM that pass its WHERE: joined on its correlated
//     conditions;
//   - those with ORDER BY … LIMIT n (top n per outer row), correlated by
//     equalities only: row_number() over the inner side of the
//     equalities, by the ORDER BY, kept up to n, joined on them.
//
// Other shapes are refused as "not supported yet: LATERAL <shape>".

// Shapes of a LATERAL subquery.
const (
	latOneRow  = iota // an aggregate without GROUP BY
	latGrouped        // an aggregate with GROUP BY
	latRows           // rows of its FROM
	latTopN           // rows of its FROM, ORDER BY … LIMIT n
)

// lateral is a LATERAL subquery bound over the FROM item before it: the
// relation to join on the right, the keys (outer, inner) and other
// conditions to join on, and its output columns (out, named names) with
// the values they take above the join (exprs).
type lateral struct {
	right  rel
	lk, rk []*expr
	filter *expr
	exprs  []*expr
	names  []string
	// mixed reports whether some value reads the left side's columns (it
	// cannot be computed on the right, below a LEFT join).
	mixed bool
}

// lateralShape classifies sub, refusing the shapes not planned.
func lateralShape(sub *pg.SelectStmt) (int, error) {
	pos := int32(-1)
	switch {
	case sub == nil:
		return 0, notSupported(pos, "LATERAL over this query")
	case sub.GetOp() != pg.SetOperation_SET_OPERATION_UNDEFINED && sub.GetOp() != pg.SetOperation_SETOP_NONE:
		return 0, notSupported(pos, "LATERAL over a set operation")
	case len(sub.GetValuesLists()) > 0:
		return 0, notSupported(pos, "LATERAL over VALUES")
	case len(sub.GetDistinctClause()) > 0:
		return 0, notSupported(pos, "LATERAL with DISTINCT")
	case sub.GetWithClause() != nil:
		return 0, notSupported(pos, "LATERAL with WITH")
	case len(sub.GetWindowClause()) > 0:
		return 0, notSupported(pos, "LATERAL with window functions")
	}
	agg := len(sub.GetGroupClause()) > 0 || sub.GetHavingClause() != nil
	for _, t := range sub.GetTargetList() {
		v := t.GetResTarget().GetVal()
		switch {
		case containsWindow(v):
			return 0, notSupported(pos, "LATERAL with window functions")
		case containsSubLink(v):
			return 0, notSupported(pos, "LATERAL with a subquery in its select list")
		case containsAgg(v):
			agg = true
		}
	}
	for _, s := range sub.GetSortClause() {
		if containsWindow(s.GetSortBy().GetNode()) || containsSubLink(s.GetSortBy().GetNode()) {
			return 0, notSupported(pos, "LATERAL with a window function or subquery in its ORDER BY")
		}
	}
	limited := sub.GetLimitCount() != nil || sub.GetLimitOffset() != nil
	switch {
	case agg && limited:
		return 0, notSupported(pos, "LATERAL with an aggregate and LIMIT or OFFSET")
	case agg && len(sub.GetGroupClause()) == 0 && sub.GetHavingClause() != nil:
		return 0, notSupported(pos, "LATERAL with HAVING and no GROUP BY")
	case agg && len(sub.GetGroupClause()) == 0:
		return latOneRow, nil
	case agg:
		return latGrouped, nil
	case limited:
		return latTopN, nil
	}
	return latRows, nil
}

// bindLateral binds the LATERAL subquery sub over left, the FROM items
// before it (sc: their columns).
func (b *binder) bindLateral(sub *pg.SelectStmt, left rel) (*lateral, error) {
	shape, err := lateralShape(sub)
	if err != nil {
		return nil, err
	}
	sc := b.scopeOf(left)
	var lt *lateral
	switch shape {
	case latOneRow:
		lt, err = b.lateralOneRow(sub, left, sc)
	case latGrouped:
		lt, err = b.lateralGrouped(sub, sc)
	default:
		lt, err = b.lateralRows(sub, sc, shape == latTopN)
	}
	nested := "LATERAL with a query nested in it (a derived table, JOIN condition or subquery) reading the outer query's columns"
	if err != nil {
		var se *SQLError
		switch {
		case readsLeft(err, sc):
			return nil, notSupported(-1, nested)
		case errors.Is(err, ErrNotSupported) && errors.As(err, &se) && !strings.Contains(se.Msg, "LATERAL"):
			return nil, notSupported(int32(se.Pos), "LATERAL with "+strings.TrimPrefix(se.Msg, "not supported yet: "))
		}
		return nil, err
	}
	if danglingRef(lt.right) {
		return nil, notSupported(-1, nested)
	}
	// Every column the join reads is the left side's or the subquery's
	// (a column of an enclosing query would not be there).
	have := idSet(append(append([]colID{}, left.output()...), lt.right.output()...))
	var refs []colID
	for _, e := range append(append(append([]*expr{}, lt.lk...), lt.rk...), lt.exprs...) {
		refs = e.refs(refs)
	}
	if lt.filter != nil {
		refs = lt.filter.refs(refs)
	}
	for _, id := range refs {
		if !have[id] {
			return nil, notSupported(-1, "LATERAL reading columns other than those of the FROM items before it")
		}
	}
	rightCols := idSet(lt.right.output())
	for _, e := range lt.exprs {
		if !coveredBy(e, rightCols) {
			lt.mixed = true
		}
	}
	return lt, nil
}

// lateralOneRow binds an aggregate without GROUP BY: one row per outer
// row, decorrelated as a select list's correlated scalar subquery.
func (b *binder) lateralOneRow(sub *pg.SelectStmt, left rel, sc *scope) (*lateral, error) {
	inner, keys, err := b.bindCorrelatedScalar(sub, &scalarSubs{from: left, sc: sc})
	if err != nil {
		return nil, err
	}
	lt := &lateral{right: inner}
	outs := inner.output()
	for _, id := range outs[:len(outs)-len(keys)] {
		lt.exprs = append(lt.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		lt.names = append(lt.names, b.cols[id].name)
	}
	// Each outer row's values are among the groups (NULLs match NULLs).
	for _, k := range keys {
		o, in := b.unify(k.outer, &expr{kind: eCol, col: k.inner, typ: b.cols[k.inner].typ})
		lk, rk, err := b.nullSafeKeys(o, in)
		if err != nil {
			return nil, err
		}
		lt.lk, lt.rk = append(lt.lk, lk...), append(lt.rk, rk...)
	}
	return lt, nil
}

// lateralGrouped binds an aggregate with GROUP BY, correlated by
// equalities: grouped by their inner sides too, joined on them.
func (b *binder) lateralGrouped(sub *pg.SelectStmt, sc *scope) (*lateral, error) {
	inner, names, keys, err := b.bindSubselect(sub, sc)
	if err != nil {
		return nil, err
	}
	lt := &lateral{right: inner, names: names}
	outs := inner.output()
	for _, id := range outs[:len(outs)-len(keys)] {
		lt.exprs = append(lt.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
	}
	for _, k := range keys {
		o, in := b.unify(k.outer, &expr{kind: eCol, col: k.inner, typ: b.cols[k.inner].typ})
		lt.lk, lt.rk = append(lt.lk, o), append(lt.rk, in)
	}
	return lt, nil
}

// lateralRows binds a subquery that does not aggregate: its FROM and WHERE,
// its correlated conditions as join conditions, its select list (values
// of its own columns computed below the join); with topN, its ORDER BY …
// LIMIT as row_number() over the inner sides of its correlations.
func (b *binder) lateralRows(sub *pg.SelectStmt, sc *scope, topN bool) (*lateral, error) {
	inner, innerCols, corr, err := b.bindFrom(sub.GetFromClause(), sub.GetWhereClause(), sc)
	if err != nil {
		return nil, err
	}
	q := &selectQuery{s: sub, sc: &scope{cols: innerCols, outer: sc}}
	if err := q.bindTargets(); err != nil {
		return nil, err
	}
	sel, err := b.bindSelectList(q)
	if err != nil {
		return nil, err
	}
	local := idSet(inner.output())
	// The values of the subquery's own columns are computed on its side.
	proj := &projectRel{in: inner}
	for _, id := range inner.output() {
		proj.exprs, proj.out = append(proj.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ}), append(proj.out, id)
	}
	onRight := func(e *expr) *expr {
		if e.kind == eCol || !coveredBy(e, local) {
			return e
		}
		id := b.newCol("", "lateral", e.typ)
		proj.exprs, proj.out = append(proj.exprs, e), append(proj.out, id)
		return &expr{kind: eCol, col: id, typ: e.typ}
	}
	lt := &lateral{right: proj, names: q.names}
	for _, e := range sel {
		lt.exprs = append(lt.exprs, onRight(e))
	}
	var part []*expr
	for _, c := range corr {
		if o, in, ok := splitCorrelation(c, local); ok && typesEqual(o, in) {
			in = onRight(in)
			lt.lk, lt.rk, part = append(lt.lk, o), append(lt.rk, in), append(part, in)
			continue
		}
		if topN {
			return nil, notSupported(-1, "LATERAL with LIMIT correlated by conditions other than equalities")
		}
		lt.filter = andExpr(lt.filter, c)
	}
	if !topN {
		return lt, nil
	}
	keys, err := b.bindOrder(sub.GetSortClause(), q.sc, nil, q.refs, sel, q.aliases)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if !coveredBy(keys[i].e, local) {
			return nil, notSupported(-1, "LATERAL with LIMIT ordered by the outer query's columns")
		}
		keys[i].e = onRight(keys[i].e)
	}
	if lt.right, err = b.topN(proj, part, keys, sub); err != nil {
		return nil, err
	}
	return lt, nil
}

// topN keeps of r the rows OFFSET+1 to OFFSET+LIMIT of each partition by
// part (columns of r) in the order of keys (columns of r).
func (b *binder) topN(r rel, part []*expr, keys []sortKey, sub *pg.SelectStmt) (rel, error) {
	skip, fetch := int64(0), int64(-1)
	// LIMIT ALL (a NULL constant) fetches every row.
	if n := sub.GetLimitCount(); n != nil && !n.GetAConst().GetIsnull() {
		v, err := constInt(n)
		if err != nil {
			return nil, err
		}
		fetch = v
	}
	if n := sub.GetLimitOffset(); n != nil {
		v, err := constInt(n)
		if err != nil {
			return nil, err
		}
		skip = v
	}
	rn := b.newCol("", "row_number", arrow.PrimitiveTypes.Int64)
	w := &windowRel{in: r, partBy: part, order: keys,
		calls: []windowCall{{fn: kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER, offset: 1, out: rn}}}
	col := &expr{kind: eCol, col: rn, typ: arrow.PrimitiveTypes.Int64}
	boolT := arrow.FixedWidthTypes.Boolean
	pred := &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_GT, args: []*expr{col, int64Lit(skip)}, typ: boolT}
	if fetch >= 0 {
		pred = andExpr(pred, &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_LTE, args: []*expr{col, int64Lit(skip + fetch)}, typ: boolT})
	}
	// The row number is not an output of the subquery.
	out := &projectRel{in: &filterRel{in: w, pred: pred}}
	for _, id := range r.output() {
		out.exprs, out.out = append(out.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ}), append(out.out, id)
	}
	return out, nil
}

// joinLateral joins left with the LATERAL subquery lt (jt inner or left)
// and labels the subquery's columns alias.name (renamed by colNames): the
// left side's columns, then the subquery's.
func (b *binder) joinLateral(left rel, lt *lateral, jt kapotv1.JoinType, alias string, colNames []string) (rel, error) {
	if jt == kapotv1.JoinType_JOIN_TYPE_LEFT && lt.mixed {
		return nil, notSupported(-1, "LEFT JOIN LATERAL whose select list reads the outer query's columns")
	}
	j := &joinRel{left: left, right: lt.right, jt: jt, filter: lt.filter}
	for i := range lt.lk {
		o, in := b.unify(lt.lk[i], lt.rk[i])
		j.leftKeys, j.rightKeys = append(j.leftKeys, o), append(j.rightKeys, in)
	}
	p := &projectRel{in: j}
	for _, id := range left.output() {
		p.exprs, p.out = append(p.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ}), append(p.out, id)
	}
	for i, e := range lt.exprs {
		name := lt.names[i]
		if i < len(colNames) {
			name = colNames[i]
		}
		id := b.newCol(alias, name, e.typ)
		b.cols[id].nullable = true
		p.exprs, p.out = append(p.exprs, e), append(p.out, id)
	}
	return p, nil
}

// bindRangeSubselect binds a subquery in FROM (a LATERAL one here has no
// FROM item before it to read: a derived table).
func (b *binder) bindRangeSubselect(rs *pg.RangeSubselect) (rel, error) {
	if rs.GetLateral() {
		r, ok, err := b.uncorrelated(rs)
		if err == nil && !ok {
			err = notSupported(-1, "LATERAL reading columns of FROM items other than those before it in its FROM list or JOIN")
		}
		return r, err
	}
	alias, colNames := lateralAlias(rs)
	return b.derived(rs.GetSubquery().GetSelectStmt(), alias, colNames)
}

// lateralAlias is the alias and column names of a subquery in FROM.
func lateralAlias(rs *pg.RangeSubselect) (string, []string) {
	a := rs.GetAlias()
	var names []string
	for _, c := range a.GetColnames() {
		names = append(names, c.GetString_().GetSval())
	}
	return a.GetAliasname(), names
}

// uncorrelated binds a LATERAL subquery that reads no column of the FROM
// items before it as a derived table; ok false when it reads some.
func (b *binder) uncorrelated(rs *pg.RangeSubselect) (rel, bool, error) {
	alias, colNames := lateralAlias(rs)
	r, err := b.derived(rs.GetSubquery().GetSelectStmt(), alias, colNames)
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return nil, false, nil
	}
	return r, err == nil, err
}

// lateralGraphItem binds the LATERAL subquery rs of a FROM list after the
// items rels as an item of its own, when its relation does not read them
// (not an aggregate without GROUP BY, no value of its select list reading
// them): returned with its columns and the conditions that join it to
// them, which the FROM list's join graph orders with WHERE's. ok is false
// for the other shapes (lateralItem).
func (b *binder) lateralGraphItem(rels []fromItem, rs *pg.RangeSubselect) (rel, []*column, []*expr, bool, error) {
	if r, ok, err := b.uncorrelated(rs); ok || err != nil {
		if err != nil {
			return nil, nil, nil, false, err
		}
		return r, b.scopeOf(r).cols, nil, true, nil
	}
	sub := rs.GetSubquery().GetSelectStmt()
	if shape, err := lateralShape(sub); err != nil || shape == latOneRow {
		return nil, nil, nil, false, err
	}
	var left rel = rels[0].r
	for _, fi := range rels[1:] {
		left = &joinRel{left: left, right: fi.r, jt: kapotv1.JoinType_JOIN_TYPE_INNER}
	}
	lt, err := b.bindLateral(sub, left)
	if err != nil || lt.mixed {
		return nil, nil, nil, false, err
	}
	alias, colNames := lateralAlias(rs)
	// The subquery's columns pass (the join conditions read them), and
	// its outputs are labelled alias.name.
	p := &projectRel{in: lt.right}
	for _, id := range lt.right.output() {
		p.exprs, p.out = append(p.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ}), append(p.out, id)
	}
	var cols []*column
	for i, e := range lt.exprs {
		name := lt.names[i]
		if i < len(colNames) {
			name = colNames[i]
		}
		id := b.newCol(alias, name, e.typ)
		b.cols[id].nullable = true
		p.exprs, p.out = append(p.exprs, e), append(p.out, id)
		cols = append(cols, b.cols[id])
	}
	var on []*expr
	for i := range lt.lk {
		o, in := b.unify(lt.lk[i], lt.rk[i])
		on = append(on, &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{o, in}, typ: arrow.FixedWidthTypes.Boolean})
	}
	if lt.filter != nil {
		on = append(on, splitAnd(lt.filter)...)
	}
	return p, cols, on, true, nil
}

// lateralItem binds the LATERAL subquery rs of a FROM list after the items
// rels joined to the one item it reads (whose index it returns): an
// aggregate without GROUP BY, or one whose select list reads that item.
func (b *binder) lateralItem(rels []fromItem, rs *pg.RangeSubselect) (int, rel, error) {
	sub := rs.GetSubquery().GetSelectStmt()
	idx := 0
	if len(rels) > 1 {
		// Bound over all of them first, to see which it reads.
		var all rel = rels[0].r
		for _, fi := range rels[1:] {
			all = &joinRel{left: all, right: fi.r, jt: kapotv1.JoinType_JOIN_TYPE_INNER}
		}
		lt, err := b.bindLateral(sub, all)
		if err != nil {
			return 0, nil, err
		}
		var refs []colID
		for _, e := range append(append([]*expr{}, lt.lk...), lt.exprs...) {
			refs = e.refs(refs)
		}
		if lt.filter != nil {
			refs = lt.filter.refs(refs)
		}
		read := map[int]bool{}
		for _, id := range refs {
			for i, fi := range rels {
				if fi.cols[id] {
					read[i] = true
					idx = i
				}
			}
		}
		if len(read) != 1 {
			return 0, nil, notSupported(-1, "LATERAL reading columns of several FROM items in an aggregate without GROUP BY or in its select list")
		}
	}
	lt, err := b.bindLateral(sub, rels[idx].r)
	if err != nil {
		return 0, nil, err
	}
	alias, colNames := lateralAlias(rs)
	r, err := b.joinLateral(rels[idx].r, lt, kapotv1.JoinType_JOIN_TYPE_INNER, alias, colNames)
	return idx, r, err
}

// lateralJoinExpr binds l [CROSS | LEFT] JOIN LATERAL (…) AS s [ON …].
func (b *binder) lateralJoinExpr(je *pg.JoinExpr, l rel) (rel, bool, error) {
	rs := je.GetRarg().GetRangeSubselect()
	if _, ok, err := b.uncorrelated(rs); ok || err != nil {
		return nil, false, err // an ordinary join
	}
	jt, ok := joinTypes[je.GetJointype()]
	if !ok || jt != kapotv1.JoinType_JOIN_TYPE_INNER && jt != kapotv1.JoinType_JOIN_TYPE_LEFT {
		return nil, false, errAt(-1, errs.ErrInvalidColumnReference, "invalid reference to FROM-clause entry: the combining JOIN type must be INNER or LEFT for a LATERAL reference")
	}
	if len(je.GetUsingClause()) > 0 || je.GetIsNatural() {
		return nil, false, notSupported(-1, "LATERAL with JOIN USING or NATURAL JOIN")
	}
	on := je.GetQuals()
	if c := on.GetAConst(); c != nil && c.GetBoolval() != nil && c.GetBoolval().GetBoolval() {
		on = nil // ON true
	}
	if jt == kapotv1.JoinType_JOIN_TYPE_LEFT && on != nil {
		return nil, false, notSupported(-1, "LEFT JOIN LATERAL … ON a condition other than true")
	}
	lt, err := b.bindLateral(rs.GetSubquery().GetSelectStmt(), l)
	if err != nil {
		return nil, false, err
	}
	alias, colNames := lateralAlias(rs)
	r, err := b.joinLateral(l, lt, jt, alias, colNames)
	if err != nil || on == nil {
		return r, true, err
	}
	pred, err := b.bindExpr(on, b.scopeOf(r), nil)
	if err != nil {
		return nil, false, err
	}
	return &filterRel{in: r, pred: pred}, true, nil
}
