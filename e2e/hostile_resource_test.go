package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The bounds the resources family holds the cluster to (docs/security.md):
// an executor's peak RSS stays within its pool and 1 GiB, the scheduler's
// within 1 GiB (TestPlanningBombsDoNotJamTheScheduler's bound); the normal
// queries' p95 within hostileNormalP95.
const (
	hostileExecutorPool = 512 << 20
	hostileExecutorRSS  = hostileExecutorPool + 1<<30
	hostileSchedulerRSS = 1 << 30
	hostileNormalP95    = 5 * time.Second
)

// errBound marks an attack that broke a resource bound or got a wrong
// answer: the suite fails on it, as on errLeak.
var errBound = errors.New("BOUND")

// hostileResources is the hostile suite's "resources" family (issue 36):
// an attacker holding the shared client secret, or principal bob's, tries
// to take the cluster's memory, planning, slots and time.
//
//   - memory bombs: repeat() of a text column to values under the 16 MiB
//     text cap but batches of gigabytes, string_agg over every row, IN
//     lists of 100,000 (now and then 1,000,000) literals: each fails with
//     "resources exhausted" or the text cap, or answers exactly;
//   - planning bombs: chains of 20-40 WITH queries each joining the
//     previous one with itself, the client hanging up at once or after a
//     second; a bomb neither refused nor answered within its second is a
//     slow planning (counted), and the victim's light query runs right
//     after (its latency is a normal query's);
//   - prepared-statement floods: Flight SQL prepared statements of a few
//     MiB (or many small ones), never closed, until the owner's cap
//     answers ResourceExhausted (none: a failure); the connection closes
//     and the same owner must prepare again within 10 s (the statements
//     ended with it);
//   - starvation: two to four long nested-loop joins from one session
//     while the victim's normal queries run (exact, latency recorded);
//   - time limits: a long query under kapot.query.timeout=1s is cancelled
//     by the scheduler ("time limit"), never answered.
type hostileResources struct {
	c     *secureCluster
	rng   *rand.Rand
	root  string // a data root holding the table's CSV files
	table string
	rows  int
	// sumLen is the text column's total length, maxLen its longest value.
	sumLen, maxLen int64
	dial           []grpc.DialOption
	// end is when the run's attacks end; start when the family's first
	// began, spent the time its attacks took.
	end, start         time.Time
	spent, repeatSpent time.Duration

	bob, shared *client.Client
	bobSess     *client.Session
	sharedSess  *client.Session
	db          *sql.DB // Flight SQL, shared client secret
	victim      *client.Session

	// normal is the suite's normal-query check (it fails the test);
	// normalLat the latencies of every normal query of the run (the
	// suite's checks and the victim's light queries after planning bombs).
	normal    func()
	normalLat []time.Duration
	starveLat []time.Duration // the normal queries while long queries ran

	// Figures.
	bombs, bombsRefused, bombsAnswered, hungUpEarly, slowPlannings int
	floods, floodStmts                                             int
	timeLimited                                                    int
	timeLimitMax                                                   time.Duration
	starved                                                        int // long queries started
	last                                                           string
	// The scheduler log read so far, for lostLogged.
	logOffset int64
	logTail   []byte
	lostLines int
	over      []bool // the processes past their RSS bound (watchRSS)
}

