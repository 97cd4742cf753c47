package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/executor"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
)

// hogEngine holds the tasks of jobs with the property test.hog until a
// release (one per task) or their cancellation; every task start is
// reported with its job id.
type hogEngine struct {
	started chan string
	release chan struct{}
}

func (h hogEngine) RunTask(ctx context.Context, t *executor.Task) (*kapotv1.SuccessfulTask, error) {
	h.started <- t.Def.GetJobId()
	if t.Def.GetSessionProperties()["test.hog"] == "true" {
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return executor.ArrowEngine{}.RunTask(ctx, t)
}

// TestFairShare: a job of many slow tasks holds both slots of the only
// executor; a second job submitted behind it gets the next slot that
// frees (the fair mode, the default) instead of waiting for all the first
// job's tasks (fifo), and answers correctly.
func TestFairShare(t *testing.T) {
	for _, mode := range []string{scheduler.ModeFair, scheduler.ModeFIFO} {
		t.Run(mode, func(t *testing.T) {
			s := startScheduler(t, 0, func(c *scheduler.Config) { c.SchedulingMode = mode })
			eng := hogEngine{started: make(chan string, 64), release: make(chan struct{})}
			startExecutorWith(t, s.addr, "push-staged", eng, func(c *executor.Config) { c.ConcurrentTasks = 2 })
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			hog, _ := bigJob(t, 6, 10)
			hog.SessionProperties = map[string]string{"test.hog": "true"}
			hog.Detached = true // this client does not wait for it
			cl := dialScheduler(t, s.addr)
			hogID, err := cl.Submit(ctx, hog)
			if err != nil {
				t.Fatal(err)
			}
			next := func() string {
				select {
				case id := <-eng.started:
					return id
				case <-ctx.Done():
					t.Fatal("no task started")
					return ""
				}
			}
			next()
			next() // both slots are the hog's
			small := groupByPlan(t)
			done := make(chan []string, 1)
			errc := make(chan error, 1)
			go func() {
				rows, err := runJobErr(s.addr, small, client.WithSession(client.NewSessionID()))
				errc <- err
				done <- rows
			}()
			// Wait until the small job is queued, then free one slot.
			for len(s.Jobs()) < 2 {
				if ctx.Err() != nil {
					t.Fatal("the small job was never submitted")
				}
				time.Sleep(5 * time.Millisecond)
			}
			eng.release <- struct{}{}
			got := next()
			if mode == scheduler.ModeFair && got == hogID {
				t.Fatal("fair mode: the freed slot went to the job already holding the other one")
			}
			if mode == scheduler.ModeFIFO && got != hogID {
				t.Fatal("fifo mode: the freed slot did not go to the oldest job")
			}
			if mode == scheduler.ModeFIFO {
				// Let the hog finish so the small job runs.
				go func() {
					for range 7 { // the rest of its 6 map and 2 reduce tasks
						select {
						case eng.release <- struct{}{}:
						case <-ctx.Done():
							return
						}
					}
				}()
			}
			go func() {
				for {
					select {
					case <-eng.started:
					case <-ctx.Done():
						return
					}
				}
			}()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if rows := <-done; !slices.Equal(rows, expectedGroupBy) {
				t.Fatalf("small job: %q", rows)
			}
			cl.Scheduler().CancelJob(ctx, &kapotv1.CancelJobRequest{JobId: hogID})
		})
	}
}
