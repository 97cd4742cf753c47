package pgwire

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/rs/zerolog"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/failover"
	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/session"
)

// noJobs is a scheduler without executors: every job is refused.
type noJobs struct{}

var errNoCluster = errors.New("no cluster in this test")

func (noJobs) Submit(context.Context, *session.Query) (string, error) { return "", errNoCluster }
func (noJobs) ExplainAnalyze(context.Context, string) (session.Answer, error) {
	return session.Answer{}, errNoCluster
}
func (noJobs) Wait(context.Context, string) (*kapotv1.GetJobStatusResponse, error) {
	return nil, errNoCluster
}
func (noJobs) Recover(context.Context, string, *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error) {
	return nil, errNoCluster
}

// serve starts a server over an empty catalog (statements that need no
// job: SET, SHOW, the virtual catalog, errors) and returns its address.
func serve(t *testing.T, mod func(*Config)) string {
	t.Helper()
	cfg := Config{Backend: &session.Local{Cat: catalog.New()}, Jobs: noJobs{}, Log: zerolog.Nop()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return lis.Addr().String()
}

func dsn(addr, extra string) string {
	host, port, _ := net.SplitHostPort(addr)
	return "host=" + host + " port=" + port + " user=kapot dbname=kapot connect_timeout=10 " + extra
}

func connect(t *testing.T, addr, extra string) (*pgx.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn(addr, extra))
	if err == nil {
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	return c, err
}

// TestSessionStatements: settings, the catalog's functions, errors with
// their SQLSTATEs, and a connection that serves on after an error.
func TestSessionStatements(t *testing.T) {
	addr := serve(t, nil)
	c, err := connect(t, addr, "sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var s string
	for sql, want := range map[string]string{
		"SELECT version()":                    "PostgreSQL 15.0 (kapot",
		"SELECT current_schema()":             "public",
		"SELECT current_database()":           "kapot",
		"SHOW server_version":                 "15.0",
		"SHOW TimeZone":                       "UTC",
		"SHOW client_encoding":                "UTF8",
		"SELECT current_setting('DateStyle')": "ISO, MDY",
		"SELECT CASE WHEN nspname = 'public' THEN 1 ELSE nspname END FROM pg_namespace WHERE nspname <> 'information_schema' ORDER BY 1": "1",
		"SELECT table_name FROM information_schema.tables UNION ALL SELECT 'none'":                                                       "none",
	} {
		if err := c.QueryRow(ctx, sql).Scan(&s); err != nil || !strings.HasPrefix(s, want) {
			t.Errorf("%s: %q %v, want %q", sql, s, err, want)
		}
	}
	if _, err := c.Exec(ctx, "SET application_name = 'mine'"); err != nil {
		t.Fatal(err)
	}
	if c.PgConn().ParameterStatus("application_name") != "mine" {
		t.Errorf("application_name not reported: %q", c.PgConn().ParameterStatus("application_name"))
	}
	for sql, code := range map[string]string{
		"SELEC 1":                            "42601",
		"SHOW nosuch":                        "42704",
		"SET TimeZone = 'Europe/Paris'":      "0A000",
		"SELECT * FROM pg_catalog.pg_nosuch": "0A000",
		"COPY region FROM STDIN":             "0A000",
	} {
		if _, err := c.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "SQLSTATE "+code) {
			t.Errorf("%s: %v, want SQLSTATE %s", sql, err, code)
		}
	}
	// BEGIN/COMMIT mark a block; several statements in one message.
	if _, err := c.Exec(ctx, "BEGIN; SELECT current_user; COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "SELECT current_user").Scan(&s); err != nil || s != "kapot" {
		t.Fatalf("current_user: %q %v", s, err)
	}
}

// TestPsqlMetaCommands: psql's own catalog queries for \l, \dn, \dt and
// \d over an empty catalog (TestPGWire runs them over TPC-H's tables).
func TestPsqlMetaCommands(t *testing.T) {
	bin, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not installed")
	}
	addr := serve(t, nil)
	for cmd, want := range map[string]string{`\l`: "kapot", `\dn`: "public", `\dt`: "Did not find any relations", `\d nosuch`: "Did not find any relation named"} {
		out, _ := exec.Command(bin, dsn(addr, "sslmode=disable"), "-X", "-c", cmd).CombinedOutput()
		if !strings.Contains(string(out), want) {
			t.Errorf("psql %s: %s", cmd, out)
		}
	}
}

