package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestHostileJobsProcesses replays, against a scheduler and two executor
// processes, the jobs a careless or hostile client sent that once crashed,
// jammed or stalled a cluster; after each the cluster serves a normal job
// and every executor is still active.
func TestHostileJobsProcesses(t *testing.T) {
	// Executors accept messages of 1 MiB, so a plan of a few MiB is one
	// the scheduler may send but they refuse.
	c := startProcCluster(t, 2, "push-staged", "--grpc-max-decoding-message-size", "1MiB")
	serving := func(t *testing.T) {
		t.Helper()
		if got := runJob(t, c.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
			t.Fatalf("normal job afterwards: %q", got)
		}
		r, err := c.ctl.ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.GetExecutors() {
			if e.GetState() != kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
				t.Fatalf("executor %s is %s, want active", e.GetRegistration().GetId(), e.GetState())
			}
		}
		if len(r.GetExecutors()) != 2 {
			t.Fatalf("%d executors, want 2", len(r.GetExecutors()))
		}
	}
	// scan is the group-by plan's CSV scan (an explicit schema: nothing is
	// opened at submit).
	scan := func(req *kapotv1.SubmitJobRequest) *kapotv1.CsvScanNode {
		return req.Plan.GetHashAggregate().GetInput().GetExchange().GetInput().GetHashAggregate().GetInput().GetCsvScan()
	}

	t.Run("100,000 shuffle partitions are refused at submit", func(t *testing.T) {
		req := groupByPlan(t)
		req.Plan.GetHashAggregate().GetInput().GetExchange().GetPartitioning().GetHash().PartitionCount = 100_000
		_, err := runJobErr(c.addr, req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "--max-stage-partitions") {
			t.Fatalf("got %v, want InvalidArgument naming --max-stage-partitions", err)
		}
		serving(t)
	})

	longPaths := func(n int) *kapotv1.SubmitJobRequest {
		req := groupByPlan(t)
		s := scan(req)
		pad := strings.Repeat("d", 200)
		s.FileGroups = nil
		for i := 0; i < n; i++ {
			s.FileGroups = append(s.FileGroups, &kapotv1.FileGroup{Paths: []string{fmt.Sprintf("/nonexistent/%s/%d.csv", pad, i)}})
		}
		return req
	}
	t.Run("a task larger than the scheduler sends fails its job", func(t *testing.T) {
		// 9,000 file groups of ~220-byte paths: a ~2 MB task plan, under
		// the partition cap; with --max-task-bytes at its 8 MiB default the
		// scheduler would send it, so the executors' 1 MiB limit refuses it.
		_, err := runJobErr(c.addr, longPaths(9_000))
		if err == nil || !strings.Contains(err.Error(), "refused stage 1's task") {
			t.Fatalf("got %v, want the job failed because the executor refused its task", err)
		}
		serving(t)
	})

	t.Run("a task over --max-task-bytes fails its job without a launch", func(t *testing.T) {
		// 9,500 groups of ~1 KiB paths: ~10 MB, over the 8 MiB default.
		req := groupByPlan(t)
		s := scan(req)
		pad := strings.Repeat("e", 1000)
		s.FileGroups = nil
		for i := 0; i < 9_500; i++ {
			s.FileGroups = append(s.FileGroups, &kapotv1.FileGroup{Paths: []string{fmt.Sprintf("/nonexistent/%s/%d.csv", pad, i)}})
		}
		_, err := runJobErr(c.addr, req)
		if err == nil || !strings.Contains(err.Error(), "--max-task-bytes") {
			t.Fatalf("got %v, want the job failed naming --max-task-bytes", err)
		}
		serving(t)
	})

	t.Run("URLs of local services are not fetched", func(t *testing.T) {
		for _, u := range []string{"http://" + c.addr + "/x.csv", "http://169.254.169.254/latest/meta-data/x.csv", "http://localhost:1/x.csv"} {
			req := groupByPlan(t)
			scan(req).FileGroups = []*kapotv1.FileGroup{{Paths: []string{u}}}
			_, err := runJobErr(c.addr, req)
			if err == nil || !strings.Contains(err.Error(), "--allow-local-urls") || strings.Contains(err.Error(), "attempt(s)") {
				t.Fatalf("%s: %v, want refused once as a local address", u, err)
			}
		}
		serving(t)
	})

	t.Run("a 17 MiB CSV value fails its task once, with a short error", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "huge.csv")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		w.WriteString("region,product,qty,price\neast,p1,")
		for i := 0; i < 17<<20; i++ {
			w.WriteByte('7' + byte(i%3)) // digits and a colon: not an integer
		}
		w.WriteString(",1.5\n")
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		req := groupByPlan(t)
		scan(req).FileGroups = []*kapotv1.FileGroup{{Paths: []string{path}}}
		start := time.Now()
		_, err = runJobErr(c.addr, req)
		if err == nil {
			t.Fatal("job over a malformed value succeeded")
		}
		if len(err.Error()) > 16<<10 {
			t.Fatalf("error of %d bytes, want it truncated", len(err.Error()))
		}
		if strings.Contains(err.Error(), "attempt(s)") { // deterministic: failed at once, with its own message
			t.Fatalf("a deterministic failure was retried: %.300s", err)
		}
		t.Logf("failed in %s: %.200s", time.Since(start).Round(time.Millisecond), err)
		serving(t)
		for _, e := range c.executors {
			if n := longestLine(t, e.log); n > 64<<10 {
				t.Fatalf("%s wrote a %d-byte log line", e.log, n)
			}
		}
	})
}

