package flightsql

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	fsql "github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/planner"
)

func TestPreparedSetLimits(t *testing.T) {
	l := Limits{MaxPrepared: 3, MaxPreparedBytes: 4 << 10, PreparedIdle: time.Minute, MaxTokens: 1}
	p := newPreparedSet(l)
	now := time.Unix(1000, 0)
	p.connOpened(1)
	var alice []string
	for i := range 3 {
		h, err := p.add("alice", 1, "select 1", now)
		if err != nil {
			t.Fatalf("statement %d: %v", i, err)
		}
		alice = append(alice, h)
	}
	if _, err := p.add("alice", 1, "select 1", now); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--flight-sql-max-prepared") {
		t.Fatalf("a 4th statement: %v, want ResourceExhausted naming the flag", err)
	}
	// Limits are per owner.
	bob, err := p.add("bob", 1, "select 2", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.add("bob", 1, strings.Repeat("x", 4<<10), now); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--flight-sql-max-prepared-bytes") {
		t.Fatalf("a statement over the bytes limit: %v", err)
	}
	// Another owner's statement does not exist for them.
	for _, f := range []func() error{
		func() error { _, _, err := p.get("bob", alice[0], now); return err },
		func() error { return p.bind("bob", alice[0], []string{"1"}, now) },
		func() error { return p.close("bob", alice[0]) },
		func() error { return p.close("alice", "no such handle") },
	} {
		if err := f(); status.Code(err) != codes.NotFound {
			t.Fatalf("another owner's statement: %v, want NotFound", err)
		}
	}
	// Bound parameters count against the bytes limit.
	if err := p.bind("bob", bob, []string{strings.Repeat("'y'", 2000)}, now); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("parameters over the bytes limit: %v", err)
	}
	if err := p.bind("bob", bob, []string{"42"}, now); err != nil {
		t.Fatal(err)
	}
	if sql, params, err := p.get("bob", bob, now); err != nil || sql != "select 2" || len(params) != 1 || params[0] != "42" {
		t.Fatalf("bob's statement: %q %q %v", sql, params, err)
	}
	// Closing frees a place.
	if err := p.close("alice", alice[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.add("alice", 1, "select 3", now); err != nil {
		t.Fatalf("after a close: %v", err)
	}
	if n, b := p.usage(); n != 4 || b != 3*stmtBytes("select 1", nil)+stmtBytes("select 2", []string{"42"})+stmtBytes("select 3", nil)-stmtBytes("select 1", nil) {
		t.Fatalf("usage %d statements %d bytes", n, b)
	}
}

func TestPreparedSetExpiryAndConnections(t *testing.T) {
	p := newPreparedSet(Limits{MaxPrepared: 10, MaxPreparedBytes: 1 << 20, PreparedIdle: 30 * time.Minute, MaxTokens: 1})
	start := time.Unix(1000, 0)
	p.connOpened(1)
	p.connOpened(2)
	used, err := p.add("alice", 1, "select 1", start)
	if err != nil {
		t.Fatal(err)
	}
	idle, err := p.add("alice", 1, "select 2", start)
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.add("alice", 2, "select 3", start)
	if err != nil {
		t.Fatal(err)
	}
	// One is used after 20 minutes; at 31 minutes only the other two,
	// unused for longer than the idle time, end.
	if _, _, err := p.get("alice", used, start.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := p.expire(start.Add(29 * time.Minute)); n != 0 {
		t.Fatalf("expired before the idle time: %d", n)
	}
	if n := p.expire(start.Add(31 * time.Minute)); n != 2 {
		t.Fatalf("expired at 31 minutes: %d, want 2", n)
	}
	for _, h := range []string{idle, other} {
		if _, _, err := p.get("alice", h, start.Add(31*time.Minute)); status.Code(err) != codes.NotFound {
			t.Fatalf("an expired statement: %v", err)
		}
	}
	// The connection that made a statement ends: so does the statement,
	// and no statement is made for it afterwards.
	if n := p.connEnded(1); n != 1 {
		t.Fatalf("statements ended with connection 1: %d, want 1", n)
	}
	if _, err := p.add("alice", 1, "select 4", start); err == nil {
		t.Fatal("a statement made for an ended connection")
	}
	if n, b := p.usage(); n != 0 || b != 0 {
		t.Fatalf("left: %d statements, %d bytes", n, b)
	}
}

func TestAuthTokenLimitAndSweep(t *testing.T) {
	a := NewAuth("client-secret", "operator-secret", map[string]string{"alice": "alice-secret"}, nil)
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	a.setMaxTokens(3)
	alice, client := security.Principal{Name: "alice"}, security.Principal{Name: security.PrincipalClient}
	var toks []string
	for range 5 {
		tok, err := a.issue(alice)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
		now = now.Add(time.Second)
	}
	if _, err := a.issue(client); err != nil {
		t.Fatal(err)
	}
	// alice keeps her 3 newest tokens; the client's is its own.
	if got := a.liveTokens(); got != 4 {
		t.Fatalf("live tokens %d, want 4", got)
	}
	for i, tok := range toks {
		_, ok := a.tokens[tok]
		if ok != (i >= 2) {
			t.Errorf("alice's token %d live: %v", i, ok)
		}
	}
	// The sweep ends expired tokens without a new handshake.
	a.sweep(now.Add(sqlTokenTTL - time.Hour))
	if got := a.liveTokens(); got != 4 {
		t.Fatalf("live tokens before they expire: %d", got)
	}
	a.sweep(now.Add(sqlTokenTTL + time.Second))
	if got := a.liveTokens(); got != 0 {
		t.Fatalf("live tokens after they expired: %d", got)
	}
}

// noPlans is Jobs that plans nothing (prepared statements get no schema).
type noPlans struct{ Jobs }

func (noPlans) Plan(context.Context, string) (*planner.Plan, error) {
	return nil, errors.New("no planner")
}

// TestPreparedOverGRPC: a real server on localhost:0 without
// authentication: each connection owns its statements, limits refuse
// more, and a statement ends with the connection that made it.
func TestPreparedOverGRPC(t *testing.T) {
	srv, err := NewServer(Config{Jobs: noPlans{}, Results: ResultsProxy,
		Limits: Limits{MaxPrepared: 4, MaxPreparedBytes: 1 << 20, PreparedIdle: time.Hour, MaxTokens: 8}})
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	defer g.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Run(ctx)
	dial := func() *fsql.Client {
		c, err := fsql.NewClient(lis.Addr().String(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		c.Alloc = memory.NewGoAllocator()
		return c
	}
	a, b := dial(), dial()
	defer b.Close()
	var stmts []*fsql.PreparedStatement
	for i := range 4 {
		ps, err := a.Prepare(ctx, "select $1")
		if err != nil {
			t.Fatalf("statement %d: %v", i, err)
		}
		stmts = append(stmts, ps)
	}
	if _, err := a.Prepare(ctx, "select 1"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a 5th statement: %v, want ResourceExhausted", err)
	}
	// Another connection is another owner: its own limit, and a's
	// handles are unknown to it.
	if _, err := b.Prepare(ctx, "select 1"); err != nil {
		t.Fatal(err)
	}
	err = srv.ClosePreparedStatement(ctx, closeReq(stmts[0].Handle()))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("close without the owner's connection: %v", err)
	}
	if err := stmts[0].Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.prepared.usage(); n != 4 {
		t.Fatalf("statements held: %d, want 4", n)
	}
	// a goes without closing its 3 others: they end with its connection.
	a.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := srv.prepared.usage()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statements held after the client left: %d, want 1 (b's)", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type closeReq []byte

func (c closeReq) GetPreparedStatementHandle() []byte { return c }
