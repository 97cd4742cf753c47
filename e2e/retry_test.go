package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/scheduler"
)

// TestDeterministicFailuresNotRetried (issue 35, finding 6): on real
// processes, a task that fails for a reason no retry changes — a table's
// file deleted after CREATE ("object not found"), a COPY whose local target
// cannot be a directory — fails its job at the first attempt, with the
// task's own message (no "after N attempt(s)"), and the scheduler's JSON
// API shows exactly one failed attempt. The cluster answers a normal query
// after each.
func TestDeterministicFailuresNotRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster: skipped with -short")
	}
	port, adminPort := freePort(t), freePort(t)
	sched := startProc(t, "scheduler", "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "info",
		"--admin-port", strconv.Itoa(adminPort), "--admin-bind-host", "127.0.0.1", "--warehouse", t.TempDir())
	for i := range 2 {
		p := startExecProc(t, fmt.Sprintf("executor-%d", i), port)
		waitLog(t, p.log, "registered with scheduler")
	}
	cl, err := client.Dial("127.0.0.1:"+strconv.Itoa(port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitExecutors(t, cl, 2, 30*time.Second)
	sess := cl.NewSession(nil)

	dir := t.TempDir()
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%d.csv", i)), []byte("k,v\na,1\nb,2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	query(t, sess, "CREATE EXTERNAL TABLE gone STORED AS CSV WITH HEADER ROW LOCATION '"+dir+"'")
	if got := query(t, sess, "SELECT count(*), sum(v) FROM gone"); len(got) != 1 || got[0] != "6|9" {
		t.Fatalf("before the delete: %q", got)
	}
	healthy := func() {
		t.Helper()
		if got := query(t, sess, "SELECT 1 + 1"); len(got) != 1 || got[0] != "2" {
			t.Fatalf("a normal query after the failure: %q", got)
		}
	}

	// failsOnce runs stmt, which must fail within a few seconds with a
	// message containing want and no retry count, and checks that the
	// scheduler saw exactly one failed task launch of its job.
	failsOnce := func(t *testing.T, stmt, want string) {
		t.Helper()
		before := jobIDs(t, adminPort)
		start := time.Now()
		_, err := queryErr(sess, stmt)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("%s succeeded", stmt)
		}
		t.Logf("%s: failed in %s: %v", stmt, took.Round(time.Millisecond), err)
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q, want it to say %q", err, want)
		}
		if strings.Contains(err.Error(), "attempt(s)") {
			t.Fatalf("error %q: a deterministic failure was retried or reported as such", err)
		}
		var failed []scheduler.JobView
		for _, v := range jobViews(t, adminPort) {
			if !before[v.ID] && v.State == "FAILED" {
				failed = append(failed, v)
			}
		}
		if len(failed) != 1 {
			t.Fatalf("%d new failed jobs, want 1: %+v", len(failed), failed)
		}
		attempts := 0
		for _, s := range failed[0].Stages {
			attempts += s.FailedAttempts
		}
		if attempts != 1 {
			t.Fatalf("job %s: %d failed task attempts, want exactly 1 (%+v)", failed[0].ID, attempts, failed[0].Stages)
		}
		if !strings.Contains(failed[0].Error, want) {
			t.Fatalf("job %s error %q, want it to say %q", failed[0].ID, failed[0].Error, want)
		}
	}

	t.Run("a query over a deleted file fails at once: not found", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, "part-1.csv")); err != nil {
			t.Fatal(err)
		}
		failsOnce(t, "SELECT count(*), sum(v) FROM gone", "not found")
		healthy()
	})

	t.Run("a COPY to a path under a file fails at once", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "plain-file")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		// The target is one file (no listing at planning): the tasks are
		// the first to meet the file where their directory must be.
		failsOnce(t, "COPY (SELECT 1 AS a) TO '"+filepath.Join(file, "out.csv")+"' (FORMAT csv)", "not a directory")
		healthy()
	})

	if n := strings.Count(readFile(t, sched.log), "task failed; retrying"); n != 0 {
		t.Fatalf("the scheduler logged %d retries", n)
	}
}

// jobViews reads the scheduler's /api/jobs.
func jobViews(t *testing.T, adminPort int) []scheduler.JobView {
	t.Helper()
	code, body, err := httpGet("http://127.0.0.1:" + strconv.Itoa(adminPort) + "/api/jobs")
	if err != nil || code != 200 {
		t.Fatalf("/api/jobs: %d %v", code, err)
	}
	var jobs []scheduler.JobView
	if err := json.Unmarshal([]byte(body), &jobs); err != nil {
		t.Fatal(err)
	}
	return jobs
}

func jobIDs(t *testing.T, adminPort int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, v := range jobViews(t, adminPort) {
		ids[v.ID] = true
	}
	return ids
}
