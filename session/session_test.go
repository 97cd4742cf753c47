package session

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/planner"
	"github.com/kapot-go/kapot/warehouse"
)

// TestExecute: each kind of statement gets its answer from the one path:
// catalog statements inline, definitions through the backend, queries and
// writes as a Query to run.
func TestExecute(t *testing.T) {
	ctx := context.Background()
	data, err := filepath.Abs("../examples/groupby/data")
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.New()
	wh := t.TempDir()
	tables := &warehouse.Tables{Catalog: cat, Store: cat.Store(), Warehouse: &warehouse.Warehouse{Root: wh, Store: cat.Store()}}
	b := &Local{Cat: cat, Tables: tables}
	who := security.Principal{Name: "alice"}
	run := func(sql string) Answer {
		t.Helper()
		a, err := Execute(ctx, b, sql, nil, who)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return a
	}
	create := "CREATE EXTERNAL TABLE sales STORED AS CSV WITH HEADER ROW LOCATION '" + data + "'"
	if a := run(create); a.Query != nil || !slices.Equal(a.Columns, []string{"result"}) || a.Rows[0][0] != "created table sales (2 files)" {
		t.Fatalf("create: %+v", a)
	}
	if a := run(strings.Replace(create, "TABLE", "TABLE IF NOT EXISTS", 1)); a.Rows[0][0] != "table sales exists" {
		t.Fatalf("create if not exists: %+v", a)
	}
	if a := run("SHOW TABLES"); !slices.Equal(a.Columns, []string{"table_name", "kind", "owner"}) || len(a.Rows) != 1 || a.Rows[0][0] != "sales" {
		t.Fatalf("show tables: %+v", a)
	}
	if a := run("DESCRIBE sales"); len(a.Rows) != 4 || !slices.Equal(a.Rows[2], []string{"qty", "BIGINT", "true"}) {
		t.Fatalf("describe: %+v", a)
	}
	if _, err := Execute(ctx, b, "DESCRIBE nosuch", nil, who); !errors.Is(err, ErrUnknownTable) {
		t.Fatalf("describe of no table: %v", err)
	}
	if a := run("EXPLAIN SELECT region, sum(qty) FROM sales GROUP BY region"); a.Query != nil || a.Columns[0] != "plan" || len(a.Rows) < 2 {
		t.Fatalf("explain: %+v", a)
	}
	if a := run("EXPLAIN LOGICAL SELECT region, sum(qty) FROM sales GROUP BY region"); a.Query != nil || a.Columns[0] != "plan" ||
		!strings.HasPrefix(a.Rows[0][0], "Project: ") || !strings.Contains(strings.Join(slices.Concat(a.Rows...), "\n"), "Scan: sales") {
		t.Fatalf("explain logical: %+v", a)
	}
	q := run("SELECT region, sum(qty) FROM sales GROUP BY region").Query
	if q == nil || q.Plan == nil || q.Analyze || q.Write != nil || q.Planned.IsZero() || q.Name() != "SELECT region, sum(qty) FROM sales GROUP BY region" {
		t.Fatalf("query: %+v", q)
	}
	if q := run("EXPLAIN ANALYZE SELECT count(*) FROM sales").Query; q == nil || !q.Analyze || !strings.HasPrefix(q.Name(), "explain analyze: ") {
		t.Fatalf("explain analyze: %+v", q)
	}
	if a := run("CREATE TABLE t (a BIGINT)"); a.Query != nil || len(a.Rows) != 1 {
		t.Fatalf("create table: %+v", a)
	}
	if q := run("INSERT INTO t SELECT qty FROM sales").Query; q == nil || q.Write == nil || q.Write.Who.Name != "alice" || q.SQL == "" {
		t.Fatalf("insert: %+v", q)
	}
	if _, err := Execute(ctx, b, "SELEC 1", nil, who); err == nil {
		t.Fatal("a syntax error was answered")
	}
	// Without a warehouse, definitions and writes are refused as such.
	_, err = Execute(ctx, &Local{Cat: cat}, "CREATE TABLE u (a BIGINT)", nil, who)
	if !errors.Is(err, planner.ErrNotSupported) {
		t.Fatalf("create table without a warehouse: %v", err)
	}
}
