package e2e

import (
	"context"
	"fmt"
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
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The chaos suite's scenarios of restarts, full disks, SIGTERM and
// concurrency (TestChaos in chaos_test.go runs them).

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
