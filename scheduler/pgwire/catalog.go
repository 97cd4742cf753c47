package pgwire

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kapot-go/kapot/catalog"
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
		"pg_proc", "pg_extension", "pg_event_trigger", "pg_matviews", "pg_enum", "pg_range", "pg_stat_activity",
		"pg_stat_user_tables", "pg_stat_all_tables", "pg_statio_user_tables", "pg_stat_user_indexes", "pg_indexes",
		"pg_shdescription", "pg_foreign_server", "pg_foreign_data_wrapper", "pg_user_mapping", "pg_operator",
		"pg_cast", "pg_aggregate", "pg_opclass", "pg_conversion", "pg_language", "pg_auth_members", "pg_authid",
		"pg_locks", "pg_prepared_xacts", "pg_seclabel", "pg_largeobject_metadata", "pg_default_acl", "pg_init_privs",
		// information_schema's relations of what kapot has none of.
		"table_constraints", "key_column_usage", "referential_constraints", "constraint_column_usage",
		"check_constraints", "views", "routines", "parameters", "triggers", "sequences", "element_types",
		"table_privileges", "column_privileges", "usage_privileges", "role_table_grants":
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
			return c.infoColumns(entries), nil
		case "schemata":
			return &relation{cols: []string{"catalog_name", "schema_name", "schema_owner"},
				rows: [][]any{{c.database, "information_schema", "kapot"}, {c.database, "pg_catalog", "kapot"}, {c.database, "public", "kapot"}}}, nil
		}
		if emptyRelation(name) {
			return &relation{cols: emptyColumns[name]}, nil
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
			"schemaname", "tablename", "tableowner", "relreplident", "reltype", "relpartbound", "relfilenode", "relisshared"}}
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
				"public", e.Name, owner(e.Owner), "d", int64(0), nil, int64(0), false})
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
		return typeRelation(), nil
	case "pg_views":
		r := &relation{cols: []string{"schemaname", "viewname", "viewowner", "definition"}}
		for _, e := range entries {
			if e.Kind == "view" {
				def, _ := cat.View(e.Name)
				r.rows = append(r.rows, []any{"public", e.Name, owner(e.Owner), def})
			}
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
		return &relation{cols: emptyColumns[name]}, nil
	}
	return nil, fmt.Errorf("%w: pg_catalog.%s", errNotSupported, name)
}

// infoColumns is information_schema.columns: every column of every
// table and view, with PostgreSQL's type facts (udt_name is the type's
// name in pg_type).
func (c *conn) infoColumns(entries []catalog.Entry) *relation {
	r := &relation{cols: []string{"table_catalog", "table_schema", "table_name", "column_name", "ordinal_position", "column_default",
		"is_nullable", "data_type", "character_maximum_length", "character_octet_length", "numeric_precision", "numeric_precision_radix",
		"numeric_scale", "datetime_precision", "interval_type", "udt_catalog", "udt_schema", "udt_name", "dtd_identifier",
		"is_identity", "identity_generation", "is_generated", "generation_expression", "is_updatable"}}
	cat := c.s.cfg.Backend.Catalog()
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
			pt := typeOf(f.Type)
			var prec, radix, scale, dtPrec any
			switch pt.oid {
			case oidInt2, oidInt4, oidInt8:
				prec, radix, scale = int64(8*pt.size), int64(2), int64(0)
			case oidFloat4:
				prec, radix = int64(24), int64(2)
			case oidFloat8:
				prec, radix = int64(53), int64(2)
			case oidNumeric:
				radix = int64(10)
				if pt.typmod >= 4 {
					prec, scale = int64((pt.typmod-4)>>16), int64((pt.typmod-4)&0xffff)
				}
			case oidDate:
				dtPrec = int64(0)
			case oidTimestamp, oidTimestamptz, oidInterval:
				dtPrec = int64(6)
			}
			r.rows = append(r.rows, []any{c.database, "public", e.Name, f.Name, int64(i + 1), nil,
				nullable, typeName(pgType{oid: pt.oid, typmod: -1}), nil, nil, prec, radix,
				scale, dtPrec, nil, c.database, "pg_catalog", internalTypeName(pt.oid), strconv.Itoa(i + 1),
				"NO", nil, "NEVER", nil, "YES"})
		}
	}
	return r
}

// catalogOids are the oids of PostgreSQL's catalog relations that
// statements name as 'pg_class'::regclass.
var catalogOids = map[string]int64{"pg_type": 1247, "pg_attribute": 1249, "pg_proc": 1255, "pg_class": 1259,
	"pg_namespace": 2615, "pg_constraint": 2606, "pg_description": 2609, "pg_index": 2610, "pg_database": 1262}

// regclass is the oid of the relation name names (name, public.name or
// pg_catalog.name, quoted or not), as 'name'::regclass.
func (c *conn) regclass(name string) (int64, bool) {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		if strings.HasPrefix(p, `"`) && strings.HasSuffix(p, `"`) && len(p) > 1 {
			parts[i] = strings.ReplaceAll(p[1:len(p)-1], `""`, `"`)
		} else {
			parts[i] = strings.ToLower(p)
		}
	}
	rel := parts[len(parts)-1]
	schema := ""
	if len(parts) > 1 {
		schema = parts[len(parts)-2]
	}
	if oid, ok := catalogOids[rel]; ok && (schema == "" || schema == "pg_catalog") {
		return oid, true
	}
	if schema != "" && schema != "public" {
		return 0, false
	}
	entries := c.s.cfg.Backend.Catalog().Entries()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	for i, e := range entries {
		if strings.EqualFold(e.Name, rel) {
			return int64(oidFirstRel + i), true
		}
	}
	return 0, false
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
		oidTimestamptz: "timestamptz", oidInterval: "interval", oidNumeric: "numeric", oidUnknown: "unknown", oidName: "name"}[o]
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
	case oidName:
		return 64
	}
	return -1
}
