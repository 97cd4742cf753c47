package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// residentBytes reads a process's resident set now (VmRSS) in bytes.
func residentBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// metric reads one sample of the scheduler's /metrics (admin token).
func (c *secureCluster) metric(t *testing.T, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(c.adminPort)+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	v, ok := metricValue(string(body), name)
	if !ok {
		t.Fatalf("no %s in /metrics", name)
	}
	return v
}

// TestFlightSQLPreparedBounded (issue 36, item 5): a secured scheduler
// process with its default limits (64 prepared statements and 64 MiB per
// principal). Prepared statements of 7 MiB are refused once a principal
// holds 64 MiB of them, and statements beyond 64; another principal
// neither uses nor closes them (NotFound) and has limits of its own;
// closing frees them; a client that leaves without closing its statements
// leaves nothing held (they end with its connection), so rounds of such
// clients leave the scheduler's memory where it was. Bearer tokens are
// bounded per principal too. (Idle expiry: TestPreparedSetExpiryAndConnections.)
func TestFlightSQLPreparedBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("process suite: skipped with -short")
	}
	c := startSecureCluster(t, 0, []string{t.TempDir()}, "")
	waitLog(t, c.sched.log, "flight sql listening")
	started := residentBytes(t, c.sched.cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// 7 MiB of text; with a parameter, so that it is kept without being
	// planned.
	big := "select $1 where '" + strings.Repeat("x", 7<<20) + "' <> ''"
	r := &preparedRun{t: t, c: c, ctx: ctx, big: big}

	alice, actx := r.dial("alice", c.secrets.Principals["alice"])
	stmts := r.aliceUpToBytesLimit(alice, actx)

	// bob: alice's statements do not exist for him; his limits are his.
	bob, bctx := r.dial("bob", c.secrets.Principals["bob"])
	defer bob.Close()
	r.bobsOwnLimits(bob, bctx, stmts)
	r.aliceClosesAndLeaves(alice, actx, stmts)
	r.unclosedRounds(started)
	r.tokensBounded(bob)
	c.alive(t)
}

// unclosedRounds is how many clients TestFlightSQLPreparedBounded's
// rounds start, one after the other.
const unclosedRounds = 12

// preparedRun holds TestFlightSQLPreparedBounded's secured scheduler, for
// its steps.
type preparedRun struct {
	t   *testing.T
	c   *secureCluster
	ctx context.Context
	big string // 7 MiB of SQL with a parameter
}

// dial connects to Flight SQL and authenticates as user.
func (r *preparedRun) dial(user, password string) (*flightsql.Client, context.Context) {
	t, c, ctx := r.t, r.c, r.ctx
	t.Helper()
	cl, err := flightsql.NewClient("127.0.0.1:"+strconv.Itoa(c.sqlPort), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	cl.Alloc = memory.NewGoAllocator()
	actx, err := cl.Client.AuthenticateBasicToken(ctx, user, password)
	if err != nil {
		cl.Close()
		t.Fatalf("handshake as %s: %v", user, err)
	}
	return cl, actx
}

// held is the scheduler's count of prepared statements held, and their bytes.
func (r *preparedRun) held() (float64, float64) {
	return r.c.metric(r.t, "kapot_flightsql_prepared_statements"), r.c.metric(r.t, "kapot_flightsql_prepared_bytes")
}

// waitHeld waits until no prepared statement is held.
func (r *preparedRun) waitHeld(what string) {
	t, held := r.t, r.held
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, b := held()
		if n == 0 && b == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v statements (%v bytes) held", what, n, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// aliceUpToBytesLimit: statements of 7 MiB are refused once alice holds
// 64 MiB of them; text that could never run is not kept at all.
func (r *preparedRun) aliceUpToBytesLimit(alice *flightsql.Client, actx context.Context) []*flightsql.PreparedStatement {
	t, big := r.t, r.big
	var stmts []*flightsql.PreparedStatement
	for {
		ps, err := alice.Prepare(actx, big)
		if err != nil {
			if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--flight-sql-max-prepared-bytes") {
				t.Fatalf("statement %d of 7 MiB: %v, want ResourceExhausted naming --flight-sql-max-prepared-bytes", len(stmts)+1, err)
			}
			t.Logf("refused at statement %d of 7 MiB: %v", len(stmts)+1, err)
			break
		}
		stmts = append(stmts, ps)
		if len(stmts) > 9 {
			t.Fatalf("%d statements of 7 MiB kept for one principal (limit 64 MiB)", len(stmts))
		}
	}
	if len(stmts) != 9 {
		t.Fatalf("%d statements of 7 MiB kept, want 9 (64 MiB)", len(stmts))
	}
	// Text that could never run is not kept at all.
	if _, err := alice.Prepare(actx, "select $1 where '"+strings.Repeat("x", 9<<20)+"' <> ''"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a statement of 9 MiB (over the SQL limit): %v, want InvalidArgument", err)
	}
	return stmts
}

// bobsOwnLimits: alice's statements do not exist for bob (NotFound); his
// limit of 64 statements is his own.
func (r *preparedRun) bobsOwnLimits(bob *flightsql.Client, bctx context.Context, stmts []*flightsql.PreparedStatement) {
	t, held := r.t, r.held
	foreign := flightsql.NewPreparedStatement(bob, stmts[0].Handle())
	if _, err := foreign.Execute(bctx); status.Code(err) != codes.NotFound {
		t.Fatalf("bob runs alice's statement: %v, want NotFound", err)
	}
	if err := foreign.Close(bctx); status.Code(err) != codes.NotFound {
		t.Fatalf("bob closes alice's statement: %v, want NotFound", err)
	}
	var small []*flightsql.PreparedStatement
	for i := range 64 {
		ps, err := bob.Prepare(bctx, "select $1")
		if err != nil {
			t.Fatalf("bob's statement %d: %v", i+1, err)
		}
		small = append(small, ps)
	}
	if _, err := bob.Prepare(bctx, "select $1"); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--flight-sql-max-prepared") {
		t.Fatalf("bob's 65th statement: %v, want ResourceExhausted", err)
	}
	if n, b := held(); n != 9+64 || b < 63<<20 {
		t.Fatalf("held: %v statements, %v bytes", n, b)
	}
	for _, ps := range small {
		if err := ps.Close(bctx); err != nil {
			t.Fatal(err)
		}
	}
}

