package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/executor"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
)

// gateEngine holds stage-2 tasks until the gate opens, then runs everything
// normally.
type gateEngine struct {
	arrived chan struct{}
	gate    chan struct{}
}

func (g gateEngine) RunTask(ctx context.Context, t *executor.Task) ([]*kapotv1.ShuffleWritePartition, error) {
	if t.Def.GetStageId() == 2 {
		select {
		case g.arrived <- struct{}{}:
		default:
		}
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return executor.ArrowEngine{}.RunTask(ctx, t)
}

// TestLostMapOutputIsRecomputed deletes one executor's stage-1 output while
// stage 2 waits: stage-2 tasks report fetch failures naming that executor
// and map partition, the scheduler re-runs those map tasks, and the job
// still returns the exact result.
func TestLostMapOutputIsRecomputed(t *testing.T) {
	for _, policy := range []string{"push-staged", "pull-staged"} {
		t.Run(policy, func(t *testing.T) {
			s := startScheduler(t, 0, nil)
			g := gateEngine{arrived: make(chan struct{}, 4), gate: make(chan struct{})}
			var mu sync.Mutex
			var fetchFailures []*kapotv1.FetchPartitionError
			hook := func(st *kapotv1.TaskStatus) {
				if fe := st.GetFailed().GetFetchPartitionError(); fe != nil {
					mu.Lock()
					fetchFailures = append(fetchFailures, fe)
					mu.Unlock()
				}
			}
			a := startExecutorWith(t, s.addr, policy, g, func(c *executor.Config) { c.OnTaskDone = hook })
			startExecutorWith(t, s.addr, policy, g, func(c *executor.Config) { c.OnTaskDone = hook })
			done := make(chan []string)
			go func() { done <- runJob(t, s.addr, groupByPlan(t)) }()
			<-g.arrived
			jobs, _ := filepath.Glob(filepath.Join(a.WorkDir(), "*"))
			if len(jobs) != 1 {
				t.Fatalf("executor a work dir has %v", jobs)
			}
			if err := os.RemoveAll(filepath.Join(jobs[0], "1")); err != nil {
				t.Fatal(err)
			}
			close(g.gate)
			select {
			case got := <-done:
				if !slices.Equal(got, expectedGroupBy) {
					t.Fatalf("got %q\nwant %q", got, expectedGroupBy)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("job did not finish")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(fetchFailures) == 0 {
				t.Fatal("no fetch failure was reported")
			}
			for _, fe := range fetchFailures {
				if fe.GetExecutorId() != a.ID() || fe.GetMapStageId() != 1 {
					t.Fatalf("fetch failure names %v, want executor %s stage 1", fe, a.ID())
				}
			}
		})
	}
}

func TestMissingInputFailsJobWithIOError(t *testing.T) {
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.TaskRetries = 1 })
	startExecutor(t, s.addr, "push-staged", nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "gone.csv") // never created
	req := groupByPlan(t)
	scan := req.Plan.GetHashAggregate().GetInput().GetExchange().GetInput().GetHashAggregate().GetInput().GetCsvScan()
	scan.FileGroups = []*kapotv1.FileGroup{{Paths: []string{path}}}
	cl := dialScheduler(t, s.addr)
	ctx := context.Background()
	id, err := cl.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.Wait(ctx, id)
	if !errors.Is(err, client.ErrJobFailed) || !strings.Contains(st.GetError(), path) {
		t.Fatalf("job: %v; error %q should name %s", err, st.GetError(), path)
	}
	if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("after failed job: got %q", got)
	}
}
