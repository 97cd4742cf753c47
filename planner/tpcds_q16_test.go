package planner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTPCDSQ16AntiJoinAfterDimensions: TPC-DS q16's NOT EXISTS over
// catalog_returns filters catalog_sales after its joins with a state, a
// county and two months (which keep a few rows of a thousand), not all of
// catalog_sales before them, where it also kept the dimensions' dynamic
// filters from the scan; the answer is DuckDB's at SF 0.1.
func TestTPCDSQ16AntiJoinAfterDimensions(t *testing.T) {
	dir := tpcdsDir(t)
	text, err := os.ReadFile(filepath.Join(dir, "..", "queries", "q16.sql"))
	if err != nil {
		t.Skipf("no TPC-DS queries: %v", err)
	}
	cat, files := tpcdsCatalog(t, dir, "catalog_sales", "date_dim", "customer_address", "call_center", "catalog_returns")
	logical, err := ExplainLogical(context.Background(), cat, string(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(logical, "LEFT_ANTI"), strings.Index(logical, "Join: INNER"); i < 0 || j < 0 || i > j {
		t.Fatalf("the anti join is not above the inner joins:\n%s", logical)
	}
	_, got := runSQL(t, cat, string(text))
	sameAsDuckDB(t, got, files, string(text))
}
