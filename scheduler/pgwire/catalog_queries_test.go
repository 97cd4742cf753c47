package pgwire

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/session"
)

// catalogQuery is one statement of testdata/catalog_queries.sql.
type catalogQuery struct {
	name, source, sql string
	args              []string
}

// readCatalogQueries reads testdata/catalog_queries.sql.
func readCatalogQueries(t *testing.T) []catalogQuery {
	t.Helper()
	b, err := os.ReadFile("testdata/catalog_queries.sql")
	if err != nil {
		t.Fatal(err)
	}
	var out []catalogQuery
	var cur *catalogQuery
	var body []string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "-- name: "):
			out = append(out, catalogQuery{name: strings.TrimPrefix(line, "-- name: ")})
			cur, body = &out[len(out)-1], nil
		case cur == nil:
		case len(body) == 0 && strings.HasPrefix(line, "-- source: "):
			cur.source = strings.TrimPrefix(line, "-- source: ")
		case len(body) == 0 && strings.HasPrefix(line, "-- args: "):
			cur.args = strings.Split(strings.TrimPrefix(line, "-- args: "), " | ")
		case line == ";":
			cur.sql, cur = strings.Join(body, "\n"), nil
		default:
			body = append(body, line)
		}
	}
	return out
}

// catalogQueryRows are the rows each statement answers over nation and
// orders, as text ("|" between values, NULL for nulls).
var catalogQueryRows = map[string][]string{
	"pgjdbc getTables":  {"NULL|public|orders|TABLE|NULL|||||"},
	"pgjdbc getSchemas": {"information_schema|NULL", "pg_catalog|NULL", "public|NULL"},
	"pgjdbc getColumns": {
		"public|orders|o_orderkey|20|t|-1|8|-1|1|NULL|NULL|NULL|0|b",
		"public|orders|o_totalprice|1700|f|983046|-1|-1|2|NULL|NULL|NULL|0|b",
		"public|orders|o_orderdate|1082|f|-1|4|-1|3|NULL|NULL|NULL|0|b",
		"public|orders|o_comment|25|f|-1|-1|-1|4|NULL|NULL|NULL|0|b",
	},
	"pgjdbc getPrimaryKeys":          nil,
	"pgjdbc getImportedKeys":         nil,
	"pgjdbc TypeInfoCache.getPGType": {"t|pg_catalog|numeric"},
	"metabase get-tables-sql":        {"public|nation|TABLE|NULL|NULL", "public|orders|TABLE|NULL|NULL"},
	"metabase describe-fields-sql": {
		"o_orderkey|int8|0|public|orders|f|NULL|t|f",
		"o_totalprice|numeric|1|public|orders|f|NULL|f|f",
		"o_orderdate|date|2|public|orders|f|NULL|f|f",
		"o_comment|text|3|public|orders|f|NULL|f|f",
	},
	"metabase describe-fks-sql":              nil,
	"metabase current-user-table-privileges": {"NULL|public|nation|t|t|t|t", "NULL|public|orders|t|t|t|t"},
	"metabase enum-types":                    nil,
	"metabase db-default-timezone":           {"UTC"},
	"sqlalchemy current_schema":              {"public"},
	"sqlalchemy isolation level":             {"read committed"},
	"sqlalchemy standard_conforming_strings": {"on"},
	"sqlalchemy has_table":                   {"orders"},
	"sqlalchemy get_table_names":             {"nation", "orders"},
	"sqlalchemy get_table_oid":               {"16385"},
	"sqlalchemy get_columns": {
		"o_orderkey|bigint|NULL|t|16385|NULL||NULL",
		"o_totalprice|numeric(15,2)|NULL|f|16385|NULL||NULL",
		"o_orderdate|date|NULL|f|16385|NULL||NULL",
		"o_comment|text|NULL|f|16385|NULL||NULL",
	},
	"sqlalchemy _load_domains":          nil,
	"sqlalchemy _load_enums":            nil,
	"sqlalchemy get_pk_constraint":      nil,
	"sqlalchemy get_pk_constraint name": nil,
	"sqlalchemy 2.0 get_table_names":    {"nation", "orders"},
	"sqlalchemy 2.0 has_table":          {"orders"},
	"sqlalchemy 2.0 get_columns": {
		"o_orderkey|bigint|NULL|t|orders|NULL||NULL",
		"o_totalprice|numeric(15,2)|NULL|f|orders|NULL||NULL",
		"o_orderdate|date|NULL|f|orders|NULL||NULL",
		"o_comment|text|NULL|f|orders|NULL||NULL",
	},
	"pgjdbc getTypeInfo": nil, // checked below: a subset
	"sqlalchemy version": nil, // checked below: a prefix
	"pgjdbc TypeInfoCache.getSQLType": {"f|b|numeric|1700", "f|b|interval|1186", "f|b|timestamptz|1184", "f|b|timestamp|1114",
		"f|b|date|1082", "f|b|varchar|1043", "f|b|float8|701", "f|b|float4|700", "f|b|text|25", "f|b|int4|23", "f|b|int2|21",
		"f|b|int8|20", "f|b|name|19", "f|b|bytea|17", "f|b|bool|16"},
	"dbeaver current_schema": {"public|kapot"},
	"dbeaver namespaces": {"13000|13000|information_schema|10|NULL|NULL", "11|11|pg_catalog|10|NULL|NULL",
		"2200|2200|public|10|NULL|NULL"},
	"dbeaver type name":             nil,
	"dbeaver type by oid":           nil,
	"dbeaver search_path":           {`"$user", public`},
	"dbeaver database":              {"16383|16383|kapot|10|6|c|C|C|NULL|NULL|f|t|-1|1663|NULL"},
	"dbeaver setting":               {"standard_conforming_strings|on|NULL|||user|string|default"},
	"dbeaver version":               nil, // checked below: a prefix
	"dbeaver pg_enum columns":       nil,
	"dbeaver reltype":               nil,
	"dbeaver types":                 nil, // checked below: a row a type
	"dbeaver tables":                nil, // checked below: a row a table
	"dbeaver indexes":               nil,
	"dbeaver constraints":           nil,
	"grafana getVersion":            {"1500"},
	"grafana getTimescaleDBVersion": nil,
	"grafana showSchemas":           {"public"},
	"grafana showTables public":     {"nation", "orders"},
	"grafana showTables":            {"nation", "orders"},
	"grafana getSchema":             {"o_orderkey|bigint", "o_totalprice|numeric", "o_orderdate|date", "o_comment|text"},
}