// newHostileResources writes the table's files (before the cluster starts:
// root is one of its data roots): 2 CSV files of id, grp and a text c of
// 3 to 8 words, so that a scan runs on both executors.
func newHostileResources(t *testing.T, rng *rand.Rand) *hostileResources {
	t.Helper()
	h := &hostileResources{rng: rng, root: t.TempDir(), rows: 20_000}
	h.table = fmt.Sprintf("res_%d", rng.IntN(1000))
	words := strings.Fields("the quick brown fox jumps over lazy dog furiously regular accounts sleep carefully ironic packages")
	for f := range 2 {
		var b strings.Builder
		b.WriteString("id,grp,c\n")
		for id := f * h.rows / 2; id < (f+1)*h.rows/2; id++ {
			var c strings.Builder
			for w := range 3 + rng.IntN(6) {
				if w > 0 {
					c.WriteByte(' ')
				}
				c.WriteString(words[rng.IntN(len(words))])
			}
			h.sumLen += int64(c.Len())
			h.maxLen = max(h.maxLen, int64(c.Len()))
			fmt.Fprintf(&b, "%d,%d,%s\n", id, id%17, c.String())
		}
		if err := os.WriteFile(filepath.Join(h.root, fmt.Sprintf("part-%d.csv", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// setup makes the table (the shared client's) and the attackers' and the
// victim's sessions, with the cluster c running.
func (h *hostileResources) setup(t *testing.T, ctx context.Context, c *secureCluster, db *sql.DB, victim *client.Client) {
	t.Helper()
	h.c, h.db, h.dial = c, db, mustDial(t)
	h.bob, h.shared = c.as(t, "bob"), c.as(t, "client")
	h.bobSess, h.sharedSess = h.bob.NewSession(nil), h.shared.NewSession(nil)
	h.victim = victim.NewSession(nil)
	q := "CREATE EXTERNAL TABLE " + h.table + " STORED AS CSV WITH HEADER ROW LOCATION '" + h.root + "'"
	if err := h.sharedSess.Exec(ctx, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	want := fmt.Sprintf("%d|%d", h.rows, h.sumLen)
	if got, err := h.send(ctx, "SELECT count(*), sum(length(c)) FROM "+h.table); err != nil || !slices.Equal(got, []string{want}) {
		t.Fatalf("the resources table: %q %v, want %s", got, err, want)
	}
}

// attack runs one attack of the family and names its kind. The suite's
// attack context is not used: each attack has its own limits. The family's
// attacks take seconds where the others take milliseconds, so that the
// others keep their number: past half the run's time, the family sends
// its quick kinds (a planning bomb, an IN list); a repeat bomb (20 s to 2
// minutes on this 2-core machine: tasks refused for memory are retried)
// goes only while repeat bombs have taken under a quarter of the run, and
// with 30 s of it left (so none in make test's slice, where
// TestMemoryBoundProcesses sends one); another kind goes instead.
func (h *hostileResources) attack(context.Context) (kind string, err error) {
	ctx := context.Background()
	if h.start.IsZero() {
		h.start = time.Now()
	}
	began := time.Now()
	defer func() { h.spent += time.Since(began) }()
	k := h.rng.IntN(7)
	if k == 0 && (h.repeatSpent > time.Since(h.start)/4 || time.Until(h.end) < 30*time.Second) {
		k = 1 + h.rng.IntN(6)
	}
	if h.spent > time.Since(h.start)/2 {
		k = 2 + h.rng.IntN(2)
	}
	switch k {
	case 0:
		defer func() { h.repeatSpent += time.Since(began) }()
		return "resources: repeat bomb", h.repeatBomb(ctx)
	case 1:
		return "resources: string_agg", h.stringAgg(ctx)
	case 2:
		return "resources: IN list", h.inList(ctx)
	case 3:
		return "resources: planning bomb", h.planningBomb(ctx)
	case 4:
		return "resources: prepared flood", h.preparedFlood(ctx)
	case 5:
		return "resources: starvation", h.starvation(ctx)
	default:
		return "resources: time limit", h.timeLimit(ctx)
	}
}

// send runs q as an attacker, bob or the shared client secret (through
// the Go client or Flight SQL), and returns its rows as "a|b" lines.
func (h *hostileResources) send(ctx context.Context, q string) ([]string, error) {
	h.last = q
	switch h.rng.IntN(3) {
	case 0:
		return h.query(ctx, h.bobSess, q)
	case 1:
		return h.query(ctx, h.sharedSess, q)
	}
	rows, err := h.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		line := make([]string, len(vals))
		for i, v := range vals {
			line[i] = v.String
			if !v.Valid {
				line[i] = "NULL"
			}
		}
		out = append(out, strings.Join(line, "|"))
	}
	return out, rows.Err()
}

func (h *hostileResources) query(ctx context.Context, sess *client.Session, q string) ([]string, error) {
	rows, err := sess.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return drainText(rows)
}

// memoryRefusal reports whether err is what a memory bomb must end in.
func memoryRefusal(err error) bool {
	s := err.Error()
	return strings.Contains(s, "resources exhausted") || strings.Contains(s, "16 MiB") || strings.Contains(s, "the most a text value may hold")
}

// expect checks a memory bomb's outcome: refused for memory, or the exact
// answer want.
func (h *hostileResources) expect(got []string, err error, want string) error {
	if err != nil {
		if memoryRefusal(err) {
			return err
		}
		return fmt.Errorf("%w: %.300s: neither answered nor refused for memory: %v", errBound, h.last, err)
	}
	if !slices.Equal(got, []string{want}) {
		return fmt.Errorf("%w: %.300s: answered %q, want %s", errBound, h.last, got, want)
	}
	return nil
}

// repeatBomb: values under the text cap, batches of gigabytes.
func (h *hostileResources) repeatBomb(ctx context.Context) error {
	// Refused for memory, a task is retried (another executor may have
	// it): up to 4 attempts of 20-35 s.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	most := (16<<20 - 1) / h.maxLen
	n := most/4 + h.rng.Int64N(most-most/4)
	var q, want string
	switch h.rng.IntN(3) {
	case 0:
		q = fmt.Sprintf("SELECT count(*), sum(length(repeat(c, %d))) FROM %s", n, h.table)
		want = fmt.Sprintf("%d|%d", h.rows, n*h.sumLen)
	case 1:
		q = fmt.Sprintf("SELECT count(*) FROM %s WHERE length(repeat(c, %d)) > %d", h.table, n, n)
		want = strconv.Itoa(h.rows)
	default:
		q = fmt.Sprintf("SELECT max(length(concat(repeat(c, %d), c))) FROM %s", n/2, h.table)
		want = strconv.FormatInt((n/2+1)*h.maxLen, 10)
	}
	got, err := h.send(ctx, q)
	return h.expect(got, err, want)
}

// stringAgg: one value of every row's text repeated, mostly past 16 MiB.
func (h *hostileResources) stringAgg(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	k := 16<<20/h.sumLen + 1 + h.rng.Int64N(300)
	if h.rng.IntN(4) == 0 {
		k = 1 + h.rng.Int64N(5) // under the cap: answered exactly
	}
	q := fmt.Sprintf("SELECT length(string_agg(repeat(c, %d), '')) FROM %s", k, h.table)
	got, err := h.send(ctx, q)
	return h.expect(got, err, strconv.FormatInt(k*h.sumLen, 10))
}

// inList: 100,000 (now and then 1,000,000) integer literals; answered
// exactly or refused for resources.
func (h *hostileResources) inList(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	n := 100_000
	if h.rng.IntN(5) == 0 {
		n = 1_000_000
	}
	seen := map[int]bool{}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		v := h.rng.IntN(2 * h.rows)
		if v < h.rows {
			seen[v] = true
		}
		b.WriteString(strconv.Itoa(v))
	}
	q, want := "SELECT count(*) FROM "+h.table+" WHERE id IN ("+b.String()+")", len(seen)
	if h.rng.IntN(3) == 0 {
		q, want = "SELECT count(*) FROM "+h.table+" WHERE id + 0 NOT IN ("+b.String()+")", h.rows-len(seen)
	}
	got, err := h.send(ctx, q)
	return h.expect(got, err, strconv.Itoa(want))
}

// planningBomb: a chain of 20-40 WITH queries each joining the previous
// one with itself, sent on a connection of its own (Go client or Flight
// SQL, shared secret or bob) that hangs up at once (20-300 ms) or once it
// has waited a second; then the victim's light query.
func (h *hostileResources) planningBomb(ctx context.Context) error {
	levels := 20 + h.rng.IntN(21)
	var q strings.Builder
	q.WriteString("WITH c0 AS (SELECT 1 a)")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&q, ", c%d AS (SELECT x.a + y.a a FROM c%d x, c%d y)", i, i-1, i-1)
	}
	if h.rng.IntN(2) == 0 {
		fmt.Fprintf(&q, " SELECT a FROM c%d", levels)
	} else {
		fmt.Fprintf(&q, " SELECT count(*), sum(a) FROM c%d", levels)
	}
	h.last = q.String()
	wait := time.Second
	early := h.rng.IntN(2) == 0
	if early {
		wait = time.Duration(20+h.rng.IntN(280)) * time.Millisecond
	}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	var hangUp func()
	who := []string{"client", "bob"}[h.rng.IntN(2)]
	if h.rng.IntN(2) == 0 {
		cl := h.dialAs(who)
		if cl == nil {
			return status.Error(codes.Unavailable, "dial failed")
		}
		hangUp = func() { cl.Close() }
		go func() { done <- cl.NewSession(nil).Exec(bctx, h.last) }()
	} else {
		fc, actx, err := h.flightSQL(bctx, who)
		if err != nil {
			return err
		}
		hangUp = func() { fc.Close() }
		go func() {
			info, err := fc.Execute(actx, h.last)
			if err != nil || len(info.GetEndpoint()) == 0 {
				done <- err
				return
			}
			r, err := fc.DoGet(actx, info.GetEndpoint()[0].GetTicket())
			if err != nil {
				done <- err
				return
			}
			for r.Next() {
			}
			err = r.Err()
			r.Release()
			done <- err
		}()
	}
	h.bombs++
	var err error
	select {
	case err = <-done:
		hangUp()
	case <-time.After(wait):
		cancel()
		hangUp()
		<-done
		if early {
			h.hungUpEarly++
		} else {
			h.slowPlannings++
		}
		err = status.Errorf(codes.Canceled, "the attacker hung up after %s", wait)
	}
	if err == nil {
		h.bombsAnswered++
	} else if status.Code(err) != codes.Canceled {
		h.bombsRefused++
	}
	// The victim's light query, right after the hang-up.
	lctx, lcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer lcancel()
	start := time.Now()
	got, lerr := h.query(lctx, h.victim, "SELECT count(*) FROM sales")
	h.normalLat = append(h.normalLat, time.Since(start))
	if lerr != nil || !slices.Equal(got, []string{"8"}) {
		return fmt.Errorf("%w: the victim's light query after a planning bomb of %d levels: %q %v", errBound, levels, got, lerr)
	}
	return err
}

// dialAs dials a client of its own as who (the caller closes it).
func (h *hostileResources) dialAs(who string) *client.Client {
	opts := []client.Option{client.WithSecret(h.c.secrets.Client)}
	if who != "client" {
		opts = []client.Option{client.WithSecret(h.c.secrets.Principals[who]), client.WithPrincipal(who)}
	}
	cl, err := client.Dial(h.c.addr, memory.NewGoAllocator(), opts...)
	if err != nil {
		return nil
	}
	return cl
}

// flightSQL opens a Flight SQL connection of its own, authenticated as
// who (the shared client secret: "client").
func (h *hostileResources) flightSQL(ctx context.Context, who string) (*flightsql.Client, context.Context, error) {
	user, pass := "kapot", h.c.secrets.Client
	if who != "client" {
		user, pass = who, h.c.secrets.Principals[who]
	}
	fc, err := flightsql.NewClient("127.0.0.1:"+itoa(h.c.sqlPort), nil, nil, append(h.dial, grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		return nil, nil, err
	}
	actx, err := fc.Client.AuthenticateBasicToken(ctx, user, pass)
	if err != nil {
		fc.Close()
		return nil, nil, err
	}
	return fc, actx, nil
}

// preparedFlood: prepared statements of 1-4 MiB (or of 1 KiB, many),
// never closed, until the owner's cap refuses one; then the connection
// closes, and the same owner prepares again on a new one.
func (h *hostileResources) preparedFlood(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	who := []string{"client", "bob"}[h.rng.IntN(2)]
	fc, actx, err := h.flightSQL(ctx, who)
	if err != nil {
		return err
	}
	defer fc.Close()
	h.floods++
	big := h.rng.IntN(2) == 0
	var capped error
	sent := 0
	for i := 0; i < 200 && capped == nil; i++ {
		size := 1 << 10
		if big {
			size = (1 + h.rng.IntN(4)) << 20
		}
		h.last = fmt.Sprintf("%d prepared statements of %d bytes as %s", i+1, size, who)
		_, err := fc.Prepare(actx, fmt.Sprintf("SELECT '%s' AS v%d", strings.Repeat("x", size), i))
		switch {
		case err == nil:
			sent += size
			h.floodStmts++
		case status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "prepared"):
			capped = err
		default:
			return err
		}
	}
	if capped == nil {
		return fmt.Errorf("%w: %s held %d bytes of prepared statements, never refused", errBound, who, sent)
	}
	fc.Close()
	// They end with their connection: the same owner prepares again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		fc2, actx2, err := h.flightSQL(ctx, who)
		if err != nil {
			return err
		}
		ps, err := fc2.Prepare(actx2, "SELECT 1 AS one")
		if err == nil {
			ps.Close(actx2)
		}
		fc2.Close()
		switch {
		case err == nil:
			return capped
		case status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline):
			return fmt.Errorf("%w: %s prepares after its flood's connection closed: %v", errBound, who, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// longQuery is a nested-loop join of the table with itself (400 million
// pairs: seconds of a slot, little memory).
func (h *hostileResources) longQuery() string {
	return fmt.Sprintf("SELECT count(*) FROM %s a, %s b WHERE a.id + b.id * %d < %d", h.table, h.table, 2+h.rng.IntN(4), h.rng.IntN(h.rows))
}

// starvation: two to four long queries from one attacker session; while
// they run, the victim's normal queries three times. The long queries are
// cancelled after (their client's context ends).
func (h *hostileResources) starvation(ctx context.Context) error {
	who := []string{"client", "bob"}[h.rng.IntN(2)]
	cl := h.dialAs(who)
	if cl == nil {
		return status.Error(codes.Unavailable, "dial failed")
	}
	defer cl.Close()
	sess := cl.NewSession(nil)
	lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	n := 2 + h.rng.IntN(3)
	var wg sync.WaitGroup
	for range n {
		q := h.longQuery()
		h.last = q
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess.Exec(lctx, q)
		}()
	}
	h.starved += n
	// Until the long queries hold the slots (at most 5 s).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r, err := h.shared.Scheduler().ListExecutors(ctx, &kapotv1.ListExecutorsRequest{})
		busy := 0
		for _, e := range r.GetExecutors() {
			busy += int(e.GetRunningTasks())
		}
		if err != nil || busy >= 2 {
			break
		}
	}
	before := len(h.normalLat)
	for range 3 {
		h.normal()
	}
	h.starveLat = append(h.starveLat, h.normalLat[before:]...)
	cancel()
	wg.Wait()
	return nil
}

// timeLimit: a long query with kapot.query.timeout=1s, from the shared
// secret or bob, through the Go client with a minute to wait: the
// scheduler cancels it ("time limit").
func (h *hostileResources) timeLimit(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cl := h.shared
	if h.rng.IntN(2) == 0 {
		cl = h.bob
	}
	q := h.longQuery()
	h.last = q + " (kapot.query.timeout=1s)"
	start := time.Now()
	_, err := h.query(ctx, cl.NewSession(map[string]string{"kapot.query.timeout": "1s"}), q)
	took := time.Since(start)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s answered after %s", errBound, h.last, took)
	case !strings.Contains(err.Error(), "time limit"):
		return fmt.Errorf("%w: %s: %v after %s, want the scheduler's time limit", errBound, h.last, err, took)
	}
	h.timeLimited++
	h.timeLimitMax = max(h.timeLimitMax, took)
	return err
}

// executorsLost reports the executors not ACTIVE in the scheduler's
// ListExecutors, or not those of ids (a lost executor that registered
// again is another), and the scheduler log's "executor lost" lines.
func (h *hostileResources) executorsLost(t *testing.T, ids []string) (lost int, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := h.shared.Scheduler().ListExecutors(ctx, &kapotv1.ListExecutorsRequest{})
	if err != nil {
		return len(ids), fmt.Sprintf("ListExecutors: %v", err)
	}
	var bad []string
	active := map[string]bool{}
	for _, e := range r.GetExecutors() {
		id := e.GetRegistration().GetId()
		if e.GetState() == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
			active[id] = true
		} else {
			bad = append(bad, fmt.Sprintf("%s %s", id, e.GetState()))
		}
	}
	for _, id := range ids {
		if !active[id] {
			lost++
		}
	}
	logged := h.lostLogged()
	lost = max(lost, logged)
	if lost > 0 || len(bad) > 0 {
		return max(lost, len(bad)), fmt.Sprintf("executors %v, not active: %v; \"executor lost\" in the scheduler's log %d times", ids, bad, logged)
	}
	return 0, ""
}

