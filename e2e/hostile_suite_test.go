package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/client"
	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/testkit/report"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestHostileSuite is the adversarial run: for KAPOT_HOSTILE_DURATION
// (default 20s; `make hostile` runs 10 minutes) a seeded attacker holding
// only the client secret sends random and adversarial SQL, physical plans,
// Flight tickets, Flight SQL calls and scheduler calls to a secured
// cluster of real processes, with a normal query between rounds; with it
// principal bob goes after principal alice's tables, their files, the
// places outside the data roots and the nodes' own services (the "data"
// family, hostileData); and both go after the cluster's memory, planning,
// slots and time (the "resources" family, hostileResources). It fails on
// a process exit, an executor lost, a normal query that does not answer
// exactly, normal queries' p95 latency over its bound, a job still
// running a minute after the attacks end, job data left once the clean-up
// delay has passed, another client's result read, one of alice's tables
// lost or changed, a file written outside the roots, a connection to a
// local address, a resource bound that does not hold (a memory bomb
// neither refused for memory nor answered exactly, prepared statements
// past their cap or held after their connection, a statement run past its
// time limit) or a process's peak RSS over its bound.
// KAPOT_HOSTILE_REPORT names a file whose hostile markers get the figures.
func TestHostileSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile suite: skipped with -short")
	}
	duration := 20 * time.Second
	if raceDetector {
		duration = 10 * time.Second
	}
	if v := os.Getenv("KAPOT_HOSTILE_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("KAPOT_HOSTILE_DURATION: %v", err)
		}
		duration = d
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("KAPOT_HOSTILE_SEED"); v != "" {
		fmt.Sscan(v, &seed)
	}
	t.Logf("seed %d (KAPOT_HOSTILE_SEED reproduces the run), %s", seed, duration)
	h := newHostileRun(t, seed)
	h.attackFor(duration)
	running, left, panics := h.aftermath()
	b := h.summary(duration, seed, running, left, panics)
	t.Log("\n" + b)
	if path := os.Getenv("KAPOT_HOSTILE_REPORT"); path != "" && !t.Failed() {
		if err := report.ReplaceSection(path, "hostile", b); err != nil {
			t.Fatal(err)
		}
	}
}

// hostileRun is a hostile suite's cluster, its clients and its tallies.
type hostileRun struct {
	t        *testing.T
	rng      *rand.Rand
	examples string
	data     *hostileData
	res      *hostileResources
	c        *secureCluster
	// cl is the attacker's client, victim another session's; db and fsql
	// reach Flight SQL (sqlCtx carries fsql's token).
	cl, victim *client.Client
	db         *sql.DB
	fsql       *flightsql.Client
	sqlCtx     context.Context
	// execFlight are the executors' Flight services by address (peers,
	// sorted); executors their ids.
	execFlight map[string]flight.FlightServiceClient
	peers      []string
	executors  []string
	// victimID is the victim's job, whose id the attacker knows.
	victimID  string
	stats     map[string]*hostileTally
	codesSeen map[string]int
	submitted []string
	normal    int
}

// hostileTally counts one kind of attack.
type hostileTally struct{ attacks, ok, refused int }

