package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The chaos suite: faults and load against real clusters, each answer
// compared with its exact expected result, summed up in a table.
//
//	go test ./e2e -run TestChaos -v                  # the short run (in make test-e2e-full; make test runs its quick scenarios)
//	make chaos                                       # every TPC-H query, 3 runs, table in docs/chaos.md
//
// KAPOT_CHAOS_RUNS repeats each scenario, KAPOT_CHAOS_QUERIES ("all" or a
// comma list) picks the TPC-H queries, KAPOT_CHAOS_SF the scale factor,
// KAPOT_CHAOS_SEED the random seed, KAPOT_CHAOS_REPORT a file for the table.

type chaosRow struct {
	scenario                    string
	runs, survived, wrong, lost int
	recover                     []time.Duration
	// detect: fault to the scheduler declaring the executor lost; extra:
	// the faulty run's time over the same query's clean run.
	detect, extra []time.Duration
	note          string
}

// spread formats the median and the maximum of d ("-" when empty).
func spread(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return fmt.Sprintf("%s / %s", d[len(d)/2].Round(10*time.Millisecond), d[len(d)-1].Round(10*time.Millisecond))
}

// record counts one answer: lost when err is set, wrong when bad is.
func (r *chaosRow) record(t *testing.T, what string, err, bad error) {
	t.Helper()
	r.runs++
	switch {
	case err != nil:
		r.lost++
		t.Errorf("%s: %v", what, err)
	case bad != nil:
		r.wrong++
		t.Errorf("%s: wrong answer: %v", what, bad)
	default:
		r.survived++
	}
}

type chaosReport struct {
	mu   sync.Mutex
	rows []*chaosRow
}

func (r *chaosReport) add(row *chaosRow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row)
}

func (r *chaosReport) table() string {
	var b strings.Builder
	b.WriteString("| scenario | runs | survived | wrong answers | lost data | time to detect (median / max) | extra time over a clean run (median / max) | time to recover (median / max) | notes |\n" +
		"|---|---:|---:|---:|---:|---|---|---|---|\n")
	for _, row := range r.rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s | %s | %s |\n", row.scenario, row.runs, row.survived, row.wrong, row.lost,
			spread(row.detect), spread(row.extra), spread(row.recover), row.note)
	}
	return b.String()
}

