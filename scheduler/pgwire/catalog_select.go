package pgwire

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kapot-go/kapot/errs"
)

// The virtual catalog's SELECT: FROM items joined row by row, WHERE,
// the select list, ORDER BY and LIMIT, UNION.

// env is one row of the FROM clause: values by "alias.column" and by
// column alone.
type env map[string]any

// evalCatalog answers a SELECT over the virtual catalog.
func (c *conn) evalCatalog(_ context.Context, n *pg.Node) (*answer, error) {
	names, out, err := c.selectRows(n.GetSelectStmt(), env{})
	if err != nil {
		return nil, err
	}
	return c.typedAnswer(names, out)
}

// selectRows evaluates a SELECT (within the row outer of an enclosing
// query: a correlated subquery).
func (c *conn) selectRows(sel *pg.SelectStmt, outer env) ([]string, [][]any, error) {
	if w := sel.GetWithClause(); w != nil {
		restore, err := c.withQueries(w)
		if err != nil {
			return nil, nil, err
		}
		defer restore()
	}
	if sel.GetOp() == pg.SetOperation_SETOP_UNION {
		return c.unionRows(sel, outer)
	}
	if sel == nil || sel.GetOp() != pg.SetOperation_SETOP_NONE || len(sel.GetValuesLists()) > 0 {
		return nil, nil, fmt.Errorf("%w: this statement over the catalog (pg_catalog and information_schema take single SELECTs)", errNotSupported)
	}
	rows, err := c.fromRows(sel, outer)
	if err != nil {
		return nil, nil, err
	}
	names, exprs, err := c.selectList(sel)
	if err != nil {
		return nil, nil, err
	}
	var out [][]any
	if len(sel.GetGroupClause()) > 0 || sel.GetHavingClause() != nil || hasAggregate(exprs) {
		out, rows, err = c.groupRows(sel, exprs, rows)
	} else {
		out, err = c.projectRows(exprs, rows)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(sel.GetDistinctClause()) > 0 {
		out, rows = distinctRows(out, rows)
	}
	if sorts := sel.GetSortClause(); len(sorts) > 0 {
		if out, err = c.orderRows(sorts, rows, names, exprs, out); err != nil {
			return nil, nil, err
		}
	}
	if l := sel.GetLimitCount(); l != nil {
		if k := l.GetAConst().GetIval(); k != nil && int(k.GetIval()) < len(out) {
			out = out[:max(int(k.GetIval()), 0)]
		}
	}
	return names, out, nil
}

// fromRows joins the FROM items (within outer) and keeps the rows WHERE
// holds for. Each AND term of WHERE that names only items joined so far
// (qualified by their aliases) filters as soon as they are, and once no
// row is left the later items are not joined: pgjdbc's getImportedKeys
// joins nine catalog relations with commas, whose whole product would be
// millions of rows.
func (c *conn) fromRows(sel *pg.SelectStmt, outer env) ([]env, error) {
	terms := conjuncts(sel.GetWhereClause(), nil)
	applied := make([]bool, len(terms))
	bound := map[string]bool{}
	rows := []env{outer}
	filter := func(final bool) error {
		for i, t := range terms {
			if applied[i] || !final && !boundTerm(t, bound) {
				continue
			}
			applied[i] = true
			var kept []env
			for _, r := range rows {
				v, err := c.eval(t, r)
				if err != nil {
					return err
				}
				if truth(v) {
					kept = append(kept, r)
				}
			}
			rows = kept
		}
		return nil
	}
	for _, f := range sel.GetFromClause() {
		next, err := c.from(f, rows)
		if err != nil {
			return nil, err
		}
		rows = next
		itemAliases(f, bound)
		if err := filter(false); err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return nil, nil
		}
	}
	return rows, filter(true)
}

// conjuncts appends the AND terms of w to out.
func conjuncts(w *pg.Node, out []*pg.Node) []*pg.Node {
	if w == nil {
		return out
	}
	if b := w.GetBoolExpr(); b != nil && b.GetBoolop() == pg.BoolExprType_AND_EXPR {
		for _, a := range b.GetArgs() {
			out = conjuncts(a, out)
		}
		return out
	}
	return append(out, w)
}

