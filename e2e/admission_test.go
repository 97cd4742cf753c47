package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/executor"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
)

// TestNoStarvation (issue 36, item 6): one session's four long queries
// hold every task slot of the cluster; another session's light query
// still answers at once (its task runs on an executor's fair-share slot),
// a fifth job of the busy session is refused (--max-session-jobs 4), and
// a job past its kapot.query.timeout is cancelled by the scheduler. With
// the default settings but the cap.
func TestNoStarvation(t *testing.T) {
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.MaxSessionJobs = 4 })
	eng := blockingEngine{started: make(chan uint64, 64)}
	startExecutorWith(t, s.addr, "push-staged", eng, func(c *executor.Config) { c.ConcurrentTasks = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	heavyClient := dialScheduler(t, s.addr)
	heavy := heavyClient.NewSession(map[string]string{"test.block": "true", "kapot.shuffle.partitions": "2"})
	q := "SELECT x, count(*) FROM (VALUES (1), (2), (3), (4)) AS v(x) GROUP BY x"
	var jobs []string
	for range 4 {
		job, err := heavy.Start(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job.ID)
	}
	// Both slots (and the fair-share slot: one session only) are taken.
	for range 2 {
		select {
		case <-eng.started:
		case <-ctx.Done():
			t.Fatal("the heavy tasks did not start")
		}
	}
	if _, err := heavy.Start(ctx, q); status.Code(errorsCause(err)) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-session-jobs") {
		t.Fatalf("a fifth job of the busy session: %v, want ResourceExhausted", err)
	}
	light := dialScheduler(t, s.addr).NewSession(nil)
	start := time.Now()
	if got := query(t, light, "SELECT count(*), sum(x) FROM (VALUES (1), (2), (3)) AS v(x)"); !slices.Equal(got, []string{"3|6"}) {
		t.Fatalf("the light query: %q", got)
	}
	t.Logf("light query while another session holds every slot: %s", time.Since(start).Round(time.Millisecond))
	for _, id := range jobs {
		if _, err := heavyClient.Scheduler().CancelJob(ctx, &kapotv1.CancelJobRequest{JobId: id}); err != nil {
			t.Fatal(err)
		}
	}

	// A statement over its time limit is cancelled by the scheduler.
	limited := dialScheduler(t, s.addr).NewSession(map[string]string{"test.block": "true", "kapot.query.timeout": "1s"})
	start = time.Now()
	_, err := queryErr(limited, q)
	if err == nil || !strings.Contains(err.Error(), "time limit") {
		t.Fatalf("a job over kapot.query.timeout: %v", err)
	}
	t.Logf("cancelled after %s", time.Since(start).Round(time.Millisecond))
	if _, err := queryErr(dialScheduler(t, s.addr).NewSession(map[string]string{"kapot.query.timeout": "100h"}), q); status.Code(errorsCause(err)) != codes.InvalidArgument {
		t.Fatalf("a time limit over --max-query-timeout: %v, want InvalidArgument", err)
	}
}