// janitorNote points at the janitor race, which a unit test covers more
// sharply than processes could (its clock makes every file expired).
const janitorNote = "\nThe TTL janitor racing tasks that start writing into the same jobs is covered by " +
	"`go test -race ./executor -run TestJanitorRacesTaskStart` (in `make test`): with every file expired, " +
	"no running task's file is ever deleted, while the janitor removes several hundred idle job directories between tasks.\n"

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos suite: skipped with -short")
	}
	seed := uint64(envInt("KAPOT_CHAOS_SEED", int(time.Now().UnixNano()%1_000_000)))
	t.Logf("chaos seed %d (KAPOT_CHAOS_SEED=%d reproduces the fault timings)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	runs := envInt("KAPOT_CHAOS_RUNS", 1)
	rep := &chaosReport{}
	t.Run("executor-sigkill-during-tpch", func(t *testing.T) { chaosKillDuringTPCH(t, rng, runs, rep) })
	t.Run("executor-sigstop-mid-job", func(t *testing.T) { chaosFreeze(t, runs, rep) })
	t.Run("straggler-speculation", func(t *testing.T) { chaosStraggler(t, runs, rep) })
	t.Run("scheduler-restart-mid-job", func(t *testing.T) { chaosSchedulerRestart(t, runs, rep) })
	t.Run("executor-sigterm-drain", func(t *testing.T) { chaosSIGTERM(t, runs, rep) })
	t.Run("disk-full-shuffle-write", func(t *testing.T) { chaosDiskFull(t, runs, rep) })
	t.Run("concurrent-small-jobs", func(t *testing.T) { chaosConcurrentJobs(t, runs, rep) })
	t.Run("concurrent-tpch", func(t *testing.T) { chaosConcurrentTPCH(t, runs, rep) })
	table := rep.table()
	t.Logf("chaos figures:\n%s", table)
	if path := os.Getenv("KAPOT_CHAOS_REPORT"); path != "" {
		doc := "# Chaos suite figures\n\nReproduce with `make chaos` (seed " + strconv.FormatUint(seed, 10) + ", " + strconv.Itoa(runs) +
			" run(s) per scenario). Each answer is compared with its exact expected result.\n\n" + table + janitorNote
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startExecProc starts an executor process registered with the scheduler
// on port.
func startExecProc(t *testing.T, name string, port int, extra ...string) *proc {
	return startProc(t, name, append([]string{"executor",
		"--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
		"--scheduler-host", "127.0.0.1", "--scheduler-port", strconv.Itoa(port), "--scheduler-connect-timeout-seconds", "20",
		"--concurrent-tasks", "2", "--work-dir", t.TempDir(),
		"--drain-timeout", "5", "--log-level", "info", "--disable-numa-pinning"}, extra...)...)
}

func startSchedProc(t *testing.T, name string, port int) *proc {
	// Default timeouts: the chaos suite measures what a user gets.
	return startProc(t, name, "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "info")
}

// waitExecutors waits until the scheduler lists n live executors.
func waitExecutors(t *testing.T, cl *client.Client, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r, err := cl.Scheduler().ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
		live := 0
		if err == nil {
			for _, e := range r.GetExecutors() {
				if e.GetState() == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
					live++
				}
			}
		}
		if live >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d live executors after %s, want %d (%v)", live, within, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chaosKillDuringTPCH runs each TPC-H query twice on three executors
// started with default settings: once clean, then with one executor
// SIGKILLed at a random point of the clean run's time (a replacement is
// started). Every answer must be DuckDB's; the table reports how long the
// scheduler took to declare the killed executor lost and how much longer
// than the clean run the query took.
func chaosKillDuringTPCH(t *testing.T, rng *rand.Rand, runs int, rep *chaosReport) {
	sf := 0.1
	if v, err := strconv.ParseFloat(os.Getenv("KAPOT_CHAOS_SF"), 64); err == nil && v > 0 {
		sf = v
	}
	queries := envQueries(t, "KAPOT_CHAOS_QUERIES", []int{1, 3, 6, 10})
	plans, want := tpchFixture(t, sf, 3, queries)

	port := freePort(t)
	startSchedProc(t, "scheduler", port)
	type member struct {
		p  *proc
		id string
	}
	var execs []member
	next := 0
	spawn := func() {
		p := startExecProc(t, fmt.Sprintf("executor-%d", next), port)
		next++
		waitLog(t, p.log, "registered with scheduler")
		execs = append(execs, member{p, executorIDFromLog(t, p.log)})
	}
	for range 3 {
		spawn()
	}
	cl, err := client.Dial("127.0.0.1:"+strconv.Itoa(port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitExecutors(t, cl, 3, 30*time.Second)
	run := func(n int) ([]string, error) { return runPlan(cl, plans[n], fmt.Sprintf("chaos q%d", n)) }

	row := &chaosRow{scenario: fmt.Sprintf("SIGKILL 1 of 3 executors at a random point of each TPC-H query (SF %g, queries %v), default settings", sf, queries)}
	defer rep.add(row)
	for r := 0; r < runs; r++ {
		for _, n := range queries {
			start := time.Now()
			rows, err := run(n)
			clean := time.Since(start)
			if err != nil || oracle.SameRows(rows, want[n]) != nil {
				row.record(t, fmt.Sprintf("q%d clean run", n), err, oracle.SameRows(rows, want[n]))
				continue
			}
			type result struct {
				rows []string
				err  error
			}
			done := make(chan result, 1)
			start = time.Now()
			go func() {
				rows, err := run(n)
				done <- result{rows, err}
			}()
			time.Sleep(time.Duration(rng.Int64N(int64(clean) + 1)))
			victim := rng.IntN(len(execs))
			v := execs[victim]
			killed := time.Now()
			v.p.cmd.Process.Signal(syscall.SIGKILL)
			detected := make(chan time.Duration, 1)
			go func() { detected <- waitGone(cl, v.id, 60*time.Second) }()
			v.p.wait(t, 10*time.Second)
			execs = slices.Delete(execs, victim, victim+1)
			res := <-done
			took := time.Since(start)
			det := <-detected
			row.record(t, fmt.Sprintf("q%d after a kill", n), res.err, oracle.SameRows(res.rows, want[n]))
			if res.err == nil && oracle.SameRows(res.rows, want[n]) == nil {
				row.recover = append(row.recover, time.Since(killed))
				row.extra = append(row.extra, max(took-clean, 0))
			}
			if det >= 0 {
				row.detect = append(row.detect, det)
			} else {
				t.Errorf("q%d: the killed executor was still listed a minute later", n)
			}
			spawn()
			waitExecutors(t, cl, 3, 30*time.Second)
		}
	}
	row.note = "detect: kill to the executor no longer listed; extra: the killed run's time minus the clean run's; recover: kill to correct answer"
}

// envQueries reads a list of TPC-H query numbers from the environment
// variable name ("1,3,6" or "all"), def when it is unset.
func envQueries(t *testing.T, name string, def []int) []int {
	t.Helper()
	q := os.Getenv(name)
	switch q {
	case "":
		return def
	case "all":
		var all []int
		for n := 1; n <= 22; n++ {
			all = append(all, n)
		}
		return all
	}
	var out []int
	for _, s := range strings.Split(q, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 22 {
			t.Fatalf("%s: %q", name, q)
		}
		out = append(out, n)
	}
	return out
}

// runPlan runs a planned query as a job named name (within 3 minutes) and
// returns its rows, formatted.
func runPlan(cl *client.Client, p *planner.Plan, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, bs, err := cl.Run(ctx, &kapotv1.SubmitJobRequest{Plan: p.Root, JobName: name})
	rows := engine.FormatRows(bs, "|")
	for _, b := range bs {
		b.Release()
	}
	return rows, err
}

// waitGone polls until the scheduler no longer lists executor id and
// returns how long that took (-1 after within).
func waitGone(cl *client.Client, id string, within time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < within {
		r, err := cl.Scheduler().ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
		if err == nil && !slices.ContainsFunc(r.GetExecutors(), func(e *kapotv1.ExecutorInfo) bool { return e.GetRegistration().GetId() == id }) {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return -1
}

// chaosFreeze stops one of three executors (SIGSTOP) while the job's tasks
// run, for KAPOT_CHAOS_FREEZE_SECONDS (make chaos: 60; by default until
// the job ends): its link's keepalive goes unanswered, the scheduler's
// probes too, it is declared lost and its work runs elsewhere, and the
// answer is exact. Resumed (SIGCONT), it finds it was forgotten, cancels
// its orphaned tasks and registers again; the next job's answer is exact
// too.
func chaosFreeze(t *testing.T, runs int, rep *chaosReport) {
	hold := time.Duration(envInt("KAPOT_CHAOS_FREEZE_SECONDS", 0)) * time.Second
	scenario := "SIGSTOP 1 of 3 executors mid-job until the job ends, then SIGCONT, default settings"
	if hold > 0 {
		scenario = fmt.Sprintf("SIGSTOP 1 of 3 executors mid-job for %s, then SIGCONT, default settings", hold)
	}
	row := &chaosRow{scenario: scenario, note: "detect: freeze to the executor no longer listed; extra: over the same job's clean run; recover: freeze to correct answer; the resumed executor then serves a second job, also checked"}
	defer rep.add(row)
	port := freePort(t)
	startSchedProc(t, "scheduler", port)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cl, err := client.Dial(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req, want := bigJob(t, 6, 150000)
	for r := 0; r < runs; r++ {
		var execs []*proc
		for i := range 3 {
			execs = append(execs, startExecProc(t, fmt.Sprintf("executor-%d-%d", r, i), port))
		}
		for _, e := range execs {
			waitLog(t, e.log, "registered with scheduler")
		}
		start := time.Now()
		if got, err := runJobErr(addr, req); err != nil || !slices.Equal(got, want) {
			t.Fatalf("clean run: %q %v", got, err)
		}
		clean := time.Since(start)
		victim := execs[0]
		id := executorIDFromLog(t, victim.log)
		row.runs++
		done := make(chan error, 1)
		var got []string
		start = time.Now()
		go func() {
			var err error
			got, err = runJobErr(addr, req)
			done <- err
		}()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			res, _ := cl.Scheduler().ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
			busy := false
			for _, e := range res.GetExecutors() {
				busy = busy || (e.GetRegistration().GetId() == id && e.GetRunningTasks() > 0)
			}
			if busy {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		victim.cmd.Process.Signal(syscall.SIGSTOP)
		frozen := time.Now()
		detected := make(chan time.Duration, 1)
		go func() { detected <- waitGone(cl, id, 2*time.Minute) }()
		var jobErr error
		select {
		case jobErr = <-done:
		case <-time.After(2 * time.Minute):
			victim.cmd.Process.Signal(syscall.SIGCONT)
			row.lost++
			t.Errorf("job hung with an executor frozen")
			continue
		}
		took := time.Since(start)
		switch {
		case jobErr != nil:
			row.lost++
			t.Errorf("job with an executor frozen: %v", jobErr)
		case !slices.Equal(got, want):
			row.wrong++
			t.Errorf("job with an executor frozen: got %q", got)
		default:
			row.recover = append(row.recover, time.Since(frozen))
			row.extra = append(row.extra, max(took-clean, 0))
		}
		if det := <-detected; det >= 0 {
			row.detect = append(row.detect, det)
		}
		if rest := hold - time.Since(frozen); rest > 0 {
			time.Sleep(rest)
		}
		victim.cmd.Process.Signal(syscall.SIGCONT)
		got2, err := runJobErr(addr, req)
		switch {
		case err != nil:
			row.lost++
			t.Errorf("job after the executor resumed: %v", err)
		case !slices.Equal(got2, want):
			row.wrong++
			t.Errorf("job after the executor resumed: got %q", got2)
		case jobErr == nil && slices.Equal(got, want):
			row.survived++
		}
		for _, e := range execs {
			e.cmd.Process.Signal(syscall.SIGKILL)
			e.wait(t, 10*time.Second)
		}
	}
}

// chaosStraggler slows one of three executors to about a fifth of its
// speed (SIGSTOP for 400 ms, SIGCONT for 100 ms, over and over) while a
// job runs, with speculation on and off: with it, copies of the slow
// executor's tasks run elsewhere and the job should take at most 1.5
// times its clean time; without it, the table shows what a straggler
// costs.
func chaosStraggler(t *testing.T, runs int, rep *chaosReport) {
	req, want := bigJob(t, 12, 500000)
	for _, spec := range []bool{true, false} {
		row := &chaosRow{scenario: fmt.Sprintf("1 of 3 executors slowed 5x (SIGSTOP bursts) during a job, speculation %s", map[bool]string{true: "on", false: "off"}[spec])}
		var ratios []float64
		port := freePort(t)
		args := []string{"scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "info"}
		args = append(args, "--speculation="+strconv.FormatBool(spec))
		sched := startProc(t, "scheduler-spec-"+strconv.FormatBool(spec), args...)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		var execs []*proc
		for i := range 3 {
			execs = append(execs, startExecProc(t, fmt.Sprintf("executor-spec-%t-%d", spec, i), port))
		}
		for _, e := range execs {
			waitLog(t, e.log, "registered with scheduler")
		}
		for r := 0; r < runs; r++ {
			start := time.Now()
			if got, err := runJobErr(addr, req); err != nil || !slices.Equal(got, want) {
				t.Fatalf("clean run: %q %v", got, err)
			}
			clean := time.Since(start)
			stop := make(chan struct{})
			slowed := make(chan struct{})
			go func() {
				defer close(slowed)
				for {
					execs[0].cmd.Process.Signal(syscall.SIGSTOP)
					select {
					case <-stop:
						execs[0].cmd.Process.Signal(syscall.SIGCONT)
						return
					case <-time.After(400 * time.Millisecond):
					}
					execs[0].cmd.Process.Signal(syscall.SIGCONT)
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
			}()
			start = time.Now()
			got, err := runJobErr(addr, req)
			took := time.Since(start)
			close(stop)
			<-slowed
			row.record(t, "job with a straggler", err, sameOrErr(got, want))
			if err == nil && slices.Equal(got, want) {
				row.extra = append(row.extra, max(took-clean, 0))
				row.recover = append(row.recover, took)
				ratios = append(ratios, took.Seconds()/clean.Seconds())
				t.Logf("speculation %t: clean %s, with a straggler %s (%.2fx)", spec, clean.Round(time.Millisecond), took.Round(time.Millisecond), took.Seconds()/clean.Seconds())
			}
		}
		for _, e := range execs {
			e.cmd.Process.Signal(syscall.SIGKILL)
			e.wait(t, 10*time.Second)
		}
		log := readFile(t, sched.log)
		copies, won := strings.Count(log, "a speculative copy starts"), strings.Count(log, "the speculative copy finished first")
		if spec && copies == 0 {
			t.Errorf("speculation on, a straggler, and no copy ran")
		}
		if !spec && copies > 0 {
			t.Errorf("speculation off, yet %d copies ran", copies)
		}
		row.note = fmt.Sprintf("extra: over the same job's clean run on the same cluster; recover: the slowed run's time; %d speculative copies, %d won", copies, won)
		if len(ratios) > 0 {
			slices.Sort(ratios)
			row.note += fmt.Sprintf("; slowed / clean: %.2fx median, %.2fx max", ratios[len(ratios)/2], ratios[len(ratios)-1])
		}
		rep.add(row)
	}
}

// sameOrErr is nil when got equals want.
func sameOrErr(got, want []string) error {
	if slices.Equal(got, want) {
		return nil
	}
	return fmt.Errorf("got %q, want %q", got, want)
}

// chaosSchedulerRestart kills the scheduler during a job and starts a new
// one on the same port: the running job's client gets NotFound (the job
// lived in the old scheduler's memory) instead of hanging, the executors
// re-register on their next heartbeat, and the cluster answers new jobs.
func chaosSchedulerRestart(t *testing.T, runs int, rep *chaosReport) {
	row := &chaosRow{scenario: "SIGKILL the scheduler mid-job, restart it on the same port", note: "the job in flight fails at once (Unavailable while the scheduler is down, NotFound after: without --state-dir jobs live in the scheduler's memory; with one they carry on, see TestSchedulerRestartKeepsJobs); lost counts clients that hung or jobs after the restart that failed; recover: restart to executors re-registered"}
	defer rep.add(row)
	port := freePort(t)
	sched := startSchedProc(t, "scheduler", port)
	for i := range 2 {
		startExecProc(t, fmt.Sprintf("executor-%d", i), port)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cl, err := client.Dial(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitExecutors(t, cl, 2, 30*time.Second)
	req, want := bigJob(t, 6, 150000)
	for r := 0; r < runs; r++ {
		row.runs++
		errc := make(chan error, 1)
		go func() { _, err := runJobErr(addr, req); errc <- err }()
		// Kill once the job has tasks running.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			res, err := cl.Scheduler().ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
			busy := false
			for _, e := range res.GetExecutors() {
				busy = busy || e.GetRunningTasks() > 0
			}
			if err == nil && busy {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		sched.cmd.Process.Signal(syscall.SIGKILL)
		sched.wait(t, 10*time.Second)
		restarted := time.Now()
		sched = startSchedProc(t, fmt.Sprintf("scheduler-%d", r+1), port)
		select {
		case err := <-errc:
			t.Logf("the job in flight ended with: %v", err)
		case <-time.After(60 * time.Second):
			row.lost++
			t.Errorf("the client of the job in flight hung after the scheduler restart")
			continue
		}
		waitExecutors(t, cl, 2, 30*time.Second)
		row.recover = append(row.recover, time.Since(restarted))
		got, err := runJobErr(addr, req)
		switch {
		case err != nil:
			row.lost++
			t.Errorf("job after the restart: %v", err)
		case !slices.Equal(got, want):
			row.wrong++
			t.Errorf("job after the restart: got %q", got)
		default:
			row.survived++
		}
	}
}

// chaosDiskFull runs a job whose shuffle output cannot fit the executor's
// work dir (a small tmpfs): the job fails with an I/O error naming the
// path, the executor leaves no partial files and keeps serving.
func chaosDiskFull(t *testing.T, runs int, rep *chaosReport) {
	row := &chaosRow{scenario: "work dir full (2 MiB tmpfs) during a shuffle write", note: "the big job must fail with ENOSPC naming the file; survived = no partial files left and the next job correct"}
	defer rep.add(row)
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): disk-full scenario skipped", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	s := startScheduler(t, 0, nil)
	startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.WorkDir = mnt })
	// Every scanned row crosses the shuffle (round robin into 2
	// partitions): ~6 MB of shuffle output for a 2 MiB disk.
	agg, _ := bigJob(t, 2, 200000)
	scan := agg.Plan.GetHashAggregate().GetInput().GetExchange().GetInput().GetHashAggregate().GetInput()
	big := &kapotv1.SubmitJobRequest{Plan: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Limit{Limit: &kapotv1.LimitNode{Fetch: 1,
		Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Exchange{Exchange: &kapotv1.ExchangeNode{Input: scan,
			Partitioning: &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_RoundRobin{RoundRobin: &kapotv1.RoundRobinPartitioning{PartitionCount: 2}}}}}}}}}}
	used := func() int64 {
		var n int64
		filepath.Walk(mnt, func(_ string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				n += info.Size()
			}
			return nil
		})
		return n
	}
	for r := 0; r < runs; r++ {
		row.runs++
		// Results of earlier jobs stay until their clean-up delay: count
		// only what the failed job leaves.
		before := used()
		_, err := runJobErr(s.addr, big)
		if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), mnt) {
			row.wrong++
			t.Errorf("job on a full disk: %v", err)
			continue
		}
		// The failed job's other tasks are cancelled and its data removed
		// asynchronously (the client hears of the failure first): wait for
		// the clean-up, bounded.
		left := used() - before
		for deadline := time.Now().Add(10 * time.Second); left > 0 && time.Now().Before(deadline); left = used() - before {
			time.Sleep(20 * time.Millisecond)
		}
		got, err := runJobErr(s.addr, groupByPlan(t))
		switch {
		case left > 0:
			row.lost++
			t.Errorf("%d bytes of partial files left in the work dir", left)
		case err != nil || !slices.Equal(got, expectedGroupBy):
			row.wrong++
			t.Errorf("job after the disk-full failure: %q %v", got, err)
		default:
			row.survived++
		}
	}
}

// chaosSIGTERM sends SIGTERM to one of two executor processes while it runs
// a task of a busy job. With a drain timeout longer than the tasks, its
// running tasks finish and are reported, no task is cancelled, and it exits
// 0; with a drain timeout shorter than the tasks (10 ms), they are
// cancelled, the scheduler hears they were killed and runs them again on
// the other executor, and it still exits 0. Every answer is exact.
func chaosSIGTERM(t *testing.T, runs int, rep *chaosReport) {
	for _, c := range []struct {
		drain, scenario, must, mustNot, schedMust string
	}{
		{"30s", "SIGTERM 1 of 2 executors while it runs a task, drain timeout 30 s", "task finished", "cancelling running tasks", ""},
		{"10ms", "SIGTERM 1 of 2 executors while it runs a task, drain timeout 10 ms (shorter than the task)", "drain timeout: cancelling running tasks", "", "task killed; it runs again"},
	} {
		row := &chaosRow{scenario: c.scenario, note: "recover: SIGTERM to exit 0; survived = exact answer, exit 0, tasks " + map[bool]string{true: "finished, none cancelled", false: "cancelled and reported killed to the scheduler"}[c.drain == "30s"]}
		for r := 0; r < runs; r++ {
			row.runs++
			ok := t.Run(c.drain, func(t *testing.T) {
				cl := startProcCluster(t, 2, "push-staged", "--drain-timeout", c.drain)
				req, want := bigJob(t, 6, 300000)
				errc := make(chan error, 1)
				var got []string
				go func() {
					var err error
					got, err = runJobErr(cl.addr, req)
					errc <- err
				}()
				waitLog(t, cl.executors[0].log, "task started")
				start := time.Now()
				cl.executors[0].cmd.Process.Signal(syscall.SIGTERM)
				if err := cl.executors[0].wait(t, 60*time.Second); err != nil {
					t.Errorf("executor exit after SIGTERM: %v, want exit 0", err)
				}
				took := time.Since(start)
				if err := <-errc; err != nil {
					row.lost++
					t.Fatalf("job: %v", err)
				}
				if !slices.Equal(got, want) {
					row.wrong++
					t.Fatalf("got %q\nwant %q", got, want)
				}
				log, _ := os.ReadFile(cl.executors[0].log)
				for _, must := range []string{"TERMINATING", "executor stopped", c.must} {
					if !strings.Contains(string(log), must) {
						t.Errorf("executor log lacks %q", must)
					}
				}
				if c.mustNot != "" && strings.Contains(string(log), c.mustNot) {
					t.Errorf("executor log has %q", c.mustNot)
				}
				if c.schedMust != "" {
					sl, _ := os.ReadFile(cl.sched.log)
					if !strings.Contains(string(sl), c.schedMust) {
						t.Errorf("scheduler log lacks %q", c.schedMust)
					}
				}
				if left, _ := os.ReadDir(cl.workDirs[0]); len(left) != 0 {
					t.Errorf("job data left after shutdown: %v", left)
				}
				if !t.Failed() {
					row.recover = append(row.recover, took)
				}
			})
			if ok {
				row.survived++
			}
		}
		rep.add(row)
	}
}

// chaosConcurrentJobs runs 100 small jobs at once against 2 executors: no
// lost status, no stuck job, every answer exact, goroutines back to their
// baseline and no Arrow buffer leaked (the executors' checked allocators).
func chaosConcurrentJobs(t *testing.T, runs int, rep *chaosReport) {
	row := &chaosRow{scenario: "100 concurrent small jobs, 2 executors", note: "recover: wall time of the 100 jobs"}
	defer rep.add(row)
	s := startScheduler(t, 0, nil)
	for range 2 {
		startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.ConcurrentTasks = 2 })
	}
	// Warm up with a smaller burst, so that pooled connections (client to
	// scheduler, scheduler to executors, executor to executor) exist before
	// the baseline is taken: growth after that would be a leak.
	var warm sync.WaitGroup
	for range 20 {
		warm.Add(1)
		go func() { defer warm.Done(); runJobErr(s.addr, groupByPlan(t)) }()
	}
	warm.Wait()
	base := settledGoroutines()
	for r := 0; r < runs; r++ {
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := runJobErr(s.addr, groupByPlan(t))
				var bad error
				if !slices.Equal(got, expectedGroupBy) {
					bad = fmt.Errorf("got %q", got)
				}
				mu.Lock()
				defer mu.Unlock()
				row.record(t, fmt.Sprintf("job %d", i), err, bad)
			}()
		}
		wg.Wait()
		row.recover = append(row.recover, time.Since(start))
	}
	if after := settledGoroutines(); after > base+10 {
		t.Errorf("goroutines: %d before, %d after the load", base, after)
	}
}

// settledGoroutines waits for short-lived goroutines to finish and returns
// the count.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return m
		}
		n = m
	}
	return n
}