// boundTerm reports whether every column t names is qualified by an alias
// of bound (and t has no subquery): t can be evaluated now.
func boundTerm(t *pg.Node, bound map[string]bool) bool {
	ok := true
	walk(t.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg.SubLink:
			ok = false
		case *pg.ColumnRef:
			f := n.GetFields()
			if len(f) < 2 || !bound[f[len(f)-2].GetString_().GetSval()] {
				ok = false
			}
		}
	})
	return ok
}

// itemAliases adds the aliases of FROM item f (a join's, both sides') to
// bound.
func itemAliases(f *pg.Node, bound map[string]bool) {
	switch {
	case f.GetJoinExpr() != nil:
		itemAliases(f.GetJoinExpr().GetLarg(), bound)
		itemAliases(f.GetJoinExpr().GetRarg(), bound)
	case f.GetRangeVar() != nil:
		rv := f.GetRangeVar()
		bound[rv.GetRelname()] = true
		if a := rv.GetAlias(); a != nil {
			bound[a.GetAliasname()] = true
		}
	case f.GetRangeSubselect() != nil:
		bound[f.GetRangeSubselect().GetAlias().GetAliasname()] = true
	case f.GetRangeFunction() != nil:
		if a := f.GetRangeFunction().GetAlias(); a != nil {
			bound[a.GetAliasname()] = true
		}
	}
}

// unionRows evaluates a UNION [ALL] of two SELECTs, ordered by
// select-list positions.
func (c *conn) unionRows(sel *pg.SelectStmt, outer env) ([]string, [][]any, error) {
	names, out, err := c.selectRows(sel.GetLarg(), outer)
	if err != nil {
		return nil, nil, err
	}
	_, more, err := c.selectRows(sel.GetRarg(), outer)
	if err != nil {
		return nil, nil, err
	}
	out = append(out, more...)
	if !sel.GetAll() {
		seen := map[string]bool{}
		var kept [][]any
		for _, r := range out {
			k := fmt.Sprint(r...)
			if !seen[k] {
				seen[k] = true
				kept = append(kept, r)
			}
		}
		out = kept
	}
	sorts := sel.GetSortClause()
	// ORDER BY of a UNION: select-list positions or output names.
	pos := make([]int, len(sorts))
	for i, st := range sorts {
		pos[i] = -1
		n := st.GetSortBy().GetNode()
		if k := n.GetAConst().GetIval(); k != nil && int(k.GetIval()) >= 1 && int(k.GetIval()) <= len(names) {
			pos[i] = int(k.GetIval()) - 1
		} else if cr := n.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 {
			pos[i] = slices.Index(names, cr.GetFields()[0].GetString_().GetSval())
		}
		if pos[i] < 0 {
			return nil, nil, fmt.Errorf("%w: this ORDER BY of a UNION over the catalog", errNotSupported)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		for i, st := range sorts {
			p := pos[i]
			if d := compare(out[a][p], out[b][p]); d != 0 {
				return (d < 0) != (st.GetSortBy().GetSortbyDir() == pg.SortByDir_SORTBY_DESC)
			}
		}
		return false
	})
	return names, out, nil
}

// projectRows evaluates the select list over each row; window functions
// (row_number() OVER …) over all of them.
func (c *conn) projectRows(exprs []*pg.Node, rows []env) ([][]any, error) {
	windows := make([][]any, len(exprs))
	for j, e := range exprs {
		if f := e.GetFuncCall(); f != nil && f.GetOver() != nil {
			vals, err := c.windowValues(f, rows)
			if err != nil {
				return nil, err
			}
			windows[j] = vals
		}
	}
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = make([]any, len(exprs))
		for j, e := range exprs {
			if windows[j] != nil {
				out[i][j] = windows[j][i]
				continue
			}
			v, err := c.eval(e, r)
			if err != nil {
				return nil, err
			}
			out[i][j] = v
		}
	}
	return out, nil
}

// distinctRows keeps the first of equal output rows (and its row of the
// FROM clause, for ORDER BY).
func distinctRows(out [][]any, rows []env) ([][]any, []env) {
	seen := map[string]bool{}
	var keptOut [][]any
	var keptRows []env
	for i, r := range out {
		k := fmt.Sprintf("%q", r)
		if !seen[k] {
			seen[k] = true
			keptOut = append(keptOut, r)
			keptRows = append(keptRows, rows[i])
		}
	}
	return keptOut, keptRows
}