// newHostileRun starts the secured cluster, sets up both families' data
// and the clients, runs the victim's job and a first normal query.
func newHostileRun(t *testing.T, seed uint64) *hostileRun {
	h := &hostileRun{t: t, rng: rand.New(rand.NewPCG(seed, 0x6b61706f74)), stats: map[string]*hostileTally{}, codesSeen: map[string]int{},
		execFlight: map[string]flight.FlightServiceClient{}}
	var err error
	if h.examples, err = filepath.Abs("../examples"); err != nil {
		t.Fatal(err)
	}
	h.data = newHostileData(t, h.rng)
	h.res = newHostileResources(t, h.rng)
	// Finished jobs' data goes after 2 s, so leftovers show within the run;
	// the state dir (and its warehouse) lies outside the roots. The
	// executors' pool is stated, so their peak RSS has a bound.
	h.c = startSecureCluster(t, 2, append([]string{h.examples, h.data.root, h.res.root}, h.data.remoteRoots...),
		"  finished-job-data-clean-up-delay-seconds: 2\n  executor-timeout-seconds: 30\n  state-dir: "+h.data.stateDir,
		fmt.Sprintf("  memory-pool-size: %d", hostileExecutorPool))
	c := h.c
	ctx := context.Background()
	if h.cl, err = client.Dial(c.addr, memory.NewGoAllocator(), client.WithSecret(c.secrets.Client)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.cl.Close() })
	if h.victim, err = client.Dial(c.addr, memory.NewGoAllocator(), client.WithSecret(c.secrets.Client)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.victim.Close() })
	if h.db, err = sql.Open("flightsql", c.flightSQLDSN(c.secrets.Client)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.db.Close() })
	if _, err := h.db.Exec("CREATE EXTERNAL TABLE sales STORED AS CSV WITH HEADER ROW LOCATION '" + h.examples + "/groupby/data'"); err != nil {
		t.Fatal(err)
	}
	h.data.setup(t, ctx, c, h.db)
	h.res.setup(t, ctx, c, h.db, h.victim)
	if h.executors = h.res.executorIDs(t); len(h.executors) != 2 {
		t.Fatalf("executors registered: %v", h.executors)
	}
	if h.fsql, err = flightsql.NewClient("127.0.0.1:"+itoa(c.sqlPort), nil, nil, mustDial(t)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.fsql.Close() })
	if h.sqlCtx, err = h.fsql.Client.AuthenticateBasicToken(ctx, "kapot", c.secrets.Client); err != nil {
		t.Fatal(err)
	}
	h.dialExecutors(ctx)
	// The victim's job: its id is known to the attacker (as if leaked), its
	// session and result tickets are not.
	if h.victimID, err = h.victim.Submit(ctx, groupByPlan(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.victim.Wait(ctx, h.victimID); err != nil {
		t.Fatal(err)
	}
	h.checkNormal()
	h.res.normal = h.checkNormal
	return h
}

// dialExecutors connects to every executor's Flight service.
func (h *hostileRun) dialExecutors(ctx context.Context) {
	t, c := h.t, h.c
	creds := grpc.WithPerRPCCredentials(security.Credentials{Node: security.Client, Secret: c.secrets.Client})
	cc, err := grpc.NewClient(c.addr, append(mustDial(t), creds)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	r, err := kapotv1.NewSchedulerServiceClient(cc).ListExecutors(ctx, &kapotv1.ListExecutorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range r.GetExecutors() {
		addr := kflight.Addr(&kapotv1.ExecutorMetadata{Host: e.GetRegistration().GetHost(), FlightPort: e.GetRegistration().GetFlightPort()})
		fc, err := grpc.NewClient(addr, append(mustDial(t), creds)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fc.Close() })
		h.execFlight[addr] = flight.NewFlightServiceClient(fc)
		h.peers = append(h.peers, addr)
	}
	sort.Strings(h.peers)
}

// checkExecutors fails the test when an executor was lost.
func (h *hostileRun) checkExecutors() {
	h.t.Helper()
	if lost, why := h.res.executorsLost(h.t, h.executors); lost > 0 {
		h.c.alive(h.t)
		h.t.Fatalf("%d executor(s) lost after %s: %s", lost, h.res.last, why)
	}
}

// checkNormal runs a normal query on each front door: both must answer
// exactly; their latencies count towards the p95 bound.
func (h *hostileRun) checkNormal() {
	t, c := h.t, h.c
	t.Helper()
	start := time.Now()
	got, err := runJobErr(c.addr, groupByPlan(t), client.WithSecret(c.secrets.Client))
	if err != nil || !slices.Equal(got, expectedGroupBy) {
		c.alive(t)
		t.Fatalf("normal query after %d attacks: %q %v", len(h.submitted), got, err)
	}
	h.res.normalLat = append(h.res.normalLat, time.Since(start))
	start = time.Now()
	var n string
	if err := h.db.QueryRow("SELECT count(*) FROM sales").Scan(&n); err != nil || n != "8" {
		t.Fatalf("normal Flight SQL query: %q %v", n, err)
	}
	h.res.normalLat = append(h.res.normalLat, time.Since(start))
	h.normal++
}

// record counts an attack of kind and how it ended.
func (h *hostileRun) record(kind string, err error) {
	s := h.stats[kind]
	if s == nil {
		s = &hostileTally{}
		h.stats[kind] = s
	}
	s.attacks++
	if err == nil {
		s.ok++
		return
	}
	s.refused++
	h.codesSeen[status.Code(err).String()]++
}

// hostileAttack is one family of attacks; run returns the kind it sent
// (the family's name, or the data and resources families' own kinds).
type hostileAttack struct {
	family string
	run    func(ctx context.Context) (string, error)
}

// attacks are the families the suite draws from.
func (h *hostileRun) attacks() []hostileAttack {
	same := func(kind string, f func(context.Context) error) hostileAttack {
		return hostileAttack{kind, func(ctx context.Context) (string, error) { return kind, f(ctx) }}
	}
	return []hostileAttack{
		same("sql", h.attackSQL),
		same("plan", h.attackPlan),
		same("ticket", h.attackTicket),
		same("flight-sql", h.attackFlightSQL),
		same("scheduler-rpc", h.attackSchedulerRPC),
		{"data", h.data.attack},
		{"resources", h.res.attack},
	}
}

// attackFor sends attacks for duration, checking the cluster as it goes.
func (h *hostileRun) attackFor(duration time.Duration) {
	t, c := h.t, h.c
	ctx := context.Background()
	attacks := h.attacks()
	start := time.Now()
	h.res.end = start.Add(duration)
	round := 0
	for time.Since(start) < duration {
		a := attacks[h.rng.IntN(len(attacks))]
		actx, cancel := context.WithTimeout(ctx, 20*time.Second)
		kind, err := a.run(actx)
		cancel()
		if errors.Is(err, errLeak) || errors.Is(err, errBound) {
			c.alive(t)
			t.Fatalf("%s: %v", kind, err)
		}
		h.record(kind, err)
		if a.family == "data" {
			if bad := h.data.after(ctx); bad != nil {
				c.alive(t)
				t.Fatalf("%s: after %s (its answer: %v): %v", kind, h.data.last, err, bad)
			}
		}
		if round++; round%10 == 0 || a.family == "resources" {
			c.alive(t)
			h.checkExecutors()
			h.res.watchRSS(t, kind)
		}
		if round%10 == 0 {
			h.checkNormal()
		}
	}
	c.alive(t)
	h.checkNormal()
	h.checkExecutors()
}

func (h *hostileRun) attackSQL(ctx context.Context) error {
	rows, err := h.db.QueryContext(ctx, hostileSQL(h.rng, h.examples))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

func (h *hostileRun) attackPlan(ctx context.Context) error {
	id, err := h.cl.Submit(ctx, hostilePlan(h.t, h.rng))
	if err != nil {
		return err
	}
	h.submitted = append(h.submitted, id)
	st, err := h.cl.Wait(ctx, id)
	if err != nil {
		return err
	}
	_, bs, err := h.cl.Fetch(ctx, st)
	for _, b := range bs {
		b.Release()
	}
	return err
}

func (h *hostileRun) attackTicket(ctx context.Context) error {
	fc := h.execFlight[h.peers[h.rng.IntN(len(h.peers))]]
	tkt := hostileTicket(h.rng, h.victimID)
	// Whatever the call, the stream must end in an error.
	var recv func() error
	if h.rng.IntN(2) == 0 {
		s, err := fc.DoGet(ctx, &flight.Ticket{Ticket: tkt})
		if err != nil {
			return err
		}
		recv = func() error { _, err := s.Recv(); return err }
	} else {
		s, err := fc.DoAction(ctx, &flight.Action{Type: kflight.ActionFetchPartition, Body: tkt})
		if err != nil {
			return err
		}
		recv = func() error { _, err := s.Recv(); return err }
	}
	for {
		if err := recv(); err != nil {
			if err == io.EOF {
				return fmt.Errorf("%w: another client's data was served for ticket %q", errLeak, tkt)
			}
			return err
		}
	}
}

func (h *hostileRun) attackFlightSQL(ctx context.Context) error {
	ctx = metadataFrom(h.sqlCtx, ctx)
	switch h.rng.IntN(4) {
	case 0:
		tkt := &flight.Ticket{Ticket: hostileTicket(h.rng, h.victimID)}
		if h.rng.IntN(2) == 0 {
			handle, _ := flightsql.CreateStatementQueryTicket(tkt.Ticket)
			tkt.Ticket = handle
		}
		r, err := h.fsql.DoGet(ctx, tkt)
		if err != nil {
			return err
		}
		defer r.Release()
		for r.Next() {
		}
		if r.Err() == nil {
			return fmt.Errorf("%w: a forged statement handle was served", errLeak)
		}
		return r.Err()
	case 1:
		pattern := randomText(h.rng, 64)
		_, err := h.fsql.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: &pattern})
		return err
	case 2:
		ps, err := h.fsql.Prepare(ctx, hostileSQL(h.rng, h.examples))
		if err != nil {
			return err
		}
		return ps.Close(ctx)
	default:
		_, err := h.fsql.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: &flight.FlightInfo{Endpoint: []*flight.FlightEndpoint{
			{Ticket: &flight.Ticket{Ticket: hostileTicket(h.rng, h.victimID)}}}}})
		return err
	}
}

