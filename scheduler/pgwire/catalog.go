package pgwire

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kapot-go/kapot/internal/version"
)

// The virtual catalog answers the queries tools send about the database
// (psql's \dt and \d, drivers' metadata calls) from kapot's catalog: a
// few relations of pg_catalog and information_schema, evaluated here by
// a small interpreter of single-block SELECTs (joins, WHERE, CASE,
// ORDER BY, LIMIT and the catalog functions tools call). What it does
// not know it refuses as not supported.

// Object ids of the virtual catalog.
const (
	oidCatalogNS = 11
	oidPublicNS  = 2200
	oidInfoNS    = 13000
	oidDatabase  = 16383
	oidFirstRel  = 16384
)

// relation is a virtual relation: named columns and rows of values
// (string, int64, bool or nil).
type relation struct {
	cols []string
	rows [][]any
}

// emptyRelation reports whether name is a catalog relation kapot has
// nothing in (indexes, constraints, triggers, inheritance, …): it
// answers no rows.
func emptyRelation(name string) bool {
	switch name {
	case "pg_index", "pg_constraint", "pg_trigger", "pg_inherits", "pg_policy", "pg_statistic_ext", "pg_publication",
		"pg_publication_rel", "pg_publication_namespace", "pg_rewrite", "pg_attrdef", "pg_description", "pg_foreign_table",
		"pg_partitioned_table", "pg_collation", "pg_depend", "pg_sequence", "pg_am", "pg_tablespace", "pg_roles", "pg_user",
		"pg_proc", "pg_extension", "pg_event_trigger", "pg_matviews", "pg_enum", "pg_range", "pg_stat_activity":
		return true
	}
	return false
}

// isCatalogRelation reports whether rv names a relation of PostgreSQL's
// catalog rather than a table.
func isCatalogRelation(rv *pg.RangeVar) bool {
	switch strings.ToLower(rv.GetSchemaname()) {
	case "pg_catalog", "information_schema":
		return true
	case "":
		return strings.HasPrefix(rv.GetRelname(), "pg_")
	}
	return false
}

// funcName is a function call's name without pg_catalog.
func funcName(f *pg.FuncCall) string {
	names := f.GetFuncname()
	if len(names) == 0 {
		return ""
	}
	return strings.ToLower(names[len(names)-1].GetString_().GetSval())
}

// catalogFunction reports whether name is a function the virtual
// catalog answers (and whether it needs the catalog's evaluator).
func catalogFunction(name string) (string, bool) {
	switch name {
	case "version", "current_schema", "current_database", "current_schemas", "current_setting", "current_user",
		"session_user", "pg_backend_pid", "pg_is_in_recovery", "pg_table_is_visible", "format_type", "pg_get_userbyid",
		"obj_description", "col_description", "pg_get_expr", "pg_encoding_to_char", "has_table_privilege",
		"has_schema_privilege", "pg_postmaster_start_time", "pg_get_indexdef", "pg_get_constraintdef", "array_to_string",
		"pg_relation_size", "pg_total_relation_size", "pg_size_pretty", "pg_get_viewdef", "quote_ident":
		return name, true
	}
	return "", false
}

// usesCatalog reports whether a statement reads PostgreSQL's catalog
// (pg_catalog, information_schema, or the session's functions), which
// the virtual catalog answers.
func usesCatalog(tree *pg.ParseResult) bool {
	found := false
	walk(tree.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg.RangeVar:
			if isCatalogRelation(n) {
				found = true
			}
		case *pg.FuncCall:
			if _, ok := catalogFunction(funcName(n)); ok {
				found = true
			}
		case *pg.SQLValueFunction:
			// current_user and the like (CURRENT_DATE and the clock
			// are kapot's own).
			switch n.GetOp() {
			case pg.SQLValueFunctionOp_SVFOP_CURRENT_USER, pg.SQLValueFunctionOp_SVFOP_SESSION_USER, pg.SQLValueFunctionOp_SVFOP_USER,
				pg.SQLValueFunctionOp_SVFOP_CURRENT_ROLE, pg.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG, pg.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
				found = true
			}
		}
	})
	return found
}

