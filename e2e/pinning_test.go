package e2e

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/topology"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// affinityEngine records the CPU affinity of the thread each task runs on.
type affinityEngine struct {
	mu        sync.Mutex
	seen      [][]int
	preferred []bool // whether each task's thread prefers a NUMA node
}

func (a *affinityEngine) RunTask(ctx context.Context, t *executor.Task) (*kapotv1.SuccessfulTask, error) {
	cpus, err := topology.ThreadAffinity()
	if err != nil {
		return nil, err
	}
	pref, _, err := topology.ThreadMemPolicy()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.seen = append(a.seen, cpus)
	a.preferred = append(a.preferred, pref)
	a.mu.Unlock()
	return executor.ArrowEngine{}.RunTask(ctx, t)
}

// TestTasksRunPinned runs a job on an executor with two slots and checks,
// from inside each task, that its thread is pinned to one slot's cores as
// the topology assigns them.
func TestTasksRunPinned(t *testing.T) {
	allowed, err := topology.Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) < 2 {
		t.Skip("needs two CPUs")
	}
	topo, err := topology.Discover("/", allowed)
	if err != nil {
		t.Fatal(err)
	}
	want, err := topology.Assign(topo, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := startScheduler(t, 0, nil)
	eng := &affinityEngine{}
	startExecutorWith(t, s.addr, "push-staged", eng, func(c *executor.Config) { c.ConcurrentTasks = 2 })
	if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("got %q", got)
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if len(eng.seen) == 0 {
		t.Fatal("no task ran")
	}
	for _, cpus := range eng.seen {
		if !slices.ContainsFunc(want, func(slot []int) bool { return slices.Equal(slot, cpus) }) {
			t.Fatalf("a task ran with affinity %v; slots are %v (allowed %v)", cpus, want, allowed)
		}
	}
	// Where the kernel allows a memory policy, every task prefers its
	// cores' node (probe it on a thread of our own first).
	permitted := make(chan bool)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		restore, err := topology.PreferNode(topo.NodeOf(want[0][0]))
		if err == nil {
			restore()
		}
		permitted <- err == nil
	}()
	if <-permitted {
		for i, p := range eng.preferred {
			if !p {
				t.Fatalf("task %d ran without the NUMA memory policy", i)
			}
		}
	}
	t.Logf("tasks ran on %v", fmt.Sprint(eng.seen))
}
