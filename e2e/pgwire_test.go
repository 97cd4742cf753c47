package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/scheduler"
	"github.com/kapot-go/kapot/tpch"
)

// pgCluster starts a scheduler serving the PostgreSQL protocol (with a
// warehouse, for CREATE TABLE AS and INSERT) and two executors, and
// registers the shared TPC-H tables at SF 0.01 through psql-compatible
// SQL over pgx. It returns the endpoint's connection string.
func pgCluster(t *testing.T) (string, *tpchSet, *testScheduler) {
	t.Helper()
	set := sharedTPCH(t, 0.01, 2)
	wh := t.TempDir()
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.PGPort, c.Warehouse = 0, wh })
	for range 2 {
		startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.ConcurrentTasks = 2 })
	}
	host, port := splitAddr(t, s.PGAddr().String())
	dsn := fmt.Sprintf("host=%s port=%d user=kapot dbname=kapot sslmode=disable", host, port)
	conn := pgConnect(t, dsn)
	for _, table := range tpch.Tables {
		if _, err := conn.Exec(context.Background(), fmt.Sprintf("CREATE EXTERNAL TABLE %s STORED AS PARQUET LOCATION '%s/%s'", table, set.dir, table)); err != nil {
			t.Fatalf("create %s: %v", table, err)
		}
	}
	return dsn, set, s
}

func pgConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestPGWire drives the PostgreSQL endpoint with real clients: pgx
// (prepared statements, parameters of every type in text and binary,
// results in binary, a streamed result with max_rows), psql (TPC-H 22/22
// against DuckDB's answers, \dt, \d lineitem, COPY TO STDOUT),
// psycopg2 and node-postgres (a query, a parameterized query, CREATE
// TABLE AS, INSERT, a 1.5-million-row result read to the end), and bad
// input the server survives.
func TestPGWire(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL endpoint cluster: skipped with -short")
	}
	dsn, set, s := pgCluster(t)
	t.Run("pgx", func(t *testing.T) { pgxChecks(t, dsn) })
	t.Run("stream", func(t *testing.T) { pgStream(t, dsn) })
	t.Run("cancel", func(t *testing.T) { pgCancel(t, dsn, s) })
	t.Run("psql", func(t *testing.T) { psqlChecks(t, dsn, set) })
	t.Run("nested", func(t *testing.T) { pgNested(t, dsn) })
	t.Run("cursors", func(t *testing.T) { pgCursors(t, dsn) })
	t.Run("bi tools", func(t *testing.T) { pgBITools(t, dsn) })
	t.Run("psycopg2", func(t *testing.T) { psycopgChecks(t, dsn) })
	t.Run("node-postgres", func(t *testing.T) { nodeChecks(t, dsn) })
	t.Run("bad input", func(t *testing.T) { badInput(t, dsn) })
}

