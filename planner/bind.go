package planner

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// ErrNotSupported marks SQL the planner does not handle yet; the message
// names the feature.
var ErrNotSupported = errors.New("not supported yet")

// SQLError is a planning error at a position of the SQL text.
type SQLError struct {
	Pos int // byte offset in the statement, -1 if unknown
	Msg string
	Err error
}

func (e *SQLError) Error() string {
	if e.Pos >= 0 {
		return fmt.Sprintf("%s (at position %d)", e.Msg, e.Pos+1)
	}
	return e.Msg
}

func (e *SQLError) Unwrap() error { return e.Err }

func errAt(pos int32, err error, format string, a ...any) error {
	return &SQLError{Pos: int(pos), Msg: fmt.Sprintf(format, a...), Err: err}
}

func notSupported(pos int32, feature string) error {
	return errAt(pos, ErrNotSupported, "not supported yet: %s", feature)
}

// ---------------------------------------------------------------- relations

// rel is a node of the logical plan; output lists its columns.
type rel interface{ output() []colID }

type scanRel struct {
	table *Table
	cols  []colID // one per table column
}

type filterRel struct {
	in   rel
	pred *expr
}

type projectRel struct {
	in    rel
	exprs []*expr
	out   []colID
}

type joinRel struct {
	left, right         rel
	jt                  kapotv1.JoinType
	leftKeys, rightKeys []*expr
	filter              *expr
}

type aggCall struct {
	fn       kapotv1.AggregateFunction
	arg      *expr // nil for count(*)
	distinct bool
	out      colID
}

type aggRel struct {
	in     rel
	groups []*expr
	gout   []colID
	aggs   []aggCall
}

type sortKey struct {
	e          *expr
	desc       bool
	nullsFirst bool
}

type sortRel struct {
	in    rel
	keys  []sortKey
	fetch int64 // -1: all
}

// valuesRel is one row without columns: the FROM of a SELECT that has
// none.
type valuesRel struct{}

type limitRel struct {
	in          rel
	skip, fetch int64
}

func (r *valuesRel) output() []colID  { return nil }
func (r *scanRel) output() []colID    { return r.cols }
func (r *filterRel) output() []colID  { return r.in.output() }
func (r *projectRel) output() []colID { return r.out }
func (r *joinRel) output() []colID {
	switch r.jt {
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return r.left.output()
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		return r.right.output()
	}
	return append(append([]colID{}, r.left.output()...), r.right.output()...)
}
func (r *aggRel) output() []colID {
	out := append([]colID{}, r.gout...)
	for _, a := range r.aggs {
		out = append(out, a.out)
	}
	return out
}
func (r *sortRel) output() []colID  { return r.in.output() }
func (r *limitRel) output() []colID { return r.in.output() }

// ---------------------------------------------------------------- binder

type binder struct {
	cat  *Catalog
	cols map[colID]*column
	next colID
	ctes map[string]*cte
}