// chaosConcurrentTPCH runs 4 TPC-H queries at once, 3 rounds per run,
// against 2 executor processes with a 256 MiB memory pool each, sampling
// their admin metrics while the queries run. Every answer is exact; the
// pool's reservations never exceed it; peak RSS stays within the pool plus
// a stated margin; afterwards goroutines and live Arrow bytes return to
// their idle values (no leak).
func chaosConcurrentTPCH(t *testing.T, runs int, rep *chaosReport) {
	const pool = 256 << 20
	const margin = 384 << 20 // Go runtime, GC headroom, scan and Flight buffers outside the pool
	sf := 0.1
	if v, err := strconv.ParseFloat(os.Getenv("KAPOT_CHAOS_SF"), 64); err == nil && v > 0 {
		sf = v
	}
	sets := [][]int{{1, 3, 9, 18}, {5, 10, 13, 21}, {2, 7, 8, 16}}
	var all []int
	for _, s := range sets {
		all = append(all, s...)
	}
	plans, want := tpchFixture(t, sf, 2, all)
	port := freePort(t)
	startSchedProc(t, "scheduler", port)
	var admins []string
	for i := range 2 {
		ap := freePort(t)
		admins = append(admins, fmt.Sprintf("http://127.0.0.1:%d/metrics", ap))
		startProc(t, fmt.Sprintf("executor-%d", i), "executor",
			"--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
			"--scheduler-host", "127.0.0.1", "--scheduler-port", strconv.Itoa(port), "--scheduler-connect-timeout-seconds", "20",
			"--concurrent-tasks", "2", "--work-dir", t.TempDir(), "--memory-pool-size", strconv.Itoa(pool),
			"--admin-port", strconv.Itoa(ap), "--admin-bind-host", "127.0.0.1", "--log-level", "info", "--disable-numa-pinning")
	}
	cl, err := client.Dial("127.0.0.1:"+strconv.Itoa(port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitExecutors(t, cl, 2, 30*time.Second)
	scrape := func(url string) map[string]float64 {
		code, body, err := httpGet(url)
		if err != nil || code != 200 {
			t.Fatalf("scrape %s: %d %v", url, code, err)
		}
		m := map[string]float64{}
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "kapot_executor_memory_pool_used_bytes", "kapot_executor_arrow_allocated_bytes"} {
			v, ok := metricValue(body, name)
			if !ok {
				t.Fatalf("%s lacks %s", url, name)
			}
			m[name] = v
		}
		return m
	}
	round := func(row *chaosRow, set []int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, n := range set {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				_, bs, err := cl.Run(ctx, &kapotv1.SubmitJobRequest{Plan: plans[n].Root, JobName: fmt.Sprintf("load q%d", n)})
				rows := engine.FormatRows(bs, "|")
				for _, b := range bs {
					b.Release()
				}
				if row == nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				row.record(t, fmt.Sprintf("q%d", n), err, oracle.SameRows(rows, want[n]))
			}()
		}
		wg.Wait()
	}
	// Warm up (connection pools, lazily started goroutines), then take the
	// idle baseline.
	round(nil, sets[0])
	idle := func() []map[string]float64 {
		var out []map[string]float64
		for _, u := range admins {
			out = append(out, scrape(u))
		}
		return out
	}
	settle := func(base []map[string]float64) []map[string]float64 {
		deadline := time.Now().Add(20 * time.Second)
		for {
			now := idle()
			ok := true
			for i := range now {
				if now[i]["go_goroutines"] > base[i]["go_goroutines"]+10 || now[i]["kapot_executor_arrow_allocated_bytes"] != base[i]["kapot_executor_arrow_allocated_bytes"] || now[i]["kapot_executor_memory_pool_used_bytes"] != 0 {
					ok = false
				}
			}
			if ok || time.Now().After(deadline) {
				return now
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	base := settle(idle())
	row := &chaosRow{scenario: fmt.Sprintf("4 concurrent TPC-H queries (SF %g), 2 executors with 256 MiB pools, 3 rounds per run", sf)}
	defer rep.add(row)
	var peakRSS, peakPool float64
	for r := 0; r < runs; r++ {
		for _, set := range sets {
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					for _, m := range idle() {
						peakRSS = max(peakRSS, m["process_resident_memory_bytes"])
						peakPool = max(peakPool, m["kapot_executor_memory_pool_used_bytes"])
					}
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}()
			start := time.Now()
			round(row, set)
			row.recover = append(row.recover, time.Since(start))
			close(stop)
			<-sampled
		}
	}
	after := settle(base)
	for i := range after {
		if g, b := after[i]["go_goroutines"], base[i]["go_goroutines"]; g > b+10 {
			t.Errorf("executor %d: %v goroutines after the load, %v idle before", i, g, b)
		}
		if a, b := after[i]["kapot_executor_arrow_allocated_bytes"], base[i]["kapot_executor_arrow_allocated_bytes"]; a != b {
			t.Errorf("executor %d: %v live Arrow bytes after the load, %v idle before (leak)", i, a, b)
		}
		if p := after[i]["kapot_executor_memory_pool_used_bytes"]; p != 0 {
			t.Errorf("executor %d: %v bytes still reserved from the pool", i, p)
		}
	}
	if peakPool > pool {
		t.Errorf("pool reservations peaked at %v bytes, above the %d-byte pool", peakPool, pool)
	}
	if peakRSS > pool+margin {
		t.Errorf("executor RSS peaked at %.0f MiB, above the pool (%d MiB) plus the %d MiB margin", peakRSS/(1<<20), pool>>20, margin>>20)
	}
	row.note = fmt.Sprintf("recover: wall time of a round of 4; peak executor RSS %.0f MiB (limit: pool %d MiB + margin %d MiB), peak pool reservations %.0f MiB; goroutines and live Arrow bytes back to idle (%v / %v)",
		peakRSS/(1<<20), pool>>20, margin>>20, peakPool/(1<<20), []float64{after[0]["go_goroutines"], after[1]["go_goroutines"]}, []float64{after[0]["kapot_executor_arrow_allocated_bytes"], after[1]["kapot_executor_arrow_allocated_bytes"]})
}
