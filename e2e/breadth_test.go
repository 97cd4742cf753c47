package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/planner"
)

// TestBreadthOnCluster runs the SQL-breadth corpus (planner/testdata/
// breadth.sql: set operations, …) at SF 0.01 on a cluster of two
// executors, in both scheduling policies, through the scheduler's SQL
// front door, and compares every answer with DuckDB's on the same files.
func TestBreadthOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	b, err := os.ReadFile("../planner/testdata/breadth.sql")
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := planner.SplitScript(string(b))
	if err != nil {
		t.Fatal(err)
	}
	dir, db := tpchWithDuckDB(t, 0.01, 2)
	for _, policy := range []string{"push-staged", "pull-staged"} {
		t.Run(policy, func(t *testing.T) {
			cl := twoExecutorCluster(t, policy)
			sess := cl.NewSession(nil)
			createTPCH(t, sess, dir)
			for _, sql := range stmts {
				sql = stripComments(sql)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				rows, err := sess.Query(ctx, sql)
				if err != nil {
					cancel()
					t.Errorf("%s: %v", sql, err)
					continue
				}
				got := readRows(t, rows)
				cancel()
				want, err := db.Rows(sql)
				if err != nil {
					t.Fatalf("duckdb: %v\n%s", err, sql)
				}
				if !strings.Contains(strings.ToLower(sql), "order by") || strings.Contains(strings.ToLower(sql), ") union all (") {
					slices.Sort(got)
					slices.Sort(want)
				}
				if err := oracle.SameRows(got, want); err != nil {
					t.Errorf("%v\n%s\nkapot:  %q\nduckdb: %q", err, sql, got, want)
				}
			}
		})
	}
}

// stripComments drops the -- comment lines of a statement.
func stripComments(sql string) string {
	var out []string
	for _, line := range strings.Split(sql, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
