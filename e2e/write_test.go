package e2e

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
	"github.com/kapot-go/kapot/internal/testkit/s3test"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/scheduler"
)

// writeCluster is a scheduler with a warehouse and two executors.
func writeCluster(t *testing.T, warehouse string, s3 objstore.S3Config) (*client.Client, *testScheduler) {
	t.Helper()
	// No retention: these tests check that dropped and replaced tables'
	// files go (TestSnapshotReads checks that readers keep them, with the
	// default retention).
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.Warehouse, c.S3, c.TableRetention = warehouse, s3, 0 })
	for range 2 {
		startExecutorWith(t, s.addr, "push-staged", executor.ArrowEngine{}, func(c *executor.Config) {
			c.ConcurrentTasks, c.S3 = 2, s3
		})
	}
	cl, err := client.Dial(s.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl, s
}

// query runs one statement and returns its rows as text.
func query(t *testing.T, sess *client.Session, sql string) []string {
	t.Helper()
	rows, err := queryErr(sess, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return rows
}

func queryErr(sess *client.Session, sql string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rows, err := sess.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return readRowsErr(rows)
}

// TestWritesOnCluster writes through the SQL front door of a 2-executor
// cluster with a local warehouse, at TPC-H SF 0.1: CREATE TABLE AS of
// lineitem ⋈ orders, then one aggregate over it and over the source, both
// equal to DuckDB's; COPY … PARTITION_BY (l_shipmode) gives 7 Hive
// directories that DuckDB reads back with the same rows; INSERT … SELECT
// twice doubles a table exactly; a NOT NULL violation leaves the table as
// it was; views; DROP removes the files.
func TestWritesOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("SF 0.1 on a cluster: skipped with -short")
	}
	dir, db := tpchWithDuckDB(t, 0.1, 2)
	wh := t.TempDir()
	cl, _ := writeCluster(t, wh, objstore.S3Config{})
	sess := cl.NewSession(nil)
	createTPCH(t, sess, dir)

	const agg = `SELECT l_shipmode, count(*), sum(l_quantity), sum(l_extendedprice) FROM %s WHERE o_orderdate < DATE '1995-01-01' GROUP BY l_shipmode ORDER BY l_shipmode`
	src := "lineitem JOIN orders ON l_orderkey = o_orderkey"
	want, err := db.Rows(strings.ReplaceAll(agg, "%s", src))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 7 {
		t.Fatalf("duckdb: %d ship modes", len(want))
	}
	total, err := db.Rows("SELECT count(*) FROM " + src)
	if err != nil {
		t.Fatal(err)
	}
	r := &writeRun{t: t, db: db, sess: sess, wh: wh, agg: agg, src: src, want: want, total: total}
	r.createTableAs()
	r.copyPartitioned()
	r.copyOneFile()
	r.insertSelect()
	r.insertIntoExternal()
	r.views()
	r.replaceAndDrop()
}

// writeRun holds TestWritesOnCluster's cluster session, DuckDB and the
// answers its steps compare with.
type writeRun struct {
	t     *testing.T
	db    *duck.DB
	sess  *client.Session
	wh    string   // the warehouse
	agg   string   // the aggregate, over %s
	src   string   // lineitem ⋈ orders
	want  []string // DuckDB's agg over src
	total []string // DuckDB's count(*) of src
}

// createTableAs: CREATE TABLE AS of lineitem ⋈ orders writes every row;
// the aggregate over it equals the one over its source, and DuckDB's.
func (r *writeRun) createTableAs() {
	t, sess, agg, src, want, total := r.t, r.sess, r.agg, r.src, r.want, r.total
	got := query(t, sess, "CREATE TABLE lo AS SELECT l_orderkey, l_quantity, l_extendedprice, l_shipmode, o_orderdate FROM "+src)
	if !slices.Equal(got, total) {
		t.Fatalf("CREATE TABLE AS wrote %q rows, want %q", got, total)
	}
	for _, from := range []string{src, "lo"} {
		if err := oracle.SameRows(query(t, sess, strings.ReplaceAll(agg, "%s", from)), want); err != nil {
			t.Fatalf("aggregate over %s: %v", from, err)
		}
	}
	if got := query(t, sess, "DESCRIBE lo"); len(got) != 5 || !strings.HasPrefix(got[1], "l_quantity|DECIMAL(15,2)") {
		t.Fatalf("DESCRIBE lo: %q", got)
	}
}

