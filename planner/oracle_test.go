package planner

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/kapot-go/kapot/tpch"
)

// supported lists the TPC-H queries the planner must answer today; the
// others must fail with a clear "not supported yet" error, never a wrong
// answer. The list only grows.
var supported = map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 10: true, 11: true,
	12: true, 13: true, 14: true, 15: true, 16: true, 17: true, 18: true, 19: true, 20: true, 21: true, 22: true}

// TestTPCHAgainstDuckDB runs the 22 TPC-H queries at SF 0.01 through the
// planner and the engine and compares every answer with DuckDB's on the
// same Parquet files: same rows in the same order, numbers within 1e-9
// relative (exact for decimals up to the printed scale).
func TestTPCHAgainstDuckDB(t *testing.T) {
	dir := tpchData(t)
	cat := NewCatalog()
	if err := cat.RegisterTPCH(dir); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, tb := range tpch.Tables {
		q := fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')", tb, filepath.Join(dir, tb, "*.parquet"))
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var unsupported []string
	for n := 1; n <= 22; n++ {
		t.Run(fmt.Sprintf("q%d", n), func(t *testing.T) {
			text, err := tpch.Query(n)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := PlanQuery(cat, text, Options{TargetPartitions: 3}); err != nil {
				if !supported[n] && errors.Is(err, ErrNotSupported) {
					unsupported = append(unsupported, fmt.Sprintf("q%d (%v)", n, err))
					t.Skipf("%v", err)
				}
				t.Fatalf("plan: %v", err)
			}
			if !supported[n] {
				t.Errorf("q%d now plans: add it to the supported list", n)
			}
			_, got := runSQL(t, cat, text)
			want := duckRows(t, db, text)
			if err := sameRows(got, want); err != nil {
				t.Fatalf("%v\nkapot:  %q\nduckdb: %q", err, head(got), head(want))
			}
			if len(want) == 0 {
				t.Logf("q%d: empty result at this scale", n)
			}
		})
	}
	t.Logf("not supported yet: %s", strings.Join(unsupported, "; "))
}

func head(rows []string) []string {
	if len(rows) > 5 {
		return rows[:5]
	}
	return rows
}

func duckRows(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = duckValue(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func duckValue(v any) string {
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
	}
	return fmt.Sprint(v)
}

// sameRows compares result rows field by field: equal text, or numbers
// within 1e-9 relative.
func sameRows(got, want []string) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d rows, DuckDB has %d", len(got), len(want))
	}
	for i := range got {
		g, w := strings.Split(got[i], "|"), strings.Split(want[i], "|")
		if len(g) != len(w) {
			return fmt.Errorf("row %d: %d columns, DuckDB has %d", i, len(g), len(w))
		}
		for j := range g {
			if g[j] == w[j] {
				continue
			}
			x, err1 := strconv.ParseFloat(g[j], 64)
			y, err2 := strconv.ParseFloat(w[j], 64)
			if err1 == nil && err2 == nil && math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y)) {
				continue
			}
			return fmt.Errorf("row %d column %d: %q, DuckDB has %q", i, j, g[j], w[j])
		}
	}
	return nil
}