func pgxChecks(t *testing.T, dsn string) {
	ctx := context.Background()
	conn := pgConnect(t, dsn)
	// Parameters of every type, bound in binary by pgx (the types come
	// from the casts), and the results read in binary.
	var (
		i2    int16
		i4    int32
		i8    int64
		f4    float32
		f8    float64
		b     bool
		s     string
		d     time.Time
		ts    time.Time
		count int64
	)
	day := time.Date(1995, 3, 15, 0, 0, 0, 0, time.UTC)
	stamp := time.Date(2020, 1, 2, 3, 4, 5, 600000000, time.UTC)
	err := conn.QueryRow(ctx, "SELECT $1::int2, $2::int4, $3::int8, $4::float4, $5::float8, $6::bool, $7::text, $8::date, $9::timestamp",
		int16(-7), int32(123456), int64(1)<<40, float32(1.5), 2.25, true, "it's", day, stamp).Scan(&i2, &i4, &i8, &f4, &f8, &b, &s, &d, &ts)
	if err != nil {
		t.Fatal(err)
	}
	if i2 != -7 || i4 != 123456 || i8 != 1<<40 || f4 != 1.5 || f8 != 2.25 || !b || s != "it's" || !d.Equal(day) || !ts.Equal(stamp) {
		t.Fatalf("round trip: %v %v %v %v %v %v %q %v %v", i2, i4, i8, f4, f8, b, s, d, ts)
	}
	// The same in text (the simple protocol: pgx renders literals).
	err = conn.QueryRow(ctx, "SELECT $1::int8, $2::text, $3::date", pgx.QueryExecModeSimpleProtocol, int64(42), "a'b", "1995-03-15").Scan(&i8, &s, &d)
	if err != nil || i8 != 42 || s != "a'b" || !d.Equal(day) {
		t.Fatalf("simple protocol: %v %v %q %v", err, i8, s, d)
	}
	// A prepared statement over a table, run with several values.
	if _, err := conn.Prepare(ctx, "by-nation", "SELECT count(*) FROM customer WHERE c_nationkey = $1 AND c_acctbal > $2"); err != nil {
		t.Fatal(err)
	}
	var total int64
	for n := int64(0); n < 25; n++ {
		if err := conn.QueryRow(ctx, "by-nation", n, "-1000").Scan(&count); err != nil {
			t.Fatal(err)
		}
		total += count
	}
	var all int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customer").Scan(&all); err != nil || total != all {
		t.Fatalf("prepared counts sum to %d, customer has %d (%v)", total, all, err)
	}
	// Numerics, dates and text of a table in binary; intervals.
	var price float64
	var ship time.Time
	var flag string
	if err := conn.QueryRow(ctx, "SELECT l_extendedprice, l_shipdate, l_returnflag FROM lineitem ORDER BY l_orderkey, l_linenumber LIMIT 1").Scan(&price, &ship, &flag); err != nil || price <= 0 || ship.Year() < 1992 || flag == "" {
		t.Fatalf("lineitem row: %v %v %q: %v", price, ship, flag, err)
	}
	// A result streamed in batches (every lineitem row).
	rows, err := conn.Query(ctx, "SELECT l_orderkey, l_comment FROM lineitem")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Err() != nil || n < 50000 {
		t.Fatalf("streamed %d rows: %v", n, rows.Err())
	}
	// Errors carry SQLSTATEs.
	for sql, code := range map[string]string{"SELEC 1": "42601", "SELECT * FROM nosuch": "42P01"} {
		_, err := conn.Exec(ctx, sql)
		if err == nil || !strings.Contains(err.Error(), code) {
			t.Errorf("%s: %v, want SQLSTATE %s", sql, err, code)
		}
	}
	// CURRENT_DATE is kapot's (the session's clock), current_user the
	// endpoint's.
	var today time.Time
	if err := conn.QueryRow(ctx, "SELECT CURRENT_DATE").Scan(&today); err != nil || time.Since(today) > 48*time.Hour {
		t.Fatalf("CURRENT_DATE: %v %v", today, err)
	}
	// The connection still serves after errors.
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&s); err != nil || s != "kapot" {
		t.Fatalf("current_database: %q %v", s, err)
	}
}

