package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
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
