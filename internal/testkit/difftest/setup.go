//go:build !noduckdb

package difftest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2" // the oracle

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
	"github.com/kapot-go/kapot/tpch"
)

// Data is the data set of a differential run: the same Parquet files
// registered in a kapot catalog and in DuckDB.
type Data struct {
	Tables  []Table
	Catalog *catalog.Catalog
	Duck    *sql.DB
}

// Close closes DuckDB.
func (d *Data) Close() error { return d.Duck.Close() }

// DuckRows runs q in DuckDB and formats its rows as engine.FormatRows.
func (d *Data) DuckRows(q string) ([]string, error) { return duck.QueryRows(d.Duck, q) }

// DuckRowsUnoptimized runs q in DuckDB with its optimizer off: the
// oracle's second opinion where kapot's answer differs. DuckDB 1.5.6's
// optimizer answers some queries wrongly (a RIGHT JOIN of the empty e0,
// filtered by ts <> date_trunc('day', x.t) over its NULL columns, kept
// every row; without the optimizer, none). The one connection (Setup)
// gets its optimizer back after.
func (d *Data) DuckRowsUnoptimized(q string) (rows []string, err error) {
	if _, err := d.Duck.Exec("PRAGMA disable_optimizer"); err != nil {
		return nil, err
	}
	defer func() {
		if _, e := d.Duck.Exec("PRAGMA enable_optimizer"); e != nil && err == nil {
			err = e
		}
	}()
	return duck.QueryRows(d.Duck, q)
}

var edgeCols = []Column{{"a", Int}, {"b", Int}, {"s", Str}, {"f", Float}, {"d", Date}, {"m", Dec}, {"t", Ts}, {"l", List}}

// Setup writes TPC-H SF 0.01 and three edge-case tables (e1, e2 and the
// empty e0: NULLs, duplicates, negative and large numbers, long and
// non-ASCII strings, dates at the edges) under dir as Parquet, and opens
// both engines over them.
func Setup(ctx context.Context, dir string, seed uint64) (*Data, error) {
	tdir := filepath.Join(dir, "tpch")
	if err := tpch.Generate(ctx, tpch.Options{SF: 0.01, Dir: tdir, Partitions: 2}); err != nil {
		return nil, err
	}
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	duck.SetMaxOpenConns(1)
	// One thread: DuckDB 1.5.6's parallel LEFT JOIN under a top-N now and
	// then pads matched rows with NULLs (a nation LEFT JOIN supplier
	// ORDER BY … LIMIT gave NULL suppliers in 16 of 300 runs); the oracle
	// must be steady.
	if _, err := duck.ExecContext(ctx, "SET threads = 1"); err != nil {
		duck.Close()
		return nil, err
	}
	d := &Data{Duck: duck, Catalog: catalog.New()}
	if err := d.Catalog.RegisterParquetDir(tdir, tpch.Tables); err != nil {
		duck.Close()
		return nil, err
	}
	for _, t := range tpch.Tables {
		q := fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')", t, filepath.Join(tdir, t, "*.parquet"))
		if _, err := duck.ExecContext(ctx, q); err != nil {
			duck.Close()
			return nil, err
		}
	}
	r := rand.New(rand.NewPCG(seed, 7))
	edir := filepath.Join(dir, "edge")
	if err := os.MkdirAll(edir, 0o755); err != nil {
		duck.Close()
		return nil, err
	}
	for _, e := range []struct {
		name string
		rows int
	}{{"e0", 0}, {"e1", 40}, {"e2", 30}} {
		if err := d.edgeTable(ctx, r, edir, e.name, e.rows); err != nil {
			duck.Close()
			return nil, err
		}
	}
	edgeJoins := func(others ...string) map[string][][2]string {
		m := map[string][][2]string{}
		for _, o := range others {
			m[o] = [][2]string{{"a", "a"}, {"b", "b"}, {"s", "s"}, {"d", "d"}, {"a", "b"}, {"t", "t"}}
		}
		return m
	}
	d.Tables = []Table{
		{Name: "e1", Cols: edgeCols, Joins: edgeJoins("e2", "e0")},
		{Name: "e2", Cols: edgeCols, Joins: edgeJoins("e1")},
		{Name: "e0", Cols: edgeCols, Joins: edgeJoins("e1")},
		{Name: "nation", Cols: []Column{{"n_nationkey", Int}, {"n_name", Str}, {"n_regionkey", Int}},
			Joins: map[string][][2]string{"region": {{"n_regionkey", "r_regionkey"}}, "supplier": {{"n_nationkey", "s_nationkey"}}, "customer": {{"n_nationkey", "c_nationkey"}}}},
		{Name: "region", Cols: []Column{{"r_regionkey", Int}, {"r_name", Str}},
			Joins: map[string][][2]string{"nation": {{"r_regionkey", "n_regionkey"}}}},
		{Name: "supplier", Cols: []Column{{"s_suppkey", Int}, {"s_name", Str}, {"s_nationkey", Int}, {"s_acctbal", Dec}},
			Joins: map[string][][2]string{"nation": {{"s_nationkey", "n_nationkey"}}}},
		{Name: "customer", Cols: []Column{{"c_custkey", Int}, {"c_name", Str}, {"c_nationkey", Int}, {"c_acctbal", Dec}, {"c_mktsegment", Str}},
			Joins: map[string][][2]string{"nation": {{"c_nationkey", "n_nationkey"}}, "orders": {{"c_custkey", "o_custkey"}}}},
		{Name: "orders", Cols: []Column{{"o_orderkey", Int}, {"o_custkey", Int}, {"o_orderstatus", Str}, {"o_totalprice", Dec}, {"o_orderdate", Date}, {"o_orderpriority", Str}},
			Joins: map[string][][2]string{"customer": {{"o_custkey", "c_custkey"}}}},
	}
	return d, nil
}

