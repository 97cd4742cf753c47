package planner

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
)

// The binder: SELECT statements to logical relations, name scopes.

type binder struct {
	// ctx is the statement's: binding stops when it ends (see check).
	ctx context.Context
	// now is the statement's clock (CURRENT_TIMESTAMP, now(),
	// CURRENT_DATE): read once, the same value wherever it is used.
	now   time.Time
	steps int
	cat   *catalog.Catalog
	cols  map[colID]*column
	next  colID
	ctes  map[string]*cte
	// views are the views named so far, each bound once.
	views map[string]*boundQuery
	// lists are the long IN lists of the SQL text (see longLists).
	lists map[string]*longList
	// win collects the window calls of the SELECT list and ORDER BY being
	// bound; nil where window calls are not allowed.
	win *windowBinder
	// subs collects the scalar subqueries of the SELECT list being bound
	// (joined to its rows); nil elsewhere.
	subs *scalarSubs
	// magic is set while a correlated scalar subquery of a select list is
	// bound for decorrelation (see bindScalarSub).
	magic *magicCtx
	// viewDepth counts the views being bound inside each other.
	viewDepth int
	// parts is the plan's target partition count, and split how the
	// catalog's tables are read under it (tableSplitOf), once known.
	parts     int
	splitRows int64 // Options.SplitRows
	split     map[*catalog.Table]*tableSplit
}

// cte is a WITH query, bound where it is first named and read as a
// shared relation wherever it is named.
type cte struct {
	sel   *pg.SelectStmt
	names []string
	bound *boundQuery
	// binding is set while the query is being bound (it names itself).
	binding bool
}

// boundQuery is a query bound once: a shared relation and its column
// names.
type boundQuery struct {
	r     *sharedRel
	names []string
}

// checkEvery is how many binding steps pass between looks at the
// statement's context.
const checkEvery = 256

// check ends binding once the statement's context has ended (the client
// went away, or planning ran out of time), every checkEvery calls.
func (b *binder) check() error {
	b.steps++
	if b.steps%checkEvery != 0 || b.ctx == nil {
		return nil
	}
	return ctxErr(b.ctx)
}

func (b *binder) newCol(qual, name string, t arrow.DataType) colID {
	b.next++
	b.cols[b.next] = &column{id: b.next, qual: qual, name: name, typ: t, nullable: true}
	return b.next
}

// scope is what names resolve against: the columns of the FROM clause.
type scope struct {
	cols []*column
	// outer is the enclosing query's scope, for correlated subqueries.
	outer *scope
	// used, when set, records the columns of cols that were looked up.
	used map[colID]bool
}

func (b *binder) scopeOf(r rel) *scope {
	s := &scope{}
	for _, id := range r.output() {
		s.cols = append(s.cols, b.cols[id])
	}
	return s
}

func (s *scope) find(qual, name string, pos int32) (*column, error) {
	var found *column
	for _, c := range s.cols {
		if !strings.EqualFold(c.name, name) || (qual != "" && !strings.EqualFold(c.qual, qual)) {
			continue
		}
		if found != nil {
			return nil, errAt(pos, engine.ErrInvalidPlan, "column reference %q is ambiguous", name)
		}
		found = c
	}
	if found != nil && s.used != nil {
		s.used[found.id] = true
	}
	if found == nil {
		if s.outer != nil {
			if c, err := s.outer.find(qual, name, pos); err == nil {
				return c, nil
			}
		}
		full := name
		if qual != "" {
			full = qual + "." + name
		}
		return nil, errAt(pos, engine.ErrInvalidPlan, "column %q does not exist", full)
	}
	return found, nil
}

// bindSelect binds a SELECT statement to a relation and its output names.
func (b *binder) bindSelect(s *pg.SelectStmt) (rel, []string, error) {
	r, names, corr, err := b.bindSubselect(s, nil)
	if err != nil {
		return nil, nil, err
	}
	if len(corr) > 0 {
		return nil, nil, errAt(-1, engine.ErrInvalidPlan, "internal: uncorrelated query has correlation")
	}
	return r, names, nil
}

