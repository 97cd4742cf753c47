package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kapot-go/kapot/client"
)

// hostileData is the hostile suite's "data" family (issue 35): an attacker
// holding the shared client secret, or principal bob's, goes after the
// managed tables, external tables and views of principal alice (ownership:
// drop, replace, insert, repoint), their files (COPY with OVERWRITE to
// their directories, their parents, the warehouse), the places outside the
// data roots (COPY through symlinks in a root), the nodes' own services
// (session S3 endpoints and http locations on loopback and link-local
// addresses, with a listener counting connections) and readers of its own
// tables (a drop or replace while a query reads it). After each attack
// alice's tables and views must answer exactly.
//
// Its places: base holds root (a data root), state (the scheduler's state
// dir, whose warehouse lies outside the roots) and outside (where the
// root's links lead); nothing may appear in base but root and state, nor
// in outside.
type hostileData struct {
	c        *secureCluster
	rng      *rand.Rand
	base     string
	root     string
	stateDir string
	outside  string

	alice, bob, bob2, shared *client.Session
	bobClient, sharedClient  *client.Client
	db                       *sql.DB // Flight SQL with the shared client secret

	victims         []victim
	extDirs         []string // alice's external tables' directories
	source          string   // bob's own external table
	srcRows, srcSum int64

	// endpoints are local addresses a session may name; conns counts
	// connections to the listeners behind some of them.
	endpoints []string
	localHTTP []string
	conns     atomic.Int64
	// remoteRoots are data roots for the cluster (YAML-quoted): the S3
	// bucket and the http places the attacks name, so that what refuses
	// them is the endpoint check, not the roots.
	remoteRoots []string

	names int // names made so far

	// Figures: victim checks made, concurrent reads and how they ended,
	// files seen outside the roots.
	checks, lost, reads, overlaps, snapshotFailures int
	snapshotErrs                                    []string
	last                                            string // the last attack's statement, for failures
}

// victim is one of alice's tables or views and its exact answer to
// count(*), sum(k).
type victim struct{ name, kind, want string }