// catalogServer serves a catalog of two tables: nation and orders (no
// files are read: the statements read only the catalog).
func catalogServer(t *testing.T) string {
	t.Helper()
	cat := catalog.New()
	for name, fields := range map[string][]arrow.Field{
		"nation": {{Name: "n_nationkey", Type: arrow.PrimitiveTypes.Int32}, {Name: "n_name", Type: arrow.BinaryTypes.String, Nullable: true}},
		"orders": {
			{Name: "o_orderkey", Type: arrow.PrimitiveTypes.Int64},
			{Name: "o_totalprice", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}, Nullable: true},
			{Name: "o_orderdate", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
			{Name: "o_comment", Type: arrow.BinaryTypes.String, Nullable: true},
		},
	} {
		if err := cat.Register(&catalog.Table{Name: name, Files: []string{"/nonexistent/" + name + ".parquet"}, Schema: arrow.NewSchema(fields, nil)}); err != nil {
			t.Fatal(err)
		}
	}
	return serve(t, func(c *Config) { c.Backend = &session.Local{Cat: cat} })
}

// textRows is a result's rows as "a|b|c" lines.
func textRows(r *pgconn.Result) []string {
	var out []string
	for _, row := range r.Rows {
		vals := make([]string, len(row))
		for i, v := range row {
			if v == nil {
				vals[i] = "NULL"
			} else {
				vals[i] = string(v)
			}
		}
		out = append(out, strings.Join(vals, "|"))
	}
	return out
}