// corrKey is a correlation of a subquery grouped for decorrelation: the
// outer expression equals the subquery's output column inner.
type corrKey struct {
	outer *expr
	inner colID
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
	// Window calls belong to this SELECT's list and ORDER BY only.
	savedWin, savedSubs, savedMagic := b.win, b.subs, b.magic
	b.win, b.subs = nil, nil
	var magic *magicCtx
	if b.magic != nil && outer == b.magic.scope {
		magic = b.magic
	}
	b.magic = nil
	defer func() { b.win, b.subs, b.magic = savedWin, savedSubs, savedMagic }()
	if s.GetLimitOption() == pg.LimitOption_LIMIT_OPTION_WITH_TIES {
		return nil, nil, nil, notSupported(-1, "FETCH … WITH TIES")
	}
	if w := s.GetWithClause(); w != nil {
		if w.GetRecursive() {
			return nil, nil, nil, notSupported(w.GetLocation(), "WITH RECURSIVE")
		}
		if b.ctes == nil {
			b.ctes = map[string]*cte{}
		}
		if err := checkFields(w, w.GetLocation()); err != nil {
			return nil, nil, nil, err
		}
		for _, c := range w.GetCtes() {
			ce := c.GetCommonTableExpr()
			if err := checkFields(ce, ce.GetLocation()); err != nil {
				return nil, nil, nil, err
			}
			var names []string
			for _, n := range ce.GetAliascolnames() {
				names = append(names, n.GetString_().GetSval())
			}
			b.ctes[strings.ToLower(ce.GetCtename())] = &cte{sel: ce.GetCtequery().GetSelectStmt(), names: names}
		}
	}
	if s.GetOp() != pg.SetOperation_SET_OPERATION_UNDEFINED && s.GetOp() != pg.SetOperation_SETOP_NONE {
		return b.bindSetOp(s, outer)
	}
	if len(s.GetValuesLists()) > 0 {
		r, names, err := b.bindValues(s)
		return r, names, nil, err
	}
	if d := s.GetDistinctClause(); len(d) > 0 && d[0].GetNode() != nil {
		return nil, nil, nil, notSupported(location(d[0]), "DISTINCT ON")
	}
	// FROM and WHERE: relations joined on the WHERE clause's equalities.
	// The scope lists the FROM clause's columns in FROM order, whatever
	// order the joins run in: * expands in that order.
	from, fromCols, corrPreds, err := b.bindFrom(s.GetFromClause(), s.GetWhereClause(), outer)
	if err != nil {
		return nil, nil, nil, err
	}
	sc := &scope{cols: fromCols, outer: outer}
	// SELECT list: expand *, then bind (aggregates collected on the way).
	type target struct {
		node  *pg.Node
		name  string
		star  *column
		pos   int32
		alias bool
	}
	var targets []target
	for _, t := range s.GetTargetList() {
		rt := t.GetResTarget()
		if err := checkFields(rt, rt.GetLocation()); err != nil {
			return nil, nil, nil, err
		}
		if cr := rt.GetVal().GetColumnRef(); cr != nil && isStar(cr) {
			qual := ""
			if f := cr.GetFields(); len(f) == 2 {
				qual = f[0].GetString_().GetSval()
			}
			n := 0
			for _, c := range sc.cols {
				if qual == "" || strings.EqualFold(c.qual, qual) {
					targets = append(targets, target{star: c, name: c.name})
					n++
				}
			}
			if n == 0 {
				return nil, nil, nil, errAt(cr.GetLocation(), engine.ErrInvalidPlan, "%s.* matches no table", qual)
			}
			continue
		}
		name := rt.GetName()
		alias := name != ""
		if name == "" {
			name = defaultName(rt.GetVal())
		}
		targets = append(targets, target{node: rt.GetVal(), name: name, pos: rt.GetLocation(), alias: alias})
	}
	refs := targets2(targets, func(t target) (*pg.Node, *column) { return t.node, t.star })
	ag := &aggBinder{b: b, sc: sc, argSubs: &scalarSubs{from: from, sc: sc}}
	hasAgg := len(s.GetGroupClause()) > 0 || s.GetHavingClause() != nil
	for _, t := range targets {
		if t.node != nil && containsAgg(t.node) {
			hasAgg = true
		}
	}
	var sel []*expr
	names := make([]string, len(targets))
	aliases := map[string]int{}
	for i, t := range targets {
		names[i] = t.name
		if t.alias || t.star == nil {
			aliases[strings.ToLower(t.name)] = i
		}
	}
	var r = from
	if hasAgg {
		// GROUP BY items: expressions, output ordinals or output names;
		// with GROUPING SETS, ROLLUP or CUBE, several sets of them.
		items, sets, err := groupingSets(s.GetGroupClause())
		if err != nil {
			return nil, nil, nil, err
		}
		for _, g := range items {
			n := g
			if c := g.GetAConst(); c != nil && c.GetIval() != nil {
				k := int(c.GetIval().GetIval())
				if k < 1 || k > len(targets) || targets[k-1].node == nil {
					return nil, nil, nil, errAt(c.GetLocation(), engine.ErrInvalidPlan, "GROUP BY position %d is not in the select list", k)
				}
				n = targets[k-1].node
			} else if cr := g.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 {
				nm := cr.GetFields()[0].GetString_().GetSval()
				if _, err := sc.find("", nm, cr.GetLocation()); err != nil {
					if i, ok := aliases[strings.ToLower(nm)]; ok && targets[i].node != nil {
						n = targets[i].node
					}
				}
			}
			e, err := b.bindExpr(n, sc, nil)
			if err != nil {
				return nil, nil, nil, err
			}
			ag.addGroup(e)
			ag.itemKeys = append(ag.itemKeys, e.key())
		}
		if err := ag.setGroupingSets(sets); err != nil {
			return nil, nil, nil, err
		}
		// Correlation equalities become group keys the outer query joins on.
		var corrOuter, corrInner []*expr
		local := idSet(from.output())
		if len(corrPreds) > 0 && ag.sets != nil {
			return nil, nil, nil, notSupported(-1, "GROUPING SETS, ROLLUP or CUBE in a correlated subquery")
		}
		if magic != nil {
			// Decorrelated below, once the select list has named every
			// outer column it reads.
			magic.preds, corrPreds = corrPreds, nil
			ag.lazyKeys = map[colID]bool{}
			for _, c := range magic.scope.cols {
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
		win := newWindowBinder(s)
		b.win = win
		subs := &scalarSubs{}
		b.subs = subs
		for _, t := range targets {
			var e *expr
			var err error
			if t.star != nil {
				e, err = ag.wrapCol(&expr{kind: eCol, col: t.star.id, typ: t.star.typ}, t.pos)
			} else {
				e, err = b.bindExpr(t.node, sc, ag)
			}
			if err != nil {
				return nil, nil, nil, err
			}
			sel = append(sel, e)
		}
		b.win, b.subs = nil, nil
		var having *expr
		var havingSubs []*pg.Node
		if s.GetHavingClause() != nil {
			var plain []*pg.Node
			for _, c := range conjuncts(s.GetHavingClause()) {
				if isSubqueryPredicate(c) || containsSubLink(c) {
					havingSubs = append(havingSubs, c)
				} else {
					plain = append(plain, c)
				}
			}
			for _, c := range plain {
				h, err := b.bindExpr(c, sc, ag)
				if err != nil {
					return nil, nil, nil, err
				}
				having = andExpr(having, h)
			}
		}
		// ORDER BY may aggregate too: bind its keys before building the
		// aggregate so their aggregates are computed.
		b.win = win
		keys, err := b.bindOrder(s.GetSortClause(), sc, ag, refs, sel, aliases)
		b.win = nil
		if err != nil {
			return nil, nil, nil, err
		}
		if outer != nil {
			// An aggregate of the enclosing query's columns only belongs
			// to the enclosing query (SQL's rule); kapot does not lift it.
			for _, c := range ag.aggs {
				refs := c.arg.refsOrNil()
				if c.arg2 != nil {
					refs = c.arg2.refs(refs)
				}
				if len(refs) > 0 && !slices.ContainsFunc(refs, func(id colID) bool { return local[id] }) {
					return nil, nil, nil, notSupported(-1, "an aggregate of only the enclosing query's columns inside a subquery")
				}
			}
		}
		if magic != nil && len(magic.scope.used) > 0 {
			var err error
			if from, corrOuter, corrInner, err = b.magicJoin(magic, from, ag); err != nil {
				return nil, nil, nil, err
			}
		}
		r = ag.build(from)
		if having != nil {
			r = &filterRel{in: r, pred: having}
		}
		for _, c := range havingSubs {
			aggScope := &scope{outer: sc}
			if r, err = b.applySubquery(r, c, aggScope, ag); err != nil {
				return nil, nil, nil, err
			}
		}
		r = b.joinScalarSubs(r, subs)
		b.win = win
		r = b.applyWindows(r)
		b.win = nil
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
		out, outNames, err := b.finish(r, sel, names, keys, s)
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
	if len(corrPreds) > 0 {
		return nil, nil, nil, notSupported(-1, "correlated scalar subqueries without an aggregate")
	}
	b.win = newWindowBinder(s)
	subs := &scalarSubs{from: from, sc: sc}
	b.subs = subs
	for _, t := range targets {
		if t.star != nil {
			sel = append(sel, &expr{kind: eCol, col: t.star.id, typ: t.star.typ})
			continue
		}
		e, err := b.bindExpr(t.node, sc, nil)
		if err != nil {
			return nil, nil, nil, err
		}
		sel = append(sel, e)
	}
	b.subs = nil
	keys, err := b.bindOrder(s.GetSortClause(), sc, nil, refs, sel, aliases)
	if err != nil {
		return nil, nil, nil, err
	}
	r = b.joinScalarSubs(r, subs)
	r = b.applyWindows(r)
	b.win = nil
	out, outNames, err := b.finish(r, sel, names, keys, s)
	return out, outNames, nil, err
}

type targetRef struct {
	node *pg.Node
	star *column
}

func targets2[T any](ts []T, f func(T) (*pg.Node, *column)) []targetRef {
	out := make([]targetRef, len(ts))
	for i, t := range ts {
		out[i].node, out[i].star = f(t)
	}
	return out
}

// finish adds the projection, ORDER BY and LIMIT on top of r.
func (b *binder) finish(r rel, sel []*expr, names []string, keys []sortKey, s *pg.SelectStmt) (rel, []string, error) {
	// Project the select list plus any sort keys not in it.
	proj := &projectRel{in: r}
	used := map[colID]bool{}
	for i, e := range sel {
		proj.exprs = append(proj.exprs, e)
		// A column selected twice (a, a) is two output columns: each
		// output needs its own id, or later operators see one.
		if e.kind == eCol && i < len(names) && b.cols[e.col].name == names[i] && !used[e.col] {
			used[e.col] = true
			proj.out = append(proj.out, e.col)
			continue
		}
		name := "?column?"
		if i < len(names) {
			name = names[i]
		}
		id := b.newCol("", name, e.typ)
		if e.kind == eCol {
			b.cols[id].qual, b.cols[id].nullable = b.cols[e.col].qual, b.cols[e.col].nullable
		}
		proj.out = append(proj.out, id)
	}
	visible := len(proj.out)
	var out rel = proj
	// SELECT DISTINCT: rows of the select list made unique after any
	// aggregate, by grouping on every output column; sort keys then read
	// the distinct rows, so they must be among the outputs (PostgreSQL's
	// rule).
	distinct := len(s.GetDistinctClause()) > 0
	outIDs := proj.out
	if distinct {
		ag := &aggRel{in: proj}
		for _, id := range proj.out {
			c := b.cols[id]
			g := b.newCol(c.qual, c.name, c.typ)
			b.cols[g].nullable = c.nullable
			ag.groups = append(ag.groups, &expr{kind: eCol, col: id, typ: c.typ})
			ag.gout = append(ag.gout, g)
		}
		out, outIDs = ag, ag.gout
	}
	var sortKeys []sortKey
	for _, k := range keys {
		found := -1
		for i, e := range proj.exprs {
			if e.key() == k.e.key() {
				found = i
				break
			}
		}
		if found < 0 && distinct {
			return nil, nil, errAt(-1, engine.ErrInvalidPlan, "for SELECT DISTINCT, ORDER BY expressions must appear in the select list")
		}
		if found >= 0 {
			id := outIDs[found]
			sortKeys = append(sortKeys, sortKey{e: &expr{kind: eCol, col: id, typ: b.cols[id].typ}, desc: k.desc, nullsFirst: k.nullsFirst})
			continue
		}
		// A sort key outside the select list is projected, hidden.
		proj.exprs = append(proj.exprs, k.e)
		id := b.newCol("", "sort", k.e.typ)
		if k.e.kind == eCol && !used[k.e.col] {
			id = k.e.col
			used[id] = true
		}
		proj.out = append(proj.out, id)
		sortKeys = append(sortKeys, sortKey{e: &expr{kind: eCol, col: id, typ: b.cols[id].typ}, desc: k.desc, nullsFirst: k.nullsFirst})
	}
	if !distinct {
		outIDs = proj.out
	}
	fetch, skip := int64(-1), int64(0)
	if s.GetLimitCount() != nil {
		v, err := constInt(s.GetLimitCount())
		if err != nil {
			return nil, nil, err
		}
		fetch = v
	}
	if s.GetLimitOffset() != nil {
		v, err := constInt(s.GetLimitOffset())
		if err != nil {
			return nil, nil, err
		}
		skip = v
	}
	if len(sortKeys) > 0 {
		f := int64(-1)
		if fetch >= 0 {
			f = fetch + skip
		}
		out = &sortRel{in: out, keys: sortKeys, fetch: f}
	}
	if fetch >= 0 || skip > 0 {
		out = &limitRel{in: out, skip: skip, fetch: fetch}
	}
	if len(outIDs) > visible {
		final := &projectRel{in: out}
		for _, id := range outIDs[:visible] {
			final.exprs = append(final.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
			final.out = append(final.out, id)
		}
		out = final
	}
	return out, names, nil
}

func constInt(n *pg.Node) (int64, error) {
	c := n.GetAConst()
	if c == nil || c.GetIval() == nil {
		return 0, notSupported(-1, "LIMIT/OFFSET other than an integer constant")
	}
	return int64(c.GetIval().GetIval()), nil
}

// sortDirection checks an ORDER BY item and returns its direction and
// NULL placement (PostgreSQL: NULLs sort as larger than any value unless
// the item says otherwise); the caller binds the key.
func sortDirection(sb *pg.SortBy) (sortKey, error) {
	if err := checkFields(sb, sb.GetLocation()); err != nil {
		return sortKey{}, err
	}
	k := sortKey{desc: sb.GetSortbyDir() == pg.SortByDir_SORTBY_DESC}
	k.nullsFirst = k.desc
	switch sb.GetSortbyNulls() {
	case pg.SortByNulls_SORTBY_NULLS_FIRST:
		k.nullsFirst = true
	case pg.SortByNulls_SORTBY_NULLS_LAST:
		k.nullsFirst = false
	}
	return k, nil
}

// bindOrder binds ORDER BY keys: output ordinals, output names, or
// expressions over the FROM clause (through the aggregate when there is
// one).
func (b *binder) bindOrder(items []*pg.Node, sc *scope, ag *aggBinder, targets []targetRef, sel []*expr, aliases map[string]int) ([]sortKey, error) {
	var keys []sortKey
	for _, it := range items {
		sb := it.GetSortBy()
		if sb == nil {
			return nil, notSupported(-1, "this ORDER BY item")
		}
		k, err := sortDirection(sb)
		if err != nil {
			return nil, err
		}
		n := sb.GetNode()
		switch {
		case n.GetAConst() != nil && n.GetAConst().GetIval() != nil:
			i := int(n.GetAConst().GetIval().GetIval())
			if i < 1 || i > len(sel) {
				return nil, errAt(n.GetAConst().GetLocation(), engine.ErrInvalidPlan, "ORDER BY position %d is not in the select list", i)
			}
			k.e = sel[i-1]
		case n.GetColumnRef() != nil && len(n.GetColumnRef().GetFields()) == 1 && aliasOnly(sc, n, aliases):
			k.e = sel[aliases[strings.ToLower(n.GetColumnRef().GetFields()[0].GetString_().GetSval())]]
		default:
			e, err := b.bindExpr(n, sc, ag)
			if err != nil {
				return nil, err
			}
			k.e = e
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// aliasOnly reports whether a bare name refers to a select-list alias (an
// output name wins over an input column in ORDER BY, as in PostgreSQL).
func aliasOnly(sc *scope, n *pg.Node, aliases map[string]int) bool {
	name := strings.ToLower(n.GetColumnRef().GetFields()[0].GetString_().GetSval())
	_, ok := aliases[name]
	return ok
}

func isStar(cr *pg.ColumnRef) bool {
	f := cr.GetFields()
	return len(f) > 0 && f[len(f)-1].GetAStar() != nil
}

// defaultName is the output name PostgreSQL gives an unnamed target.
func defaultName(n *pg.Node) string {
	switch {
	case n.GetColumnRef() != nil:
		f := n.GetColumnRef().GetFields()
		return f[len(f)-1].GetString_().GetSval()
	case n.GetFuncCall() != nil:
		f := n.GetFuncCall().GetFuncname()
		return f[len(f)-1].GetString_().GetSval()
	case n.GetTypeCast() != nil:
		return defaultName(n.GetTypeCast().GetArg())
	case n.GetCaseExpr() != nil:
		return "case"
	case n.GetCoalesceExpr() != nil:
		return "coalesce"
	case n.GetGroupingFunc() != nil:
		return "grouping"
	case n.GetMinMaxExpr() != nil:
		if n.GetMinMaxExpr().GetOp() == pg.MinMaxOp_IS_LEAST {
			return "least"
		}
		return "greatest"
	}
	return "?column?"
}

// clock is the statement's time, read on first use.
func (b *binder) clock() time.Time {
	if b.now.IsZero() {
		b.now = time.Now().UTC()
	}
	return b.now
}
