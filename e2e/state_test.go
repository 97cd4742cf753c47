package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/scheduler"
)

// flightSQLRows runs one statement on the Flight SQL endpoint at addr and
// returns its rows.
func flightSQLRows(t *testing.T, addr, sql string) []string {
	t.Helper()
	rows, err := flightSQLRowsErr(addr, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return rows
}

func flightSQLRowsErr(addr, sql string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	info, err := cl.Execute(ctx, sql)
	if err != nil {
		return nil, err
	}
	var bs []arrow.RecordBatch
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	for _, ep := range info.Endpoint {
		rdr, err := cl.DoGet(ctx, ep.GetTicket())
		if err != nil {
			return nil, err
		}
		for rdr.Next() {
			b := rdr.RecordBatch()
			b.Retain()
			bs = append(bs, b)
		}
		err = rdr.Err()
		rdr.Release()
		if err != nil {
			return nil, err
		}
	}
	return engine.FormatRows(bs, "|"), nil
}

// readRows drains a streamed result into formatted rows (fields joined by
// "|") and releases its batches.
func readRows(t *testing.T, rows *client.Rows) []string {
	t.Helper()
	got, err := readRowsErr(rows)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestSchedulerStateSurvivesRestart: with --state-dir, a table created
// through Flight SQL and the jobs that ran are still there after the
// scheduler restarts on the same dir, for Flight SQL and kapot sql alike; a second scheduler is refused the
// dir while the first runs.
func TestSchedulerStateSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	stateDir := t.TempDir()
	port, sqlPort, adminPort := restartPort(t), restartPort(t), restartPort(t)
	sched := func(name string) *proc {
		p := startProc(t, name, "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port), "--state-dir", stateDir,
			"--flight-sql-port", strconv.Itoa(sqlPort), "--admin-port", strconv.Itoa(adminPort), "--log-level", "debug")
		waitLog(t, p.log, "scheduler listening")
		return p
	}
	first := sched("scheduler-1")
	startProc(t, "executor", "executor", "--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
		"--scheduler-host", "127.0.0.1", "--scheduler-port", strconv.Itoa(port), "--work-dir", t.TempDir(), "--concurrent-tasks", "1")
	sqlAddr := "127.0.0.1:" + strconv.Itoa(sqlPort)
	data, err := filepath.Abs("../examples/groupby/data")
	if err != nil {
		t.Fatal(err)
	}
	flightSQLRows(t, sqlAddr, "CREATE EXTERNAL TABLE sales STORED AS CSV WITH HEADER ROW LOCATION '"+data+"'")
	const query = "SELECT region, count(*) FROM sales GROUP BY region ORDER BY region"
	want := flightSQLRows(t, sqlAddr, query)
	if !slices.Equal(want, []string{"east|2", "north|3", "south|2", "west|1"}) {
		t.Fatalf("first scheduler: %q", want)
	}
	jobs := func() []scheduler.JobView {
		t.Helper()
		code, body, err := httpGet("http://127.0.0.1:" + strconv.Itoa(adminPort) + "/api/jobs")
		if err != nil || code != 200 {
			t.Fatalf("/api/jobs: %d %v", code, err)
		}
		var out []scheduler.JobView
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := jobs()
	if len(before) != 1 || before[0].State != "SUCCESSFUL" {
		t.Fatalf("jobs before the restart: %+v", before)
	}

	twin := startProc(t, "scheduler-twin", "scheduler", "--bind-host", "127.0.0.1", "--port", "0", "--state-dir", stateDir)
	if err := twin.wait(t, 30*time.Second); err == nil || !strings.Contains(readFile(t, twin.log), "in use by another scheduler") {
		t.Fatalf("a second scheduler on a held state dir: %v\n%s", err, readFile(t, twin.log))
	}

	first.cmd.Process.Signal(syscall.SIGTERM)
	if err := first.wait(t, 60*time.Second); err != nil {
		t.Fatalf("scheduler exit: %v", err)
	}
	second := sched("scheduler-2")
	if !strings.Contains(readFile(t, second.log), "table restored from the state store") {
		t.Fatalf("the restarted scheduler did not restore the table:\n%s", readFile(t, second.log))
	}
	after := jobs()
	// The job is recovered with its result (readable until its data is
	// cleaned up), listed once.
	if len(after) != 1 || after[0].ID != before[0].ID || after[0].State != "SUCCESSFUL" {
		t.Fatalf("jobs after the restart: %+v, want the job %s", after, before[0].ID)
	}
	// The restored table answers (the job waits for the executor to
	// register with the new scheduler).
	if got := flightSQLRows(t, sqlAddr, query); !slices.Equal(got, want) {
		t.Fatalf("after the restart: %q, want %q", got, want)
	}
	// kapot sql --scheduler sends its SQL to the same front door: the
	// table Flight SQL created is there for it too.
	out, err := exec.Command(kapotBin(t), "sql", "--scheduler", "127.0.0.1:"+strconv.Itoa(port), "--format", "csv", "-e", query).CombinedOutput()
	if err != nil {
		t.Fatalf("kapot sql: %v\n%s", err, out)
	}
	if string(out) != "region,count\neast,2\nnorth,3\nsouth,2\nwest,1\n" {
		t.Fatalf("kapot sql --scheduler after the restart printed\n%s", out)
	}
}

// TestOneCatalogForFlightSQLAndTheGoClient: SQL sent to the scheduler
// (ExecuteSQL, client.Query) is planned there over the catalog Flight SQL
// clients share: a table created through either is visible to the other.
func TestOneCatalogForFlightSQLAndTheGoClient(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.FlightSQLPort = 0 })
	startExecutor(t, s.addr, "push-staged", nil)
	sqlAddr := s.FlightSQLAddr().String()
	data, err := filepath.Abs("../examples/groupby/data")
	if err != nil {
		t.Fatal(err)
	}
	flightSQLRows(t, sqlAddr, "CREATE EXTERNAL TABLE sales STORED AS CSV WITH HEADER ROW LOCATION '"+data+"'")

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cl, err := client.Dial(s.addr, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := cl.Query(ctx, "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := readRows(t, rows)
	if !slices.Equal(got, []string{"east|2", "north|3", "south|2", "west|1"}) {
		t.Fatalf("Go client over the Flight SQL table: %q", got)
	}

	r, err := cl.ExecuteSQL(ctx, "CREATE EXTERNAL TABLE sales2 STORED AS CSV WITH HEADER ROW LOCATION '"+data+"'", nil)
	if err != nil || r.GetJobId() != "" || len(r.GetRows()) != 1 {
		t.Fatalf("CREATE through ExecuteSQL: %v %v", r, err)
	}
	if got := firstColumn(flightSQLRows(t, sqlAddr, "SHOW TABLES")); !slices.Equal(got, []string{"sales", "sales2"}) {
		t.Fatalf("Flight SQL's tables after the Go client's CREATE: %q", got)
	}
	if got := flightSQLRows(t, sqlAddr, "SELECT count(*) FROM sales2"); !slices.Equal(got, []string{"8"}) {
		t.Fatalf("Flight SQL over the Go client's table: %q", got)
	}
	rows, err = cl.Query(ctx, "SHOW TABLES", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := firstColumn(readRows(t, rows)); !slices.Equal(got, []string{"sales", "sales2"}) {
		t.Fatalf("the Go client's SHOW TABLES: %q", got)
	}
}