// longestLine is the length of the longest line in a file.
func longestLine(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	longest, cur := 0, 0
	for {
		line, isPrefix, err := r.ReadLine()
		if err != nil {
			break
		}
		cur += len(line)
		if !isPrefix {
			longest, cur = max(longest, cur), 0
		}
	}
	return max(longest, cur)
}

// TestClientGoneCancelsJob: a job waits (no executor has joined yet) while
// its client goes away. `kapot sql` interrupted with Ctrl-C (SIGINT)
// cancels its job at once; a SIGKILLed `kapot submit` cannot, and the
// scheduler cancels its job once the client has stopped asking for its
// status (--abandoned-job-timeout-seconds, 30 s by default).
func TestClientGoneCancelsJob(t *testing.T) {
	if testing.Short() {
		t.Skip("process test waiting 30 s for a killed client: skipped with -short")
	}
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	sched := startProc(t, "scheduler", "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "debug")
	waitLog(t, sched.log, "scheduler listening")
	submitted := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(sched.log)
			if strings.Count(string(b), `"message":"job submitted"`) >= n {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("job %d was never submitted", n)
	}

	sqlProc := startProc(t, "sql", "sql", "--scheduler", addr, "-e",
		"CREATE EXTERNAL TABLE sales STORED AS CSV WITH HEADER ROW LOCATION '../examples/groupby/data'", "-e", "SELECT count(*) FROM sales")
	submitted(1)
	start := time.Now()
	if err := sqlProc.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitLog(t, sched.log, `"message":"job cancelled"`)
	t.Logf("SIGINT to kapot sql: job cancelled after %s", time.Since(start).Round(time.Millisecond))
	if err := sqlProc.wait(t, 30*time.Second); err == nil {
		t.Fatal("interrupted kapot sql exited 0")
	}

	submit := startProc(t, "submit", "submit", "--scheduler", addr, "--plan", "../examples/groupby/plan.json")
	submitted(2)
	start = time.Now()
	submit.cmd.Process.Kill()
	waitLog(t, sched.log, "job abandoned by its client; cancelled")
	if d := time.Since(start); d < 25*time.Second || d > 45*time.Second {
		t.Fatalf("abandoned job cancelled after %s, want about the 30 s default", d)
	}
	t.Logf("SIGKILL to kapot submit: job cancelled after %s", time.Since(start).Round(time.Millisecond))
}

// TestRestartedExecutorRemovesLeftovers: an executor SIGKILLed with job
// data in its work dir leaves it behind; the executor started next on that
// dir removes it (nothing can read it: the new executor has a new id), and
// a second executor is refused the dir while the first runs.
func TestRestartedExecutorRemovesLeftovers(t *testing.T) {
	c := startProcCluster(t, 1, "push-staged")
	if got := runJob(t, c.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("got %q", got)
	}
	jobDirs := func() []string {
		entries, _ := os.ReadDir(c.workDirs[0])
		var out []string
		for _, e := range entries {
			if e.IsDir() {
				out = append(out, e.Name())
			}
		}
		return out
	}
	if len(jobDirs()) == 0 {
		t.Fatal("the job left no data to find (results are kept for the clean-up delay)")
	}
	port := strings.Split(c.addr, ":")[1]
	args := []string{"executor", "--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
		"--scheduler-host", "127.0.0.1", "--scheduler-port", port, "--work-dir", c.workDirs[0]}
	second := startProc(t, "executor-twin", args...)
	if err := second.wait(t, 30*time.Second); err == nil || !strings.Contains(readFile(t, second.log), "in use by another running executor") {
		t.Fatalf("a second executor on a live executor's work dir: %v\n%s", err, readFile(t, second.log))
	}
	c.executors[0].cmd.Process.Kill()
	c.executors[0].wait(t, 30*time.Second)
	restarted := startProc(t, "executor-restarted", args...)
	waitLog(t, restarted.log, "registered with scheduler")
	if left := jobDirs(); len(left) != 0 {
		t.Fatalf("job data of the killed executor left after the restart: %v", left)
	}
	if !strings.Contains(readFile(t, restarted.log), "removed job data an earlier executor left") {
		t.Fatal("the restarted executor did not say what it removed")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
