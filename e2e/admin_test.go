package e2e

import (
	"fmt"
	"slices"
	"testing"

	"github.com/kapot-go/kapot/executor"
)

// TestAdminEndpoints scrapes an executor's admin port around a real job:
// health and readiness answer, and the task and shuffle metrics move.
func TestAdminEndpoints(t *testing.T) {
	s := startScheduler(t, 0, nil)
	e := startExecutorWith(t, s.addr, "push-staged", executor.ArrowEngine{}, func(c *executor.Config) {
		c.AdminPort, c.AdminBindHost = 0, "127.0.0.1"
	})
	base := fmt.Sprintf("http://%s", e.AdminAddr())
	get := func(path string) (int, string) {
		t.Helper()
		code, body, err := httpGet(base + path)
		if err != nil {
			t.Fatal(err)
		}
		return code, body
	}
	metric := func(body, name string) float64 {
		v, _ := metricValue(body, name)
		return v
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz: %d", code)
	}
	_, before := get("/metrics")
	if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("got %q", got)
	}
	_, after := get("/metrics")
	done := metric(after, `kapot_executor_tasks_total{state="succeeded"}`) - metric(before, `kapot_executor_tasks_total{state="succeeded"}`)
	if done != 4 { // 2 map tasks + 2 reduce tasks
		t.Fatalf("succeeded tasks moved by %v, want 4", done)
	}
	if metric(after, "kapot_executor_shuffle_written_bytes_total") <= metric(before, "kapot_executor_shuffle_written_bytes_total") {
		t.Fatal("shuffle bytes did not move")
	}
	if metric(after, "kapot_executor_slots") != 1 || metric(after, "kapot_executor_memory_pool_bytes") <= 0 {
		t.Fatalf("slots/pool gauges wrong:\n%s", after)
	}
	if code, body := get("/debug/pprof/goroutine?debug=1"); code != 200 || len(body) == 0 {
		t.Fatalf("pprof: %d", code)
	}
}
