package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/s3test"
	"github.com/kapot-go/kapot/objstore"
)

// sessionS3Cluster starts a scheduler and one executor as processes, with
// extra flags on both, and returns the scheduler's address.
func sessionS3Cluster(t *testing.T, extra ...string) string {
	t.Helper()
	port := freePort(t)
	startProc(t, "scheduler", append([]string{"scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "info"}, extra...)...)
	e := startExecProc(t, "executor", port, extra...)
	waitLog(t, e.log, "registered with scheduler")
	return "127.0.0.1:" + strconv.Itoa(port)
}

// kapotSQLWithSession runs the README's example: kapot sql against the
// scheduler with the S3 server as the session's endpoint (properties on
// the command line), one -e per statement, CSV out.
func kapotSQLWithSession(t *testing.T, addr string, srv *s3test.Server, stmts ...string) (string, error) {
	t.Helper()
	args := []string{"sql", "--scheduler", addr, "--format", "csv"}
	for k, v := range srv.Properties() {
		args = append(args, "--property", k+"="+v)
	}
	for _, s := range stmts {
		args = append(args, "-e", s)
	}
	out, err := exec.Command(kapotBin(t), args...).CombinedOutput()
	return string(out), err
}

// TestSessionS3EndpointProcesses (issue 35, finding 8): the scheduler lists
// and writes under the session's kapot.s3.* properties (endpoint, region,
// path style, credentials) exactly as executors read: CREATE EXTERNAL
// TABLE over a bucket of the session's endpoint, a query with the exact
// answer, a COPY to the same endpoint and a table over what it wrote. The
// scheduler has no --s3-endpoint of its own; the endpoint is on loopback,
// so the processes run with --allow-local-urls.
func TestSessionS3EndpointProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	srv := s3test.Start(t)
	data, want := parquetBytes(t, 50_000, 3)
	srv.Put("warehouse", "t/part-0.parquet", data)
	addr := sessionS3Cluster(t, "--allow-local-urls")
	out, err := kapotSQLWithSession(t, addr, srv,
		"CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://warehouse/t/'",
		"SELECT count(*), sum(v) FROM t",
		"COPY (SELECT k, v FROM t WHERE k % 2 = 0) TO 's3://warehouse/even/' (FORMAT parquet)",
		"CREATE EXTERNAL TABLE even STORED AS PARQUET LOCATION 's3://warehouse/even/'",
		"SELECT count(*) = sum(CASE WHEN k % 2 = 0 THEN 1 ELSE 0 END), count(*) > 0 FROM even")
	if err != nil {
		t.Fatalf("kapot sql: %v\n%s", err, out)
	}
	for _, line := range []string{"created table t (1 files)", strings.ReplaceAll(want, "|", ","), "true,true"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	if objs := listS3(t, srv, "s3://warehouse/even/"); len(objs) == 0 {
		t.Fatalf("COPY wrote nothing to the session's endpoint")
	}
}

// TestSessionS3EndpointLocalRefusedProcesses (issue 35, finding 4): without
// --allow-local-urls the same loopback endpoint is refused by the scheduler
// before any request, with the one message that never tells a closed port
// from a live service; nothing reaches the server.
func TestSessionS3EndpointLocalRefusedProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	srv := s3test.Start(t)
	data, _ := parquetBytes(t, 1_000, 3)
	srv.Put("warehouse", "t/part-0.parquet", data)
	addr := sessionS3Cluster(t)
	before := srv.Requests.Load()
	outs := map[string]string{}
	for _, stmt := range []string{
		"CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://warehouse/t/'",
		"COPY (SELECT 1 a) TO 's3://warehouse/w/' (FORMAT parquet)",
	} {
		out, err := kapotSQLWithSession(t, addr, srv, stmt)
		if err == nil || !strings.Contains(out, objstore.ErrUnreachable.Error()) || !strings.Contains(out, "--allow-local-urls") {
			t.Errorf("%s: %v\n%s", stmt, err, out)
		}
		outs[stmt] = strings.ReplaceAll(out, srv.Endpoint, "ENDPOINT")
	}
	if n := srv.Requests.Load() - before; n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
	// A closed port reads exactly as the live server does.
	closed := s3test.Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
	stmt := "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://warehouse/t/'"
	out, err := kapotSQLWithSession(t, addr, &closed, stmt)
	if err == nil || strings.ReplaceAll(out, closed.Endpoint, "ENDPOINT") != outs[stmt] {
		t.Fatalf("closed port: %v\n%s\nlive server:\n%s", err, out, outs[stmt])
	}
	t.Logf("refused: %s", strings.TrimSpace(out))
}
