package e2e

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// pgCursors reads lineitem a piece at a time three ways: an
// extended-protocol portal suspended by Execute's max_rows (raw
// pgproto3, as JDBC's fetch size does), a SQL cursor fetched with pgx
// (DECLARE, FETCH n, CLOSE in a block), and a psycopg2 named cursor
// (cursor(name=...), which sends DECLARE and FETCH FORWARD n).
func pgCursors(t *testing.T, dsn string) {
	ctx := context.Background()
	conn := pgConnect(t, dsn)
	var want int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM lineitem").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if got := suspendedPortal(t, dsn, 1000); got != want {
		t.Fatalf("max_rows portal: %d rows, want %d", got, want)
	}
	// A SQL cursor through pgx.
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DECLARE li CURSOR FOR SELECT l_orderkey, l_comment FROM lineitem"); err != nil {
		t.Fatal(err)
	}
	var n, fetches int64
	for {
		rows, err := conn.Query(ctx, "FETCH 7000 FROM li")
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for rows.Next() {
			k++
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		if k == 0 {
			break
		}
		n += int64(k)
		fetches++
	}
	if _, err := conn.Exec(ctx, "CLOSE li"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if n != want || fetches < 2 {
		t.Fatalf("pgx cursor: %d rows in %d fetches, want %d", n, fetches, want)
	}
	// psql's FETCH_COUNT reads through a cursor (BEGIN, DECLARE
	// _psql_cursor NO SCROLL CURSOR, FETCH FORWARD n, CLOSE, COMMIT).
	fetched := psql(t, dsn, "-A", "-t", "-v", "FETCH_COUNT=5000", "-c", "SELECT l_orderkey FROM lineitem")
	if got := int64(strings.Count(fetched, "\n")); got != want {
		t.Fatalf("psql FETCH_COUNT: %d rows, want %d", got, want)
	}
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import psycopg2").Run(); err != nil {
		t.Skip("psycopg2 not installed (apt-get install python3-psycopg2)")
	}
	script := `
import sys, psycopg2
c = psycopg2.connect(sys.argv[1])
cur = c.cursor(name="named")
cur.itersize = 5000
cur.execute("SELECT l_orderkey, l_shipdate FROM lineitem")
print(sum(1 for _ in cur))
cur.close()
cur = c.cursor(name="many")
cur.execute("SELECT n_name FROM nation ORDER BY n_nationkey")
print(len(cur.fetchmany(10)), len(cur.fetchmany(10)), len(cur.fetchall()))
cur.close()
c.commit()
# Without autocommit psycopg2 opens a block: its ROLLBACK of a block that
# wrote is an error saying the write stays.
cur = c.cursor()
cur.execute("CREATE VIEW py_tx_view AS SELECT 1 AS x")
try:
    c.rollback()
    print("rolled back")
except psycopg2.Error as e:
    print(e.pgcode)
cur = c.cursor()
cur.execute("SELECT count(*) FROM py_tx_view")
print(cur.fetchone()[0])
c.close()
`
	out, err := exec.Command(py, "-c", script, dsn).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != strconv.FormatInt(want, 10)+"\n10 10 5\n25000\n1" {
		t.Fatalf("psycopg2 named cursor: %v\n%s", err, out)
	}
}

// suspendedPortal runs SELECT l_orderkey FROM lineitem as a portal read
// max rows at a time (PortalSuspended between), and returns the rows.
func suspendedPortal(t *testing.T, dsn string, max uint32) int64 {
	t.Helper()
	host, port, _ := strings.Cut(strings.TrimPrefix(strings.Fields(dsn)[0]+" "+strings.Fields(dsn)[1], "host="), " port=")
	nc, err := net.Dial("tcp", net.JoinHostPort(host, port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * time.Minute))
	fe := pgproto3.NewFrontend(nc, nc)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "kapot"}})
	send := func(msgs ...pgproto3.FrontendMessage) {
		for _, m := range msgs {
			fe.Send(m)
		}
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	send()
	var rows int64
	// next reads until a PortalSuspended (true), CommandComplete or
	// ReadyForQuery.
	next := func() bool {
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
			case *pgproto3.PortalSuspended:
				return true
			case *pgproto3.CommandComplete, *pgproto3.ReadyForQuery:
				return false
			}
		}
	}
	next()
	send(&pgproto3.Parse{Query: "SELECT l_orderkey FROM lineitem"}, &pgproto3.Bind{}, &pgproto3.Execute{MaxRows: max}, &pgproto3.Flush{})
	suspensions := 0
	for next() {
		suspensions++
		if int64(suspensions)*int64(max) != rows {
			t.Fatalf("%d rows after %d suspensions of %d", rows, suspensions, max)
		}
		send(&pgproto3.Execute{MaxRows: max}, &pgproto3.Flush{})
	}
	if suspensions < 2 {
		t.Fatalf("%d suspensions", suspensions)
	}
	send(&pgproto3.Sync{})
	next()
	return rows
}