// newHostileData makes the places (before the cluster starts: root is one
// of its data roots, stateDir its state dir) and the listeners.
func newHostileData(t *testing.T, rng *rand.Rand) *hostileData {
	t.Helper()
	base := t.TempDir()
	h := &hostileData{rng: rng, base: base, root: filepath.Join(base, "root"), stateDir: filepath.Join(base, "state"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{h.root, h.stateDir, h.outside, filepath.Join(h.root, "bob", "nest")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Links in the root: out of it, dangling out of it, to its parent, into
	// the warehouse, and to alice's directory (inside the root, but a path
	// that does not name her tables' locations).
	for link, target := range map[string]string{
		"link":             h.outside,
		"bob/nest/link":    filepath.Join(h.outside, "deep", "er"),
		"up":               base,
		"wh":               filepath.Join(h.stateDir, "warehouse"),
		"alias":            filepath.Join(h.root, "alice"),
		"bob/nest/outside": filepath.Join(h.outside, "x.csv"),
	} {
		if err := os.Symlink(target, filepath.Join(h.root, link)); err != nil {
			t.Fatal(err)
		}
	}
	// Listeners that count every connection: what a session endpoint on a
	// local address would reach. (Names a resolver may or may not take for
	// addresses, 127.1 or 2130706433, wait for DNS where there is none:
	// left out.)
	listen := func(network, addr string) string {
		l, err := net.Listen(network, addr)
		if err != nil {
			return ""
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				h.conns.Add(1)
				conn.Close()
			}
		}()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		return port
	}
	p4 := listen("tcp4", "127.0.0.1:0")
	h.endpoints = []string{
		"http://127.0.0.1:" + p4, "https://127.0.0.1:" + p4, "http://localhost:" + p4, "http://[::ffff:127.0.0.1]:" + p4,
		"http://0.0.0.0:" + p4, "http://user:pw@127.0.0.1:" + p4, "127.0.0.1:" + p4,
		"http://169.254.169.254", "http://169.254.169.254:80/latest/meta-data/", "http://[fe80::1]:80", "http://224.0.0.1:80",
	}
	h.localHTTP = []string{"http://127.0.0.1:" + p4 + "/x.csv", "http://localhost:" + p4 + "/y.csv", "http://169.254.169.254/latest/meta-data/"}
	h.remoteRoots = []string{"s3://b", "http://127.0.0.1:" + p4, "http://localhost:" + p4, "http://169.254.169.254"}
	if p6 := listen("tcp6", "[::1]:0"); p6 != "" {
		h.endpoints = append(h.endpoints, "http://[::1]:"+p6)
		h.localHTTP = append(h.localHTTP, "http://[::1]:"+p6+"/x.csv")
		h.remoteRoots = append(h.remoteRoots, "http://[::1]:"+p6)
	}
	for i, r := range h.remoteRoots {
		h.remoteRoots[i] = "'" + r + "'"
	}
	return h
}

// setup makes alice's tables and views (known contents, random names) and
// bob's source table, with the cluster c running.
func (h *hostileData) setup(t *testing.T, ctx context.Context, c *secureCluster, db *sql.DB) {
	t.Helper()
	h.c, h.db = c, db
	h.alice = c.as(t, "alice").NewSession(nil)
	h.bobClient, h.sharedClient = c.as(t, "bob"), c.as(t, "client")
	h.bob, h.shared = h.bobClient.NewSession(nil), h.sharedClient.NewSession(nil)
	h.bob2 = c.as(t, "bob").NewSession(nil) // another session of bob
	exec := func(sess *client.Session, q string) {
		t.Helper()
		if err := sess.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	suffix := fmt.Sprintf("_%d", h.rng.IntN(1000))
	// Two external tables of CSV files, k random.
	var ks [2][]int64
	for i, dir := range []string{filepath.Join(h.root, "alice", "e1"), filepath.Join(h.root, "alice", "deep", "e2")} {
		for f := range 1 + i {
			var b strings.Builder
			b.WriteString("k,v\n")
			for range 3 + h.rng.IntN(40) {
				k := h.rng.Int64N(1000)
				ks[i] = append(ks[i], k)
				fmt.Fprintf(&b, "%d,v%d\n", k, k%7)
			}
			writeFileT(t, filepath.Join(dir, fmt.Sprintf("part-%d.csv", f)), b.String())
		}
		h.extDirs = append(h.extDirs, dir)
	}
	answer := func(ks []int64, keep func(int64) bool, scale int64) string {
		var n, s int64
		for _, k := range ks {
			if keep(k) {
				n, s = n+1, s+k*scale
			}
		}
		if n == 0 {
			return "0|NULL" // sum of no rows
		}
		return fmt.Sprintf("%d|%d", n, s)
	}
	all := func(int64) bool { return true }
	e1, e2 := "a_e1"+suffix, "a_e2"+suffix
	m1, m2, m3 := "a_m1"+suffix, "a_m2"+suffix, "a_m3"+suffix
	v1, v2 := "a_v1"+suffix, "a_v2"+suffix
	exec(h.alice, "CREATE EXTERNAL TABLE "+e1+" STORED AS CSV WITH HEADER ROW LOCATION '"+h.extDirs[0]+"'")
	exec(h.alice, "CREATE EXTERNAL TABLE "+e2+" STORED AS CSV WITH HEADER ROW LOCATION '"+h.extDirs[1]+"'")
	exec(h.alice, "CREATE TABLE "+m1+" AS SELECT k, v FROM "+e1)
	exec(h.alice, "CREATE TABLE "+m2+" AS SELECT k * 2 AS k FROM "+e2)
	exec(h.alice, "CREATE TABLE "+m3+" (k BIGINT, v VARCHAR)")
	exec(h.alice, "INSERT INTO "+m3+" VALUES (7, 'seven'), (11, 'eleven'), (-3, NULL)")
	t1, t2 := h.rng.Int64N(1000), h.rng.Int64N(1000)
	exec(h.alice, fmt.Sprintf("CREATE VIEW %s AS SELECT k, v FROM %s WHERE k > %d", v1, m1, t1))
	exec(h.alice, fmt.Sprintf("CREATE VIEW %s AS SELECT k FROM %s WHERE k < %d", v2, e2, t2))
	h.victims = []victim{
		{e1, "external table", answer(ks[0], all, 1)},
		{e2, "external table", answer(ks[1], all, 1)},
		{m1, "table", answer(ks[0], all, 1)},
		{m2, "table", answer(ks[1], all, 2)},
		{m3, "table", "3|15"},
		{v1, "view", answer(ks[0], func(k int64) bool { return k > t1 }, 1)},
		{v2, "view", answer(ks[1], func(k int64) bool { return k < t2 }, 1)},
	}
	// Bob's own source: what the concurrent reads read.
	var b strings.Builder
	b.WriteString("k,v\n")
	for k := range int64(20_000) {
		fmt.Fprintf(&b, "%d,bob%d\n", k, k%13)
		h.srcRows, h.srcSum = h.srcRows+1, h.srcSum+k
	}
	writeFileT(t, filepath.Join(h.root, "bob", "src", "part-0.csv"), b.String())
	h.source = "b_src" + suffix
	exec(h.bob, "CREATE EXTERNAL TABLE "+h.source+" STORED AS CSV WITH HEADER ROW LOCATION '"+filepath.Join(h.root, "bob", "src")+"'")
	if _, err := h.check(ctx); err != nil {
		t.Fatalf("alice's tables before the attacks: %v", err)
	}
}

func writeFileT(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// attack runs one attack of the family and names its kind. An attack that
// must be refused and is answered is a leak (errLeak).
func (h *hostileData) attack(ctx context.Context) (kind string, err error) {
	switch h.rng.IntN(5) {
	case 0:
		return "data: ownership", h.ownership(ctx)
	case 1:
		return "data: COPY to table data", h.copyToTables(ctx)
	case 2:
		return "data: symlinks", h.symlinks(ctx)
	case 3:
		return "data: local endpoints", h.localEndpoints(ctx)
	default:
		return "data: concurrent drop", h.concurrentDrop(ctx)
	}
}

// send runs q as an attacker: bob, or the shared client secret through
// the Go client or Flight SQL. mustRefuse makes an answer a leak.
func (h *hostileData) send(ctx context.Context, q string, mustRefuse bool) error {
	h.last = q
	var err error
	switch h.rng.IntN(3) {
	case 0:
		err = h.bob.Exec(ctx, q)
	case 1:
		err = h.shared.Exec(ctx, q)
	default:
		var rows *sql.Rows
		if rows, err = h.db.QueryContext(ctx, q); err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
	}
	if err == nil && mustRefuse {
		return fmt.Errorf("%w: %s was answered", errLeak, q)
	}
	return err
}

func (h *hostileData) pick(xs []string) string { return xs[h.rng.IntN(len(xs))] }

// ownership: DROP, REPLACE, INSERT, repoint of alice's tables and views,
// under their names in other cases and quoted.
func (h *hostileData) ownership(ctx context.Context) error {
	v := h.victims[h.rng.IntN(len(h.victims))]
	name := v.name
	switch h.rng.IntN(4) {
	case 0:
		name = strings.ToUpper(name)
	case 1:
		name = `"` + name + `"`
	}
	stmts := []string{
		"DROP TABLE %s", "DROP VIEW %s", "DROP TABLE IF EXISTS %s", "DROP VIEW IF EXISTS %s",
		"CREATE OR REPLACE TABLE %s AS SELECT 1 AS k", "CREATE OR REPLACE TABLE %s (k BIGINT)", "CREATE TABLE %s AS SELECT 1 AS k",
		"CREATE TABLE IF NOT EXISTS %s AS SELECT 1 AS k", "INSERT INTO %s VALUES (1, 'x')", "INSERT INTO %s (k) VALUES (-1000000)",
		"INSERT INTO %[1]s SELECT * FROM %[1]s", "CREATE OR REPLACE VIEW %s AS SELECT 42 AS k", "CREATE VIEW %s AS SELECT 42 AS k",
		"CREATE EXTERNAL TABLE %s STORED AS CSV WITH HEADER ROW LOCATION '" + filepath.Join(h.root, "bob", "src") + "'",
	}
	q := fmt.Sprintf(h.pick(stmts), name)
	// IF [NOT] EXISTS of a name of the other kind answers without change.
	return h.send(ctx, q, !strings.Contains(q, " IF "))
}

// copyTargets are places of alice's table data (must refuse) and bob's own
// (may answer).
func (h *hostileData) copyTargets() (refuse, mayAnswer []string) {
	wh := filepath.Join(h.stateDir, "warehouse")
	refuse = []string{wh, wh + "/", filepath.Join(wh, "new"), h.stateDir, h.base, h.root, filepath.Join(h.root, "alice"),
		filepath.Join(h.root, "alice", "deep"), h.root + "/bob/../alice/e1", h.root + "//alice/./deep/e2/", h.root + "/../state/warehouse",
		filepath.Join(h.root, "bob", "src"), filepath.Join(h.root, "bob", "src", "part-0.csv")}
	for _, d := range h.extDirs {
		refuse = append(refuse, d, d+"/", filepath.Join(d, "part-0.csv"), filepath.Join(d, "sub"), filepath.Join(d, "new.parquet"))
	}
	for _, v := range h.victims {
		if v.kind != "table" {
			continue
		}
		dirs, _ := filepath.Glob(filepath.Join(wh, v.name+"-*"))
		for _, d := range dirs {
			refuse = append(refuse, d, filepath.Join(d, "data"), filepath.Join(d, "_manifest"), filepath.Join(d, "data", "x.parquet"))
			if files, _ := filepath.Glob(filepath.Join(d, "data", "*")); len(files) > 0 {
				refuse = append(refuse, files[0])
			}
		}
	}
	h.names++
	mayAnswer = []string{filepath.Join(h.root, "bob", fmt.Sprintf("out_%d", h.names)), filepath.Join(h.root, "bob", fmt.Sprintf("out_%d.csv", h.names)),
		filepath.Join(h.root, "bob", "nest", fmt.Sprintf("o%d", h.names), "f")}
	return refuse, mayAnswer
}

// copyStmt is a COPY of a random query to target with random options.
func (h *hostileData) copyStmt(target string) string {
	queries := []string{"SELECT 1 AS k", "SELECT k, v FROM " + h.victims[2].name, "SELECT k FROM " + h.source + " WHERE k < 50", h.victims[0].name}
	q := h.pick(queries)
	if strings.HasPrefix(q, "SELECT") {
		q = "(" + q + ")"
	}
	opts := []string{"FORMAT " + h.pick([]string{"parquet", "csv"})}
	if h.rng.IntN(3) > 0 {
		opts = append(opts, fmt.Sprintf("OVERWRITE %v", h.rng.IntN(2) == 0))
	}
	if h.rng.IntN(6) == 0 {
		opts = append(opts, "PARTITION_BY (k)")
	}
	return fmt.Sprintf("COPY %s TO '%s' (%s)", q, target, strings.Join(opts, ", "))
}

// copyToTables: COPY (OVERWRITE or not) to alice's table directories, a
// file of theirs, their parents, the warehouse, a managed table's
// directories found in it; now and then to bob's own new place, which may
// be written.
func (h *hostileData) copyToTables(ctx context.Context) error {
	refuse, mayAnswer := h.copyTargets()
	if h.rng.IntN(5) == 0 {
		return h.send(ctx, h.copyStmt(h.pick(mayAnswer)), false)
	}
	return h.send(ctx, h.copyStmt(h.pick(refuse)), true)
}

// symlinks: COPY through the root's links (out of it, dangling, to its
// parent, into the warehouse, to alice's tables by another path), and
// tables over them.
func (h *hostileData) symlinks(ctx context.Context) error {
	h.names++
	n := h.names
	// Each target, and whether it resolves outside the roots and the
	// warehouse (else to alice's table data, or into the warehouse, which
	// the cluster reads: tables over them are made, COPY is refused).
	targets := []struct {
		path    string
		outside bool
	}{
		{filepath.Join(h.root, "link", "w.csv"), true}, {filepath.Join(h.root, "link"), true}, {filepath.Join(h.root, "link", "deep", "dir"), true},
		{filepath.Join(h.root, "bob", "nest", "link"), true}, {filepath.Join(h.root, "bob", "nest", "link", "x.parquet"), true},
		{filepath.Join(h.root, "bob", "nest", "outside"), true}, {filepath.Join(h.root, "up", "outside", fmt.Sprintf("u%d", n)), true},
		{filepath.Join(h.root, "up", fmt.Sprintf("u%d.csv", n)), true}, {filepath.Join(h.root, "up", "state"), true},
		{filepath.Join(h.root, "wh"), false}, {filepath.Join(h.root, "wh", fmt.Sprintf("w%d", n)), false},
		{filepath.Join(h.root, "up", "root", "alice", "e1"), false}, {filepath.Join(h.root, "alias", "e1"), false},
		{filepath.Join(h.root, "alias"), false}, {filepath.Join(h.root, "alias", "deep", "e2", "part-0.csv"), false},
	}
	target := targets[h.rng.IntN(len(targets))]
	if h.rng.IntN(4) == 0 {
		// A table over alice's data under another path only reads it.
		h.names++
		return h.send(ctx, fmt.Sprintf("CREATE EXTERNAL TABLE b_l%d STORED AS CSV WITH HEADER ROW LOCATION '%s'", h.names, target.path), target.outside)
	}
	return h.send(ctx, h.copyStmt(target.path), true)
}

// localEndpoints: a session whose kapot.s3.endpoint (or an http location)
// is a local address lists, reads or writes: refused before any request.
func (h *hostileData) localEndpoints(ctx context.Context) error {
	h.names++
	props := map[string]string{"kapot.s3.endpoint": h.pick(h.endpoints), "kapot.s3.path_style": h.pick([]string{"true", "false"}),
		"kapot.s3.region": h.pick([]string{"us-east-1", "local"}), "kapot.s3.access_key_id": "AK", "kapot.s3.secret_access_key": "SK"}
	stmts := []string{
		fmt.Sprintf("CREATE EXTERNAL TABLE b_s%d STORED AS PARQUET LOCATION 's3://b/t/'", h.names),
		fmt.Sprintf("CREATE EXTERNAL TABLE b_s%d STORED AS CSV WITH HEADER ROW LOCATION 's3://b/t/x.csv'", h.names),
		"COPY (SELECT 1 AS a) TO 's3://b/x/' (FORMAT " + h.pick([]string{"parquet", "csv"}) + ")",
		"COPY (SELECT 1 AS a) TO 's3://b/x/' (FORMAT parquet, OVERWRITE true)",
		fmt.Sprintf("CREATE EXTERNAL TABLE b_h%d STORED AS CSV WITH HEADER ROW LOCATION '%s'", h.names, h.pick(h.localHTTP)),
	}
	q := h.pick(stmts)
	h.last = fmt.Sprintf("%s with endpoint %s", q, props["kapot.s3.endpoint"])
	cl := h.bobClient
	if h.rng.IntN(2) == 0 {
		cl = h.sharedClient
	}
	if err := cl.NewSession(props).Exec(ctx, q); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s was answered", errLeak, h.last)
}

// query runs q as alice and returns its rows as "a|b" lines.
func (h *hostileData) query(ctx context.Context, q string) ([]string, error) {
	rows, err := h.alice.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return drainText(rows)
}

// check fails unless each of alice's tables and views answers count(*),
// sum(k) exactly and SHOW TABLES still shows it, of its kind, hers; lost
// counts those that do not.
func (h *hostileData) check(ctx context.Context) (lost int, err error) {
	h.checks++
	var parts, want []string
	for _, v := range h.victims {
		parts = append(parts, fmt.Sprintf("SELECT '%s' AS t, count(*) AS n, sum(k) AS s FROM %s", v.name, v.name))
		want = append(want, v.name+"|"+v.want)
	}
	got, err := h.query(ctx, strings.Join(parts, " UNION ALL "))
	sort.Strings(got)
	sort.Strings(want)
	tables, showErr := h.query(ctx, "SHOW TABLES")
	if err == nil && slices.Equal(got, want) && showErr == nil {
		missing := 0
		for _, v := range h.victims {
			if !slices.Contains(tables, v.name+"|"+v.kind+"|alice") {
				missing++
			}
		}
		if missing == 0 {
			return 0, nil
		}
	}
	// Name each one that is lost or changed.
	var bad []string
	for _, v := range h.victims {
		got, err := h.query(ctx, "SELECT count(*), sum(k) FROM "+v.name)
		if err != nil || !slices.Equal(got, []string{v.want}) || !slices.Contains(tables, v.name+"|"+v.kind+"|alice") {
			bad = append(bad, fmt.Sprintf("%s (%s): %q %v, want %s", v.name, v.kind, got, err, v.want))
		}
	}
	if len(bad) == 0 { // the union failed, each table answers: report the union
		return 0, fmt.Errorf("alice's tables together: %q %v, want %q; SHOW TABLES: %q %v", got, err, want, tables, showErr)
	}
	return len(bad), fmt.Errorf("alice's tables lost or changed: %s", strings.Join(bad, "; "))
}

// outsideFiles are what lies outside the roots that the attacks may have
// written: anything in base but root and the state dir, anything in the
// links' target dir, and anything in the warehouse but tables' directories.
func (h *hostileData) outsideFiles() []string {
	var out []string
	_ = filepath.WalkDir(h.base, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case p == h.base || p == h.outside:
			return nil
		case p == h.root || p == h.stateDir:
			return filepath.SkipDir
		}
		out = append(out, p)
		return nil
	})
	entries, _ := os.ReadDir(filepath.Join(h.stateDir, "warehouse"))
	for _, e := range entries {
		if !e.IsDir() || !tableDirName(e.Name()) {
			out = append(out, filepath.Join(h.stateDir, "warehouse", e.Name()))
		}
	}
	return out
}

// tableDirName reports whether name is a managed table's directory name:
// a name of [a-z0-9_-], "-", 8 hex digits.
func tableDirName(name string) bool {
	i := strings.LastIndexByte(name, '-')
	if i < 1 || len(name)-i-1 != 8 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// after runs after each attack of the family: alice's tables answer
// exactly, nothing was written outside the roots, no connection reached a
// local listener.
func (h *hostileData) after(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	lost, err := h.check(ctx)
	h.lost = max(h.lost, lost)
	if err != nil {
		return err
	}
	if out := h.outsideFiles(); len(out) > 0 {
		return fmt.Errorf("files written outside the roots: %q", out)
	}
	if n := h.conns.Load(); n > 0 {
		return fmt.Errorf("%d connection(s) reached the local listeners", n)
	}
	return nil
}

// summary is the family's line of the report.
func (h *hostileData) summary() string {
	return fmt.Sprintf("Data attacks (issue 35) on principal alice's %d tables and views, which answered exactly at each of %d checks: "+
		"Lost tables: %d. Files written outside the roots: %d. Requests to local addresses: %d. "+
		"Reads of a table dropped, replaced or appended to meanwhile: %d (%d still reading when the change was made), of which %d did not answer their version exactly "+
		"(each reads the version it was planned with; one that does not fails the run).\n",
		len(h.victims), h.checks, h.lost, len(h.outsideFiles()), h.conns.Load(), h.reads, h.overlaps, h.snapshotFailures)
}
