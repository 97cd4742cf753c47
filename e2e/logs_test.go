package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/logging"
	"github.com/kapot-go/kapot/scheduler"
)

// TestPerJobLogs: each task's lines also land in
// <log-dir>/jobs/<job>/<stage>-<partition>.log, and the directory goes when
// the scheduler removes the finished job's data.
func TestPerJobLogs(t *testing.T) {
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.FinishedJobDataCleanUpDelay = 300 * time.Millisecond })
	dir := t.TempDir()
	logs, err := logging.New(logging.Options{Dir: dir, Prefix: "executor.log", Rotation: "never", Level: "info", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.JobLogs = logs })
	if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("got %q", got)
	}
	jobs, _ := os.ReadDir(filepath.Join(dir, "jobs"))
	if len(jobs) != 1 {
		t.Fatalf("job log dirs %v, want one", jobs)
	}
	jobDir := filepath.Join(dir, "jobs", jobs[0].Name())
	var names []string
	entries, _ := os.ReadDir(jobDir)
	for _, e := range entries {
		names = append(names, e.Name())
		b, _ := os.ReadFile(filepath.Join(jobDir, e.Name()))
		if !strings.Contains(string(b), `"message":"task started"`) || !strings.Contains(string(b), `"message":"task finished"`) {
			t.Errorf("%s:\n%s", e.Name(), b)
		}
	}
	// Stage 1 (scan, 2 partitions) and stage 2 (final aggregate, 2 partitions).
	if want := []string{"1-0.log", "1-1.log", "2-0.log", "2-1.log"}; !slices.Equal(names, want) {
		t.Fatalf("task log files %v, want %v", names, want)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(jobDir); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job logs still there 30s after the job's data clean-up delay")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