// selectList is a SELECT's output names and expressions, * expanded.
func (c *conn) selectList(sel *pg.SelectStmt) ([]string, []*pg.Node, error) {
	var names []string
	var exprs []*pg.Node
	for _, t := range sel.GetTargetList() {
		rt := t.GetResTarget()
		if cr := rt.GetVal().GetColumnRef(); cr != nil && isStar(cr) {
			qualifier := ""
			if f := cr.GetFields(); len(f) > 1 {
				qualifier = f[len(f)-2].GetString_().GetSval()
			}
			items, err := c.fromAliases(sel.GetFromClause(), nil)
			if err != nil {
				return nil, nil, err
			}
			found := false
			for _, it := range items {
				if qualifier != "" && it.alias != qualifier {
					continue
				}
				found = true
				for _, col := range it.cols {
					names = append(names, col)
					exprs = append(exprs, &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{pg.MakeStrNode(it.alias), pg.MakeStrNode(col)}}}})
				}
			}
			if !found {
				return nil, nil, fmt.Errorf("%w: %s.* over the catalog", errNotSupported, qualifier)
			}
			continue
		}
		name := rt.GetName()
		if name == "" {
			name = exprName(rt.GetVal())
		}
		names = append(names, name)
		exprs = append(exprs, rt.GetVal())
	}
	return names, exprs, nil
}

// orderRows sorts out (the select list's values of rows) by ORDER BY
// select-list positions, names or expressions.
func (c *conn) orderRows(sorts []*pg.Node, rows []env, names []string, exprs []*pg.Node, out [][]any) ([][]any, error) {
	keys := make([][]any, len(rows))
	for i, r := range rows {
		for _, s := range sorts {
			e := s.GetSortBy().GetNode()
			var v any
			if k := e.GetAConst().GetIval(); k != nil && e.GetAConst() != nil {
				if p := int(k.GetIval()); p >= 1 && p <= len(exprs) {
					v = out[i][p-1]
				}
			} else {
				var err error
				if v, err = c.evalOrAlias(e, r, names, out[i]); err != nil {
					return nil, err
				}
			}
			keys[i] = append(keys[i], v)
		}
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		for k, s := range sorts {
			x, y := text(keys[idx[a]][k]), text(keys[idx[b]][k])
			if x == y {
				continue
			}
			less := compare(keys[idx[a]][k], keys[idx[b]][k]) < 0
			if s.GetSortBy().GetSortbyDir() == pg.SortByDir_SORTBY_DESC {
				return !less
			}
			return less
		}
		return false
	})
	sorted := make([][]any, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted, nil
}