func (d *Data) edgeTable(ctx context.Context, r *rand.Rand, dir, name string, n int) error {
	ints := []string{"NULL", "0", "1", "-1", "2", "3", "5", "-5", "7", "1000000000000", "-1000000000000", "1099511627776"}
	strs := []string{"NULL", "''", "'a'", "'A'", "'abc'", "'zz'", "'é'", "'日本'", "'x y'", "'ALGERIA'", "'B'", "'aé日'",
		"'" + strings.Repeat("long", 80) + "'", "'tab\there'", "'it''s'"}
	floats := []string{"NULL", "0.0", "1.5", "-1.25", "2.0", "100.75", "-0.5", "3.0"}
	dates := []string{"NULL", "DATE '1970-01-01'", "DATE '1900-01-01'", "DATE '2000-02-29'", "DATE '2999-12-31'", "DATE '1995-06-17'", "DATE '1969-12-31'"}
	decs := []string{"NULL", "0.00", "1.50", "-2.25", "1000.00", "9999999.99", "-0.01", "0.05"}
	// DuckDB writes TIMESTAMP as timestamp[us] with isAdjustedToUTC false.
	stamps := []string{"NULL", "TIMESTAMP '1970-01-01 00:00:00'", "TIMESTAMP '1995-06-17 12:34:56'", "TIMESTAMP '2000-02-29 23:59:59.999999'",
		"TIMESTAMP '1969-12-31 23:59:59.5'", "TIMESTAMP '1900-01-01 00:00:00'", "TIMESTAMP '2024-02-07 02:11:59'", "TIMESTAMP '1995-06-17 00:00:00'"}
	lists := []string{"NULL", "[]", "[1]", "[1, 2, 3]", "[NULL, 5]", "[-1, 1000000000000]", "[7, 7, 7]", "[3, NULL, 0, -5]"}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	var rows []string
	for i := 0; i < n; i++ {
		rows = append(rows, fmt.Sprintf("(%s, %s, %s, %s, %s, %s, %s, %s)", pick(ints), pick(ints), pick(strs), pick(floats), pick(dates), pick(decs), pick(stamps), pick(lists)))
	}
	create := fmt.Sprintf("CREATE TABLE %s_src (a BIGINT, b BIGINT, s VARCHAR, f DOUBLE, d DATE, m DECIMAL(12,2), t TIMESTAMP, l BIGINT[])", name)
	if _, err := d.Duck.ExecContext(ctx, create); err != nil {
		return err
	}
	if len(rows) > 0 {
		if _, err := d.Duck.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s_src VALUES %s", name, strings.Join(rows, ", "))); err != nil {
			return err
		}
	}
	file := filepath.Join(dir, name+".parquet")
	if _, err := d.Duck.ExecContext(ctx, fmt.Sprintf("COPY %s_src TO '%s' (FORMAT PARQUET)", name, file)); err != nil {
		return err
	}
	if _, err := d.Duck.ExecContext(ctx, fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')", name, file)); err != nil {
		return err
	}
	t, err := d.Catalog.ParquetTable(ctx, name, []string{file})
	if err != nil {
		return err
	}
	return d.Catalog.Register(t)
}

// Same compares kapot's rows with DuckDB's: in order when ordered, as
// multisets otherwise (see oracle.SameRows for numbers).
func Same(got, want []string, ordered bool) error {
	if !ordered {
		got, want = sortRows(got), sortRows(want)
	}
	return oracle.SameRows(got, want)
}

// sortRows sorts rows by a key in which numbers are canonical (DuckDB
// prints the decimal 1.50 as 1.5, kapot as 1.50: the rows must meet; and
// -0 as 0: -0.0 and 0.0 are one value, which a DISTINCT or GROUP BY may
// give either way, the first met, differently in each engine).
func sortRows(rows []string) []string {
	type keyed struct{ key, row string }
	ks := make([]keyed, len(rows))
	for i, r := range rows {
		fs := strings.Split(r, "|")
		for j, f := range fs {
			if x, err := strconv.ParseFloat(f, 64); err == nil {
				if x == 0 {
					x = 0 // -0 too
				}
				fs[j] = strconv.FormatFloat(x, 'g', 10, 64)
			}
		}
		ks[i] = keyed{strings.Join(fs, "|"), r}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	out := make([]string, len(rows))
	for i, k := range ks {
		out[i] = k.row
	}
	return out
}

// Head is the first rows of rows, for messages.
func Head(rows []string) string {
	if len(rows) > 8 {
		return fmt.Sprintf("%q … (%d rows)", rows[:8], len(rows))
	}
	return fmt.Sprintf("%q", rows)
}
