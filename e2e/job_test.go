package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/executor"
)

// TestTwoStageJob runs the example group-by on two executors with one slot
// each; a barrier in stage 1 makes each run one map task, so every stage-2
// task reads one of its inputs from the other executor over Flight.
func TestTwoStageJob(t *testing.T) {
	for _, policy := range []string{"push-staged", "pull-staged"} {
		t.Run(policy, func(t *testing.T) {
			s := startScheduler(t, 0, nil)
			eng := newScriptedEngine(2, false)
			a := startExecutorWith(t, s.addr, policy, eng, nil)
			b := startExecutorWith(t, s.addr, policy, eng, nil)
			got := runJob(t, s.addr, groupByPlan(t))
			if !slices.Equal(got, expectedGroupBy) {
				t.Fatalf("got %q\nwant %q", got, expectedGroupBy)
			}
			if !hasStageOutput(a.WorkDir(), 1) || !hasStageOutput(b.WorkDir(), 1) {
				t.Fatalf("stage 1 did not run on both executors (a=%v b=%v): no cross-executor fetch happened",
					hasStageOutput(a.WorkDir(), 1), hasStageOutput(b.WorkDir(), 1))
			}
			// The cluster keeps serving: a second job gives the same answer.
			if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
				t.Fatalf("second run: got %q", got)
			}
			for _, e := range []*testExecutor{a, b} {
				if err := e.stop(t); err != nil {
					t.Fatalf("executor stop: %v", err)
				}
				if hasStageOutput(e.WorkDir(), 1) {
					t.Fatalf("job data left in %s after shutdown", e.WorkDir())
				}
			}
		})
	}
}

// TestStageMetricsReported checks that tasks report per-operator metrics and
// the scheduler sums them per stage: the scan of stage 1 read every input
// row, and the final aggregate emitted one row per region.
func TestStageMetricsReported(t *testing.T) {
	s := startScheduler(t, 0, nil)
	startExecutorWith(t, s.addr, "push-staged", executor.ArrowEngine{}, nil)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	cl, err := client.Dial(s.addr, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := cl.Submit(ctx, groupByPlan(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*kapotv1.OperatorMetrics{}
	for _, stage := range st.GetStages() {
		if len(stage.GetOperatorMetrics()) == 0 {
			t.Fatalf("stage %d reported no operator metrics", stage.GetStageId())
		}
		for _, m := range stage.GetOperatorMetrics() {
			name, _, _ := strings.Cut(m.GetName(), "(")
			if strings.HasPrefix(m.GetName(), "HashAggregate(mode=FINAL") {
				name = "FinalAggregate"
			}
			byName[name] = m
		}
	}
	scan, final := byName["CSVScan"], byName["FinalAggregate"]
	if scan == nil || final == nil {
		t.Fatalf("metrics lack the scan or the final aggregate: %v", byName)
	}
	if scan.GetOutputRows() != 8 {
		t.Errorf("scan output rows %d, want 8", scan.GetOutputRows())
	}
	if final.GetOutputRows() != int64(len(expectedGroupBy)) {
		t.Errorf("final aggregate output rows %d, want %d", final.GetOutputRows(), len(expectedGroupBy))
	}
	if scan.ParentId == nil || scan.GetElapsedComputeNs() <= 0 {
		t.Errorf("scan metrics %v: want a parent and compute time", scan)
	}
}
