package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/nestedfiles"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
)

// pgNested declares the nested-types files (LIST, STRUCT and MAP columns
// DuckDB and arrow-go wrote) through pgx and reads them with psql: every
// nested value comes as text (OID 25) exactly as DuckDB casts it to
// VARCHAR, compared with DuckDB's answers over the same files.
func pgNested(t *testing.T, dsn string) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	dir := t.TempDir()
	n, err := nestedfiles.DuckDBFile(db, dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := nestedfiles.ArrowFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	conn := pgConnect(t, dsn)
	for name, path := range map[string]string{"n": n, "g": g} {
		if _, err := db.Exec(fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')", name, path)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(context.Background(), fmt.Sprintf("CREATE EXTERNAL TABLE %s STORED AS PARQUET LOCATION '%s'", name, path)); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`select k, li, ls from n order by k`,
		`select k, s, m from n order by k`,
		`select k, ll, st, mm from g order by k`,
		`select k, li[1], s.b, m['x'] from n order by k`,
		`select cast(li as varchar), cast(s as varchar), cast(m as varchar) from n order by k`,
	} {
		out := psql(t, dsn, "-A", "-t", "-F", "|", "-P", "null=NULL", "-c", q)
		got := strings.Split(strings.TrimRight(out, "\n"), "\n")
		want, err := duck.QueryRows(db, q)
		if err != nil {
			t.Fatal(err)
		}
		if err := oracle.SameRows(got, want); err != nil {
			t.Errorf("%v\n%s\npsql:   %q\nduckdb: %q", err, q, got, want)
		}
	}
	// The columns' types: text, in binary too (pgx asks for binary).
	var li, st string
	if err := conn.QueryRow(context.Background(), "select li, s from n where k = 1").Scan(&li, &st); err != nil || li != "[1, 2, 3]" || st != "{'a': 1, 'b': hello}" {
		t.Fatalf("pgx: %q %q %v", li, st, err)
	}
	out := psql(t, dsn, "-A", "-t", "-c", "select format_type(atttypid, atttypmod) from pg_attribute a join pg_class c on a.attrelid = c.oid where relname = 'n' order by attnum")
	if out != "integer\ntimestamp without time zone\ntext\ntext\ntext\ntext\n" {
		t.Fatalf("the nested columns' types: %q", out)
	}
}