// relationOf is a catalog relation's rows now.
func (c *conn) relationOf(rv *pg.RangeVar) (*relation, error) {
	name := strings.ToLower(rv.GetRelname())
	schema := strings.ToLower(rv.GetSchemaname())
	cat := c.s.cfg.Backend.Catalog()
	entries := cat.Entries()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	owner := func(o string) string {
		if o == "" {
			return "operator"
		}
		return o
	}
	if schema == "information_schema" {
		switch name {
		case "tables":
			r := &relation{cols: []string{"table_catalog", "table_schema", "table_name", "table_type"}}
			for _, e := range entries {
				kind := "BASE TABLE"
				if e.Kind == "view" {
					kind = "VIEW"
				}
				r.rows = append(r.rows, []any{c.database, "public", e.Name, kind})
			}
			return r, nil
		case "columns":
			r := &relation{cols: []string{"table_catalog", "table_schema", "table_name", "column_name", "ordinal_position", "data_type", "is_nullable", "column_default"}}
			for _, e := range entries {
				t, ok := cat.Lookup(e.Name)
				if !ok {
					continue
				}
				for i, f := range t.Schema.Fields() {
					nullable := "YES"
					if !f.Nullable {
						nullable = "NO"
					}
					r.rows = append(r.rows, []any{c.database, "public", e.Name, f.Name, int64(i + 1), typeName(typeOf(f.Type)), nullable, nil})
				}
			}
			return r, nil
		case "schemata":
			return &relation{cols: []string{"catalog_name", "schema_name", "schema_owner"},
				rows: [][]any{{c.database, "information_schema", "kapot"}, {c.database, "pg_catalog", "kapot"}, {c.database, "public", "kapot"}}}, nil
		}
		return nil, fmt.Errorf("%w: information_schema.%s", errNotSupported, name)
	}
	switch name {
	case "pg_namespace":
		return &relation{cols: []string{"oid", "nspname", "nspowner", "nspacl"},
			rows: [][]any{{int64(oidCatalogNS), "pg_catalog", int64(10), nil}, {int64(oidPublicNS), "public", int64(10), nil}, {int64(oidInfoNS), "information_schema", int64(10), nil}}}, nil
	case "pg_class", "pg_tables":
		r := &relation{cols: []string{"oid", "relname", "relnamespace", "relkind", "relowner", "reltuples", "relhasindex", "relpersistence",
			"relchecks", "relhasrules", "relhastriggers", "relrowsecurity", "relforcerowsecurity", "relhasoids", "relispartition",
			"reltablespace", "reloftype", "reltoastrelid", "relam", "relpages", "reloptions", "relacl", "relnatts",
			"schemaname", "tablename", "tableowner", "relreplident"}}
		for i, e := range entries {
			kind := "r"
			if e.Kind == "view" {
				kind = "v"
			}
			if name == "pg_tables" && kind != "r" {
				continue
			}
			natts := int64(0)
			if t, ok := cat.Lookup(e.Name); ok {
				natts = int64(t.Schema.NumFields())
			}
			r.rows = append(r.rows, []any{int64(oidFirstRel + i), e.Name, int64(oidPublicNS), kind, int64(10), int64(-1), false, "p",
				int64(0), false, false, false, false, false, false, int64(0), int64(0), int64(0), int64(0), int64(0), nil, nil, natts,
				"public", e.Name, owner(e.Owner), "d"})
		}
		return r, nil
	case "pg_attribute":
		r := &relation{cols: []string{"attrelid", "attname", "atttypid", "atttypmod", "attnum", "attnotnull", "attisdropped",
			"atthasdef", "attidentity", "attgenerated", "attcollation", "attlen", "attstorage", "attcompression", "attstattarget", "attfdwoptions"}}
		for i, e := range entries {
			t, ok := cat.Lookup(e.Name)
			if !ok {
				continue
			}
			for j, f := range t.Schema.Fields() {
				pt := typeOf(f.Type)
				r.rows = append(r.rows, []any{int64(oidFirstRel + i), f.Name, int64(pt.oid), int64(pt.typmod), int64(j + 1), !f.Nullable, false,
					false, "", "", int64(0), int64(pt.size), "p", "", int64(-1), nil})
			}
		}
		return r, nil
	case "pg_type":
		r := &relation{cols: []string{"oid", "typname", "typnamespace", "typlen", "typtype", "typelem", "typrelid", "typbasetype", "typtypmod", "typnotnull", "typarray"}}
		for _, o := range []uint32{oidBool, oidBytea, oidInt8, oidInt2, oidInt4, oidText, oidFloat4, oidFloat8, oidVarchar, oidDate, oidTimestamp, oidTimestamptz, oidInterval, oidNumeric} {
			r.rows = append(r.rows, []any{int64(o), internalTypeName(o), int64(oidCatalogNS), int64(typeSize(o)), "b", int64(0), int64(0), int64(0), int64(-1), false, int64(0)})
		}
		return r, nil
	case "pg_database":
		return &relation{cols: []string{"oid", "datname", "datdba", "encoding", "datlocprovider", "datcollate", "datctype", "daticulocale",
			"datcollversion", "datistemplate", "datallowconn", "datconnlimit", "dattablespace", "datacl"},
			rows: [][]any{{int64(oidDatabase), c.database, int64(10), int64(6), "c", "C", "C", nil, nil, false, true, int64(-1), int64(1663), nil}}}, nil
	case "pg_settings":
		r := &relation{cols: []string{"name", "setting", "unit", "category", "short_desc", "context", "vartype", "source"}}
		var names []string
		for k := range c.settings {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			r.rows = append(r.rows, []any{k, c.settings[k], nil, "", "", "user", "string", "default"})
		}
		return r, nil
	}
	if emptyRelation(name) {
		return &relation{}, nil
	}
	return nil, fmt.Errorf("%w: pg_catalog.%s", errNotSupported, name)
}

