package planner

import (
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
)

// A SELECT: its WITH queries, FROM and WHERE, select list, grouping,
// HAVING, windows, ORDER BY and LIMIT, and the decorrelation of an
// aggregating subquery.

// corrKey is a correlation of a subquery grouped for decorrelation: the
// outer expression equals the subquery's output column inner.
type corrKey struct {
	outer *expr
	inner colID
}

// selectTarget is an item of a select list: an expression (node) or a
// column that * expanded to (star).
type selectTarget struct {
	node  *pg.Node
	name  string
	star  *column
	pos   int32
	alias bool
}

// selectQuery is a SELECT being bound, once its FROM and WHERE are.
type selectQuery struct {
	s     *pg.SelectStmt
	outer *scope
	// from is FROM and WHERE bound, sc its scope; corrPreds are WHERE's
	// conjuncts that read outer columns.
	from      rel
	sc        *scope
	corrPreds []*expr
	// magic is the decorrelation this SELECT is bound for, if any.
	magic *magicCtx
	// The select list: its items, their references for ORDER BY, their
	// output names, and the names ORDER BY and GROUP BY may use for them.
	targets []selectTarget
	refs    []targetRef
	names   []string
	aliases map[string]int
}

// bindSubselect binds a SELECT that may read columns of outer. An
// aggregating subquery correlated by equalities (outer expr = inner expr)
// is decorrelated: the inner expressions become extra group keys and extra
// output columns, returned as corr keys for the caller to join on.
func (b *binder) bindSubselect(s *pg.SelectStmt, outer *scope) (rel, []string, []corrKey, error) {
	if b.ctx != nil {
		if err := ctxErr(b.ctx); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := checkFields(s, -1); err != nil {
		return nil, nil, nil, err
	}
	if err := b.rewriteRows(s); err != nil {
		return nil, nil, nil, err
	}
	// Window calls belong to this SELECT's list and ORDER BY only.
	savedWin, savedSubs, savedMagic, savedUnnest := b.win, b.subs, b.magic, b.unnest
	b.win, b.subs, b.unnest = nil, nil, nil
	q := &selectQuery{s: s, outer: outer}
	if b.magic != nil && outer == b.magic.scope {
		q.magic = b.magic
	}
	b.magic = nil
	defer func() { b.win, b.subs, b.magic, b.unnest = savedWin, savedSubs, savedMagic, savedUnnest }()
	if s.GetLimitOption() == pg.LimitOption_LIMIT_OPTION_WITH_TIES {
		return nil, nil, nil, notSupported(-1, "FETCH … WITH TIES")
	}
	if err := b.bindWith(s.GetWithClause()); err != nil {
		return nil, nil, nil, err
	}
	if s.GetOp() != pg.SetOperation_SET_OPERATION_UNDEFINED && s.GetOp() != pg.SetOperation_SETOP_NONE {
		return b.bindSetOp(s, outer)
	}
	if len(s.GetValuesLists()) > 0 {
		r, names, err := b.bindValues(s)
		return r, names, nil, err
	}
	// FROM and WHERE: relations joined on the WHERE clause's equalities.
	// The scope lists the FROM clause's columns in FROM order, whatever
	// order the joins run in: * expands in that order.
	from, fromCols, corrPreds, err := b.bindFrom(s.GetFromClause(), s.GetWhereClause(), outer)
	if err != nil {
		return nil, nil, nil, err
	}
	q.from, q.corrPreds = from, corrPreds
	q.sc = &scope{cols: fromCols, outer: outer}
	if err := q.bindTargets(); err != nil {
		return nil, nil, nil, err
	}
	hasAgg := len(s.GetGroupClause()) > 0 || s.GetHavingClause() != nil
	for _, t := range q.targets {
		if t.node != nil && containsAgg(t.node) {
			hasAgg = true
		}
	}
	if hasAgg {
		return b.bindGrouped(q)
	}
	if len(q.corrPreds) > 0 {
		return nil, nil, nil, notSupported(-1, "correlated scalar subqueries without an aggregate")
	}
	r, names, err := b.bindUngrouped(q)
	return r, names, nil, err
}

// bindWith records the WITH queries of w, bound where they are named.
func (b *binder) bindWith(w *pg.WithClause) error {
	if w == nil {
		return nil
	}
	if w.GetRecursive() {
		return notSupported(w.GetLocation(), "WITH RECURSIVE")
	}
	if b.ctes == nil {
		b.ctes = map[string]*cte{}
	}
	if err := checkFields(w, w.GetLocation()); err != nil {
		return err
	}
	for _, c := range w.GetCtes() {
		ce := c.GetCommonTableExpr()
		if err := checkFields(ce, ce.GetLocation()); err != nil {
			return err
		}
		var names []string
		for _, n := range ce.GetAliascolnames() {
			names = append(names, n.GetString_().GetSval())
		}
		b.ctes[strings.ToLower(ce.GetCtename())] = &cte{sel: ce.GetCtequery().GetSelectStmt(), names: names}
	}
	return nil
}

// bindTargets lists the select list's items, * expanded over the FROM
// clause's columns, with their output names.
func (q *selectQuery) bindTargets() error {
	for _, t := range q.s.GetTargetList() {
		rt := t.GetResTarget()
		if err := checkFields(rt, rt.GetLocation()); err != nil {
			return err
		}
		if cr := rt.GetVal().GetColumnRef(); cr != nil && isStar(cr) {
			qual := ""
			if f := cr.GetFields(); len(f) == 2 {
				qual = f[0].GetString_().GetSval()
			}
			n := 0
			for _, c := range q.sc.cols {
				if qual == "" || strings.EqualFold(c.qual, qual) {
					q.targets = append(q.targets, selectTarget{star: c, name: c.name})
					n++
				}
			}
			if n == 0 {
				return errAt(cr.GetLocation(), engine.ErrInvalidPlan, "%s.* matches no table", qual)
			}
			continue
		}
		name := rt.GetName()
		alias := name != ""
		if name == "" {
			name = defaultName(rt.GetVal())
		}
		q.targets = append(q.targets, selectTarget{node: rt.GetVal(), name: name, pos: rt.GetLocation(), alias: alias})
	}
	q.refs = targets2(q.targets, func(t selectTarget) (*pg.Node, *column) { return t.node, t.star })
	q.names = make([]string, len(q.targets))
	q.aliases = map[string]int{}
	for i, t := range q.targets {
		q.names[i] = t.name
		if t.alias || t.star == nil {
			q.aliases[strings.ToLower(t.name)] = i
		}
	}
	return nil
}

// bindUngrouped binds the rest of a SELECT that does not aggregate: its
// select list, scalar subqueries, windows, ORDER BY and LIMIT.
func (b *binder) bindUngrouped(q *selectQuery) (rel, []string, error) {
	b.win = newWindowBinder(q.s)
	subs := &scalarSubs{from: q.from, sc: q.sc}
	b.subs = subs
	b.unnest = &unnestBinder{}
	sel, err := b.bindSelectList(q)
	if err != nil {
		return nil, nil, err
	}
	un := b.unnest
	b.subs, b.unnest = nil, nil
	keys, err := b.bindOrder(q.s.GetSortClause(), q.sc, nil, q.refs, sel, q.aliases)
	if err != nil {
		return nil, nil, err
	}
	on, err := b.bindDistinctOn(q, nil, sel)
	if err != nil {
		return nil, nil, err
	}
	r := b.joinScalarSubs(q.from, subs)
	r = b.applyWindows(r)
	b.win = nil
	if r, err = b.applyUnnest(r, un, q.hasWindows()); err != nil {
		return nil, nil, err
	}
	return b.finish(r, sel, q.names, keys, q.s, on)
}

// bindSelectList binds the select list of a SELECT that does not
// aggregate over its FROM clause (q.sc), * as the columns it expands to.
func (b *binder) bindSelectList(q *selectQuery) ([]*expr, error) {
	var sel []*expr
	for _, t := range q.targets {
		if t.star != nil {
			sel = append(sel, &expr{kind: eCol, col: t.star.id, typ: t.star.typ})
			continue
		}
		e, err := b.bindExpr(t.node, q.sc, nil)
		if err != nil {
			return nil, err
		}
		sel = append(sel, e)
	}
	return sel, nil
}

// bindGrouped binds the rest of a SELECT that aggregates: GROUP BY, the
// select list over the groups, HAVING, ORDER BY, windows over the
// aggregate, and for a correlated subquery the keys it is joined back on.
func (b *binder) bindGrouped(q *selectQuery) (rel, []string, []corrKey, error) {
	ag := &aggBinder{b: b, sc: q.sc, argSubs: &scalarSubs{from: q.from, sc: q.sc}}
	if err := b.bindGroupBy(q, ag); err != nil {
		return nil, nil, nil, err
	}
	// Correlation equalities become group keys the outer query joins on.
	var corrOuter, corrInner []*expr
	local := idSet(q.from.output())
	if len(q.corrPreds) > 0 && ag.sets != nil {
		return nil, nil, nil, notSupported(-1, "GROUPING SETS, ROLLUP or CUBE in a correlated subquery")
	}
	corrPreds := q.corrPreds
	if q.magic != nil {
		// Decorrelated below, once the select list has named every
		// outer column it reads.
		q.magic.preds, corrPreds = corrPreds, nil
		ag.lazyKeys = map[colID]bool{}
		for _, c := range q.magic.scope.cols {
			ag.lazyKeys[c.id] = true
		}
	}
	for _, c := range corrPreds {
		o, in, ok := splitCorrelation(c, local)
		if !ok {
			return nil, nil, nil, notSupported(-1, "correlated subquery conditions other than equalities with an aggregate")
		}
		ag.addGroup(in)
		corrOuter, corrInner = append(corrOuter, o), append(corrInner, in)
	}
	win := newWindowBinder(q.s)
	b.win = win
	subs := &scalarSubs{}
	b.subs = subs
	b.unnest = &unnestBinder{}
	var sel []*expr
	for _, t := range q.targets {
		var e *expr
		var err error
		if t.star != nil {
			e, err = ag.wrapCol(&expr{kind: eCol, col: t.star.id, typ: t.star.typ}, t.pos)
		} else {
			e, err = b.bindExpr(t.node, q.sc, ag)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		sel = append(sel, e)
	}
	un := b.unnest
	b.win, b.subs, b.unnest = nil, nil, nil
	having, havingSubs, err := b.bindHaving(q, ag)
	if err != nil {
		return nil, nil, nil, err
	}
	// ORDER BY may aggregate too: bind its keys before building the
	// aggregate so their aggregates are computed.
	b.win = win
	keys, err := b.bindOrder(q.s.GetSortClause(), q.sc, ag, q.refs, sel, q.aliases)
	var on []*expr
	if err == nil {
		on, err = b.bindDistinctOn(q, ag, sel)
	}
	b.win = nil
	if err != nil {
		return nil, nil, nil, err
	}
	if q.outer != nil {
		if err := outerAggregates(ag, local); err != nil {
			return nil, nil, nil, err
		}
	}
	from := q.from
	if q.magic != nil && len(q.magic.scope.used) > 0 {
		if from, corrOuter, corrInner, err = b.magicJoin(q.magic, from, ag); err != nil {
			return nil, nil, nil, err
		}
	}
	r := ag.build(from)
	if having != nil {
		r = &filterRel{in: r, pred: having}
	}
	for _, c := range havingSubs {
		aggScope := &scope{outer: q.sc}
		if r, err = b.applySubquery(r, c, aggScope, ag); err != nil {
			return nil, nil, nil, err
		}
	}
	r = b.joinScalarSubs(r, subs)
	b.win = win
	r = b.applyWindows(r)
	b.win = nil
	if r, err = b.applyUnnest(r, un, q.hasWindows()); err != nil {
		return nil, nil, nil, err
	}
	return b.finishCorrelated(r, sel, q, keys, on, ag, corrOuter, corrInner)
}

// bindGroupBy adds GROUP BY's items to ag: expressions, output ordinals or
// output names; with GROUPING SETS, ROLLUP or CUBE, several sets of them.
func (b *binder) bindGroupBy(q *selectQuery, ag *aggBinder) error {
	items, sets, err := groupingSets(q.s.GetGroupClause())
	if err != nil {
		return err
	}
	for _, g := range items {
		n := g
		if c := g.GetAConst(); c != nil && c.GetIval() != nil {
			k := int(c.GetIval().GetIval())
			if k < 1 || k > len(q.targets) || q.targets[k-1].node == nil {
				return errAt(c.GetLocation(), engine.ErrInvalidPlan, "GROUP BY position %d is not in the select list", k)
			}
			n = q.targets[k-1].node
		} else if cr := g.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 {
			nm := cr.GetFields()[0].GetString_().GetSval()
			if _, err := q.sc.find("", nm, cr.GetLocation()); err != nil {
				if i, ok := q.aliases[strings.ToLower(nm)]; ok && q.targets[i].node != nil {
					n = q.targets[i].node
				}
			}
		}
		e, err := b.bindExpr(n, q.sc, nil)
		if err != nil {
			return err
		}
		ag.addGroup(e)
		ag.itemKeys = append(ag.itemKeys, e.key())
	}
	return ag.setGroupingSets(sets)
}

// bindHaving binds HAVING's conjuncts over the groups: the plain ones as
// one predicate, the subquery predicates left to apply on top.
func (b *binder) bindHaving(q *selectQuery, ag *aggBinder) (*expr, []*pg.Node, error) {
	if q.s.GetHavingClause() == nil {
		return nil, nil, nil
	}
	var having *expr
	var havingSubs, plain []*pg.Node
	for _, c := range conjuncts(q.s.GetHavingClause()) {
		if isSubqueryPredicate(c) || containsSubLink(c) {
			havingSubs = append(havingSubs, c)
		} else {
			plain = append(plain, c)
		}
	}
	for _, c := range plain {
		h, err := b.bindExpr(c, q.sc, ag)
		if err != nil {
			return nil, nil, err
		}
		having = andExpr(having, h)
	}
	// The subquery conditions are applied over the aggregate once it is
	// built: the aggregates they read outside their subqueries (max(x) in
	// HAVING max(x) > (SELECT …)) must be among its calls already.
	for _, c := range havingSubs {
		for _, fc := range outerAggCalls(c) {
			if _, err := b.bindExpr(fc, q.sc, ag); err != nil {
				return nil, nil, err
			}
		}
	}
	return having, havingSubs, nil
}

// outerAggregates refuses an aggregate of the enclosing query's columns
// only (no column of local): it belongs to the enclosing query (SQL's
// rule), and kapot does not lift it there.
func outerAggregates(ag *aggBinder, local map[colID]bool) error {
	for _, c := range ag.aggs {
		refs := c.arg.refsOrNil()
		if c.arg2 != nil {
			refs = c.arg2.refs(refs)
		}
		if len(refs) > 0 && !slices.ContainsFunc(refs, func(id colID) bool { return local[id] }) {
			return notSupported(-1, "an aggregate of only the enclosing query's columns inside a subquery")
		}
	}
	return nil
}

// finishCorrelated finishes a grouped SELECT (finish) with its correlation
// keys (corrInner, equal to corrOuter) as extra, last output columns,
// returned as corr keys.
func (b *binder) finishCorrelated(r rel, sel []*expr, q *selectQuery, keys []sortKey, on []*expr, ag *aggBinder, corrOuter, corrInner []*expr) (rel, []string, []corrKey, error) {
	names := q.names
	if len(on) > 0 && len(corrInner) > 0 {
		return nil, nil, nil, notSupported(-1, "DISTINCT ON in a correlated subquery")
	}
	if len(corrInner) > 0 && (q.s.GetLimitCount() != nil || q.s.GetLimitOffset() != nil) {
		// The groups of every outer row are one relation here: LIMIT and
		// OFFSET would count its rows, not each outer row's (LIMIT 1 kept
		// one part's minimum for all parts).
		return nil, nil, nil, notSupported(-1, "LIMIT or OFFSET in a correlated subquery")
	}
	var corr []corrKey
	for i, in := range corrInner {
		k, err := ag.wrapCol(in, -1)
		if err != nil {
			return nil, nil, nil, err
		}
		sel = append(sel, k)
		names = append(names, "corr")
		corr = append(corr, corrKey{outer: corrOuter[i], inner: k.col})
	}
	out, outNames, err := b.finish(r, sel, names, keys, q.s, on)
	if err != nil {
		return nil, nil, nil, err
	}
	// The keys are the last output columns (finish may rename them).
	outCols := out.output()
	for i := range corr {
		corr[i].inner = outCols[len(outCols)-len(corr)+i]
	}
	return out, outNames[:len(outNames)-len(corr)], corr, nil
}

// hasWindows reports whether the select list or ORDER BY calls a window
// function.
func (q *selectQuery) hasWindows() bool {
	for _, t := range q.targets {
		if t.node != nil && containsWindow(t.node) {
			return true
		}
	}
	for _, o := range q.s.GetSortClause() {
		if containsWindow(o.GetSortBy().GetNode()) {
			return true
		}
	}
	return false
}
