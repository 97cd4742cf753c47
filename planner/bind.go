package planner

import (
	"context"
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
	// inProcess: the plan runs in one process (Options.InProcess).
	inProcess bool
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
	// unnest collects the unnest call of the select list being bound; nil
	// where unnest is not allowed.
	unnest *unnestBinder
	// magic is set while a correlated scalar subquery of a select list is
	// bound for decorrelation (see bindScalarSub).
	magic *magicCtx
	// viewDepth counts the views being bound inside each other.
	viewDepth int
	// rowsDone are the queries whose row values are rewritten (rewriteRows).
	rowsDone map[*pg.SelectStmt]bool
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

// finish adds the projection, DISTINCT (ON), ORDER BY and LIMIT on top of
// r; on are the DISTINCT ON expressions, if any.
func (b *binder) finish(r rel, sel []*expr, names []string, keys []sortKey, s *pg.SelectStmt, on []*expr) (rel, []string, error) {
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
	distinct := isPlainDistinct(s)
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
	if len(on) > 0 {
		if err := checkDistinctOn(on, keys); err != nil {
			return nil, nil, err
		}
		out = b.distinctOnRel(proj, on, sortKeys)
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
	// Hidden sort keys, DISTINCT ON keys and its row number are projected
	// away.
	if len(outIDs) > visible || len(on) > 0 {
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