// typeName is a type's SQL name (information_schema, format_type).
func typeName(t pgType) string {
	switch t.oid {
	case oidNumeric:
		if t.typmod >= 4 {
			return fmt.Sprintf("numeric(%d,%d)", (t.typmod-4)>>16, (t.typmod-4)&0xffff)
		}
		return "numeric"
	case oidInt2:
		return "smallint"
	case oidInt4:
		return "integer"
	case oidInt8:
		return "bigint"
	case oidFloat4:
		return "real"
	case oidFloat8:
		return "double precision"
	case oidBool:
		return "boolean"
	case oidTimestamp:
		return "timestamp without time zone"
	case oidTimestamptz:
		return "timestamp with time zone"
	case oidVarchar:
		return "character varying"
	}
	return internalTypeName(t.oid)
}

func internalTypeName(o uint32) string {
	return map[uint32]string{oidBool: "bool", oidBytea: "bytea", oidInt8: "int8", oidInt2: "int2", oidInt4: "int4", oidText: "text",
		oidFloat4: "float4", oidFloat8: "float8", oidVarchar: "varchar", oidDate: "date", oidTimestamp: "timestamp",
		oidTimestamptz: "timestamptz", oidInterval: "interval", oidNumeric: "numeric", oidUnknown: "unknown"}[o]
}