// pgStream reads a result of 1.5 million rows (lineitem × nation) with
// pgx in binary and in text: the rows stream from the executors batch by
// batch.
func pgStream(t *testing.T, dsn string) {
	ctx := context.Background()
	conn := pgConnect(t, dsn)
	const sql = "SELECT l_orderkey, l_extendedprice, l_shipdate, n_name FROM lineitem CROSS JOIN nation"
	var want int64
	if err := conn.QueryRow(ctx, "SELECT count(*) * 25 FROM lineitem").Scan(&want); err != nil {
		t.Fatal(err)
	}
	for _, format := range []int16{pgx.BinaryFormatCode, pgx.TextFormatCode} { // 1: binary, 0: text
		start := time.Now()
		rows, err := conn.Query(ctx, sql, pgx.QueryResultFormats{format})
		if err != nil {
			t.Fatal(err)
		}
		var n, sum int64
		for rows.Next() {
			var k int64
			var price float64
			var day time.Time
			var name string
			if err := rows.Scan(&k, &price, &day, &name); err != nil {
				t.Fatal(err)
			}
			n++
			sum += k
		}
		if err := rows.Err(); err != nil || n != want || n < 1_000_000 {
			t.Fatalf("format %d: %d rows, want %d: %v", format, n, want, err)
		}
		el := time.Since(start)
		t.Logf("format %d: %d rows in %s, %.0f rows/s", format, n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	}
}

// pgCancel: psql's Ctrl-C (a CancelRequest) and a pgx context cancel
// stop a long query; the job shows cancelled.
func pgCancel(t *testing.T, dsn string, s *testScheduler) {
	const long = "SELECT count(*) AS %s FROM lineitem a CROSS JOIN lineitem b WHERE a.l_orderkey + b.l_orderkey < 0"
	bin, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not installed (apt-get install postgresql-client)")
	}
	cancelled := func(name string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, j := range s.Jobs() {
				if strings.Contains(j.Name, name) && j.State == "CANCELLED" {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no cancelled job %q: %+v", name, s.Jobs())
	}
	cmd := exec.Command(bin, dsn, "-X", "-c", fmt.Sprintf(long, "psql_cancel"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	cmd.Process.Signal(os.Interrupt)
	start := time.Now()
	if err := cmd.Wait(); err == nil || !strings.Contains(out.String(), "ERROR:  query cancelled") || time.Since(start) > 5*time.Second {
		t.Fatalf("psql after Ctrl-C: %v\n%s", err, out.String())
	}
	t.Logf("psql cancelled in %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out.String()))
	cancelled("psql_cancel")
	conn := pgConnect(t, dsn)
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Second)
	defer stop()
	if _, err := conn.Exec(ctx, fmt.Sprintf(long, "pgx_cancel")); err == nil {
		t.Fatal("pgx: the long query was not cancelled")
	}
	cancelled("pgx_cancel")
}

// psql runs psql with args; it skips the test when psql is missing.
func psql(t *testing.T, dsn string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not installed (apt-get install postgresql-client)")
	}
	cmd := exec.Command(bin, append([]string{dsn, "-X", "-v", "ON_ERROR_STOP=1"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func psqlChecks(t *testing.T, dsn string, set *tpchSet) {
	for n := 1; n <= 22; n++ {
		text, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		out := psql(t, dsn, "-A", "-t", "-F", "|", "-P", "null=NULL", "-c", text)
		got := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if out == "" {
			got = nil
		}
		if err := oracle.SameRows(got, set.answer(t, n)); err != nil {
			t.Fatalf("q%d through psql: %v", n, err)
		}
	}
	if out := psql(t, dsn, "-c", `\dt`); !strings.Contains(out, "lineitem") || !strings.Contains(out, "(8 rows)") {
		t.Fatalf(`\dt: %s`, out)
	}
	if out := psql(t, dsn, "-c", `\d lineitem`); !strings.Contains(out, `Table "public.lineitem"`) || !strings.Contains(out, "numeric(15,2)") || !strings.Contains(out, "l_shipdate") {
		t.Fatalf(`\d lineitem: %s`, out)
	}
	if out := psql(t, dsn, "-c", `COPY (SELECT r_regionkey, r_name FROM region ORDER BY 1) TO STDOUT WITH (FORMAT csv, HEADER)`); !strings.HasPrefix(out, "r_regionkey,r_name\n0,AFRICA\n") {
		t.Fatalf("COPY TO STDOUT: %q", out)
	}
	// Several statements in one message, SET and SHOW.
	if out := psql(t, dsn, "-A", "-t", "-c", "SET application_name = 'x'; SHOW application_name; SELECT 1"); !strings.Contains(out, "x\n1") {
		t.Fatalf("several statements: %q", out)
	}
}

func psycopgChecks(t *testing.T, dsn string) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import psycopg2").Run(); err != nil {
		t.Skip("psycopg2 not installed (apt-get install python3-psycopg2)")
	}
	script := `
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
cur = c.cursor()
cur.execute("SELECT n_name FROM nation WHERE n_nationkey = %s", (7,))
print(cur.fetchone()[0])
cur.execute("CREATE TABLE py_nations AS SELECT n_nationkey, n_name FROM nation")
cur.execute("INSERT INTO py_nations SELECT n_nationkey + 100, n_name FROM nation")
print(cur.rowcount)
cur.execute("SELECT count(*) FROM py_nations")
print(cur.fetchone()[0])
cur.execute("SELECT count(*) * 25 FROM lineitem")
want = cur.fetchone()[0]
cur.execute("SELECT l_orderkey, l_extendedprice, l_shipdate, n_name FROM lineitem CROSS JOIN nation")
n = 0
while True:
    rows = cur.fetchmany(10000)
    if not rows:
        break
    n += len(rows)
print(n == want and n >= 1000000)
`
	out, err := exec.Command(py, "-c", script, dsn).CombinedOutput()
	if err != nil || string(out) != "GERMANY\n25\n50\nTrue\n" {
		t.Fatalf("psycopg2: %v\n%s", err, out)
	}
}

func nodeChecks(t *testing.T, dsn string) {
	dir, _ := filepath.Abs("testdata/pgnode")
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "pg")); err != nil {
		t.Skip("npm pg not installed (cd e2e/testdata/pgnode && npm ci)")
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(strings.Fields(dsn)[0]+" "+strings.Fields(dsn)[1], "host="), " port=")
	out, err := exec.Command("node", filepath.Join(dir, "check.js"), host, port).CombinedOutput()
	if err != nil || string(out) != "GERMANY\n25\n50\ntrue\n" {
		t.Fatalf("node-postgres: %v\n%s", err, out)
	}
}

// badInput sends what no client should and checks the server goes on
// serving.
func badInput(t *testing.T, dsn string) {
	host, port, _ := strings.Cut(strings.TrimPrefix(strings.Fields(dsn)[0]+" "+strings.Fields(dsn)[1], "host="), " port=")
	addr := net.JoinHostPort(host, port)
	send := func(b []byte) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(b)
		buf := make([]byte, 512)
		c.Read(buf) // an error, an 'N' or a closed connection
	}
	startup := func(extra []byte) []byte {
		body := append([]byte{0, 3, 0, 0}, []byte("user\x00kapot\x00database\x00kapot\x00\x00")...)
		msg := binary.BigEndian.AppendUint32(nil, uint32(len(body)+4))
		return append(append(msg, body...), extra...)
	}
	send([]byte{0x40, 0, 0, 8, 0, 3, 0, 0})                        // a startup packet claiming 1 GiB
	send([]byte{0, 0, 0, 3})                                       // shorter than its own length
	send([]byte{0, 0, 0, 8, 0x12, 0x34, 0x56, 0x78})               // an unknown protocol
	send(startup([]byte{'Z', 0, 0, 0, 4}))                         // an unknown message type
	send(startup([]byte{'Q', 0, 0, 0, 2}))                         // a length below 4
	send(startup([]byte{'Q', 0x7f, 0xff, 0xff, 0xff}))             // a message over the size limit
	send(startup([]byte{'B', 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff})) // a truncated Bind
	send(startup([]byte{'P', 0, 0, 0, 6, 'x', 'y'}))               // a Parse without terminators
	// Half-open connections (10,000 where this process may open twice as
	// many files): each holds a slot until the startup timeout, beyond
	// the limit (256) they are refused at once.
	halfOpen := 10_000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && int(lim.Cur) < 2*halfOpen+1000 {
		halfOpen = max(300, (int(lim.Cur)-1000)/2)
	}
	var held []net.Conn
	for range halfOpen {
		if c, err := net.Dial("tcp", addr); err == nil {
			held = append(held, c)
		}
	}
	// A client that asks for a large result and never reads it.
	lazy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	lazy.Write(startup(append([]byte{'Q'}, binary.BigEndian.AppendUint32(nil, uint32(4+len("SELECT * FROM lineitem")+1))...)))
	lazy.Write([]byte("SELECT * FROM lineitem\x00"))
	for _, c := range held {
		c.Close()
	}
	defer lazy.Close()
	t.Logf("%d half-open connections held, %d accepted", halfOpen, len(held))
	// The server still answers.
	conn := pgConnect(t, dsn)
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM region").Scan(&n); err != nil || n != 5 {
		t.Fatalf("after bad input: %d %v", n, err)
	}
}

// TestPGWireSecured: on a cluster with secrets and TLS, clients log in
// with SCRAM-SHA-256 over TLS (plain connections and wrong passwords are
// refused), and the principal a client logs in as owns what it creates:
// bob may not drop alice's table, alice may.
func TestPGWireSecured(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL endpoint cluster: skipped with -short")
	}
	pki, err := security.WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secrets := clusterSecrets
	secrets.Principals = map[string]string{"alice": "alice-pw", "bob": "bob-pw"}
	sec := security.Config{Secrets: secrets, TLS: security.TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CA}}
	wh := t.TempDir()
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.PGPort, c.Warehouse, c.Security = 0, wh, sec })
	startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.ConcurrentTasks = 2; c.Security = sec })
	host, port := splitAddr(t, s.PGAddr().String())
	dsn := func(user, password, ssl string) string {
		return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=kapot sslmode=%s sslrootcert=%s", host, port, user, password, ssl, pki.CA)
	}
	ctx := context.Background()
	for _, bad := range []string{dsn("alice", "alice-pw", "disable"), dsn("alice", "bob-pw", "verify-full"), dsn("kapot", "nope", "verify-full")} {
		if c, err := pgx.Connect(ctx, bad); err == nil {
			c.Close(ctx)
			t.Fatalf("%s: connected", bad)
		}
	}
	alice, bob := pgConnect(t, dsn("alice", "alice-pw", "verify-full")), pgConnect(t, dsn("bob", "bob-pw", "verify-full"))
	client := pgConnect(t, dsn("anyone", clusterSecrets.Client, "verify-full"))
	if _, err := alice.Exec(ctx, "CREATE TABLE alice_t (k BIGINT, v VARCHAR)"); err != nil {
		t.Fatal(err)
	}
	if tag, err := alice.Exec(ctx, "INSERT INTO alice_t VALUES ($1, $2), (2, 'two')", int64(1), "one"); err != nil || tag.String() != "INSERT 0 2" {
		t.Fatalf("insert: %q %v", tag, err)
	}
	var n int64
	if err := client.QueryRow(ctx, "SELECT count(*) FROM alice_t WHERE v = $1", "two").Scan(&n); err != nil || n != 1 {
		t.Fatalf("read with the client secret: %d %v", n, err)
	}
	if _, err := bob.Exec(ctx, "DROP TABLE alice_t"); err == nil || !strings.Contains(err.Error(), "42501") {
		t.Fatalf("bob dropped alice's table: %v", err)
	}
	if _, err := alice.Exec(ctx, "DROP TABLE alice_t"); err != nil {
		t.Fatal(err)
	}
	if out := psql(t, dsn("alice", "alice-pw", "verify-full"), "-A", "-t", "-c", "SELECT current_user"); strings.TrimSpace(out) != "alice" {
		t.Fatalf("psql over TLS with SCRAM: %q", out)
	}
}
