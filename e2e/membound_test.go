package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
)

// peakRSS reads a process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestMemoryBoundProcesses (issue 36, item 1): a query whose values are
// each under the 16 MiB text cap but whose batches are gigabytes fails
// with "resources exhausted" on executors with a 512 MiB pool, instead of
// growing them past it until they are lost; their peak RSS stays within
// the pool and 1 GiB, and the
// cluster answers the next query exactly.
func TestMemoryBoundProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	const pool = 512 << 20
	dir := sharedTPCH(t, 0.01, 1).dir
	c := startProcCluster(t, 2, "push-staged", "--memory-pool-size", strconv.Itoa(pool))
	cl, err := client.Dial(c.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sess := cl.NewSession(nil)
	createTPCH(t, sess, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for q, want := range map[string]string{
		"select count(*), sum(length(repeat(l_comment, 300000))) from lineitem where l_orderkey < 300": "resources exhausted",
		"select length(string_agg(repeat(l_comment, 20), '')) from lineitem":                           "the most a text value may hold",
	} {
		start := time.Now()
		err := sess.Exec(ctx, q)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want %q", q, err, want)
		}
		t.Logf("%s: failed in %s: %.200s", q, time.Since(start).Round(time.Millisecond), err)
		for i, e := range c.executors {
			select {
			case <-e.done:
				t.Fatalf("executor %d exited", i)
			default:
			}
		}
		if got := queryText(t, sess, "select count(*) from nation"); !slices.Equal(got, []string{"25"}) {
			t.Fatalf("the next query: %q", got)
		}
	}
	// The bound docs/security.md states: the pool and 1 GiB. The Arrow
	// memory live stays within the pool and 256 MiB (BoundedAllocator);
	// the Go runtime collects at the pool and 512 MiB (its soft limit), and
	// garbage (a string function's Go strings) and freed pages not yet
	// returned ride above that. Measured: 1235 MiB with a 512 MiB pool.
	bound := int64(pool + 1<<30)
	for i, e := range c.executors {
		peak := peakRSS(t, e.cmd.Process.Pid)
		t.Logf("executor %d: peak RSS %d MiB (bound %d MiB)", i, peak>>20, bound>>20)
		if peak > bound {
			t.Errorf("executor %d peaked at %d MiB RSS, over its %d MiB bound", i, peak>>20, bound>>20)
		}
	}
}
