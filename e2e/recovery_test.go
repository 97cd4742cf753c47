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
	"github.com/kapot-go/kapot/shuffle"
)

// scriptedEngine runs the Arrow engine with two test controls:
//   - a barrier that holds every first-attempt stage-1 task in its slot until
//     `barrier` of them have started, so with one slot per executor each
//     executor is forced to run one map task;
//   - an optional gate that holds stage-2 tasks until it is closed.
type scriptedEngine struct {
	barrier int
	mu      *sync.Mutex
	arrived *int
	release chan struct{} // closed when barrier tasks have arrived
	gate    chan struct{} // nil: no gate
	atGate  chan struct{}
}

func newScriptedEngine(barrier int, gated bool) scriptedEngine {
	e := scriptedEngine{barrier: barrier, mu: &sync.Mutex{}, arrived: new(int), release: make(chan struct{}), atGate: make(chan struct{}, 8)}
	if gated {
		e.gate = make(chan struct{})
	}
	return e
}

func (g scriptedEngine) RunTask(ctx context.Context, t *executor.Task) (*kapotv1.SuccessfulTask, error) {
	if t.Def.GetStageId() == 1 && g.barrier > 0 {
		g.mu.Lock()
		*g.arrived++
		if *g.arrived == g.barrier {
			close(g.release)
		}
		g.mu.Unlock()
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if t.Def.GetStageId() == 2 && g.gate != nil {
		select {
		case g.atGate <- struct{}{}:
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
			g := newScriptedEngine(2, true)
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
			type result struct {
				rows []string
				err  error
			}
			done := make(chan result, 1)
			go func() {
				rows, err := runJobErr(s.addr, groupByPlan(t))
				done <- result{rows, err}
			}()
			<-g.atGate
			jobs, _ := filepath.Glob(filepath.Join(a.WorkDir(), "*"))
			jobs = slices.DeleteFunc(jobs, func(p string) bool {
				return filepath.Base(p) == shuffle.MarkerFile || filepath.Base(p) == executor.LockFile
			})
			if len(jobs) != 1 {
				t.Fatalf("executor a work dir has %v", jobs)
			}
			lost, _ := filepath.Glob(filepath.Join(jobs[0], "1-*.data"))
			if len(lost) == 0 {
				t.Fatalf("no stage 1 output in %s", jobs[0])
			}
			for _, f := range lost {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
			close(g.gate)
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatal(r.err)
				}
				if !slices.Equal(r.rows, expectedGroupBy) {
					t.Fatalf("got %q\nwant %q", r.rows, expectedGroupBy)
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