// copyPartitioned: COPY … PARTITION_BY writes one directory per ship
// mode that DuckDB and kapot read back.
func (r *writeRun) copyPartitioned() {
	t, db, sess, agg, want, total := r.t, r.db, r.sess, r.agg, r.want, r.total
	// COPY, partitioned: one directory per ship mode, read back by DuckDB.
	out := filepath.Join(t.TempDir(), "by_mode")
	if got := query(t, sess, "COPY (SELECT * FROM lo) TO '"+out+"' (FORMAT parquet, PARTITION_BY (l_shipmode))"); !slices.Equal(got, total) {
		t.Fatalf("COPY wrote %q rows, want %q", got, total)
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		dirs = append(dirs, e.Name())
	}
	if len(dirs) != 7 || dirs[0] != "l_shipmode=AIR" || !slices.Contains(dirs, "l_shipmode=REG AIR") {
		t.Fatalf("COPY … PARTITION_BY made %q", dirs)
	}
	back, err := db.Rows(strings.ReplaceAll(agg, "%s", "read_parquet('"+out+"/**/*.parquet', hive_partitioning = true)"))
	if err != nil {
		t.Fatal(err)
	}
	if err := oracle.SameRows(back, want); err != nil {
		t.Fatalf("DuckDB reading kapot's COPY: %v", err)
	}
	// A second COPY to the same directory is refused unless OVERWRITE.
	if _, err := queryErr(sess, "COPY (SELECT 1 AS x) TO '"+out+"'"); err == nil || !strings.Contains(err.Error(), "OVERWRITE") {
		t.Fatalf("COPY into a full directory: %v", err)
	}
	// kapot reads the directories back as a partitioned table, and prunes.
	query(t, sess, "CREATE EXTERNAL TABLE by_mode STORED AS PARQUET PARTITIONED BY (l_shipmode) LOCATION '"+out+"'")
	if err := oracle.SameRows(query(t, sess, strings.ReplaceAll(agg, "%s", "by_mode")), want); err != nil {
		t.Fatalf("kapot reading its PARTITION_BY output: %v", err)
	}
	plan := strings.Join(query(t, sess, "EXPLAIN SELECT count(*) FROM by_mode WHERE l_shipmode IN ('AIR', 'MAIL') AND o_orderdate < DATE '1995-01-01'"), "\n")
	if n := strings.Count(plan, "ParquetScan"); n != 2 {
		t.Fatalf("a filter on the partition column reads %d partitions, want 2:\n%s", n, plan)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".kapot-staging-*")); len(leftovers) > 0 {
		t.Fatalf("staging left behind: %q", leftovers)
	}
	// Once a table reads the directory, no COPY writes there, not even
	// with OVERWRITE (only the table's own writes touch its files).
	if _, err := queryErr(sess, "COPY (SELECT 1 AS x) TO '"+out+"' (FORMAT parquet, OVERWRITE true)"); err == nil || !strings.Contains(err.Error(), "table by_mode") {
		t.Fatalf("COPY OVERWRITE into a table's directory: %v", err)
	}
}

// copyOneFile: COPY to one CSV file.
func (r *writeRun) copyOneFile() {
	t, sess := r.t, r.sess
	// One file.
	one := filepath.Join(t.TempDir(), "modes.csv")
	query(t, sess, "COPY (SELECT l_shipmode, count(*) AS n FROM lo GROUP BY l_shipmode ORDER BY l_shipmode) TO '"+one+"' (HEADER true)")
	b, err := os.ReadFile(one)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 8 || lines[0] != "l_shipmode,n" || !strings.HasPrefix(lines[1], "AIR,") {
		t.Fatalf("COPY to one CSV file: %q", lines)
	}
}