// TestMaxRows: Execute with max_rows suspends the portal and resumes it.
func TestMaxRows(t *testing.T) {
	addr := serve(t, nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fe := pgproto3.NewFrontend(nc, nc)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "kapot"}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	// until reads messages until done says so; it counts DataRows and
	// keeps the last CommandComplete's tag (copied: the frontend reuses
	// its buffers).
	var rows int
	var tag string
	until := func(done func(pgproto3.BackendMessage) bool) {
		t.Helper()
		rows, tag = 0, ""
		for {
			m, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			switch m := m.(type) {
			case *pgproto3.ErrorResponse:
				t.Fatalf("error: %s", m.Message)
			case *pgproto3.DataRow:
				rows++
			case *pgproto3.CommandComplete:
				tag = string(m.CommandTag)
			}
			if done(m) {
				return
			}
		}
	}
	ready := func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok }
	until(ready)
	fe.Send(&pgproto3.Parse{Name: "s", Query: "SELECT name, setting FROM pg_settings ORDER BY name"})
	fe.Send(&pgproto3.Bind{PreparedStatement: "s", DestinationPortal: "p"})
	fe.Send(&pgproto3.Execute{Portal: "p", MaxRows: 3})
	fe.Send(&pgproto3.Flush{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.PortalSuspended); return ok })
	if rows != 3 {
		t.Fatalf("%d rows before suspension, want 3", rows)
	}
	fe.Send(&pgproto3.Execute{Portal: "p"})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	until(ready)
	if !strings.HasPrefix(tag, "SELECT ") || tag == "SELECT 3" || rows == 0 {
		t.Fatalf("tag %q after resuming", tag)
	}
}

// TestAuth: SCRAM-SHA-256 against the client secret, the scheduler
// secret and a principal's own; a wrong password is refused (28P01).
func TestAuth(t *testing.T) {
	a, err := NewAuth("client-secret", "admin-secret", map[string]string{"alice": "alice-secret"})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, func(c *Config) { c.Auth = a })
	for _, ok := range []string{"user=kapot password=client-secret", "user=root password=admin-secret", "user=alice password=alice-secret"} {
		c, err := connect(t, addr, "sslmode=disable "+ok)
		if err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
		var s string
		if err := c.QueryRow(context.Background(), "SELECT current_database()").Scan(&s); err != nil || s != "kapot" {
			t.Fatalf("%s: %q %v", ok, s, err)
		}
	}
	for _, bad := range []string{"user=kapot password=wrong", "user=alice password=client-secret", "user=kapot"} {
		if _, err := connect(t, addr, "sslmode=disable "+bad); err == nil || !strings.Contains(err.Error(), "28P01") && !strings.Contains(err.Error(), "password") {
			t.Errorf("%s: %v, want a refusal", bad, err)
		}
	}
}

// TestTLSRequired: with a certificate the server speaks TLS and refuses
// plain connections.
func TestTLSRequired(t *testing.T) {
	pki, err := security.WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := security.TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, func(c *Config) { c.TLS = cfg })
	if _, err := connect(t, addr, "sslmode=disable"); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("plain connection: %v, want refused", err)
	}
	c, err := connect(t, addr, "sslmode=verify-full sslrootcert="+pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatalf("connection is %T, not TLS", c.PgConn().Conn())
	}
}

// TestFollowerRefuses: a scheduler that is not the leader refuses
// connections with the leader's address.
func TestFollowerRefuses(t *testing.T) {
	addr := serve(t, func(c *Config) {
		c.Serving = func(context.Context) error { return failover.NotLeader("leader:50050") }
	})
	if _, err := connect(t, addr, "sslmode=disable"); err == nil || !strings.Contains(err.Error(), "leader:50050") || !strings.Contains(err.Error(), "57P03") {
		t.Fatalf("follower: %v", err)
	}
}

// TestBounds: connections beyond the limit are refused at once; a
// client that sends nothing is dropped after the startup timeout.
func TestBounds(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxConns, lim.StartupTimeout = 2, 300*time.Millisecond
	addr := serve(t, func(c *Config) { c.Limits = lim })
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := connect(t, addr, "sslmode=disable"); err == nil || !strings.Contains(err.Error(), "53300") {
		t.Fatalf("beyond the limit: %v", err)
	}
	// The idle ones time out; the server serves again.
	buf := make([]byte, 1)
	idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle[0].Read(buf); err == nil {
		t.Fatal("an idle connection was not closed")
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := connect(t, addr, "sslmode=disable"); err != nil {
		t.Fatal(err)
	}
}
