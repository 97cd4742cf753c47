package planner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/tpch"
)

// tpcdsGolden are the TPC-DS queries whose logical plans are pinned: star
// joins (q03, q07, q19, q42, q55, q96), a correlated subquery (q06), a
// window over an aggregate (q12) and joined WITH queries (q78).
var tpcdsGolden = []int{3, 6, 7, 12, 19, 42, 55, 78, 96}

// TestLogicalGolden pins the optimised logical plan (what lowering reads:
// joins ordered, scans split) of every TPC-H query, SF 0.01 in 2 files,
// 4 partitions, and of some TPC-DS queries at SF 0.1 when their data is
// there, to testdata/logical/*.logical. A change to binding or the
// optimiser shows as a diff of these files: review it, then regenerate
// them with
//
//	go test ./planner -run TestLogicalGolden -update
func TestLogicalGolden(t *testing.T) {
	dir := filepath.Join("testdata", "logical")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("tpch", func(t *testing.T) {
		cat := tpchCatalog(t)
		for n := 1; n <= 22; n++ {
			q, err := tpch.Query(n)
			if err != nil {
				t.Fatal(err)
			}
			checkLogical(t, cat, q, filepath.Join(dir, fmt.Sprintf("tpch_q%02d.logical", n)))
		}
	})
	t.Run("tpcds", func(t *testing.T) {
		data := tpcdsDir(t)
		names, err := os.ReadDir(data)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for _, e := range names {
			if e.IsDir() {
				tables = append(tables, e.Name())
			}
		}
		cat, _ := tpcdsCatalog(t, data, tables...)
		for _, n := range tpcdsGolden {
			q, err := os.ReadFile(filepath.Join(data, "..", "queries", fmt.Sprintf("q%02d.sql", n)))
			if err != nil {
				t.Skipf("no TPC-DS queries: %v", err)
			}
			checkLogical(t, cat, string(q), filepath.Join(dir, fmt.Sprintf("tpcds_q%02d.logical", n)))
		}
	})
}

// checkLogical compares query's logical plan over cat with the golden
// file at path, or writes it there with -update.
func checkLogical(t *testing.T, cat *catalog.Catalog, query, path string) {
	t.Helper()
	got, err := ExplainLogical(context.Background(), cat, query, Options{TargetPartitions: 4})
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate the golden files with -update)", err)
	}
	if got != string(want) {
		t.Errorf("the logical plan differs from %s (review, then -update):\n%s", path, lineDiff(string(want), got))
	}
}