// insertSelect: INSERT … SELECT (one after the other and at once), a NOT
// NULL violation, INSERT … VALUES.
func (r *writeRun) insertSelect() {
	t, db, sess := r.t, r.db, r.sess
	// INSERT … SELECT twice doubles the count exactly.
	query(t, sess, "CREATE TABLE x (k BIGINT NOT NULL, q DECIMAL(15,2), mode VARCHAR)")
	if got := query(t, sess, "SELECT count(*) FROM x"); !slices.Equal(got, []string{"0"}) {
		t.Fatalf("empty table: %q", got)
	}
	lineitems, err := db.Rows("SELECT count(*), sum(l_quantity) FROM lineitem")
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Split(lineitems[0], "|")[0]
	for range 2 {
		if got := query(t, sess, "INSERT INTO x SELECT l_orderkey, l_quantity, l_shipmode FROM lineitem"); !slices.Equal(got, []string{n}) {
			t.Fatalf("INSERT wrote %q rows, want %s", got, n)
		}
	}
	twice, err := db.Rows("SELECT 2 * count(*), 2 * sum(l_quantity) FROM lineitem")
	if err != nil {
		t.Fatal(err)
	}
	if err := oracle.SameRows(query(t, sess, "SELECT count(*), sum(q) FROM x"), twice); err != nil {
		t.Fatalf("after two INSERTs: %v", err)
	}
	// Two INSERTs at once both land.
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := queryErr(sess, "INSERT INTO x SELECT l_orderkey, l_quantity, l_shipmode FROM lineitem")
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent INSERT: %v", err)
		}
	}
	twice, err = db.Rows("SELECT 4 * count(*), 4 * sum(l_quantity) FROM lineitem")
	if err != nil {
		t.Fatal(err)
	}
	if err := oracle.SameRows(query(t, sess, "SELECT count(*), sum(q) FROM x"), twice); err != nil {
		t.Fatalf("after two concurrent INSERTs: %v", err)
	}
	// A NOT NULL violation fails the INSERT and leaves the table as it was.
	if _, err := queryErr(sess, "INSERT INTO x SELECT CASE WHEN l_linenumber = 3 THEN NULL ELSE l_orderkey END, l_quantity, l_shipmode FROM lineitem"); err == nil || !strings.Contains(err.Error(), "NOT NULL constraint failed: column k") {
		t.Fatalf("INSERT of a NULL into a NOT NULL column: %v", err)
	}
	if err := oracle.SameRows(query(t, sess, "SELECT count(*), sum(q) FROM x"), twice); err != nil {
		t.Fatalf("after a failed INSERT: %v", err)
	}
	// VALUES with casts, a column list and NULLs for the others.
	query(t, sess, "INSERT INTO x (mode, k) VALUES ('one', 1), ('two', 2)")
	if got := query(t, sess, "SELECT k, q, mode FROM x WHERE mode IN ('one', 'two') ORDER BY k"); !slices.Equal(got, []string{"1|NULL|one", "2|NULL|two"}) {
		t.Fatalf("INSERT … VALUES: %q", got)
	}
}

// insertIntoExternal: INSERT into an external table.
func (r *writeRun) insertIntoExternal() {
	t, db, sess := r.t, r.db, r.sess
	// INSERT into an external table whose location is a directory.
	ext := filepath.Join(t.TempDir(), "ext")
	query(t, sess, "COPY (SELECT l_orderkey, l_quantity FROM lineitem WHERE l_orderkey < 1000) TO '"+ext+"'")
	query(t, sess, "CREATE EXTERNAL TABLE ext STORED AS PARQUET LOCATION '"+ext+"'")
	small, err := db.Rows("SELECT 2 * count(*), 2 * sum(l_quantity) FROM lineitem WHERE l_orderkey < 1000")
	if err != nil {
		t.Fatal(err)
	}
	query(t, sess, "INSERT INTO ext SELECT l_orderkey, l_quantity FROM lineitem WHERE l_orderkey < 1000")
	if err := oracle.SameRows(query(t, sess, "SELECT count(*), sum(l_quantity) FROM ext"), small); err != nil {
		t.Fatalf("INSERT into an external table: %v", err)
	}
}

// views: views.
func (r *writeRun) views() {
	t, sess, total := r.t, r.sess, r.total
	// Views are bound where they are named.
	query(t, sess, "CREATE VIEW modes AS SELECT l_shipmode, count(*) AS n FROM lo GROUP BY l_shipmode")
	if got := query(t, sess, "SELECT sum(n) FROM modes"); !slices.Equal(got, total) {
		t.Fatalf("view: %q", got)
	}
	query(t, sess, "CREATE OR REPLACE VIEW modes AS SELECT 1 AS n")
	if got := query(t, sess, "SELECT sum(n) FROM modes"); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("replaced view: %q", got)
	}
	query(t, sess, "DROP VIEW modes")
}

