package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
	"github.com/kapot-go/kapot/tpch"
)

// etcdMember is one etcd process of a test cluster.
type etcdMember struct {
	p        *proc
	endpoint string
	args     []string
	starts   int
}

// restart starts a stopped member again on its data dir.
func (m *etcdMember) restart(t *testing.T) {
	t.Helper()
	m.starts++
	m.p = startBinProc(t, kapotBuild(t, &etcdBin), fmt.Sprintf("%s-%d", m.args[1], m.starts), m.args...)
	waitLogFor(t, m.p.log, "etcd member ready", 90*time.Second)
}

// startEtcdCluster starts n etcd members as processes (etcd's own server,
// see e2e/etcdmember) and waits until each is ready.
func startEtcdCluster(t *testing.T, n int) []*etcdMember {
	t.Helper()
	bin := kapotBuild(t, &etcdBin)
	type urls struct{ client, peer string }
	var us []urls
	var initial []string
	for i := range n {
		u := urls{fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
		us = append(us, u)
		initial = append(initial, fmt.Sprintf("m%d=%s", i, u.peer))
	}
	var ms []*etcdMember
	for i, u := range us {
		args := []string{"--name", fmt.Sprintf("m%d", i), "--data-dir", filepath.Join(t.TempDir(), "etcd"),
			"--client-url", u.client, "--peer-url", u.peer, "--initial-cluster", strings.Join(initial, ",")}
		p := startBinProc(t, bin, fmt.Sprintf("etcd-m%d", i), args...)
		ms = append(ms, &etcdMember{p: p, endpoint: u.client, args: args})
	}
	for _, m := range ms {
		waitLogFor(t, m.p.log, "etcd member ready", 90*time.Second)
	}
	return ms
}

// waitLogFor waits until path contains s.
func waitLogFor(t *testing.T, path, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), s) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%q never appeared in %s", s, path)
}

// haCluster is etcd, schedulers sharing it, and executors that know them
// all, each a process started with default settings.
type haCluster struct {
	etcd      []*etcdMember
	endpoints string
	ports     []int
	sqlPorts  []int // Flight SQL
	scheds    []*proc
	addrs     string  // every scheduler, as clients and executors are given them
	all       []*proc // every scheduler process started
	starts    int
}

func (c *haCluster) startScheduler(t *testing.T, i int) {
	c.starts++
	defer func() { c.all = append(c.all, c.scheds[i]) }()
	c.scheds[i] = startProc(t, fmt.Sprintf("scheduler-%d-%d", i, c.starts), "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(c.ports[i]),
		"--state-store", "etcd", "--etcd-endpoints", c.endpoints, "--etcd-prefix", "/kapot-e2e", "--log-level", "info",
		"--flight-sql-port", strconv.Itoa(c.sqlPorts[i]))
}

func startHACluster(t *testing.T, schedulers, executors int) *haCluster {
	t.Helper()
	c := &haCluster{etcd: startEtcdCluster(t, 3)}
	var eps, addrs []string
	for _, m := range c.etcd {
		eps = append(eps, m.endpoint)
	}
	c.endpoints = strings.Join(eps, ",")
	for range schedulers {
		c.ports = append(c.ports, restartPort(t))
		c.sqlPorts = append(c.sqlPorts, restartPort(t))
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(c.ports[len(c.ports)-1]))
	}
	c.addrs = strings.Join(addrs, ",")
	c.scheds = make([]*proc, schedulers)
	for i := range schedulers {
		c.startScheduler(t, i)
	}
	for i := range executors {
		startProc(t, fmt.Sprintf("executor-%d", i), "executor",
			"--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
			"--scheduler-host", c.addrs, "--scheduler-connect-timeout-seconds", "60",
			"--concurrent-tasks", "2", "--work-dir", t.TempDir(), "--log-level", "info", "--disable-numa-pinning")
	}
	return c
}

// recoveredTasks sums, over every scheduler's log, the completed tasks
// kept and the running tasks adopted when it took over.
func (c *haCluster) recoveredTasks(t *testing.T) (kept, adopted int) {
	for _, p := range c.all {
		for _, line := range strings.Split(readFile(t, p.log), "\n") {
			var v struct {
				Kept    int `json:"kept_tasks"`
				Adopted int `json:"adopted_tasks"`
			}
			if json.Unmarshal([]byte(line), &v) == nil {
				kept += v.Kept
				adopted += v.Adopted
			}
		}
	}
	return kept, adopted
}