// typedAnswer builds the rows' batch: a column of integers, booleans or
// text by its values.
func (c *conn) typedAnswer(names []string, rows [][]any) (*answer, error) {
	fields := make([]arrow.Field, len(names))
	for j, n := range names {
		// The type of the column's values; text if they differ.
		var t arrow.DataType
		for _, r := range rows {
			var vt arrow.DataType
			switch r[j].(type) {
			case nil:
				continue
			case int64:
				vt = arrow.PrimitiveTypes.Int64
			case bool:
				vt = arrow.FixedWidthTypes.Boolean
			default:
				vt = arrow.BinaryTypes.String
			}
			if t != nil && !arrow.TypeEqual(t, vt) {
				t = arrow.BinaryTypes.String
				break
			}
			t = vt
		}
		if t == nil {
			t = arrow.BinaryTypes.String
		}
		fields[j] = arrow.Field{Name: n, Type: t, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(c.mem, schema)
	defer b.Release()
	for _, r := range rows {
		for j, v := range r {
			fb := b.Field(j)
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				n, ok := v.(int64)
				if !ok {
					n, _ = strconv.ParseInt(text(v), 10, 64)
				}
				fb.Append(n)
			case *array.BooleanBuilder:
				fb.Append(truth(v))
			case *array.StringBuilder:
				fb.Append(text(v))
			}
		}
	}
	batch := b.NewRecordBatch()
	defer batch.Release()
	rr, err := array.NewRecordReader(schema, []arrow.RecordBatch{batch})
	if err != nil {
		return nil, err
	}
	return &answer{tag: "SELECT", counted: true, schema: schema, rows: rr}, nil
}

func isStar(cr *pg.ColumnRef) bool {
	f := cr.GetFields()
	return len(f) > 0 && f[len(f)-1].GetAStar() != nil
}

// aliasCols are the columns of a FROM item and the name that qualifies
// them.
type aliasCols struct {
	alias string
	cols  []string
}

// fromAliases appends the FROM items of from (joins' included, in order)
// to out: what * stands for.
func (c *conn) fromAliases(from []*pg.Node, out []aliasCols) ([]aliasCols, error) {
	for _, f := range from {
		if j := f.GetJoinExpr(); j != nil {
			var err error
			if out, err = c.fromAliases([]*pg.Node{j.GetLarg(), j.GetRarg()}, out); err != nil {
				return nil, err
			}
			continue
		}
		r, alias, err := c.fromItem(f)
		if err != nil {
			return nil, err
		}
		out = append(out, aliasCols{alias, r.cols})
	}
	return out, nil
}

// exprName is the column name PostgreSQL gives an unnamed expression.
func exprName(n *pg.Node) string {
	switch {
	case n.GetColumnRef() != nil:
		f := n.GetColumnRef().GetFields()
		return f[len(f)-1].GetString_().GetSval()
	case n.GetFuncCall() != nil:
		return funcName(n.GetFuncCall())
	case n.GetTypeCast() != nil:
		if a := n.GetTypeCast().GetArg(); a.GetAConst() == nil {
			return exprName(a)
		}
		names := n.GetTypeCast().GetTypeName().GetNames()
		return names[len(names)-1].GetString_().GetSval()
	case n.GetSqlvalueFunction() != nil:
		return strings.ToLower(strings.TrimPrefix(n.GetSqlvalueFunction().GetOp().String(), "SVFOP_"))
	}
	return "?column?"
}

// aliased is the catalog relation rv names and the name its columns
// are qualified by.
func (c *conn) aliased(rv *pg.RangeVar) (*relation, string, error) {
	r, ok := c.ctes[rv.GetRelname()]
	if !ok || rv.GetSchemaname() != "" {
		if !isCatalogRelation(rv) {
			return nil, "", fmt.Errorf("%w: a table joined with the catalog", errNotSupported)
		}
		var err error
		if r, err = c.relationOf(rv); err != nil {
			return nil, "", err
		}
	}
	alias := rv.GetRelname()
	if rv.GetAlias() != nil {
		alias = rv.GetAlias().GetAliasname()
	}
	return r, alias, nil
}

// withQueries evaluates the queries of a WITH clause (not RECURSIVE) for
// the statement's FROM items to name; restore forgets them.
func (c *conn) withQueries(w *pg.WithClause) (restore func(), err error) {
	if w.GetRecursive() {
		return nil, fmt.Errorf("%w: WITH RECURSIVE over the catalog", errNotSupported)
	}
	old := c.ctes
	c.ctes = maps.Clone(old)
	if c.ctes == nil {
		c.ctes = map[string]*relation{}
	}
	restore = func() { c.ctes = old }
	for _, n := range w.GetCtes() {
		cte := n.GetCommonTableExpr()
		names, rows, err := c.selectRows(cte.GetCtequery().GetSelectStmt(), env{})
		if err != nil {
			restore()
			return nil, err
		}
		for i, a := range cte.GetAliascolnames() {
			if i < len(names) {
				names[i] = a.GetString_().GetSval()
			}
		}
		c.ctes[cte.GetCtename()] = &relation{cols: names, rows: rows}
	}
	return restore, nil
}

// fromItem is the relation a FROM item names (a catalog relation, or a
// subquery) and the name its columns are qualified by.
func (c *conn) fromItem(f *pg.Node) (*relation, string, error) {
	switch {
	case f.GetRangeVar() != nil:
		return c.aliased(f.GetRangeVar())
	case f.GetRangeSubselect() != nil && !f.GetRangeSubselect().GetLateral():
		rs := f.GetRangeSubselect()
		names, rows, err := c.selectRows(rs.GetSubquery().GetSelectStmt(), env{})
		if err != nil {
			return nil, "", err
		}
		return &relation{cols: names, rows: rows}, rs.GetAlias().GetAliasname(), nil
	case f.GetRangeFunction() != nil && !f.GetRangeFunction().GetLateral():
		return c.functionRelation(f.GetRangeFunction())
	}
	return nil, "", fmt.Errorf("%w: this FROM item over the catalog", errNotSupported)
}

// maxCatalogRows bounds the rows a join over the catalog makes: a
// statement that would make more is refused, never left to take the
// scheduler's memory.
const maxCatalogRows = 1_000_000

var errCatalogRows = fmt.Errorf("%w: a join over the catalog of more than %d rows", errs.ErrResourcesExhausted, maxCatalogRows)

// from joins the rows so far with a FROM item.
func (c *conn) from(f *pg.Node, rows []env) ([]env, error) {
	switch {
	case f.GetRangeVar() != nil || f.GetRangeSubselect() != nil || f.GetRangeFunction() != nil:
		r, alias, err := c.fromItem(f)
		if err != nil {
			return nil, err
		}
		if len(rows)*len(r.rows) > maxCatalogRows {
			return nil, errCatalogRows
		}
		var out []env
		for _, left := range rows {
			for _, vals := range r.rows {
				out = append(out, bind(left, alias, r.cols, vals))
			}
		}
		return out, nil
	case f.GetJoinExpr() != nil:
		j := f.GetJoinExpr()
		if t := j.GetJointype(); t != pg.JoinType_JOIN_INNER && t != pg.JoinType_JOIN_LEFT {
			return nil, fmt.Errorf("%w: %s over the catalog", errNotSupported, strings.TrimPrefix(t.String(), "JOIN_"))
		}
		left, err := c.from(j.GetLarg(), rows)
		if err != nil {
			return nil, err
		}
		r, alias, err := c.fromItem(j.GetRarg())
		if err != nil {
			return nil, err
		}
		using, err := usingColumns(j, r)
		if err != nil {
			return nil, err
		}
		var out []env
		for _, l := range left {
			matched := false
			for _, vals := range r.rows {
				if !usingMatch(using, l, vals) {
					continue
				}
				e := bind(l, alias, r.cols, vals)
				ok := true
				if q := j.GetQuals(); q != nil {
					v, err := c.eval(q, e)
					if err != nil {
						return nil, err
					}
					ok = truth(v)
				}
				if ok {
					matched = true
					out = append(out, e)
					if len(out) > maxCatalogRows {
						return nil, errCatalogRows
					}
				}
			}
			if !matched && j.GetJointype() == pg.JoinType_JOIN_LEFT {
				// Every column of alias is NULL, those not listed too.
				e := bind(l, alias, r.cols, make([]any, len(r.cols)))
				e[alias+".\x00"] = true
				out = append(out, e)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: this FROM item over the catalog", errNotSupported)
}

// usingColumn is a column of JOIN … USING: its name and its place in the
// right relation.
type usingColumn struct {
	name string
	pos  int
}

// usingColumns are the columns of j's USING clause, found in r.
func usingColumns(j *pg.JoinExpr, r *relation) ([]usingColumn, error) {
	var out []usingColumn
	for _, u := range j.GetUsingClause() {
		name := u.GetString_().GetSval()
		pos := slices.Index(r.cols, name)
		if pos < 0 {
			return nil, fmt.Errorf("%w: column %s of USING over the catalog", errNotSupported, name)
		}
		out = append(out, usingColumn{name, pos})
	}
	return out, nil
}

// usingMatch reports whether a left row and right values agree on the
// USING columns (NULLs never do).
func usingMatch(using []usingColumn, l env, vals []any) bool {
	for _, u := range using {
		lv := l[u.name]
		if lv == nil || vals[u.pos] == nil || text(lv) != text(vals[u.pos]) {
			return false
		}
	}
	return true
}

func bind(left env, alias string, cols []string, vals []any) env {
	e := make(env, len(left)+2*len(cols))
	for k, v := range left {
		e[k] = v
	}
	for i, col := range cols {
		e[alias+"."+col] = vals[i]
		e[col] = vals[i]
	}
	return e
}

func (c *conn) evalOrAlias(n *pg.Node, r env, names []string, vals []any) (any, error) {
	if cr := n.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 {
		name := cr.GetFields()[0].GetString_().GetSval()
		for i, nm := range names {
			if nm == name {
				return vals[i], nil
			}
		}
	}
	return c.eval(n, r)
}