// aliceClosesAndLeaves: closing frees a statement; alice leaving with 9
// unclosed leaves nothing held.
func (r *preparedRun) aliceClosesAndLeaves(alice *flightsql.Client, actx context.Context, stmts []*flightsql.PreparedStatement) {
	t, big := r.t, r.big
	// alice's statements still run and close.
	if err := stmts[1].Close(actx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Prepare(actx, big); err != nil {
		t.Fatalf("after a close: %v", err)
	}
	alice.Close() // 9 left unclosed
	r.waitHeld("alice left without closing")
}

// unclosedRounds: clients that leave without closing leave the
// scheduler's memory where it was.
func (r *preparedRun) unclosedRounds(started int64) {
	t, c, big, dial, waitHeld := r.t, r.c, r.big, r.dial, r.waitHeld
	pid := c.sched.cmd.Process.Pid
	// Rounds of clients that prepare 63 MiB and leave without closing:
	// nothing is held after each, and the scheduler's memory stays put
	// (before: ~63 MiB more per round, kept until a restart).
	const rounds = unclosedRounds
	base := residentBytes(t, pid)
	var peak int64
	for r := range rounds {
		cl, cctx := dial("alice", c.secrets.Principals["alice"])
		for i := range 9 {
			if _, err := cl.Prepare(cctx, big); err != nil {
				t.Fatalf("round %d, statement %d: %v", r, i+1, err)
			}
		}
		peak = max(peak, residentBytes(t, pid))
		cl.Close()
		waitHeld("round " + strconv.Itoa(r))
	}
	time.Sleep(2 * time.Second) // let the runtime give freed pages back
	after := residentBytes(t, pid)
	t.Logf("scheduler VmRSS: %d MiB at start, %d MiB before %d rounds of 63 MiB of unclosed statements, peak %d MiB, after %d MiB (unbounded: +%d MiB)",
		started>>20, base>>20, rounds, peak>>20, after>>20, rounds*63)
	if grew := after - base; grew > 300<<20 {
		t.Fatalf("scheduler VmRSS grew %d MiB over %d rounds (before %d MiB, after %d MiB)", grew>>20, rounds, base>>20, after>>20)
	}
}

// tokensBounded: a principal keeps at most 1,024 live bearer tokens.
func (r *preparedRun) tokensBounded(bob *flightsql.Client) {
	t, c, ctx := r.t, r.c, r.ctx
	const rounds = unclosedRounds
	// Tokens: each handshake gives one; a principal keeps at most 1,024
	// live (its oldest end).
	first, fctx := r.dial("bob", c.secrets.Principals["bob"])
	defer first.Close()
	for range 1030 {
		if _, err := bob.Client.AuthenticateBasicToken(ctx, "bob", c.secrets.Principals["bob"]); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.metric(t, "kapot_flightsql_bearer_tokens"); n > 1024+rounds+2 {
		t.Fatalf("%v live bearer tokens after 1,030 handshakes of one principal", n)
	}
	if _, err := first.Prepare(fctx, "select $1"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("bob's oldest token after 1,030 more handshakes: %v, want Unauthenticated", err)
	}
	nctx, err := bob.Client.AuthenticateBasicToken(ctx, "bob", c.secrets.Principals["bob"])
	if err != nil {
		t.Fatal(err)
	}
	ps, err := bob.Prepare(nctx, "select $1")
	if err != nil {
		t.Fatalf("bob's newest token: %v", err)
	}
	if err := ps.Close(nctx); err != nil {
		t.Fatal(err)
	}
}
