package e2e

import (
	"slices"
	"testing"
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
