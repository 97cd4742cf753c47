package planner

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/tpch"
)

var update = flag.Bool("update", false, "rewrite the golden EXPLAIN files under testdata/explain")

// TestExplainGolden pins the physical plan of every TPC-H query (SF 0.01,
// tables in 2 files, 4 hash partitions, broadcasts of small sides on) to
// the EXPLAIN text under testdata/explain. A planner change that moves a
// plan shows as a diff of these files: review it, then regenerate them
// with
//
//	go test ./planner -run TestExplainGolden -update
//
// Answers are checked elsewhere (TestTPCHAgainstDuckDB); this test is
// about shape: which joins broadcast, where exchanges are, what runs in
// which stage.
func TestExplainGolden(t *testing.T) {
	cat := tpchCatalog(t)
	dir := filepath.Join("testdata", "explain")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for n := 1; n <= 22; n++ {
		t.Run(fmt.Sprintf("q%d", n), func(t *testing.T) {
			q, err := tpch.Query(n)
			if err != nil {
				t.Fatal(err)
			}
			p, err := PlanQuery(context.Background(), cat, q, Options{TargetPartitions: 4})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Explain(p)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, fmt.Sprintf("q%02d.txt", n))
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
				t.Errorf("q%d's plan differs from %s (review, then -update):\n%s", n, path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows where two texts part: the first differing line of each,
// with the lines around it.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	from := max(0, i-3)
	var b strings.Builder
	for j := from; j < i; j++ {
		fmt.Fprintf(&b, "  %s\n", w[j])
	}
	for j := i; j < min(len(w), i+5); j++ {
		fmt.Fprintf(&b, "- %s\n", w[j])
	}
	for j := i; j < min(len(g), i+5); j++ {
		fmt.Fprintf(&b, "+ %s\n", g[j])
	}
	return b.String()
}
