package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
	"github.com/kapot-go/kapot/tpch"
)

// tpchFixture returns the plans of queries (3 target partitions) over
// TPC-H at scale factor sf (partitions files per table, shared: see
// sharedTPCH) and DuckDB's answers on the same files.
func tpchFixture(t *testing.T, sf float64, partitions int, queries []int) (map[int]*planner.Plan, map[int][]string) {
	t.Helper()
	return tpchPlans(t, sharedTPCH(t, sf, partitions), queries)
}

// tpchPlans plans TPC-H queries over the set (3 partitions per exchange)
// and gives DuckDB's answers.
func tpchPlans(t *testing.T, set *tpchSet, queries []int) (map[int]*planner.Plan, map[int][]string) {
	t.Helper()
	return tpchPlansWith(t, set, queries, planner.Options{TargetPartitions: 3})
}

// tpchPlansWith is tpchPlans planned with opts.
func tpchPlansWith(t *testing.T, set *tpchSet, queries []int, opts planner.Options) (map[int]*planner.Plan, map[int][]string) {
	t.Helper()
	cat := catalog.New()
	if err := cat.RegisterParquetDir(set.dir, tpch.Tables); err != nil {
		t.Fatal(err)
	}
	plans, want := map[int]*planner.Plan{}, map[int][]string{}
	for _, n := range queries {
		text, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		if plans[n], err = planner.PlanQuery(context.Background(), cat, text, opts); err != nil {
			t.Fatalf("q%d: %v", n, err)
		}
		want[n] = set.answer(t, n)
	}
	return plans, want
}

// twoExecutorCluster starts a scheduler and two executors of two slots in
// the given scheduling policy and returns a client of it; all are stopped
// when the test ends.
func twoExecutorCluster(t *testing.T, policy string) *client.Client {
	t.Helper()
	return twoExecutorClusterWith(t, policy, nil)
}

// twoExecutorClusterWith is twoExecutorCluster with its scheduler's
// configuration changed by mod (nil: the defaults).
func twoExecutorClusterWith(t *testing.T, policy string, mod func(*scheduler.Config)) *client.Client {
	t.Helper()
	s := startScheduler(t, 0, mod)
	slots := func(c *executor.Config) { c.ConcurrentTasks = 2 }
	startExecutorWith(t, s.addr, policy, executor.ArrowEngine{}, slots)
	startExecutorWith(t, s.addr, policy, executor.ArrowEngine{}, slots)
	cl, err := client.Dial(s.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// TestTPCHOnCluster runs the 22 TPC-H queries at SF 0.1 on a cluster of two
// executors, in both scheduling policies, and compares every answer with
// DuckDB's on the same Parquet files (computed in this run): same rows in
// the same order, numbers within 1e-9 relative.
func TestTPCHOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("SF 0.1 on a cluster: skipped with -short")
	}
	all := make([]int, 22)
	for i := range all {
		all[i] = i + 1
	}
	plans, want := tpchFixture(t, 0.1, 2, all)
	for _, policy := range []string{"push-staged", "pull-staged"} {
		t.Run(policy, func(t *testing.T) {
			cl := twoExecutorCluster(t, policy)
			for n := 1; n <= 22; n++ {
				t.Run(fmt.Sprintf("q%d", n), func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					start := time.Now()
					_, bs, err := cl.Run(ctx, &kapotv1.SubmitJobRequest{Plan: plans[n].Root, JobName: fmt.Sprintf("tpch q%d", n)})
					if err != nil {
						t.Fatal(err)
					}
					got := engine.FormatRows(bs, "|")
					for _, b := range bs {
						b.Release()
					}
					if err := oracle.SameRows(got, want[n]); err != nil {
						t.Fatalf("%v\nkapot:  %.400q\nduckdb: %.400q", err, got, want[n])
					}
					t.Logf("q%d: %d rows in %s", n, len(got), time.Since(start).Round(time.Millisecond))
				})
			}
		})
	}
}