// cte is a WITH query, bound afresh wherever it is named.
type cte struct {
	sel   *pg.SelectStmt
	names []string
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
	if err := checkFields(s, -1); err != nil {
		return nil, nil, nil, err
	}
	if s.GetLimitOption() == pg.LimitOption_LIMIT_OPTION_WITH_TIES {
		return nil, nil, nil, notSupported(-1, "FETCH … WITH TIES")
	}
	if s.GetOp() != pg.SetOperation_SET_OPERATION_UNDEFINED && s.GetOp() != pg.SetOperation_SETOP_NONE {
		return nil, nil, nil, notSupported(-1, "UNION / INTERSECT / EXCEPT")
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
	if len(s.GetValuesLists()) > 0 {
		return nil, nil, nil, notSupported(-1, "VALUES")
	}
	if len(s.GetWindowClause()) > 0 {
		return nil, nil, nil, notSupported(-1, "window functions")
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
	ag := &aggBinder{b: b, sc: sc}
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
		// GROUP BY items: expressions, output ordinals or output names.
		for _, g := range s.GetGroupClause() {
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
		}
		// Correlation equalities become group keys the outer query joins on.
		var corrOuter, corrInner []*expr
		local := idSet(from.output())
		for _, c := range corrPreds {
			o, in, ok := splitCorrelation(c, local)
			if !ok {
				return nil, nil, nil, notSupported(-1, "correlated subquery conditions other than equalities with an aggregate")
			}
			ag.addGroup(in)
			corrOuter, corrInner = append(corrOuter, o), append(corrInner, in)
		}
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
		var having *expr
		var havingSubs []*pg.Node
		if s.GetHavingClause() != nil {
			var plain []*pg.Node
			for _, c := range conjuncts(s.GetHavingClause()) {
				if isSubqueryPredicate(c) {
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
		keys, err := b.bindOrder(s.GetSortClause(), sc, ag, refs, sel, aliases)
		if err != nil {
			return nil, nil, nil, err
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
	keys, err := b.bindOrder(s.GetSortClause(), sc, nil, refs, sel, aliases)
	if err != nil {
		return nil, nil, nil, err
	}
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
		if err := checkFields(sb, sb.GetLocation()); err != nil {
			return nil, err
		}
		k := sortKey{desc: sb.GetSortbyDir() == pg.SortByDir_SORTBY_DESC}
		// PostgreSQL: nulls sort as larger than any value by default.
		k.nullsFirst = k.desc
		switch sb.GetSortbyNulls() {
		case pg.SortByNulls_SORTBY_NULLS_FIRST:
			k.nullsFirst = true
		case pg.SortByNulls_SORTBY_NULLS_LAST:
			k.nullsFirst = false
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
	}
	return "?column?"
}

// ---------------------------------------------------------------- FROM

// fromItem is one relation of the FROM clause with its scope.
type fromItem struct {
	r    rel
	cols map[colID]bool
}

// bindFrom binds FROM and WHERE and returns the relation with the FROM
// clause's columns in FROM order. With outer set (a subquery), WHERE
// conjuncts that read outer columns are returned as correlation predicates
// instead of being applied. Subquery predicates (EXISTS, IN, comparisons
// with a scalar subquery) become semi, anti or inner joins on top.
func (b *binder) bindFrom(items []*pg.Node, where *pg.Node, outer *scope) (rel, []*column, []*expr, error) {
	var rels []fromItem
	if len(items) == 0 {
		rels = append(rels, fromItem{r: &valuesRel{}, cols: map[colID]bool{}})
	}
	for _, it := range items {
		r, err := b.bindFromItem(it)
		if err != nil {
			return nil, nil, nil, err
		}
		fi := fromItem{r: r, cols: map[colID]bool{}}
		for _, id := range r.output() {
			fi.cols[id] = true
		}
		rels = append(rels, fi)
	}
	all := &scope{outer: outer}
	for _, fi := range rels {
		all.cols = append(all.cols, b.scopeOf(fi.r).cols...)
	}
	local := map[colID]bool{}
	for _, c := range all.cols {
		local[c.id] = true
	}
	var conj, corr []*expr
	var subs []*pg.Node
	if where != nil {
		for _, c := range conjuncts(where) {
			if isSubqueryPredicate(c) {
				subs = append(subs, c)
				continue
			}
			w, err := b.bindExpr(c, all, nil)
			if err != nil {
				return nil, nil, nil, err
			}
			if w.typ.ID() != arrow.BOOL {
				return nil, nil, nil, errAt(location(c), engine.ErrInvalidPlan, "WHERE must be boolean, not %s", typeName(w.typ))
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
	// Push single-relation predicates down to their relation.
	var rest []*expr
	for _, c := range conj {
		placed := false
		for i := range rels {
			if coveredBy(c, rels[i].cols) {
				rels[i].r = &filterRel{in: rels[i].r, pred: c}
				placed = true
				break
			}
		}
		if !placed {
			rest = append(rest, c)
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
			if !b.pushSubquery(rels, c, all, local) {
				later = append(later, c)
			}
		}
		subs = later
	}
	// Join greedily: from a starting relation, take the connected relation
	// (an equality links it to what is joined so far) that gives the
	// smallest estimated result; cross join only when no relation is
	// connected. Every relation is tried as the start, and the order whose
	// intermediate results add up to the fewest estimated rows wins.
	preds := rest
	cur, rest := b.joinOrder(rels, preds, 0)
	if len(rels) > 1 {
		best := joinCost(cur.r)
		for first := 1; first < len(rels); first++ {
			c, r := b.joinOrder(rels, preds, first)
			if cost := joinCost(c.r); cost < best {
				cur, rest, best = c, r, cost
			}
		}
	}
	r := cur.r
	for _, c := range rest {
		r = &filterRel{in: r, pred: c}
	}
	for _, c := range subs {
		var err error
		if r, err = b.applySubquery(r, c, all, nil); err != nil {
			return nil, nil, nil, err
		}
	}
	return r, all.cols, corr, nil
}

// joinOrder joins rels greedily from rels[first] (see bindFrom) and returns
// the joined relation with the predicates of rest it did not use.
func (b *binder) joinOrder(rels []fromItem, rest []*expr, first int) (fromItem, []*expr) {
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

// pushSubquery applies the subquery predicate n to the one relation of rels
// its outer columns come from, if there is one, and reports whether it did.
// local holds the columns of all of rels.
func (b *binder) pushSubquery(rels []fromItem, n *pg.Node, all *scope, local map[colID]bool) bool {
	for i := range rels {
		r, err := b.applySubquery(rels[i].r, n, all, nil)
		if err != nil {
			continue // it reads another relation's columns (or fails as a whole later)
		}
		j, ok := r.(*joinRel)
		if !ok || j.left != rels[i].r || (j.jt != kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI && j.jt != kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI) {
			continue
		}
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
		rels[i].r = j
		return true
	}
	return false
}

func (b *binder) bindFromItem(n *pg.Node) (rel, error) {
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
			return b.derived(c.sel, alias, c.names)
		}
		t, ok := b.cat.Lookup(rv.GetRelname())
		if !ok {
			return nil, errAt(rv.GetLocation(), engine.ErrInvalidPlan, "table %q does not exist (have: %s)", rv.GetRelname(), strings.Join(b.cat.Names(), ", "))
		}
		qual := rv.GetRelname()
		if a := rv.GetAlias(); a != nil {
			qual = a.GetAliasname()
		}
		s := &scanRel{table: t}
		for _, f := range t.Schema.Fields() {
			id := b.newCol(qual, f.Name, f.Type)
			b.cols[id].nullable = f.Nullable
			s.cols = append(s.cols, id)
		}
		return s, nil
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		if rs.GetLateral() {
			return nil, notSupported(-1, "LATERAL")
		}
		alias := ""
		var colNames []string
		if a := rs.GetAlias(); a != nil {
			alias = a.GetAliasname()
			for _, c := range a.GetColnames() {
				colNames = append(colNames, c.GetString_().GetSval())
			}
		}
		return b.derived(rs.GetSubquery().GetSelectStmt(), alias, colNames)
	case n.GetJoinExpr() != nil:
		je := n.GetJoinExpr()
		l, err := b.bindFromItem(je.GetLarg())
		if err != nil {
			return nil, err
		}
		r, err := b.bindFromItem(je.GetRarg())
		if err != nil {
			return nil, err
		}
		var jt kapotv1.JoinType
		switch je.GetJointype() {
		case pg.JoinType_JOIN_INNER:
			jt = kapotv1.JoinType_JOIN_TYPE_INNER
		case pg.JoinType_JOIN_LEFT:
			jt = kapotv1.JoinType_JOIN_TYPE_LEFT
		case pg.JoinType_JOIN_RIGHT:
			jt = kapotv1.JoinType_JOIN_TYPE_RIGHT
		case pg.JoinType_JOIN_FULL:
			jt = kapotv1.JoinType_JOIN_TYPE_FULL
		default:
			return nil, notSupported(-1, "this join type")
		}
		if len(je.GetUsingClause()) > 0 || je.GetIsNatural() {
			return nil, notSupported(-1, "JOIN USING / NATURAL JOIN")
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
	return nil, notSupported(-1, "this FROM item")
}

// derived binds a subquery in FROM (or a WITH query) and re-labels its
// columns under alias, renamed by colNames where given.
func (b *binder) derived(sel *pg.SelectStmt, alias string, colNames []string) (rel, error) {
	r, names, err := b.bindSelect(sel)
	if err != nil {
		return nil, err
	}
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
	return p, nil
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
	for _, id := range e.refs(nil) {
		if !cols[id] {
			return false
		}
	}
	return true
}

// equiKeys finds conjuncts l = r with one side over left and the other over
// right columns, with equal types.
func equiKeys(conj []*expr, left, right map[colID]bool) (lk, rk []*expr) {
	for _, c := range conj {
		if c.kind != eBinary || c.op != kapotv1.BinaryOp_BINARY_OP_EQ {
			continue
		}
		a, b := c.args[0], c.args[1]
		if len(a.refs(nil)) == 0 || len(b.refs(nil)) == 0 || !arrow.TypeEqual(a.typ, b.typ) {
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

func isUsedEquality(c *expr, lk, rk []*expr) bool {
	if c.kind != eBinary || c.op != kapotv1.BinaryOp_BINARY_OP_EQ {
		return false
	}
	for i := range lk {
		if (c.args[0] == lk[i] && c.args[1] == rk[i]) || (c.args[1] == lk[i] && c.args[0] == rk[i]) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- aggregates

var aggFuncs = map[string]kapotv1.AggregateFunction{
	"count": kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT,
	"sum":   kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM,
	"avg":   kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG,
	"min":   kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN,
	"max":   kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX,
}

func funcName(fc *pg.FuncCall) string {
	f := fc.GetFuncname()
	return strings.ToLower(f[len(f)-1].GetString_().GetSval())
}

func containsAgg(n *pg.Node) bool {
	found := false
	var walk func(n *pg.Node)
	walk = func(n *pg.Node) {
		if n == nil || found {
			return
		}
		if fc := n.GetFuncCall(); fc != nil {
			if _, ok := aggFuncs[funcName(fc)]; ok {
				found = true
				return
			}
			for _, a := range fc.GetArgs() {
				walk(a)
			}
			return
		}
		for _, c := range children(n) {
			walk(c)
		}
	}
	walk(n)
	return found
}

// children lists the sub-expressions of the expression nodes binding knows.
func children(n *pg.Node) []*pg.Node {
	switch {
	case n.GetAExpr() != nil:
		return []*pg.Node{n.GetAExpr().GetLexpr(), n.GetAExpr().GetRexpr()}
	case n.GetBoolExpr() != nil:
		return n.GetBoolExpr().GetArgs()
	case n.GetTypeCast() != nil:
		return []*pg.Node{n.GetTypeCast().GetArg()}
	case n.GetNullTest() != nil:
		return []*pg.Node{n.GetNullTest().GetArg()}
	case n.GetCaseExpr() != nil:
		c := n.GetCaseExpr()
		out := []*pg.Node{c.GetArg(), c.GetDefresult()}
		for _, w := range c.GetArgs() {
			out = append(out, w.GetCaseWhen().GetExpr(), w.GetCaseWhen().GetResult())
		}
		return out
	case n.GetList() != nil:
		return n.GetList().GetItems()
	}
	return nil
}

// aggBinder collects the group keys and aggregate calls of a query and
// rewrites expressions above the aggregate to read its outputs.
type aggBinder struct {
	b      *binder
	sc     *scope
	groups []*expr
	gout   []colID
	aggs   []aggCall
	keys   map[string]colID // expression key -> output column
}

func (a *aggBinder) addGroup(e *expr) {
	if a.keys == nil {
		a.keys = map[string]colID{}
	}
	k := e.key()
	if _, ok := a.keys[k]; ok {
		return
	}
	name := "group"
	if e.kind == eCol {
		name = a.b.cols[e.col].name
	}
	id := a.b.newCol("", name, e.typ)
	if e.kind == eCol {
		a.b.cols[id].qual = a.b.cols[e.col].qual
		a.b.cols[id].nullable = a.b.cols[e.col].nullable
	}
	a.keys[k] = id
	a.groups = append(a.groups, e)
	a.gout = append(a.gout, id)
}

// wrapCol maps a bound expression over the input to the aggregate's output
// when it is a group key; a bare column that is not is an error.
func (a *aggBinder) wrapCol(e *expr, pos int32) (*expr, error) {
	if id, ok := a.keys[e.key()]; ok {
		return &expr{kind: eCol, col: id, typ: e.typ}, nil
	}
	if e.kind == eCol {
		c := a.b.cols[e.col]
		return nil, errAt(pos, engine.ErrInvalidPlan, "column %q must appear in the GROUP BY clause or be used in an aggregate function", c.name)
	}
	return nil, nil
}

func (a *aggBinder) addAgg(fn kapotv1.AggregateFunction, arg *expr, distinct bool, name string) (*expr, error) {
	if a.keys == nil {
		a.keys = map[string]colID{}
	}
	k := fmt.Sprintf("agg:%v:%v:", fn, distinct)
	if arg != nil {
		k += arg.key()
	}
	if id, ok := a.keys[k]; ok {
		return &expr{kind: eCol, col: id, typ: a.b.cols[id].typ}, nil
	}
	t, err := aggType(fn, arg, distinct)
	if err != nil {
		return nil, err
	}
	id := a.b.newCol("", name, t)
	a.keys[k] = id
	a.aggs = append(a.aggs, aggCall{fn: fn, arg: arg, distinct: distinct, out: id})
	return &expr{kind: eCol, col: id, typ: t}, nil
}

// aggType asks the engine for the result type of an aggregate.
func aggType(fn kapotv1.AggregateFunction, arg *expr, distinct bool) (arrow.DataType, error) {
	in := arrow.DataType(arrow.Null)
	if arg != nil {
		in = arg.typ
	}
	return engine.AggregateResultType(fn, in, distinct)
}

func (a *aggBinder) build(in rel) rel {
	return &aggRel{in: in, groups: a.groups, gout: a.gout, aggs: a.aggs}
}

// ---------------------------------------------------------------- expressions

var binOps = map[string]kapotv1.BinaryOp{
	"=": kapotv1.BinaryOp_BINARY_OP_EQ, "<>": kapotv1.BinaryOp_BINARY_OP_NEQ, "!=": kapotv1.BinaryOp_BINARY_OP_NEQ,
	"<": kapotv1.BinaryOp_BINARY_OP_LT, "<=": kapotv1.BinaryOp_BINARY_OP_LTE, ">": kapotv1.BinaryOp_BINARY_OP_GT,
	">=": kapotv1.BinaryOp_BINARY_OP_GTE, "+": kapotv1.BinaryOp_BINARY_OP_ADD, "-": kapotv1.BinaryOp_BINARY_OP_SUB,
	"*": kapotv1.BinaryOp_BINARY_OP_MUL, "/": kapotv1.BinaryOp_BINARY_OP_DIV, "%": kapotv1.BinaryOp_BINARY_OP_MOD,
}

// bindExpr binds n over sc. With ag set, the expression is above an
// aggregate: aggregate calls and group keys become its output columns.
func (b *binder) bindExpr(n *pg.Node, sc *scope, ag *aggBinder) (*expr, error) {
	if ag != nil {
		if fc := n.GetFuncCall(); fc != nil {
			if fn, ok := aggFuncs[funcName(fc)]; ok {
				return b.bindAgg(fc, fn, ag)
			}
		}
		// A whole expression that is a group key reads the key.
		if !containsAgg(n) {
			e, err := b.bindExpr(n, sc, nil)
			if err != nil {
				return nil, err
			}
			if len(e.refs(nil)) == 0 {
				return e, nil
			}
			w, err := ag.wrapCol(e, location(n))
			if err != nil || w != nil {
				return w, err
			}
			// Not a key as a whole: bind its parts against the aggregate.
		}
	}
	e, err := b.bindNode(n, sc, ag)
	if err != nil {
		return nil, err
	}
	if e.typ == nil {
		if err := b.resolve(e); err != nil {
			return nil, errAt(location(n), err, "%v", err)
		}
	}
	return e, nil
}

// refuseCallClauses refuses the clauses of a function call kapot does not
// run: OVER, WITHIN GROUP, ORDER BY inside the call, VARIADIC.
func refuseCallClauses(fc *pg.FuncCall) error {
	switch {
	case fc.GetOver() != nil:
		return notSupported(fc.GetLocation(), "window functions")
	case len(fc.GetAggOrder()) > 0 && fc.GetAggWithinGroup():
		return notSupported(fc.GetLocation(), "WITHIN GROUP")
	case len(fc.GetAggOrder()) > 0:
		return notSupported(fc.GetLocation(), "ORDER BY inside an aggregate call")
	case fc.GetFuncVariadic():
		return notSupported(fc.GetLocation(), "VARIADIC")
	}
	return nil
}

func (b *binder) bindAgg(fc *pg.FuncCall, fn kapotv1.AggregateFunction, ag *aggBinder) (*expr, error) {
	if err := refuseCallClauses(fc); err != nil {
		return nil, err
	}
	var arg *expr
	switch {
	case fc.GetAggStar():
		if fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s(*) is not allowed", funcName(fc))
		}
	case len(fc.GetArgs()) == 1:
		if containsAgg(fc.GetArgs()[0]) {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "aggregate calls cannot be nested")
		}
		e, err := b.bindExpr(fc.GetArgs()[0], ag.sc, nil)
		if err != nil {
			return nil, err
		}
		arg = e
	default:
		return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes one argument", funcName(fc))
	}
	if f := fc.GetAggFilter(); f != nil {
		// agg(x) FILTER (WHERE p) is agg(CASE WHEN p THEN x END): every
		// aggregate kapot has skips nulls, and count(*) counts the rows
		// where p holds as count(CASE WHEN p THEN 1 END).
		if containsAgg(f) {
			return nil, errAt(location(f), engine.ErrInvalidPlan, "aggregate functions are not allowed in FILTER")
		}
		p, err := b.bindExpr(f, ag.sc, nil)
		if err != nil {
			return nil, err
		}
		if p.typ.ID() != arrow.BOOL && p.typ.ID() != arrow.NULL {
			return nil, errAt(location(f), engine.ErrInvalidPlan, "FILTER must be boolean, not %s", typeName(p.typ))
		}
		if arg == nil {
			arg = &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64},
				Value: &kapotv1.ScalarValue_IntValue{IntValue: 1}}, typ: arrow.PrimitiveTypes.Int64}
		}
		c := &expr{kind: eCase, args: []*expr{p, arg}}
		if err := b.resolve(c); err != nil {
			return nil, errAt(location(f), err, "FILTER: %v", err)
		}
		arg = c
	}
	e, err := ag.addAgg(fn, arg, fc.GetAggDistinct(), funcName(fc))
	if err != nil {
		return nil, errAt(fc.GetLocation(), err, "%s: %v", funcName(fc), err)
	}
	return e, nil
}

func location(n *pg.Node) int32 {
	switch {
	case n.GetColumnRef() != nil:
		return n.GetColumnRef().GetLocation()
	case n.GetAExpr() != nil:
		return n.GetAExpr().GetLocation()
	case n.GetFuncCall() != nil:
		return n.GetFuncCall().GetLocation()
	case n.GetAConst() != nil:
		return n.GetAConst().GetLocation()
	case n.GetTypeCast() != nil:
		return n.GetTypeCast().GetLocation()
	case n.GetBoolExpr() != nil:
		return n.GetBoolExpr().GetLocation()
	case n.GetCaseExpr() != nil:
		return n.GetCaseExpr().GetLocation()
	case n.GetSubLink() != nil:
		return n.GetSubLink().GetLocation()
	}
	return -1
}

func (b *binder) bindNode(n *pg.Node, sc *scope, ag *aggBinder) (*expr, error) {
	bind := func(m *pg.Node) (*expr, error) { return b.bindExpr(m, sc, ag) }
	if err := checkFields(nodeMessage(n), location(n)); err != nil {
		return nil, err
	}
	switch {
	case n.GetColumnRef() != nil:
		cr := n.GetColumnRef()
		f := cr.GetFields()
		if isStar(cr) {
			return nil, errAt(cr.GetLocation(), engine.ErrInvalidPlan, "* is not allowed here")
		}
		if len(f) > 2 {
			return nil, notSupported(cr.GetLocation(), "schema-qualified column names")
		}
		qual, name := "", f[len(f)-1].GetString_().GetSval()
		if len(f) == 2 {
			qual = f[0].GetString_().GetSval()
		}
		c, err := sc.find(qual, name, cr.GetLocation())
		if err != nil {
			return nil, err
		}
		e := &expr{kind: eCol, col: c.id, typ: c.typ}
		if ag != nil {
			return ag.wrapCol(e, cr.GetLocation())
		}
		return e, nil
	case n.GetAConst() != nil:
		return constant(n.GetAConst())
	case n.GetTypeCast() != nil:
		return b.bindCast(n.GetTypeCast(), sc, ag)
	case n.GetBoolExpr() != nil:
		be := n.GetBoolExpr()
		args := make([]*expr, len(be.GetArgs()))
		for i, a := range be.GetArgs() {
			e, err := bind(a)
			if err != nil {
				return nil, err
			}
			args[i] = e
		}
		switch be.GetBoolop() {
		case pg.BoolExprType_AND_EXPR, pg.BoolExprType_OR_EXPR:
			op := kapotv1.BinaryOp_BINARY_OP_AND
			if be.GetBoolop() == pg.BoolExprType_OR_EXPR {
				op = kapotv1.BinaryOp_BINARY_OP_OR
			}
			e := args[0]
			for _, a := range args[1:] {
				e = &expr{kind: eBinary, op: op, args: []*expr{e, a}}
				if err := b.resolve(e); err != nil {
					return nil, errAt(be.GetLocation(), err, "%v", err)
				}
			}
			return e, nil
		default:
			return &expr{kind: eNot, args: args}, nil
		}
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		a, err := bind(nt.GetArg())
		if err != nil {
			return nil, err
		}
		return &expr{kind: eIsNull, args: []*expr{a}, negated: nt.GetNulltesttype() == pg.NullTestType_IS_NOT_NULL}, nil
	case n.GetAExpr() != nil:
		return b.bindAExpr(n.GetAExpr(), sc, ag)
	case n.GetCaseExpr() != nil:
		ce := n.GetCaseExpr()
		var operand *expr
		if ce.GetArg() != nil {
			o, err := bind(ce.GetArg())
			if err != nil {
				return nil, err
			}
			operand = o
		}
		e := &expr{kind: eCase}
		var results []*expr
		for _, w := range ce.GetArgs() {
			cw := w.GetCaseWhen()
			if err := checkFields(cw, cw.GetLocation()); err != nil {
				return nil, err
			}
			cond, err := bind(cw.GetExpr())
			if err != nil {
				return nil, err
			}
			if operand != nil {
				cond = &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{operand, cond}}
				if err := b.resolve(cond); err != nil {
					return nil, errAt(ce.GetLocation(), err, "%v", err)
				}
			}
			res, err := bind(cw.GetResult())
			if err != nil {
				return nil, err
			}
			e.args = append(e.args, cond, res)
			results = append(results, res)
		}
		if ce.GetDefresult() != nil {
			d, err := bind(ce.GetDefresult())
			if err != nil {
				return nil, err
			}
			e.args = append(e.args, d)
			e.hasElse = true
			results = append(results, d)
		}
		// Results of different numeric types meet at the widest.
		if t := commonType(results); t != nil {
			for i := 1; i < len(e.args); i += 2 {
				e.args[i] = b.coerce(e.args[i], t)
			}
			if e.hasElse {
				e.args[len(e.args)-1] = b.coerce(e.args[len(e.args)-1], t)
			}
		}
		return e, nil
	case n.GetFuncCall() != nil:
		fc := n.GetFuncCall()
		name := funcName(fc)
		if _, ok := aggFuncs[name]; ok {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "aggregate %s is not allowed here", name)
		}
		if err := refuseCallClauses(fc); err != nil {
			return nil, err
		}
		if fc.GetAggFilter() != nil || fc.GetAggDistinct() || fc.GetAggStar() {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "FILTER, DISTINCT or * given, but %s is not an aggregate function", name)
		}
		var args []*expr
		for _, a := range fc.GetArgs() {
			e, err := bind(a)
			if err != nil {
				return nil, err
			}
			args = append(args, e)
		}
		switch name {
		case "extract", "date_part":
			name = "date_part"
		case "substring", "substr":
			name = "substring"
		}
		return &expr{kind: eFunc, fn: name, args: args}, nil
	case n.GetCoalesceExpr() != nil:
		// COALESCE(a, b, …): numbers of different types meet at their
		// common type.
		var args []*expr
		for _, a := range n.GetCoalesceExpr().GetArgs() {
			e, err := bind(a)
			if err != nil {
				return nil, err
			}
			args = append(args, e)
		}
		if t := commonType(args); t != nil {
			for i, a := range args {
				if a.typ != nil && (numeric(t) && numeric(a.typ) || a.typ.ID() == arrow.NULL) {
					args[i] = b.coerce(a, t)
				}
			}
		}
		return &expr{kind: eFunc, fn: "coalesce", args: args}, nil
	case n.GetSubLink() != nil:
		return nil, notSupported(n.GetSubLink().GetLocation(), "subqueries")
	}
	return nil, notSupported(location(n), "this expression")
}

func (b *binder) bindAExpr(x *pg.A_Expr, sc *scope, ag *aggBinder) (*expr, error) {
	bind := func(m *pg.Node) (*expr, error) { return b.bindExpr(m, sc, ag) }
	opName := ""
	if len(x.GetName()) > 0 {
		opName = x.GetName()[len(x.GetName())-1].GetString_().GetSval()
	}
	switch x.GetKind() {
	case pg.A_Expr_Kind_AEXPR_OP:
		if x.GetLexpr() == nil { // unary
			r, err := bind(x.GetRexpr())
			if err != nil {
				return nil, err
			}
			if opName == "-" {
				return &expr{kind: eNeg, args: []*expr{r}}, nil
			}
			if opName == "+" {
				return r, nil
			}
			return nil, notSupported(x.GetLocation(), "unary operator "+opName)
		}
		op, ok := binOps[opName]
		if !ok {
			return nil, notSupported(x.GetLocation(), "operator "+opName)
		}
		l, err := bind(x.GetLexpr())
		if err != nil {
			return nil, err
		}
		r, err := bind(x.GetRexpr())
		if err != nil {
			return nil, err
		}
		l, r = b.coercePair(l, r)
		if isComparison(op) {
			l, r = b.alignDecimals(l, r)
		}
		e := &expr{kind: eBinary, op: op, args: []*expr{l, r}}
		if err := b.resolve(e); err != nil {
			return nil, errAt(x.GetLocation(), err, "operator %s cannot be applied to %s and %s", opName, typeName(l.typ), typeName(r.typ))
		}
		return e, nil
	case pg.A_Expr_Kind_AEXPR_IN:
		l, err := bind(x.GetLexpr())
		if err != nil {
			return nil, err
		}
		e := &expr{kind: eInList, args: []*expr{l}, negated: opName == "<>"}
		for _, it := range x.GetRexpr().GetList().GetItems() {
			v, err := bind(it)
			if err != nil {
				return nil, err
			}
			_, v = b.coercePair(l, v)
			e.args = append(e.args, v)
		}
		// Numbers of different types meet at their common type (the
		// engine would otherwise cast each value to the tested type,
		// and 1.5 does not fit an integer or decimal(2, 2)).
		if t := commonType(e.args); t != nil && numeric(t) {
			for i, a := range e.args {
				if a.typ != nil && numeric(a.typ) && !arrow.TypeEqual(a.typ, t) {
					c := b.coerce(a, t)
					if a.kind == eLit {
						// A constant is cast once, here (IN lists of
						// constants test membership in a set).
						c.typ = nil
						if err := b.resolve(c); err != nil {
							return nil, errAt(x.GetLocation(), err, "IN list: %v", err)
						}
					}
					e.args[i] = c
				}
			}
		}
		return e, nil
	case pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE:
		l, err := bind(x.GetLexpr())
		if err != nil {
			return nil, err
		}
		r, err := bind(x.GetRexpr())
		if err != nil {
			return nil, err
		}
		return &expr{kind: eLike, args: []*expr{l, r}, negated: strings.HasPrefix(opName, "!"), fold: x.GetKind() == pg.A_Expr_Kind_AEXPR_ILIKE}, nil
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		v, err := bind(x.GetLexpr())
		if err != nil {
			return nil, err
		}
		items := x.GetRexpr().GetList().GetItems()
		lo, err := bind(items[0])
		if err != nil {
			return nil, err
		}
		hi, err := bind(items[1])
		if err != nil {
			return nil, err
		}
		_, lo = b.coercePair(v, lo)
		_, hi = b.coercePair(v, hi)
		return &expr{kind: eBetween, args: []*expr{v, lo, hi}, negated: x.GetKind() == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN}, nil
	}
	return nil, notSupported(x.GetLocation(), "this operator")
}

// coercePair casts a string literal compared with a date to a date (SQL
// lets '1995-01-01' stand for a date).
func (b *binder) coercePair(l, r *expr) (*expr, *expr) {
	if l.typ != nil && r.typ != nil {
		if l.typ.ID() == arrow.DATE32 && r.kind == eLit && r.typ.ID() == arrow.STRING {
			if d, err := dateLiteral(r.lit.GetStringValue()); err == nil {
				return l, d
			}
		}
		if r.typ.ID() == arrow.DATE32 && l.kind == eLit && l.typ.ID() == arrow.STRING {
			if d, err := dateLiteral(l.lit.GetStringValue()); err == nil {
				return d, r
			}
		}
	}
	return l, r
}

func isComparison(op kapotv1.BinaryOp) bool {
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_EQ, kapotv1.BinaryOp_BINARY_OP_NEQ, kapotv1.BinaryOp_BINARY_OP_LT,
		kapotv1.BinaryOp_BINARY_OP_LTE, kapotv1.BinaryOp_BINARY_OP_GT, kapotv1.BinaryOp_BINARY_OP_GTE:
		return true
	}
	return false
}

// alignDecimals casts two decimals of different scales compared with each
// other to one type, decimal(38, larger scale): Arrow's comparison would
// need more than 38 digits for two wide decimals.
func (b *binder) alignDecimals(l, r *expr) (*expr, *expr) {
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
	return b.coerce(l, t), b.coerce(r, t)
}

// commonType is the type CASE results meet at: the one type they share, or
// float64 / the widest decimal when numeric types differ.
func commonType(es []*expr) arrow.DataType {
	var t arrow.DataType
	for _, e := range es {
		if e.typ == nil || e.typ.ID() == arrow.NULL {
			continue
		}
		if t == nil {
			t = e.typ
			continue
		}
		if arrow.TypeEqual(t, e.typ) {
			continue
		}
		switch {
		case arrow.IsFloating(t.ID()) || arrow.IsFloating(e.typ.ID()):
			t = arrow.PrimitiveTypes.Float64
		case t.ID() == arrow.DECIMAL128 || e.typ.ID() == arrow.DECIMAL128:
			t = widerDecimal(t, e.typ)
		case arrow.IsInteger(t.ID()) && arrow.IsInteger(e.typ.ID()):
			t = arrow.PrimitiveTypes.Int64
		}
	}
	return t
}

func widerDecimal(a, b arrow.DataType) arrow.DataType {
	dec := func(t arrow.DataType) (int32, int32) {
		if d, ok := t.(*arrow.Decimal128Type); ok {
			return d.Precision - d.Scale, d.Scale
		}
		return 19, 0
	}
	ai, as := dec(a)
	bi, bs := dec(b)
	s := max(as, bs)
	return &arrow.Decimal128Type{Precision: min(max(ai, bi)+s, 38), Scale: s}
}

// coerce casts e to t when its type differs.
// numeric reports whether t is an integer, floating point or decimal type.
func numeric(t arrow.DataType) bool {
	return arrow.IsInteger(t.ID()) || arrow.IsFloating(t.ID()) || t.ID() == arrow.DECIMAL128
}

// unify casts two numbers of different types (join keys) to their common
// type; other pairs are returned as they are.
func (b *binder) unify(l, r *expr) (*expr, *expr) {
	if l.typ == nil || r.typ == nil || arrow.TypeEqual(l.typ, r.typ) || !numeric(l.typ) || !numeric(r.typ) {
		return l, r
	}
	t := commonType([]*expr{l, r})
	return b.coerce(l, t), b.coerce(r, t)
}

func (b *binder) coerce(e *expr, t arrow.DataType) *expr {
	if e.typ == nil || arrow.TypeEqual(e.typ, t) {
		return e
	}
	pt, err := engine.TypeToProto(t)
	if err != nil {
		return e
	}
	c := &expr{kind: eCast, args: []*expr{e}, to: pt, typ: t}
	return c
}

func (b *binder) bindCast(tc *pg.TypeCast, sc *scope, ag *aggBinder) (*expr, error) {
	if err := checkFields(tc.GetTypeName(), tc.GetLocation()); err != nil {
		return nil, err
	}
	names := tc.GetTypeName().GetNames()
	tname := strings.ToLower(names[len(names)-1].GetString_().GetSval())
	mods := tc.GetTypeName().GetTypmods()
	if tname == "interval" {
		c := tc.GetArg().GetAConst()
		if c == nil || c.GetSval() == nil {
			return nil, notSupported(tc.GetLocation(), "interval from a non-literal")
		}
		mask := int32(0)
		if len(mods) > 0 && mods[0].GetAConst() != nil {
			mask = mods[0].GetAConst().GetIval().GetIval()
		}
		return intervalLiteral(c.GetSval().GetSval(), mask, tc.GetLocation())
	}
	arg, err := b.bindExpr(tc.GetArg(), sc, ag)
	if err != nil {
		return nil, err
	}
	var t *kapotv1.DataType
	switch tname {
	case "date":
		if arg.kind == eLit && arg.typ.ID() == arrow.STRING {
			d, err := dateLiteral(arg.lit.GetStringValue())
			if err != nil {
				return nil, errAt(tc.GetLocation(), engine.ErrInvalidPlan, "%v", err)
			}
			return d, nil
		}
		t = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DATE32}
	case "int2", "int4", "integer", "int":
		t = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT32}
	case "int8", "bigint":
		t = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}
	case "float4", "real":
		t = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_FLOAT32}
	case "float8", "double precision", "double", "float":
		t = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_FLOAT64}
	case "text", "varchar", "bpchar", "char":
		t = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8}
	case "bool":
		t = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_BOOL}
	case "numeric", "decimal":
		p, s := int32(38), int32(10)
		if len(mods) >= 1 {
			p = mods[0].GetAConst().GetIval().GetIval()
			s = 0
		}
		if len(mods) >= 2 {
			s = mods[1].GetAConst().GetIval().GetIval()
		}
		t = &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: p, Scale: s}
	default:
		return nil, notSupported(tc.GetLocation(), "type "+tname)
	}
	return &expr{kind: eCast, args: []*expr{arg}, to: t}, nil
}