// leader is the index of the scheduler that answers as leader (-1: none).
func (c *haCluster) leader(t *testing.T) int {
	for i, p := range c.ports {
		cl, err := client.Dial("127.0.0.1:"+strconv.Itoa(p), nil)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = cl.Scheduler().ListExecutors(ctx, &kapotv1.ListExecutorsRequest{})
		cancel()
		cl.Close()
		if err == nil {
			return i
		}
	}
	return -1
}

// TestSchedulerHA runs TPC-H queries on 3 etcd members, 2 schedulers and 3
// executors (real processes, default settings) and SIGKILLs the leading
// scheduler at a random point of each query: the standby takes over, the
// executors re-register with it, the client follows, and every answer
// must be DuckDB's. The killed scheduler comes back as the standby. Then
// one etcd member is killed during a query. KAPOT_HA_QUERIES picks the
// queries (default: 10 of them), KAPOT_HA_REPORT writes the figures.
func TestSchedulerHA(t *testing.T) {
	if testing.Short() {
		t.Skip("HA suite: skipped with -short")
	}
	queries := []int{1, 3, 4, 5, 6, 10, 12, 14, 18, 19}
	if raceDetector {
		queries = []int{1, 6, 12} // a slice under the race detector
	}
	queries = envQueries(t, "KAPOT_HA_QUERIES", queries)
	seed := uint64(envInt("KAPOT_HA_SEED", int(time.Now().UnixNano()%1_000_000)))
	t.Logf("seed %d (KAPOT_HA_SEED reproduces the kill timings)", seed)
	sf := 0.1
	if v, err := strconv.ParseFloat(os.Getenv("KAPOT_HA_SF"), 64); err == nil && v > 0 {
		sf = v
	}
	set := sharedTPCH(t, sf, 3)
	plans, want := tpchPlans(t, set, queries)
	c := startHACluster(t, 2, 3)
	cl, err := client.Dial(c.addrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitExecutors(t, cl, 3, 60*time.Second)
	createTPCH(t, cl.NewSession(nil), set.dir) // for Flight SQL, below
	r := &haRun{t: t, c: c, cl: cl, plans: plans, want: want, queries: queries, seed: seed, sf: sf, rng: rand.New(rand.NewPCG(seed, 11))}
	r.leaderKilledDuringQueries()
	r.flightSQLAfterLeaderKilled()
	r.leaderStoppedBySIGTERM()
	r.etcdMemberKilled()
	r.etcdQuorumLost()
	r.writeReport()
}

// haRun is TestSchedulerHA's cluster, client, queries and the figures its
// steps gather for the report.
type haRun struct {
	t       *testing.T
	c       *haCluster
	cl      *client.Client
	plans   map[int]*planner.Plan
	want    map[int][]string
	queries []int
	seed    uint64
	sf      float64
	rng     *rand.Rand

	lines            []string // the report's table, one row per query
	median, maxExtra time.Duration
	kept, adopted    int
	termTook         time.Duration
	stopped          time.Duration
	answered         time.Duration
}

func (r *haRun) run(n int) ([]string, error) {
	return runPlan(r.cl, r.plans[n], fmt.Sprintf("ha q%d", n))
}

// checked runs query n and compares its answer with DuckDB's, on a
// goroutine: the result comes on the channel.
func (r *haRun) checked(n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		rows, err := r.run(n)
		if err == nil {
			err = oracle.SameRows(rows, r.want[n])
		}
		done <- err
	}()
	return done
}