// lostLogged counts the scheduler log's "executor lost" lines, reading
// only what was written since the last call.
func (h *hostileResources) lostLogged() int {
	const mark = `"executor lost"`
	f, err := os.Open(h.c.sched.log)
	if err != nil {
		return h.lostLines
	}
	defer f.Close()
	if _, err := f.Seek(h.logOffset, 0); err != nil {
		return h.lostLines
	}
	b, _ := io.ReadAll(f)
	h.logOffset += int64(len(b))
	b = append(h.logTail, b...)
	h.lostLines += strings.Count(string(b), mark)
	h.logTail = b[max(0, len(b)-len(mark)+1):]
	return h.lostLines
}

// watchRSS logs the attack after which a process first passed its
// bound (the run fails at its end, with the figures).
func (h *hostileResources) watchRSS(t *testing.T, kind string) {
	t.Helper()
	procs := append([]*proc{h.c.sched}, h.c.executors...)
	if h.over == nil {
		h.over = make([]bool, len(procs))
	}
	for i, p := range procs {
		name, bound := fmt.Sprintf("executor %d", i-1), int64(hostileExecutorRSS)
		if i == 0 {
			name, bound = "scheduler", hostileSchedulerRSS
		}
		if peak := peakRSS(t, p.cmd.Process.Pid); peak > bound && !h.over[i] {
			h.over[i] = true
			t.Logf("%s passed its %d MiB bound (%d MiB) during %s: %.300s", name, bound>>20, peak>>20, kind, h.last)
		}
	}
}

