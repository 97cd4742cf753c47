package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
)

// TestAdaptiveBroadcastJoins runs the 22 TPC-H queries at SF 0.1, planned
// with a broadcast threshold of 1 000 rows so that many joins repartition
// both sides and may turn into broadcasts at run time, on a cluster with
// adaptive execution on and on one with it off: every answer is DuckDB's,
// and with it on joins turn into broadcasts (Q18's few orders of over 300
// units, estimated at 75 000 rows, against lineitem's 600 000).
func TestAdaptiveBroadcastJoins(t *testing.T) {
	if testing.Short() {
		t.Skip("SF 0.1 on a cluster: skipped with -short")
	}
	all := make([]int, 22)
	for i := range all {
		all[i] = i + 1
	}
	plans, want := tpchPlansWith(t, sharedTPCH(t, 0.1, 2), all, planner.Options{TargetPartitions: 3, BroadcastRows: 1000})
	adapted := map[bool]map[int]int{} // adaptive joins run as planned
	for _, on := range []bool{true, false} {
		adapted[on] = map[int]int{}
		t.Run(fmt.Sprintf("adaptive=%v", on), func(t *testing.T) {
			cl := twoExecutorClusterWith(t, "push-staged", func(c *scheduler.Config) { c.Adaptive = on })
			for n := 1; n <= 22; n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				got, st := runWithStatus(ctx, t, cl, plans[n].Root)
				cancel()
				if err := oracle.SameRows(got, want[n]); err != nil {
					t.Fatalf("q%d: %v\nkapot:  %.400q\nduckdb: %.400q", n, err, got, want[n])
				}
				adapted[on][n] = adaptiveJoinsRun(st)
			}
		})
	}
	total := 0
	for n := 1; n <= 22; n++ {
		if adapted[true][n] > adapted[false][n] {
			t.Errorf("q%d: %d joins ran as planned with adaptive execution on, %d with it off", n, adapted[true][n], adapted[false][n])
		}
		total += adapted[false][n] - adapted[true][n]
	}
	if adapted[true][18] >= adapted[false][18] {
		t.Errorf("q18: its join of few orders with lineitem did not turn into a broadcast")
	}
	t.Logf("joins turned into broadcasts at run time: %d", total)
}

// runWithStatus runs plan and gives its rows formatted and its job's
// final status.
func runWithStatus(ctx context.Context, t *testing.T, cl *client.Client, plan *kapotv1.PhysicalPlanNode) ([]string, *kapotv1.GetJobStatusResponse) {
	t.Helper()
	id, err := cl.Submit(ctx, &kapotv1.SubmitJobRequest{Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	_, bs, err := cl.Fetch(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	return engine.FormatRows(bs, "|"), st
}

// adaptiveJoinsRun is how many adaptive joins the job's stages ran as
// planned (not turned into broadcasts).
func adaptiveJoinsRun(st *kapotv1.GetJobStatusResponse) int {
	ran := 0
	for _, s := range st.GetStages() {
		for _, m := range s.GetOperatorMetrics() {
			if strings.HasPrefix(m.GetName(), "HashJoin(") && strings.Contains(m.GetName(), ", adaptive") {
				ran++
			}
		}
	}
	return ran
}