// leaderKilledDuringQueries runs each query cleanly, then again with the
// leader SIGKILLed at a random point of the first half of its clean time.
func (r *haRun) leaderKilledDuringQueries() {
	t, c := r.t, r.c
	var extras []time.Duration
	for _, n := range r.queries {
		start := time.Now()
		rows, err := r.run(n)
		clean := time.Since(start)
		if err != nil {
			t.Fatalf("q%d clean run: %v", n, err)
		}
		if err := oracle.SameRows(rows, r.want[n]); err != nil {
			t.Fatalf("q%d clean run: %v", n, err)
		}
		leader := c.leader(t)
		if leader < 0 {
			t.Fatal("no scheduler answers as leader")
		}
		start = time.Now()
		done := r.checked(n)
		time.Sleep(time.Duration(r.rng.Int64N(int64(clean)/2 + 1)))
		killed := time.Since(start)
		c.scheds[leader].cmd.Process.Signal(syscall.SIGKILL)
		c.scheds[leader].wait(t, 10*time.Second)
		c.startScheduler(t, leader) // back as the standby
		err = <-done
		took := time.Since(start)
		if err != nil {
			t.Fatalf("q%d with the leader killed after %s: %v", n, killed.Round(time.Millisecond), err)
		}
		extra := max(took-clean, 0)
		extras = append(extras, extra)
		r.lines = append(r.lines, fmt.Sprintf("| Q%d | %d | %d | %d | %d |", n, clean.Milliseconds(), killed.Milliseconds(), took.Milliseconds(), extra.Milliseconds()))
		t.Logf("q%d: clean %s, leader killed at %s, answered (right) after %s: extra %s", n, clean.Round(time.Millisecond), killed.Round(time.Millisecond),
			took.Round(time.Millisecond), extra.Round(time.Millisecond))
		waitExecutors(t, r.cl, 3, 60*time.Second)
	}
	r.kept, r.adopted = c.recoveredTasks(t)
	t.Logf("tasks carried on by the new leaders: %d completed ones kept, %d running ones adopted", r.kept, r.adopted)
	sorted := slices.Clone(extras)
	slices.Sort(sorted)
	r.median = sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		r.median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	r.maxExtra = sorted[len(sorted)-1]
	t.Logf("leader killed during %d queries: %d/%d answers equal DuckDB's; median extra time %s (max %s)", len(r.queries), len(r.queries), len(r.queries),
		r.median.Round(time.Millisecond), r.maxExtra.Round(time.Millisecond))
}

