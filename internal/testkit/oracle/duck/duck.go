//go:build !noduckdb

package duck

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/kapot-go/kapot/tpcds"
	"github.com/kapot-go/kapot/tpch"
)

// DB is an in-memory DuckDB with views over TPC-H or TPC-DS Parquet tables.
type DB struct {
	db      *sql.DB
	threads int
}

// OpenTPCH opens the correctness oracle: DuckDB on one thread with one view
// per TPC-H table under dir. One thread because DuckDB 1.5.6's parallel
// LEFT JOIN under a top-N now and then pads matched rows with NULLs (see
// internal/difftest), and an oracle must answer the same every time. Never
// time it: benchmarks use OpenTPCHReference.
func OpenTPCH(dir string) (*DB, error) { return openViews(dir, tpch.Tables, 1) }

// OpenTPCHReference opens DuckDB at full strength (threads = the machine's
// CPUs) over the same views: the speed reference of `kapot tpch bench`.
// Threads tells how many threads it really runs with.
func OpenTPCHReference(dir string) (*DB, error) { return openViews(dir, tpch.Tables, runtime.NumCPU()) }

// OpenTPCDS opens the correctness oracle over the 24 TPC-DS tables under
// dir (dir/<table>/*.parquet, as shared/tpcds/gen.sh writes them): DuckDB
// on one thread, like OpenTPCH. Never time it.
func OpenTPCDS(dir string) (*DB, error) { return openViews(dir, tpcds.Tables, 1) }

// OpenTPCDSReference opens DuckDB at full strength (threads = CPUs) over
// the TPC-DS views: the speed reference of `kapot tpch bench --suite tpcds`.
func OpenTPCDSReference(dir string) (*DB, error) {
	return openViews(dir, tpcds.Tables, runtime.NumCPU())
}

// openViews opens an in-memory DuckDB on threads threads with one view per
// table over dir/<table>/*.parquet.
func openViews(dir string, tables []string, threads int) (*DB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(fmt.Sprintf("SET threads = %d", threads)); err != nil {
		db.Close()
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	var got int
	if err := db.QueryRow("SELECT current_setting('threads')::INTEGER").Scan(&got); err != nil {
		db.Close()
		return nil, fmt.Errorf("duckdb: reading its threads setting: %w", err)
	}
	for _, t := range tables {
		q := fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')", t, filepath.Join(dir, t, "*.parquet"))
		if _, err := db.Exec(q); err != nil {
			db.Close()
			return nil, fmt.Errorf("duckdb: %w", err)
		}
	}
	return &DB{db: db, threads: got}, nil
}

// Threads is the number of threads DuckDB runs queries with, as DuckDB
// itself reports it (current_setting('threads')).
func (d *DB) Threads() int { return d.threads }

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Rows runs q and formats each row as kapot's engine.FormatRows does:
// values joined by '|', NULL for nulls, dates as YYYY-MM-DD.
func (d *DB) Rows(q string) ([]string, error) { return QueryRows(d.db, q) }

// QueryRows runs q on any DuckDB connection and formats its rows like Rows.
func QueryRows(db *sql.DB, q string) ([]string, error) {
	rows, err := db.Query(q)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		return nil, err
	}
	all, err := Scan(rows)
	if err != nil {
		return nil, err
	}
	if all, err = nestedAsText(db, q, types, all); err != nil {
		return nil, err
	}
	var out []string
	for _, vals := range all {
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = typedValue(v, types[i].DatabaseTypeName())
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out, nil
}

// nestedAsText re-runs q with its LIST, STRUCT and MAP columns cast to
// VARCHAR by DuckDB itself, when it has any, and returns those rows: the
// driver hands structs and maps over as Go maps, which lose their order,
// and strings inside lists unquoted, while DuckDB's own text of a nested
// value is the answer kapot must print. A query that has no nested column
// keeps rows.
func nestedAsText(db *sql.DB, q string, types []*sql.ColumnType, rows [][]any) ([][]any, error) {
	cols := make([]string, len(types))
	nested := false
	for i, t := range types {
		cols[i] = fmt.Sprintf("#%d", i+1)
		if n := t.DatabaseTypeName(); strings.HasSuffix(n, "]") || strings.HasPrefix(n, "STRUCT") ||
			strings.HasPrefix(n, "MAP") || strings.HasPrefix(n, "UNION") {
			cols[i] = fmt.Sprintf("CAST(#%d AS VARCHAR)", i+1)
			nested = true
		}
	}
	if !nested {
		return rows, nil
	}
	r, err := db.Query(fmt.Sprintf("SELECT %s FROM (%s) AS nested_q", strings.Join(cols, ", "), q))
	if err != nil {
		return nil, fmt.Errorf("duckdb: nested columns as text: %w", err)
	}
	return Scan(r)
}

// Scan reads every row of rows as the driver's values and closes rows.
func Scan(rows *sql.Rows) ([][]any, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// typedValue is value, with timestamps written as DuckDB writes them as
// text (the driver hands them over as time.Time, like dates): "2024-02-07
// 02:11:59[.fraction]", "+00" after a TIMESTAMPTZ.
func typedValue(v any, dbType string) string {
	t, ok := v.(time.Time)
	if !ok {
		return value(v)
	}
	switch dbType {
	case "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S":
		return t.UTC().Format("2006-01-02 15:04:05.999999999")
	case "TIMESTAMPTZ":
		return t.UTC().Format("2006-01-02 15:04:05.999999999") + "+00"
	}
	return value(v)
}

func value(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.Format("2006-01-02")
	case duckdb.Decimal:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []byte:
		return string(x)
	case duckdb.Interval:
		return FormatInterval(x.Months, x.Days, x.Micros)
	case []any:
		// A LIST as DuckDB casts it to text: [1, 2, NULL], strings
		// unquoted.
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = value(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// FormatInterval writes an interval as DuckDB casts it to text: "1 year
// 2 months -3 days 04:05:06.5", "-1 day"; "00:00:00" when zero.
func FormatInterval(months, days int32, micros int64) string {
	var parts []string
	unit := func(n int64, name string) {
		if n == 0 {
			return
		}
		s := strconv.FormatInt(n, 10) + " " + name
		if n != 1 && n != -1 { // DuckDB: "-1 day" (PostgreSQL: "-1 days")
			s += "s"
		}
		parts = append(parts, s)
	}
	unit(int64(months/12), "year")
	unit(int64(months%12), "month")
	unit(int64(days), "day")
	if micros != 0 || len(parts) == 0 {
		sign := ""
		u := uint64(micros)
		if micros < 0 {
			sign, u = "-", uint64(-micros)
		}
		h, m, sec, frac := u/3_600_000_000, u/60_000_000%60, u/1_000_000%60, u%1_000_000
		t := fmt.Sprintf("%s%02d:%02d:%02d", sign, h, m, sec)
		if frac != 0 {
			t += strings.TrimRight(fmt.Sprintf(".%06d", frac), "0")
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " ")
}