func typeSize(o uint32) int16 {
	switch o {
	case oidBool:
		return 1
	case oidInt2:
		return 2
	case oidInt4, oidFloat4, oidDate:
		return 4
	case oidInt8, oidFloat8, oidTimestamp, oidTimestamptz:
		return 8
	case oidInterval:
		return 16
	}
	return -1
}

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
	if sel.GetOp() == pg.SetOperation_SETOP_UNION {
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
		// ORDER BY of a union: by select-list positions.
		sorts := sel.GetSortClause()
		sort.SliceStable(out, func(a, b int) bool {
			for _, st := range sorts {
				k := st.GetSortBy().GetNode().GetAConst().GetIval()
				if k == nil || int(k.GetIval()) < 1 || int(k.GetIval()) > len(out[a]) {
					continue
				}
				p := int(k.GetIval()) - 1
				if d := compare(out[a][p], out[b][p]); d != 0 {
					return d < 0
				}
			}
			return false
		})
		return names, out, nil
	}
	if sel == nil || sel.GetOp() != pg.SetOperation_SETOP_NONE || len(sel.GetValuesLists()) > 0 || sel.GetWithClause() != nil {
		return nil, nil, fmt.Errorf("%w: this statement over the catalog (pg_catalog and information_schema take single SELECTs)", errNotSupported)
	}
	rows := []env{outer}
	for _, f := range sel.GetFromClause() {
		next, err := c.from(f, rows)
		if err != nil {
			return nil, nil, err
		}
		rows = next
	}
	if w := sel.GetWhereClause(); w != nil {
		var kept []env
		for _, r := range rows {
			v, err := c.eval(w, r)
			if err != nil {
				return nil, nil, err
			}
			if truth(v) {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	if len(sel.GetGroupClause()) > 0 || sel.GetHavingClause() != nil {
		return nil, nil, fmt.Errorf("%w: GROUP BY over the catalog", errNotSupported)
	}
	// The select list.
	var names []string
	var exprs []*pg.Node
	for _, t := range sel.GetTargetList() {
		rt := t.GetResTarget()
		if cr := rt.GetVal().GetColumnRef(); cr != nil && isStar(cr) {
			cols, err := c.starColumns(sel.GetFromClause())
			if err != nil {
				return nil, nil, err
			}
			for _, col := range cols {
				names = append(names, col)
				exprs = append(exprs, &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{pg.MakeStrNode(col)}}}})
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
	if isCount(exprs) {
		// count(*) or count(column) alone: one row.
		row := make([]any, len(exprs))
		for j, e := range exprs {
			n := int64(0)
			for _, r := range rows {
				args := e.GetFuncCall().GetArgs()
				if len(args) == 0 {
					n++
					continue
				}
				v, err := c.eval(args[0], r)
				if err != nil {
					return nil, nil, err
				}
				if v != nil {
					n++
				}
			}
			row[j] = n
		}
		return names, [][]any{row}, nil
	}
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = make([]any, len(exprs))
		for j, e := range exprs {
			v, err := c.eval(e, r)
			if err != nil {
				return nil, nil, err
			}
			out[i][j] = v
		}
	}
	// ORDER BY select-list positions, names or expressions.
	if sorts := sel.GetSortClause(); len(sorts) > 0 {
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
						return nil, nil, err
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
		out = sorted
	}
	if l := sel.GetLimitCount(); l != nil {
		if k := l.GetAConst().GetIval(); k != nil && int(k.GetIval()) < len(out) {
			out = out[:max(int(k.GetIval()), 0)]
		}
	}
	return names, out, nil
}

// isCount reports whether every expression is count(*) or count(x).
func isCount(exprs []*pg.Node) bool {
	for _, e := range exprs {
		if f := e.GetFuncCall(); f == nil || funcName(f) != "count" || len(f.GetArgs()) > 1 {
			return false
		}
	}
	return len(exprs) > 0
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

// starColumns are the columns * stands for.
func (c *conn) starColumns(from []*pg.Node) ([]string, error) {
	var out []string
	for _, f := range from {
		rv := f.GetRangeVar()
		if rv == nil {
			return nil, fmt.Errorf("%w: * over a join of the catalog", errNotSupported)
		}
		r, err := c.relationOf(rv)
		if err != nil {
			return nil, err
		}
		out = append(out, r.cols...)
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
	if !isCatalogRelation(rv) {
		return nil, "", fmt.Errorf("%w: a table joined with the catalog", errNotSupported)
	}
	r, err := c.relationOf(rv)
	if err != nil {
		return nil, "", err
	}
	alias := rv.GetRelname()
	if rv.GetAlias() != nil {
		alias = rv.GetAlias().GetAliasname()
	}
	return r, alias, nil
}

// from joins the rows so far with a FROM item.
func (c *conn) from(f *pg.Node, rows []env) ([]env, error) {
	switch {
	case f.GetRangeVar() != nil:
		r, alias, err := c.aliased(f.GetRangeVar())
		if err != nil {
			return nil, err
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
		left, err := c.from(j.GetLarg(), rows)
		if err != nil {
			return nil, err
		}
		if j.GetRarg().GetRangeVar() == nil {
			return nil, fmt.Errorf("%w: this join over the catalog", errNotSupported)
		}
		r, alias, err := c.aliased(j.GetRarg().GetRangeVar())
		if err != nil {
			return nil, err
		}
		var out []env
		for _, l := range left {
			matched := false
			for _, vals := range r.rows {
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

// eval evaluates an expression over one row.
func (c *conn) eval(n *pg.Node, r env) (any, error) {
	switch {
	case n == nil:
		return nil, nil
	case n.GetColumnRef() != nil:
		var parts []string
		for _, f := range n.GetColumnRef().GetFields() {
			parts = append(parts, f.GetString_().GetSval())
		}
		key := strings.Join(parts, ".")
		if len(parts) > 2 {
			key = strings.Join(parts[len(parts)-2:], ".")
		}
		v, ok := r[key]
		if _, unmatched := r[strings.TrimSuffix(key, parts[len(parts)-1])+"\x00"]; !ok && len(parts) > 1 && unmatched {
			return nil, nil
		}
		if !ok {
			return nil, fmt.Errorf("%w: column %s of the catalog", errNotSupported, key)
		}
		return v, nil
	case n.GetAConst() != nil:
		k := n.GetAConst()
		switch {
		case k.GetIsnull():
			return nil, nil
		case k.GetIval() != nil:
			return int64(k.GetIval().GetIval()), nil
		case k.GetSval() != nil:
			return k.GetSval().GetSval(), nil
		case k.GetBoolval() != nil:
			return k.GetBoolval().GetBoolval(), nil
		case k.GetFval() != nil:
			return k.GetFval().GetFval(), nil
		}
		return int64(0), nil
	case n.GetTypeCast() != nil:
		v, err := c.eval(n.GetTypeCast().GetArg(), r)
		if err != nil || v == nil {
			return v, err
		}
		names := n.GetTypeCast().GetTypeName().GetNames()
		switch strings.ToLower(names[len(names)-1].GetString_().GetSval()) {
		case "regclass":
			// A table's name to its oid.
			for k, val := range r {
				if strings.HasSuffix(k, ".relname") && val == text(v) {
					return r[strings.TrimSuffix(k, ".relname")+".oid"], nil
				}
			}
			return v, nil
		case "int2", "int4", "int8", "oid", "regtype", "regproc":
			if s, ok := v.(string); ok {
				if i, err := strconv.ParseInt(s, 10, 64); err == nil {
					return i, nil
				}
			}
		case "text", "varchar", "name", "char", "bpchar":
			return text(v), nil
		case "bool":
			return truth(v), nil
		}
		return v, nil
	case n.GetBoolExpr() != nil:
		b := n.GetBoolExpr()
		switch b.GetBoolop() {
		case pg.BoolExprType_AND_EXPR:
			for _, a := range b.GetArgs() {
				v, err := c.eval(a, r)
				if err != nil || !truth(v) {
					return false, err
				}
			}
			return true, nil
		case pg.BoolExprType_OR_EXPR:
			for _, a := range b.GetArgs() {
				v, err := c.eval(a, r)
				if err != nil || truth(v) {
					return err == nil, err
				}
			}
			return false, nil
		default:
			v, err := c.eval(b.GetArgs()[0], r)
			return !truth(v), err
		}
	case n.GetNullTest() != nil:
		v, err := c.eval(n.GetNullTest().GetArg(), r)
		if n.GetNullTest().GetNulltesttype() == pg.NullTestType_IS_NULL {
			return v == nil, err
		}
		return v != nil, err
	case n.GetAExpr() != nil:
		return c.evalOp(n.GetAExpr(), r)
	case n.GetCaseExpr() != nil:
		ce := n.GetCaseExpr()
		arg, err := c.eval(ce.GetArg(), r)
		if err != nil {
			return nil, err
		}
		for _, w := range ce.GetArgs() {
			cw := w.GetCaseWhen()
			v, err := c.eval(cw.GetExpr(), r)
			if err != nil {
				return nil, err
			}
			if (ce.GetArg() != nil && text(v) == text(arg) && v != nil) || (ce.GetArg() == nil && truth(v)) {
				return c.eval(cw.GetResult(), r)
			}
		}
		return c.eval(ce.GetDefresult(), r)
	case n.GetCoalesceExpr() != nil:
		for _, a := range n.GetCoalesceExpr().GetArgs() {
			v, err := c.eval(a, r)
			if err != nil || v != nil {
				return v, err
			}
		}
		return nil, nil
	case n.GetSqlvalueFunction() != nil:
		switch n.GetSqlvalueFunction().GetOp() {
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_USER, pg.SQLValueFunctionOp_SVFOP_SESSION_USER, pg.SQLValueFunctionOp_SVFOP_USER, pg.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:
			return c.user, nil
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
			return c.database, nil
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
			return "public", nil
		}
		return nil, fmt.Errorf("%w: %s over the catalog", errNotSupported, n.GetSqlvalueFunction().GetOp())
	case n.GetFuncCall() != nil:
		return c.call(n.GetFuncCall(), r)
	case n.GetCollateClause() != nil:
		return c.eval(n.GetCollateClause().GetArg(), r)
	case n.GetSubLink() != nil && n.GetSubLink().GetSubLinkType() == pg.SubLinkType_EXPR_SUBLINK:
		_, rows, err := c.selectRows(n.GetSubLink().GetSubselect().GetSelectStmt(), r)
		if err != nil || len(rows) == 0 || len(rows[0]) == 0 {
			return nil, err
		}
		return rows[0][0], nil
	case n.GetSubLink() != nil && n.GetSubLink().GetSubLinkType() == pg.SubLinkType_EXISTS_SUBLINK:
		_, rows, err := c.selectRows(n.GetSubLink().GetSubselect().GetSelectStmt(), r)
		return len(rows) > 0, err
	case n.GetSubLink() != nil:
		return nil, fmt.Errorf("%w: this subquery over the catalog", errNotSupported)
	}
	return nil, fmt.Errorf("%w: %s over the catalog", errNotSupported, strings.TrimPrefix(fmt.Sprintf("%T", n.GetNode()), "*pg_query.Node_"))
}

func (c *conn) evalOp(e *pg.A_Expr, r env) (any, error) {
	l, err := c.eval(e.GetLexpr(), r)
	if err != nil {
		return nil, err
	}
	names := e.GetName()
	op := names[len(names)-1].GetString_().GetSval()
	if e.GetKind() == pg.A_Expr_Kind_AEXPR_IN {
		for _, x := range e.GetRexpr().GetList().GetItems() {
			v, err := c.eval(x, r)
			if err != nil {
				return nil, err
			}
			if l != nil && text(v) == text(l) {
				return op == "=", nil
			}
		}
		return op != "=", nil
	}
	rv, err := c.eval(e.GetRexpr(), r)
	if err != nil {
		return nil, err
	}
	if l == nil || rv == nil {
		return nil, nil
	}
	switch op {
	case "=":
		return text(l) == text(rv), nil
	case "<>", "!=":
		return text(l) != text(rv), nil
	case "<":
		return compare(l, rv) < 0, nil
	case ">":
		return compare(l, rv) > 0, nil
	case "<=":
		return compare(l, rv) <= 0, nil
	case ">=":
		return compare(l, rv) >= 0, nil
	case "~", "!~", "~*", "!~*":
		pat := text(rv)
		if strings.HasSuffix(op, "*") {
			pat = "(?i)" + pat
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, fmt.Errorf("%w: regular expression %q: %v", errInvalidParam, pat, err)
		}
		return re.MatchString(text(l)) == !strings.HasPrefix(op, "!"), nil
	case "~~", "!~~", "~~*", "!~~*":
		pat := "^" + strings.NewReplacer("%", ".*", "_", ".").Replace(regexp.QuoteMeta(text(rv))) + "$"
		if strings.HasSuffix(op, "*") {
			pat = "(?i)" + pat
		}
		ok := regexp.MustCompile(pat).MatchString(text(l))
		return ok == !strings.HasPrefix(op, "!"), nil
	}
	return nil, fmt.Errorf("%w: operator %s over the catalog", errNotSupported, op)
}

// call evaluates a catalog function.
func (c *conn) call(f *pg.FuncCall, r env) (any, error) {
	var args []any
	for _, a := range f.GetArgs() {
		v, err := c.eval(a, r)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	arg := func(i int) any {
		if i < len(args) {
			return args[i]
		}
		return nil
	}
	switch name := funcName(f); name {
	case "version":
		return "PostgreSQL " + serverVersion + " (kapot " + version.Version + ")", nil
	case "current_schema":
		return "public", nil
	case "current_database":
		return c.database, nil
	case "current_schemas":
		return "{pg_catalog,public}", nil
	case "current_user", "session_user", "pg_get_userbyid":
		return c.user, nil
	case "current_setting":
		key, ok := settingName(c.settings, text(arg(0)))
		if !ok {
			return nil, fmt.Errorf("%w %q", errUnknownSetting, text(arg(0)))
		}
		return c.settings[key], nil
	case "pg_backend_pid":
		return int64(c.pid), nil
	case "pg_is_in_recovery":
		return false, nil
	case "pg_table_is_visible", "has_table_privilege", "has_schema_privilege":
		return true, nil
	case "format_type":
		oid, _ := strconv.ParseInt(text(arg(0)), 10, 64)
		mod, err := strconv.ParseInt(text(arg(1)), 10, 64)
		if err != nil {
			mod = -1
		}
		return typeName(pgType{oid: uint32(oid), typmod: int32(mod)}), nil
	case "pg_encoding_to_char":
		return "UTF8", nil
	case "obj_description", "col_description", "pg_get_expr", "pg_get_indexdef", "pg_get_constraintdef", "pg_get_viewdef",
		"pg_postmaster_start_time", "array_to_string":
		return nil, nil
	case "pg_relation_size", "pg_total_relation_size":
		return int64(0), nil
	case "pg_size_pretty":
		return "0 bytes", nil
	case "quote_ident":
		return quoteIdent(text(arg(0))), nil
	default:
		return nil, fmt.Errorf("%w: function %s over the catalog", errNotSupported, name)
	}
}

// text is a value as text ("" for NULL).
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "t"
		}
		return "f"
	}
	return fmt.Sprint(v)
}

func truth(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "t" || v == "true"
	}
	return false
}

// compare orders two values: numbers as numbers, the rest as text.
func compare(a, b any) int {
	x, e1 := strconv.ParseFloat(text(a), 64)
	y, e2 := strconv.ParseFloat(text(b), 64)
	if e1 == nil && e2 == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(text(a), text(b))
}

func (c *conn) catalogAnswer(ctx context.Context, p *prepared, _ string) (*answer, error) {
	return c.evalCatalog(ctx, p.node())
}
