package planner

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
)

// runRecycled plans and runs sql in this process on the allocator that
// executors and `kapot sql` use (a poisoning RecyclingAllocator, checked
// for leaks) and formats its rows.
func runRecycled(t *testing.T, cat *catalog.Catalog, sql string) []string {
	t.Helper()
	p, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: 3})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	rec := alloc.NewRecyclingAllocator(0)
	rec.SetPoison(true)
	mem := memory.NewCheckedAllocator(rec)
	defer mem.AssertSize(t, 0)
	tc := &engine.TaskContext{JobID: "q", WorkDir: t.TempDir(), Mem: mem, Properties: map[string]string{}}
	bs, err := RunInProcess(context.Background(), p, tc, nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	rows := engine.FormatRows(bs, "|")
	for _, b := range bs {
		b.Release()
	}
	return rows
}

// duckOver is DuckDB with one view per table over the given Parquet files,
// closed when the test ends.
func duckOver(t *testing.T, tables map[string]string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET threads = 1"); err != nil {
		t.Fatal(err)
	}
	for name, path := range tables {
		if _, err := db.Exec(fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')", name, path)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// categoryPrices writes t(c varchar, p decimal(7,2)): n rows over ten
// category names, prices spread between 0.50 and 99.99.
func categoryPrices(t *testing.T, n int) string {
	t.Helper()
	names := []string{"Books", "Children", "Electronics", "Home", "Jewelry", "Men", "Music", "Shoes", "Sports", "Women"}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "c", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "p", Type: &arrow.Decimal128Type{Precision: 7, Scale: 2}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := 0; i < n; i++ {
		b.Field(0).(*array.StringBuilder).Append(names[(i*7)%len(names)])
		b.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(50 + (i*7919)%9950)))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(t, rec)
}

// writeParquet writes rec to t.parquet in a temporary directory.
func writeParquet(t *testing.T, rec arrow.RecordBatch) string {
	t.Helper()
	tbl := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
	defer tbl.Release()
	path := filepath.Join(t.TempDir(), "t.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pqarrow.WriteTable(tbl, f, max(rec.NumRows(), 1), parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	return path
}

// tpcdsCatalog registers the named TPC-DS tables of dir and returns the
// catalog with each table's file (name -> path) for DuckDB.
func tpcdsCatalog(t *testing.T, dir string, names ...string) (*catalog.Catalog, map[string]string) {
	t.Helper()
	cat := catalog.New()
	files := map[string]string{}
	for _, name := range names {
		path := filepath.Join(dir, name, name+".parquet")
		files[name] = path
		tb, err := cat.ParquetTable(context.Background(), name, []string{path})
		if err != nil {
			t.Fatal(err)
		}
		if err := cat.Register(tb); err != nil {
			t.Fatal(err)
		}
	}
	return cat, files
}

// TestCorrelatedAvgTimesConstant is TPC-DS q06's correlated subquery on
// 1 800 rows (issue 36): it made Arrow's string Take kernel panic on a
// goroutine of its own, ending the process, because the recycling
// allocator handed out buffers whose capacity exceeded their length. It
// runs on the executors' allocator and must answer as DuckDB does.
func TestCorrelatedAvgTimesConstant(t *testing.T) {
	path := categoryPrices(t, 1800)
	cat := catalog.New()
	tb, err := cat.ParquetTable(context.Background(), "t", []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Register(tb); err != nil {
		t.Fatal(err)
	}
	db := duckOver(t, map[string]string{"t": path})
	for _, q := range []string{
		"select count(*) from t i where i.p > 1.2 * (select avg(j.p) from t j where j.c = i.c)",
		"select i.c, count(*) from t i where i.p > 1.2 * (select avg(j.p) from t j where j.c = i.c) group by i.c order by i.c",
		"select count(*) from t i where i.p > (select avg(j.p) from t j where j.c = i.c)",
	} {
		t.Run(q, func(t *testing.T) {
			got := runRecycled(t, cat, q)
			want, err := duck.QueryRows(db, q)
			if err != nil {
				t.Fatal(err)
			}
			if err := oracle.SameRows(got, want); err != nil {
				t.Fatalf("%v\nkapot:  %q\nduckdb: %q", err, head(got), head(want))
			}
		})
	}
}

// tpcdsDir finds the TPC-DS SF 0.1 tables: KAPOT_TPCDS_DIR, or
// shared/tpcds/sf0.1 beside the repository; the test is skipped without.
func tpcdsDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("KAPOT_TPCDS_DIR"); d != "" {
		return d
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(dir, "..", "shared", "tpcds", "sf0.1")
			if _, err := os.Stat(c); err == nil {
				return c
			}
			break
		}
	}
	t.Skip("no TPC-DS data (set KAPOT_TPCDS_DIR)")
	return ""
}

// TestTPCDSQ06AgainstDuckDB runs TPC-DS q06 at SF 0.1 on the executors'
// allocator (it crashed the process, issue 36) and compares its answer
// with DuckDB's over the same files.
func TestTPCDSQ06AgainstDuckDB(t *testing.T) {
	dir := tpcdsDir(t)
	text, err := os.ReadFile(filepath.Join(dir, "..", "queries", "q06.sql"))
	if err != nil {
		t.Skipf("no TPC-DS queries: %v", err)
	}
	cat, files := tpcdsCatalog(t, dir, "customer_address", "customer", "store_sales", "date_dim", "item")
	got := runRecycled(t, cat, string(text))
	sameAsDuckDB(t, got, files, string(text))
}

// sameAsDuckDB fails t unless DuckDB, over the same files (table name ->
// location), answers query with got's rows, and with some rows.
func sameAsDuckDB(t *testing.T, got []string, files map[string]string, query string) {
	t.Helper()
	want, err := duck.QueryRows(duckOver(t, files), query)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("DuckDB answers no rows: the test checks nothing")
	}
	if err := oracle.SameRows(got, want); err != nil {
		t.Fatalf("%v\nkapot:  %q\nduckdb: %q", err, head(got), head(want))
	}
}
