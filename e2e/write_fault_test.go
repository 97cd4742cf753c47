package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/s3test"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/warehouse"
)

// TestWriteFaults kills an executor (SIGKILL, default settings) half-way
// through a CREATE TABLE AS into the local warehouse and through a COPY …
// PARTITION_BY to S3, on real processes: each write either succeeds with
// exactly the right rows (its lost tasks ran again) or fails, and in both
// cases no partial, duplicate or staged file is visible. A cancelled
// INSERT leaves its table as it was and its staged files go.
func TestWriteFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster: skipped with -short")
	}
	srv := lakeS3(t)
	dir, db := tpchWithDuckDB(t, 0.1, 4)
	wh := t.TempDir()
	port := freePort(t)
	// The scheduler lists the S3 copies for CREATE EXTERNAL TABLE with its
	// own credentials.
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	startProc(t, "scheduler", "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "info", "--warehouse", wh,
		"--s3-endpoint", srv.Endpoint, "--s3-path-style")
	r := &writeFaultRun{t: t, srv: srv, wh: wh, port: port}
	for range 3 {
		r.spawn()
	}
	cl, err := client.Dial("127.0.0.1:"+strconv.Itoa(port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitExecutors(t, cl, 3, 30*time.Second)
	sess := cl.NewSession(srv.Properties())
	createTPCH(t, sess, dir)

	const cols = "l_orderkey, l_partkey, l_quantity, l_extendedprice, l_shipmode, o_orderdate"
	const src = "lineitem JOIN orders ON l_orderkey = o_orderkey"
	want, err := db.Rows("SELECT count(*), sum(l_extendedprice), sum(l_partkey) FROM " + src)
	if err != nil {
		t.Fatal(err)
	}
	r.sess, r.cols, r.src, r.want, r.n = sess, cols, src, want, strings.Split(want[0], "|")[0]
	r.createTableAsKilled()
	r.copyToS3Killed()
	r.cancelledInsert()
}

// writeFaultRun holds TestWriteFaults's processes, session and DuckDB's
// answer, for its steps.
type writeFaultRun struct {
	t     *testing.T
	srv   *s3test.Server
	wh    string // the warehouse
	port  int    // the scheduler's
	execs []*proc
	sess  *client.Session
	cols  string   // the columns written
	src   string   // lineitem ⋈ orders
	want  []string // DuckDB's count(*), sum(l_extendedprice), sum(l_partkey) of src
	n     string   // DuckDB's count(*) of src
}

// spawn starts an executor process and waits until it registered.
func (r *writeFaultRun) spawn() {
	t, port := r.t, r.port
	// The sessions name the S3 server (on loopback) as their endpoint.
	p := startExecProc(t, fmt.Sprintf("executor-%d", len(r.execs)), port, "--allow-local-urls")
	waitLog(t, p.log, "registered with scheduler")
	r.execs = append(r.execs, p)
}

// check compares the count and sums of from with DuckDB's over the source.
func (r *writeFaultRun) check(from string) error {
	sess, want := r.sess, r.want
	got, err := queryErr(sess, "SELECT count(*), sum(l_extendedprice), sum(l_partkey) FROM "+from)
	if err != nil {
		return err
	}
	return oracle.SameRows(got, want)
}

// killDuring runs stmt once clean (its duration is the window) and
// once with the oldest executor SIGKILLed half-way; it returns the
// clean run's and the faulty run's outcomes.
func (r *writeFaultRun) killDuring(clean, faulty string) error {
	t, sess, n := r.t, r.sess, r.n
	start := time.Now()
	if got, err := queryErr(sess, clean); err != nil || len(got) != 1 || got[0] != n {
		t.Fatalf("%s: %q, %v (want %s rows)", clean, got, err, n)
	}
	window := time.Since(start)
	done := make(chan error, 1)
	go func() {
		got, err := queryErr(sess, faulty)
		if err == nil && (len(got) != 1 || got[0] != n) {
			err = fmt.Errorf("wrote %q rows, want %s", got, n)
		}
		done <- err
	}()
	time.Sleep(window / 2) // the fault's moment, not a wait for readiness
	victim := r.execs[0]
	victim.cmd.Process.Signal(syscall.SIGKILL)
	victim.wait(t, 10*time.Second)
	r.execs = r.execs[1:]
	r.spawn()
	err := <-done
	t.Logf("%s: clean %s, after a kill at %s: %v", faulty, window.Round(time.Millisecond), (window / 2).Round(time.Millisecond), err)
	return err
}

// createTableAsKilled: a CREATE TABLE AS into the warehouse with an
// executor killed half-way.
func (r *writeFaultRun) createTableAsKilled() {
	t, sess, wh, cols, src := r.t, r.sess, r.wh, r.cols, r.src
	// CREATE TABLE AS into the warehouse.
	err := r.killDuring("CREATE TABLE clean AS SELECT "+cols+" FROM "+src, "CREATE TABLE faulty AS SELECT "+cols+" FROM "+src)
	if cerr := r.check("clean"); cerr != nil {
		t.Fatalf("clean CREATE TABLE AS: %v", cerr)
	}
	if err == nil {
		if cerr := r.check("faulty"); cerr != nil {
			t.Fatalf("CREATE TABLE AS that survived a kill: %v", cerr)
		}
		checkTableFiles(t, wh, "faulty")
	} else {
		if _, qerr := queryErr(sess, "SELECT count(*) FROM faulty"); qerr == nil {
			t.Fatalf("a failed CREATE TABLE AS (%v) left a table", err)
		}
		waitNoFiles(t, filepath.Join(wh, "faulty-*"))
	}
}

// copyToS3Killed: a COPY … PARTITION_BY to S3 with an executor killed
// half-way; no staged object is left.
func (r *writeFaultRun) copyToS3Killed() {
	t, srv, sess, cols, src, want := r.t, r.srv, r.sess, r.cols, r.src, r.want
	// COPY … PARTITION_BY to S3.
	copyTo := func(prefix string) string {
		return "COPY (SELECT " + cols + " FROM " + src + ") TO 's3://lake/" + prefix + "/' (FORMAT parquet, PARTITION_BY (l_shipmode))"
	}
	err := r.killDuring(copyTo("clean"), copyTo("faulty"))
	for _, prefix := range []string{"clean", "faulty"} {
		if prefix == "faulty" && err != nil {
			if left := listS3(t, srv, "s3://lake/faulty/"); len(left) != 0 {
				t.Fatalf("a failed COPY (%v) left %d objects", err, len(left))
			}
			continue
		}
		query(t, sess, "CREATE EXTERNAL TABLE copy_"+prefix+" STORED AS PARQUET LOCATION 's3://lake/"+prefix+"/'")
		got, qerr := queryErr(sess, "SELECT count(*), sum(l_extendedprice), sum(l_partkey) FROM copy_"+prefix)
		if qerr != nil || oracle.SameRows(got, want) != nil {
			t.Fatalf("COPY to s3://lake/%s/ read back: %q, %v; want %q", prefix, got, qerr, want)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var staged []string
		for _, o := range listS3(t, srv, "s3://lake/") {
			if strings.Contains(o, ".kapot-staging") {
				staged = append(staged, o)
			}
		}
		if len(staged) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staged objects left on S3: %q", staged)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cancelledInsert: a cancelled INSERT leaves the table as it was and its
// staged files go.
func (r *writeFaultRun) cancelledInsert() {
	t, sess, wh := r.t, r.sess, r.wh
	// A cancelled INSERT leaves the table as it was.
	before := query(t, sess, "SELECT count(*), sum(l_extendedprice) FROM clean")
	start := time.Now()
	query(t, sess, "INSERT INTO clean SELECT * FROM clean WHERE l_shipmode = 'AIR'")
	window := time.Since(start)
	after := query(t, sess, "SELECT count(*), sum(l_extendedprice) FROM clean")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := sess.Query(ctx, "INSERT INTO clean SELECT * FROM clean")
		done <- err
	}()
	time.Sleep(window / 2)
	cancel()
	if err := <-done; err == nil {
		t.Log("the INSERT finished before it was cancelled")
	} else {
		if got := query(t, sess, "SELECT count(*), sum(l_extendedprice) FROM clean"); oracle.SameRows(got, after) != nil {
			t.Fatalf("after a cancelled INSERT: %q, want %q (before the first insert %q)", got, after, before)
		}
		waitNoFiles(t, filepath.Join(wh, "clean-*", "_staging", "*"))
	}
}

// checkTableFiles asserts that a managed table's directory holds exactly
// the data files of its manifest and nothing staged.
func checkTableFiles(t *testing.T, wh, table string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(wh, table+"-*"))
	if len(dirs) != 1 {
		t.Fatalf("table %s: directories %q", table, dirs)
	}
	m, err := (&warehouse.Warehouse{Root: wh, Store: objstore.Default()}).Current(context.Background(), dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[filepath.Join(dirs[0], f.Path)] = true
	}
	var extra []string
	filepath.WalkDir(filepath.Join(dirs[0], "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !listed[p] {
			extra = append(extra, p)
		}
		return nil
	})
	if len(extra) > 0 || len(listed) == 0 {
		t.Fatalf("table %s: %d files in its manifest, %q not in it", table, len(listed), extra)
	}
	waitNoFiles(t, filepath.Join(dirs[0], "_staging", "*"))
}

// waitNoFiles waits (a minute at most) until nothing matches pattern:
// staging directories go once the last task of their job stopped.
func waitNoFiles(t *testing.T, pattern string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		left, _ := filepath.Glob(pattern)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %q", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
