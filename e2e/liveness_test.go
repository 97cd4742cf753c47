package e2e

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// listed reports whether the scheduler lists executor id.
func (c *procCluster) listed(t *testing.T, id string) bool {
	t.Helper()
	r, err := c.ctl.ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range r.GetExecutors() {
		if e.GetRegistration().GetId() == id {
			return true
		}
	}
	return false
}

// TestKilledExecutorDetectedByItsLink: with default settings (heartbeats
// every 5 s, 30 s executor timeout), a SIGKILLed executor is declared lost
// as soon as its link breaks and a probe finds nothing answering, long
// before a heartbeat timeout could.
func TestKilledExecutorDetectedByItsLink(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 2, "push-staged")
	// Registered is not yet linked: killed in between (a loaded machine
	// widens the gap), only the heartbeat timeout could find it.
	waitLog(t, c.executors[0].log, "link to the scheduler open")
	killed := time.Now()
	c.executors[0].cmd.Process.Signal(syscall.SIGKILL)
	c.executors[0].wait(t, 10*time.Second)
	for c.listed(t, c.ids[0]) {
		if time.Since(killed) > 20*time.Second {
			t.Fatal("the killed executor is still listed after 20 s: found by the heartbeat timeout at best, not its link")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("killed executor declared lost after %s", time.Since(killed).Round(time.Millisecond))
	log := readFile(t, c.sched.log)
	if !strings.Contains(log, "its link broke") || !strings.Contains(log, "did not answer 3 probes") {
		t.Fatalf("the scheduler did not say why it declared the executor lost:\n%s", log)
	}
	if !c.listed(t, c.ids[1]) {
		t.Fatal("the live executor was declared lost too")
	}
}

// TestLostResultPartitionIsRecomputed: an executor holding a finished
// job's result partition is killed before the client reads it; the client
// reports it, the scheduler computes the partition again elsewhere, and
// the client reads the whole, exact answer without resubmitting.
func TestLostResultPartitionIsRecomputed(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 2, "push-staged")
	req, want := bigJob(t, 4, 20000)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cl, err := client.Dial(c.addr, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := cl.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	victim := -1
	for _, loc := range st.GetResultLocations() {
		if loc.GetStats().GetNumRows() > 0 {
			victim = slices.Index(c.ids, loc.GetExecutor().GetId())
			break
		}
	}
	if victim < 0 {
		t.Fatalf("no result partition on a known executor: %v", st.GetResultLocations())
	}
	c.executors[victim].cmd.Process.Signal(syscall.SIGKILL)
	c.executors[victim].wait(t, 10*time.Second)
	_, bs, err := cl.Fetch(ctx, st)
	if err != nil {
		t.Fatalf("fetch after the executor holding a result partition was killed: %v", err)
	}
	got := engine.FormatRows(bs, "|")
	for _, b := range bs {
		b.Release()
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if log := readFile(t, c.sched.log); !strings.Contains(log, "result partitions lost with their executors; computing them again") {
		t.Fatalf("the scheduler did not recompute the lost results:\n%s", log)
	}
	if n := strings.Count(readFile(t, c.sched.log), `"message":"job submitted"`); n != 1 {
		t.Fatalf("%d jobs submitted, want 1: the client resubmitted instead of recovering", n)
	}
}