func (h *hostileRun) attackSchedulerRPC(ctx context.Context) error {
	ids := []string{h.victimID, randomText(h.rng, 20), strings.Repeat("a", h.rng.IntN(5000)), "../" + h.victimID, ""}
	id := ids[h.rng.IntN(len(ids))]
	if h.rng.IntN(2) == 0 {
		_, err := h.cl.Scheduler().GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: id, WaitMs: h.rng.Uint32N(120_000)})
		if err == nil && id == h.victimID {
			return fmt.Errorf("%w: another session's job status was served", errLeak)
		}
		return err
	}
	r, err := h.cl.Scheduler().CancelJob(ctx, &kapotv1.CancelJobRequest{JobId: id})
	if err == nil && id == h.victimID {
		return fmt.Errorf("%w: another session's job was cancellable: %v", errLeak, r)
	}
	return err
}

// aftermath checks that no job stays running, none of the victim's data
// was touched, every job's data goes once the clean-up delay has passed,
// no prepared statement is held and no panic was recovered; it returns
// the jobs still running, the data left and the panics.
func (h *hostileRun) aftermath() (running, left []string, panics int) {
	t, c := h.t, h.c
	ctx := context.Background()
	if running = waitEmpty(60*time.Second, func() []string { return h.activeJobs() }); len(running) > 0 {
		t.Errorf("%d job(s) still running a minute after the attacks: %v", len(running), running)
	}
	if st, err := h.victim.Scheduler().GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: h.victimID}); err != nil || st.GetState() != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Errorf("the victim's job after the attacks: %v %v", st.GetState(), err)
	}
	leftovers := func() []string {
		var out []string
		for _, wd := range c.workDirs {
			entries, _ := os.ReadDir(wd)
			for _, e := range entries {
				if e.IsDir() {
					out = append(out, filepath.Join(wd, e.Name()))
				}
			}
		}
		return out
	}
	if left = waitEmpty(60*time.Second, leftovers); len(left) > 0 {
		t.Errorf("job data left after the clean-up delay: %v", left)
	}
	c.alive(t)
	h.checkExecutors()
	// Prepared statements all ended with their connections.
	if n := c.metric(t, "kapot_flightsql_prepared_statements"); n != 0 {
		t.Errorf("%v prepared statement(s) held after the attacks", n)
	}
	// A panic inside a task is recovered (the task fails), but it is a bug
	// that a client's input reached: none may happen.
	for _, p := range append([]*proc{c.sched}, c.executors...) {
		panics += strings.Count(readFile(t, p.log), "panicked")
	}
	if panics > 0 {
		t.Errorf("%d recovered panic(s) in the processes' logs", panics)
	}
	return running, left, panics
}