// ---------------------------------------------------------------- literals

func constant(c *pg.A_Const) (*expr, error) {
	lit := func(v *kapotv1.ScalarValue) (*expr, error) {
		t, err := engine.TypeFromProto(v.GetType())
		if err != nil {
			return nil, err
		}
		return &expr{kind: eLit, lit: v, typ: t}, nil
	}
	switch {
	case c.GetIsnull():
		return lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_NULL}})
	case c.GetIval() != nil:
		return lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}, Value: &kapotv1.ScalarValue_IntValue{IntValue: int64(c.GetIval().GetIval())}})
	case c.GetFval() != nil:
		return decimalLiteral(c.GetFval().GetFval(), c.GetLocation())
	case c.GetSval() != nil:
		return lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8}, Value: &kapotv1.ScalarValue_StringValue{StringValue: c.GetSval().GetSval()}})
	case c.GetBoolval() != nil:
		return lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_BOOL}, Value: &kapotv1.ScalarValue_BoolValue{BoolValue: c.GetBoolval().GetBoolval()}})
	}
	return nil, notSupported(c.GetLocation(), "this constant")
}

// decimalLiteral types a numeric literal like PostgreSQL: exact, with the
// precision and scale its digits have.
func decimalLiteral(text string, pos int32) (*expr, error) {
	if strings.ContainsAny(text, "eE") {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, errAt(pos, engine.ErrInvalidPlan, "bad number %q", text)
		}
		return &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_FLOAT64}, Value: &kapotv1.ScalarValue_FloatValue{FloatValue: f}}, typ: arrow.PrimitiveTypes.Float64}, nil
	}
	intPart, frac, _ := strings.Cut(text, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		digits = "0"
	}
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, errAt(pos, engine.ErrInvalidPlan, "bad number %q", text)
	}
	scale := int32(len(frac))
	prec := max(int32(len(strings.TrimLeft(intPart, "0")))+scale, 1)
	if prec > 38 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "number %q has more than 38 digits", text)
	}
	t := &arrow.Decimal128Type{Precision: prec, Scale: scale}
	return &expr{kind: eLit, typ: t, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: prec, Scale: scale},
		Value: &kapotv1.ScalarValue_DecimalUnscaled{DecimalUnscaled: n.String()}}}, nil
}