// replaceAndDrop: CREATE OR REPLACE TABLE and DROP TABLE.
func (r *writeRun) replaceAndDrop() {
	t, sess, wh, want := r.t, r.sess, r.wh, r.want
	// CREATE OR REPLACE TABLE and DROP TABLE remove the old files.
	before, _ := filepath.Glob(filepath.Join(wh, "lo-*"))
	query(t, sess, "CREATE OR REPLACE TABLE lo AS SELECT * FROM lo WHERE l_shipmode = 'AIR'")
	air := strings.Split(want[0], "|")
	if got := query(t, sess, "SELECT count(*) FROM lo WHERE o_orderdate < DATE '1995-01-01'"); !slices.Equal(got, air[1:2]) {
		t.Fatalf("replaced table: %q, want %q", got, air[1])
	}
	var after []string
	waitFor(t, func() bool { after, _ = filepath.Glob(filepath.Join(wh, "lo-*")); return len(after) == 1 })
	if len(before) != 1 || before[0] == after[0] {
		t.Fatalf("table directories before %q after %q", before, after)
	}
	query(t, sess, "DROP TABLE lo")
	waitFor(t, func() bool { left, _ := filepath.Glob(filepath.Join(wh, "lo-*")); return len(left) == 0 })
	if _, err := queryErr(sess, "SELECT count(*) FROM lo"); err == nil {
		t.Fatal("a dropped table answered")
	}
}