// waitEmpty polls list until it is empty or within is over, and returns
// its last answer.
func waitEmpty(within time.Duration, list func() []string) []string {
	deadline := time.Now().Add(within)
	out := list()
	for len(out) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		out = list()
	}
	return out
}

// activeJobs are the jobs the scheduler's JSON API says are running or
// queued.
func (h *hostileRun) activeJobs() []string {
	t, c := h.t, h.c
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+itoa(c.adminPort)+"/api/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+c.adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var jobs []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jobs); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		if strings.EqualFold(j.State, "running") || strings.EqualFold(j.State, "queued") {
			out = append(out, j.ID)
		}
	}
	return out
}

// summary is the run's report: attacks by kind, both families' findings,
// the resource bounds, refusals by code and the aftermath.
func (h *hostileRun) summary(duration time.Duration, seed uint64, running, left []string, panics int) string {
	bounds := h.res.bounds(h.t)
	var kinds []string
	total := 0
	for k, s := range h.stats {
		kinds = append(kinds, k)
		total += s.attacks
	}
	sort.Strings(kinds)
	var b strings.Builder
	fmt.Fprintf(&b, "%d attacks in %s (seed %d) on a secured cluster of 3 processes; %d normal queries between them, all exact.\n\n",
		total, duration, seed, h.normal)
	b.WriteString("| attack | sent | answered | refused |\n|---|---:|---:|---:|\n")
	for _, k := range kinds {
		s := h.stats[k]
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", k, s.attacks, s.ok, s.refused)
	}
	var codes []string
	for k, n := range h.codesSeen {
		codes = append(codes, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(codes)
	b.WriteString("\n" + h.data.summary())
	b.WriteString("\n" + bounds)
	for _, e := range h.data.snapshotErrs {
		h.t.Logf("snapshot failure (finding 5): %s", e)
	}
	fmt.Fprintf(&b, "\nRefusals by gRPC code: %s.\n\nProcess exits: 0. Executors lost: 0. Jobs still running a minute after: %d. Job data left after the clean-up delay: %d. "+
		"Recovered panics: %d. Other clients' data, status or cancel reached: 0.\n", strings.Join(codes, ", "), len(running), len(left), panics)
	return b.String()
}

// errLeak marks an attack that reached what it must not.
var errLeak = errors.New("LEAK")

// metadataFrom carries the authenticated Flight SQL context's outgoing
// metadata (the bearer token) into ctx.
func metadataFrom(authed, ctx context.Context) context.Context {
	md, _ := metadata.FromOutgoingContext(authed)
	return metadata.NewOutgoingContext(ctx, md)
}

// hostileSQL is a random statement: valid queries, mutated ones, deep
// nesting, huge literals, odd bytes, and DDL naming places it must not
// read.
func hostileSQL(rng *rand.Rand, examples string) string {
	base := []string{
		"SELECT region, count(*), sum(qty) FROM sales GROUP BY region ORDER BY region",
		"SELECT * FROM sales WHERE price > 1.5 AND region LIKE 'e%'",
		"SELECT a.region FROM sales a JOIN sales b ON a.region = b.region",
		"SELECT CAST(product AS BIGINT) FROM sales",
		"SELECT qty / 0, substr(product, -9223372036854775807, 9223372036854775807) FROM sales",
		"SELECT DATE '9999-12-31' + 100000000",
		"SELECT * FROM sales s1, sales s2, sales s3, sales s4, sales s5, sales s6",
		"SELECT count(DISTINCT product) FROM sales WHERE region IN (SELECT region FROM sales)",
	}
	switch rng.IntN(8) {
	case 0:
		return base[rng.IntN(len(base))]
	case 1: // mutated
		q := []byte(base[rng.IntN(len(base))])
		for range 1 + rng.IntN(6) {
			i := rng.IntN(len(q))
			switch rng.IntN(3) {
			case 0:
				q = append(q[:i], q[i+1:]...)
			case 1:
				q = slices.Insert(q, i, "(),'\";*%\x00é9"[rng.IntN(12)])
			default:
				q[i] = byte(rng.IntN(256))
			}
			if len(q) == 0 {
				q = []byte("SELECT")
			}
		}
		return string(q)
	case 2: // deep
		n := 1 + rng.IntN(200_000)
		if rng.IntN(2) == 0 {
			return "SELECT " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n)
		}
		return "SELECT " + strings.Repeat("1+", n) + "1"
	case 3: // wide
		return "SELECT " + strings.Repeat("qty, ", rng.IntN(20_000)) + "qty FROM sales"
	case 4: // huge literal, up to past the 8 MiB limit
		return "SELECT '" + strings.Repeat("x", rng.IntN(10<<20)) + "'"
	case 5: // places outside the roots
		locs := []string{"/etc/passwd", "/etc", "/proc/self/environ", examples + "/../e2e", "http://127.0.0.1:1/x.csv",
			"http://169.254.169.254/latest/meta-data/", "file:///etc/shadow", examples + "/groupby/data/../../../go.mod"}
		return fmt.Sprintf("CREATE EXTERNAL TABLE t%d STORED AS CSV WITH HEADER ROW LOCATION '%s'", rng.IntN(1000), locs[rng.IntN(len(locs))])
	case 6: // repoint the shared table
		return "CREATE EXTERNAL TABLE sales STORED AS CSV LOCATION '" + examples + "/groupby/data/sales-1.csv'"
	default:
		return randomText(rng, 1+rng.IntN(300))
	}
}

// hostilePlan is the group-by plan with random damage: partition counts,
// file lists, paths, types, expressions, nesting, or flipped bytes.
func hostilePlan(t *testing.T, rng *rand.Rand) *kapotv1.SubmitJobRequest {
	req := groupByPlan(t)
	req.Detached = rng.IntN(4) == 0
	ex := req.Plan.GetHashAggregate().GetInput().GetExchange()
	scan := ex.GetInput().GetHashAggregate().GetInput().GetCsvScan()
	switch rng.IntN(7) {
	case 0:
		ex.GetPartitioning().GetHash().PartitionCount = uint32(rng.Int64N(1 << 32))
	case 1:
		n := rng.IntN(12_000)
		scan.FileGroups = nil
		for i := range n {
			scan.FileGroups = append(scan.FileGroups, &kapotv1.FileGroup{Paths: []string{fmt.Sprintf("/nonexistent/%d.csv", i)}})
		}
	case 2:
		paths := []string{"/etc/passwd", "../../../../etc/passwd", "http://127.0.0.1:1/x", "s3://bucket/x.csv", "", "\x00", "/dev/zero", "/proc/self/mem"}
		scan.FileGroups = []*kapotv1.FileGroup{{Paths: []string{paths[rng.IntN(len(paths))]}}}
	case 3:
		scan.GetSchema().GetFields()[rng.IntN(4)].Type = &kapotv1.DataType{Id: kapotv1.TypeId(rng.IntN(64)), Precision: rng.Int32(), Scale: rng.Int32N(100) - 50}
	case 4: // deep projection chain
		node := req.Plan
		for range rng.IntN(3000) {
			node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
				Input: node, Exprs: []*kapotv1.PhysicalExprNode{{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Name: "region"}}}}, Names: []string{"region"}}}}
		}
		req.Plan = node
	case 5:
		req.SessionProperties = map[string]string{"kapot.s3.endpoint": "http://127.0.0.1:1", "kapot.batch_size": fmt.Sprint(rng.Int64()),
			randomText(rng, 10): randomText(rng, 100)}
	default:
		b, err := proto.Marshal(req.GetPlan())
		if err != nil {
			t.Fatal(err)
		}
		for range 1 + rng.IntN(8) {
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		}
		var p kapotv1.PhysicalPlanNode
		if proto.Unmarshal(b, &p) == nil {
			req.Plan = &p
		}
	}
	return req
}

// hostileTicket is a random Flight ticket: garbage, oversized, or a
// well-formed ticket for data of the victim's job without the scheduler's
// signature (or with a made-up one).
func hostileTicket(rng *rand.Rand, victim string) []byte {
	switch rng.IntN(4) {
	case 0:
		b := make([]byte, rng.IntN(4096))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	case 1:
		return kflight.EncodeTicket(&kapotv1.ShuffleTicket{JobId: "../" + victim, StageId: rng.Uint32N(4)})
	default:
		t := &kapotv1.ShuffleTicket{JobId: victim, StageId: 1 + rng.Uint32N(2), MapPartition: rng.Uint32N(2), OutputPartition: rng.Uint32N(2),
			ExpiresMs: time.Now().Add(time.Hour).UnixMilli()}
		if rng.IntN(2) == 0 {
			t.Signature = []byte(randomText(rng, 32))
		}
		return kflight.EncodeTicket(t)
	}
}

func randomText(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return string(b)
}