func dateLiteral(s string) (*expr, error) {
	d, err := time.Parse("2006-01-02", strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("invalid date %q: want YYYY-MM-DD", s)
	}
	days := d.Unix() / 86400
	return &expr{kind: eLit, typ: arrow.FixedWidthTypes.Date32,
		lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DATE32}, Value: &kapotv1.ScalarValue_IntValue{IntValue: days}}}, nil
}

// Interval field masks of PostgreSQL's typmod.
const (
	maskMonth = 1 << 1
	maskYear  = 1 << 2
	maskDay   = 1 << 3
)

// intervalLiteral builds INTERVAL 'n' unit (also 'n unit' with no mask).
func intervalLiteral(s string, mask int32, pos int32) (*expr, error) {
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) == 0 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "empty interval")
	}
	n, err := strconv.ParseInt(fields[0], 10, 32)
	if err != nil {
		return nil, notSupported(pos, fmt.Sprintf("interval %q", s))
	}
	unit := ""
	if len(fields) > 1 {
		unit = strings.TrimSuffix(fields[1], "s")
	}
	iv := &kapotv1.IntervalValue{}
	switch {
	case mask == maskYear || unit == "year":
		iv.Months = int32(n) * 12
	case mask == maskMonth || unit == "month":
		iv.Months = int32(n)
	case mask == maskDay || unit == "day":
		iv.Days = int32(n)
	default:
		return nil, notSupported(pos, fmt.Sprintf("interval %q", s))
	}
	return &expr{kind: eLit, typ: arrow.FixedWidthTypes.MonthDayNanoInterval,
		lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INTERVAL_MONTH_DAY_NANO}, Value: &kapotv1.ScalarValue_IntervalValue{IntervalValue: iv}}}, nil
}