// flightSQLAfterLeaderKilled: a Flight SQL client that started a query on
// the leader reads its result from the new leader with the tickets it was
// given: the job (Flight SQL's run detached) was carried on.
func (r *haRun) flightSQLAfterLeaderKilled() {
	t, c := r.t, r.c
	leader := c.leader(t)
	text, err := tpch.Query(r.queries[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fcl, err := flightsql.NewClient("127.0.0.1:"+strconv.Itoa(c.sqlPorts[leader]), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	info, err := fcl.Execute(ctx, text)
	fcl.Close()
	if err != nil {
		t.Fatalf("flight sql execute: %v", err)
	}
	c.scheds[leader].cmd.Process.Signal(syscall.SIGKILL)
	c.scheds[leader].wait(t, 10*time.Second)
	c.startScheduler(t, leader)
	other := 1 - leader
	fcl, err = flightsql.NewClient("127.0.0.1:"+strconv.Itoa(c.sqlPorts[other]), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer fcl.Close()
	var bs []arrow.RecordBatch
	for _, ep := range info.Endpoint {
		var rdr *flight.Reader
		// The standby answers Unavailable until it is elected.
		for {
			rdr, err = fcl.DoGet(ctx, ep.GetTicket())
			if err == nil || ctx.Err() != nil || status.Code(err) != codes.Unavailable {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("flight sql DoGet on the new leader: %v", err)
		}
		for rdr.Next() {
			b := rdr.RecordBatch()
			b.Retain()
			bs = append(bs, b)
		}
		if err := rdr.Err(); err != nil {
			t.Fatalf("flight sql DoGet on the new leader: %v", err)
		}
		rdr.Release()
	}
	got := engine.FormatRows(bs, "|")
	for _, b := range bs {
		b.Release()
	}
	if err := oracle.SameRows(got, r.want[r.queries[0]]); err != nil {
		t.Fatalf("flight sql result read from the new leader: %v", err)
	}
	t.Logf("a Flight SQL query whose leader died read its result from the new leader with its tickets")
}

// leaderStoppedBySIGTERM: the leader stopped cleanly (SIGTERM: a rolling
// upgrade) resigns: the standby takes over without waiting for the lease.
func (r *haRun) leaderStoppedBySIGTERM() {
	t, c := r.t, r.c
	n := r.queries[0]
	leader := c.leader(t)
	start := time.Now()
	termDone := r.checked(n)
	time.Sleep(20 * time.Millisecond)
	c.scheds[leader].cmd.Process.Signal(syscall.SIGTERM)
	if err := c.scheds[leader].wait(t, 30*time.Second); err != nil {
		t.Fatalf("the leader's exit on SIGTERM: %v", err)
	}
	if err := <-termDone; err != nil {
		t.Fatalf("q%d with the leader stopped by SIGTERM: %v", n, err)
	}
	r.termTook = time.Since(start)
	c.startScheduler(t, leader)
	t.Logf("q%d with the leader stopped by SIGTERM: answered right after %s", n, r.termTook.Round(time.Millisecond))
}

// etcdMemberKilled: one etcd member dies during a query: the other two are
// a quorum.
func (r *haRun) etcdMemberKilled() {
	t := r.t
	n := r.queries[0]
	done := r.checked(n)
	time.Sleep(50 * time.Millisecond)
	r.c.etcd[0].p.cmd.Process.Signal(syscall.SIGKILL)
	if err := <-done; err != nil {
		t.Fatalf("q%d with an etcd member killed: %v", n, err)
	}
	if err := <-r.checked(n); err != nil {
		t.Fatalf("q%d after an etcd member was killed: %v", n, err)
	}
}

// etcdQuorumLost: etcd loses its quorum (a second member dies): the leader
// cannot keep its lease and stops (as designed: it can no longer know it
// is the only leader); no scheduler leads until the quorum is back. The
// members come back, the schedulers are restarted (as systemd's
// Restart=on-failure would), one is elected and the cluster answers.
func (r *haRun) etcdQuorumLost() {
	t, c := r.t, r.c
	n := r.queries[0]
	leader := c.leader(t)
	lost := time.Now()
	c.etcd[1].p.cmd.Process.Signal(syscall.SIGKILL)
	c.etcd[1].p.wait(t, 10*time.Second)
	select {
	case <-c.scheds[leader].done:
	case <-time.After(60 * time.Second):
		t.Fatal("the leader still runs a minute after etcd lost its quorum")
	}
	r.stopped = time.Since(lost)
	if !strings.Contains(readFile(t, c.scheds[leader].log), "leadership lost") {
		t.Fatalf("the leader stopped without saying it lost its leadership:\n%s", tail(readFile(t, c.scheds[leader].log), 2000))
	}
	back := time.Now()
	c.etcd[0].restart(t)
	c.etcd[1].restart(t)
	for i, p := range c.scheds {
		select {
		case <-p.done:
			c.startScheduler(t, i)
		default:
		}
	}
	if err := <-r.checked(n); err != nil {
		t.Fatalf("q%d after etcd's quorum came back: %v", n, err)
	}
	r.answered = time.Since(back)
	t.Logf("etcd quorum lost: the leader stopped after %s; quorum restored (2 members restarted) to a right answer: %s", r.stopped.Round(time.Millisecond), r.answered.Round(time.Millisecond))
}

// writeReport writes the figures to KAPOT_HA_REPORT, when it is set.
func (r *haRun) writeReport() {
	path := os.Getenv("KAPOT_HA_REPORT")
	if path == "" {
		return
	}
	n := r.queries[0]
	doc := fmt.Sprintf("# Scheduler fail-over figures\n\nReproduce with `make ha` (seed %d): 3 etcd members, 2 schedulers and 3 executors as processes on one "+
		"2-core host, TPC-H SF %g, default settings (--leader-lease-seconds 3). Each query runs once cleanly, then again with the leading scheduler "+
		"SIGKILLed at a random point of the first half of its clean time (while its job runs: the clean time includes reading the result) (the killed one restarts as the standby). Every answer equals DuckDB's.\n\n"+
		"| query | clean ms | killed at ms | answered at ms | extra ms |\n|---|---:|---:|---:|---:|\n%s\n\n**Median extra time %s** (max %s). "+
		"The new leaders kept %d completed tasks (their outputs still on the executors) and adopted %d running ones instead of running them again. "+
		"The leader stopped with SIGTERM during Q%d (it resigns): answered right after %s. "+
		"Then an etcd member SIGKILLed during Q%d: the answer was right, and so was the next query's. Then a second member SIGKILLed "+
		"(no quorum): the leader stopped %s later (its lease could not be kept); the two members were restarted with the schedulers, and Q%d "+
		"answered right %s after the members' restart began (etcd start, election, take-over, executors re-registering).\n",
		r.seed, r.sf, strings.Join(r.lines, "\n"), r.median.Round(time.Millisecond), r.maxExtra.Round(time.Millisecond), r.kept, r.adopted, n, r.termTook.Round(time.Millisecond), n,
		r.stopped.Round(100*time.Millisecond), n, r.answered.Round(100*time.Millisecond))
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// TestSchedulerRestartKeepsJobs: one scheduler on its embedded store
// (--state-dir), two executors, all processes with default settings. The
// scheduler is SIGKILLed during a query and during a CREATE TABLE AS, and
// started again on the same port and state dir: the query's client gets
// DuckDB's answer, the write ends (committed whole, or failed saying
// nothing was committed: never half, never RUNNING forever), and the
// catalog is kept.
func TestSchedulerRestartKeepsJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("process suite: skipped with -short")
	}
	dir, db := tpchWithDuckDB(t, 0.1, 3)
	port, state := restartPort(t), t.TempDir()
	starts := 0
	var startSched func() *proc
	adminPort := restartPort(t)
	startSched = func() *proc {
		starts++
		return startProc(t, fmt.Sprintf("scheduler-%d", starts), "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--state-dir", state, "--log-level", "info", "--admin-port", strconv.Itoa(adminPort))
	}
	sched := startSched()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := range 2 {
		startExecProc(t, fmt.Sprintf("executor-%d", i), port)
	}
	cl, err := client.Dial(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitExecutors(t, cl, 2, 60*time.Second)
	sess := cl.NewSession(nil)
	createTPCH(t, sess, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kill := func() {
		sched.cmd.Process.Signal(syscall.SIGKILL)
		sched.wait(t, 10*time.Second)
		sched = startSched()
	}

	q9, err := tpch.Query(9)
	if err != nil {
		t.Fatal(err)
	}
	want, err := db.Rows(q9)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got := queryText(t, sess, q9); oracle.SameRows(got, want) != nil {
		t.Fatalf("q9 before any restart: %v", oracle.SameRows(got, want))
	}
	clean := time.Since(start)
	for _, at := range []float64{0.2, 0.6} {
		done := make(chan error, 1)
		go func() {
			rows, err := sess.Query(ctx, q9)
			if err == nil {
				var bs []arrow.RecordBatch
				bs, err = client.ReadAll(rows)
				got := engine.FormatRows(bs, "|")
				for _, b := range bs {
					b.Release()
				}
				if err == nil {
					err = oracle.SameRows(got, want)
				}
			}
			done <- err
		}()
		time.Sleep(time.Duration(float64(clean) * at))
		kill()
		if err := <-done; err != nil {
			t.Fatalf("q9 with the scheduler restarted at %.0f%% of its time: %v", at*100, err)
		}
	}
	if got := firstColumn(queryText(t, sess, "SHOW TABLES")); !slices.Contains(got, "lineitem") {
		t.Fatalf("catalog after restarts: %q", got)
	}

	// A write the scheduler dies during.
	count, err := db.Rows("SELECT count(*) FROM lineitem")
	if err != nil {
		t.Fatal(err)
	}
	j, err := sess.Start(ctx, "CREATE TABLE li AS SELECT * FROM lineitem")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(clean / 4)
	kill()
	rows, err := j.Wait(ctx)
	if err == nil {
		rows.Release()
		if got := queryText(t, sess, "SELECT count(*) FROM li"); !slices.Equal(got, count) {
			t.Fatalf("the write committed with %q rows, want %q", got, count)
		}
		t.Log("the write committed before the kill")
	} else {
		if !strings.Contains(err.Error(), "nothing of it was committed") {
			t.Fatalf("the write interrupted by the restart: %v", err)
		}
		if got := firstColumn(queryText(t, sess, "SHOW TABLES")); slices.Contains(got, "li") {
			t.Fatalf("a failed CREATE TABLE AS left its table: %q", got)
		}
		if err := sess.Exec(ctx, "CREATE TABLE li AS SELECT * FROM lineitem"); err != nil {
			t.Fatalf("the write again: %v", err)
		}
		if got := queryText(t, sess, "SELECT count(*) FROM li"); !slices.Equal(got, count) {
			t.Fatalf("the write run again has %q rows, want %q", got, count)
		}
	}
	// No job is left running.
	code, body, err := httpGet("http://127.0.0.1:" + strconv.Itoa(adminPort) + "/api/jobs")
	if err != nil || code != 200 {
		t.Fatalf("/api/jobs: %d %v", code, err)
	}
	var jobs []scheduler.JobView
	if err := json.Unmarshal([]byte(body), &jobs); err != nil {
		t.Fatal(err)
	}
	for _, v := range jobs {
		if v.State == "RUNNING" || v.State == "QUEUED" {
			t.Errorf("job %s (%s) still %s", v.ID, v.Name, v.State)
		}
	}
}