// TestCatalogQueries runs the statements DBeaver (pgjdbc's
// DatabaseMetaData), Metabase and SQLAlchemy (Superset) send to learn a
// database's schemas, tables, columns and types, as their sources build
// them, through the extended protocol (as pgjdbc and asyncpg send them)
// and the simple one (as psycopg2 does), and checks their rows.
func TestCatalogQueries(t *testing.T) {
	addr := catalogServer(t)
	c, err := connect(t, addr, "sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pc := c.PgConn()
	queries := readCatalogQueries(t)
	if len(queries) < 20 {
		t.Fatalf("%d statements in testdata/catalog_queries.sql", len(queries))
	}
	for _, q := range queries {
		want, ok := catalogQueryRows[q.name]
		if !ok || q.source == "" || q.sql == "" {
			t.Errorf("%s: no expected rows, source or statement", q.name)
			continue
		}
		args := make([][]byte, len(q.args))
		for i, a := range q.args {
			args[i] = []byte(a)
		}
		res := pc.ExecParams(ctx, q.sql, args, nil, nil, nil).Read()
		if res.Err != nil {
			t.Errorf("%s (%s): %v", q.name, q.source, res.Err)
			continue
		}
		got := textRows(res)
		switch q.name {
		case "pgjdbc getTypeInfo":
			for _, typ := range []string{"bool|16", "int8|20", "numeric|1700", "date|1082", "text|25", "timestamptz|1184"} {
				if !strings.Contains(strings.Join(got, "\n")+"\n", typ+"\n") {
					t.Errorf("%s: no %s in %q", q.name, typ, got)
				}
			}
		case "sqlalchemy version", "dbeaver version":
			if len(got) != 1 || !strings.HasPrefix(got[0], "PostgreSQL 15.0 ") {
				t.Errorf("%s: %q", q.name, got)
			}
		case "dbeaver types":
			if len(got) != len(answeredTypes) || !strings.HasPrefix(got[0], "16|16|bool|11|10|1|t|b|B|") {
				t.Errorf("%s: %q", q.name, got)
			}
		case "dbeaver tables":
			if len(got) != 2 || !strings.HasPrefix(got[0], "16384|16384|nation|2200|r|") || !strings.HasPrefix(got[1], "16385|16385|orders|2200|r|") {
				t.Errorf("%s: %q", q.name, got)
			}
		default:
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s: got\n%s\nwant\n%s", q.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
		if len(q.args) > 0 {
			continue
		}
		// The simple protocol answers the same rows.
		rs, err := pc.Exec(ctx, q.sql).ReadAll()
		if err != nil || len(rs) != 1 || strings.Join(textRows(rs[0]), "\n") != strings.Join(got, "\n") {
			t.Errorf("%s through the simple protocol: %v", q.name, err)
		}
	}
	// Aggregates, GROUP BY and HAVING over the catalog.
	for sql, want := range map[string]string{
		"SELECT count(*), count(DISTINCT relkind), min(relname), max(relname), string_agg(relname, ',' ORDER BY relname DESC) FROM pg_class": "2|1|nation|orders|orders,nation",
		"SELECT attrelid, count(*) FROM pg_attribute GROUP BY 1 HAVING count(*) > 2 ORDER BY 1":                                              "16385|4",
		"SELECT array_agg(attname ORDER BY attnum DESC) FROM pg_attribute WHERE attrelid = 16384":                                            "{n_name,n_nationkey}",
		"SELECT count(*), max(relname), bool_and(relhasindex) FROM pg_class WHERE false":                                                     "0|NULL|NULL",
		"SELECT count(*) * 2, sum(attnum) FROM pg_attribute":                                                                                 "12|13",
		"SELECT relkind, count(*) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid GROUP BY relkind":                                "r|6",
	} {
		rs, err := pc.Exec(ctx, sql).ReadAll()
		if err != nil || len(rs) != 1 || strings.Join(textRows(rs[0]), "\n") != want {
			var got []string
			if err == nil && len(rs) == 1 {
				got = textRows(rs[0])
			}
			t.Errorf("%s: %q %v, want %q", sql, got, err, want)
		}
	}
	// A join that would make more rows than the bound is refused at once.
	_, err = pc.Exec(ctx, "SELECT count(*) FROM pg_catalog.generate_series(1, 60000) a, pg_catalog.generate_series(1, 60000) b, pg_namespace").ReadAll()
	if err == nil || !strings.Contains(err.Error(), "53000") {
		t.Fatalf("a join of 3.6 billion rows: %v", err)
	}
}