// executorIDs are the ids of the executors registered now.
func (h *hostileResources) executorIDs(t *testing.T) []string {
	t.Helper()
	r, err := h.shared.Scheduler().ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range r.GetExecutors() {
		ids = append(ids, e.GetRegistration().GetId())
	}
	slices.Sort(ids)
	return ids
}

// p95 is the 95th percentile of ds (0 without any).
func p95(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*95+99)/100-1]
}

// bounds checks the processes' peak RSS (VmHWM) against their bounds and
// the normal queries' p95, and returns the report's lines.
func (h *hostileResources) bounds(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	slowest := slices.Max(append([]time.Duration{0}, h.normalLat...))
	fmt.Fprintf(&b, "Normal queries: %d, p95 %d ms, slowest %d ms (bound: p95 %s); while another session's 2-4 long queries ran: %d, p95 %d ms.\n\n",
		len(h.normalLat), ms(p95(h.normalLat)), ms(slowest), hostileNormalP95, len(h.starveLat), ms(p95(h.starveLat)))
	if p := p95(h.normalLat); p > hostileNormalP95 {
		t.Errorf("the normal queries' p95 %s is over %s", p, hostileNormalP95)
	}
	fmt.Fprintf(&b, "Resource attacks (issue 36, %s of the run): planning bombs %d (refused %d, answered %d, hung up on within 20-300 ms %d; slow plannings, "+
		"neither refused nor answered within a second: %d); prepared-statement floods %d (%d statements held before the cap refused, freed with "+
		"their connection each time); long queries beside the victim's %d; statements over kapot.query.timeout=1s cancelled by the scheduler %d "+
		"(the slowest after %d ms).\n\n",
		h.spent.Round(time.Second), h.bombs, h.bombsRefused, h.bombsAnswered, h.hungUpEarly, h.slowPlannings, h.floods, h.floodStmts,
		h.starved, h.timeLimited, ms(h.timeLimitMax))
	b.WriteString("Peak RSS (VmHWM at the end):")
	check := func(name string, pid int, bound int64) {
		peak := peakRSS(t, pid)
		fmt.Fprintf(&b, " %s %d MiB (bound %d MiB);", name, peak>>20, bound>>20)
		if peak > bound {
			t.Errorf("%s peaked at %d MiB RSS, over its %d MiB bound", name, peak>>20, bound>>20)
		}
	}
	check("scheduler", h.c.sched.cmd.Process.Pid, hostileSchedulerRSS)
	for i, e := range h.c.executors {
		check(fmt.Sprintf("executor %d", i), e.cmd.Process.Pid, hostileExecutorRSS)
	}
	s := strings.TrimSuffix(b.String(), ";")
	return s + fmt.Sprintf(" (executors' memory-pool-size %d MiB).\n", hostileExecutorPool>>20)
}