// TestWritesToS3 runs the same writes against a real S3-compatible server
// (versitygw): a warehouse on S3 (CREATE TABLE AS, INSERT) and a COPY …
// PARTITION_BY to an s3:// prefix, read back by kapot.
func TestWritesToS3(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	srv := lakeS3(t)
	dir, db := tpchWithDuckDB(t, 0.01, 2)
	cl, _ := writeCluster(t, "s3://lake/warehouse", srv.Config())
	sess := cl.NewSession(nil)
	createTPCH(t, sess, dir)

	want, err := db.Rows("SELECT count(*), sum(l_extendedprice) FROM lineitem")
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Split(want[0], "|")[0]
	if got := query(t, sess, "CREATE TABLE li AS SELECT l_orderkey, l_extendedprice, l_shipmode FROM lineitem"); !slices.Equal(got, []string{n}) {
		t.Fatalf("CREATE TABLE AS on S3 wrote %q, want %s", got, n)
	}
	if err := oracle.SameRows(query(t, sess, "SELECT count(*), sum(l_extendedprice) FROM li"), want); err != nil {
		t.Fatalf("table on S3: %v", err)
	}
	query(t, sess, "INSERT INTO li SELECT * FROM li")
	nn, _ := strconv.Atoi(n)
	if got := query(t, sess, "SELECT count(*) FROM li"); !slices.Equal(got, []string{strconv.Itoa(2 * nn)}) {
		t.Fatalf("after INSERT on S3: %q", got)
	}

	if got := query(t, sess, "COPY (SELECT * FROM lineitem) TO 's3://lake/copy/' (FORMAT parquet, PARTITION_BY (l_shipmode), COMPRESSION zstd)"); !slices.Equal(got, []string{n}) {
		t.Fatalf("COPY to S3 wrote %q", got)
	}
	objs := listS3(t, srv, "s3://lake/copy/")
	modes := map[string]bool{}
	for _, o := range objs {
		rel := strings.TrimPrefix(o, "s3://lake/copy/")
		modes[strings.SplitN(rel, "/", 2)[0]] = true
	}
	if len(modes) != 7 || !modes["l_shipmode=TRUCK"] {
		t.Fatalf("COPY to S3 made %q", objs)
	}
	for _, o := range listS3(t, srv, "s3://lake/") {
		if strings.Contains(o, ".kapot-staging") || strings.Contains(o, "_staging") {
			t.Fatalf("staging left on S3: %q", o)
		}
	}
	query(t, sess, "CREATE EXTERNAL TABLE copied STORED AS PARQUET PARTITIONED BY (l_shipmode) LOCATION 's3://lake/copy/'")
	byMode := "SELECT l_shipmode, count(*), sum(l_extendedprice), sum(l_quantity) FROM %s GROUP BY l_shipmode ORDER BY l_shipmode"
	wantByMode, err := db.Rows(strings.ReplaceAll(byMode, "%s", "lineitem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := oracle.SameRows(query(t, sess, strings.ReplaceAll(byMode, "%s", "copied")), wantByMode); err != nil {
		t.Fatalf("COPY to S3 read back: %v", err)
	}
	query(t, sess, "DROP TABLE li")
	waitFor(t, func() bool { return len(listS3(t, srv, "s3://lake/warehouse/")) == 0 })
}

func listS3(t *testing.T, srv *s3test.Server, prefix string) []string {
	t.Helper()
	st, err := objstore.NewS3(context.Background(), srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.ListAll(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestFlightSQLWrites writes through arrow-go's Flight SQL database/sql
// driver: Exec of CREATE TABLE, INSERT (its RowsAffected is the rows
// written), a prepared INSERT with parameters, and CREATE TABLE AS.
func TestFlightSQLWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
	sec := security.Config{Secrets: clusterSecrets}
	s := startScheduler(t, 0, func(c *scheduler.Config) {
		c.FlightSQLPort, c.Security, c.Warehouse = 0, sec, t.TempDir()
	})
	startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.ConcurrentTasks = 2; c.Security = sec })
	db, err := sql.Open("flightsql", "flightsql://kapot:"+clusterSecrets.Client+"@"+s.FlightSQLAddr().String()+"?timeout=120s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) int64 {
		t.Helper()
		res, err := db.Exec(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			t.Fatalf("%s: rows affected: %v", q, err)
		}
		return n
	}
	exec("CREATE TABLE t (a INTEGER NOT NULL, b VARCHAR)")
	if n := exec("INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL)"); n != 3 {
		t.Fatalf("INSERT affected %d rows, want 3", n)
	}
	if n := exec("INSERT INTO t VALUES (?, ?)", 4, "four"); n != 1 {
		t.Fatalf("prepared INSERT affected %d rows, want 1", n)
	}
	if n := exec("CREATE TABLE u AS SELECT a * 10 AS a10, b FROM t WHERE a > 1"); n != 3 {
		t.Fatalf("CREATE TABLE AS affected %d rows, want 3", n)
	}
	rs, err := db.Query("SELECT a10, b FROM u ORDER BY a10")
	if err != nil {
		t.Fatal(err)
	}
	got := sqlRows(t, rs)
	rs.Close()
	if !slices.Equal(got, []string{"20|two", "30|NULL", "40|four"}) {
		t.Fatalf("CREATE TABLE AS through Flight SQL: %q", got)
	}
	if _, err := db.Exec("INSERT INTO t VALUES (NULL, 'x')"); err == nil || !strings.Contains(err.Error(), "NOT NULL") {
		t.Fatalf("NULL into NOT NULL: %v", err)
	}
	// A secured cluster without --allowed-data-roots lets no client write
	// files where it likes.
	out := filepath.Join(t.TempDir(), "x")
	if _, err := db.Exec("COPY (SELECT 1 AS x) TO '" + out + "'"); err == nil || !strings.Contains(err.Error(), "allowed-data-roots") {
		t.Fatalf("COPY on a secured cluster without data roots: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("the refused COPY wrote %s", out)
	}
}

// tpchWithDuckDB gives the directory of TPC-H at sf (parts files per
// table) and DuckDB over it, both shared (sharedTPCH): read them, write
// elsewhere, and do not close the DuckDB.
func tpchWithDuckDB(t *testing.T, sf float64, parts int) (string, *duck.DB) {
	t.Helper()
	set := sharedTPCH(t, sf, parts)
	return set.dir, set.db
}

// lakeS3 starts the S3 test server with a bucket "lake".
func lakeS3(t *testing.T) *s3test.Server {
	t.Helper()
	srv := s3test.Start(t)
	srv.Put("lake", "README", []byte("kapot writes here\n"))
	return srv
}
