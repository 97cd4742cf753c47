package e2e

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Adversarial review of table ownership and location safety (issue 35):
// a hostile client holding only the shared client secret, or a
// principal's own secret, against a secured cluster of processes. Each
// TestAttack… reproduces a bypass the review found (fixed since).

// attackCluster is a secured cluster with data roots, a state dir (the
// default warehouse), the operator's external CSV table ext (3 rows) and
// alice's managed table victim (4 rows).
type attackCluster struct {
	*secureCluster
	root, ext, stateDir string
	alice, bob, shared  *client.Session
	aliceC, sharedC     *client.Client
	operator            *sql.DB
	ctx                 context.Context
}

func startAttackCluster(t *testing.T) *attackCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("process test")
	}
	a := &attackCluster{root: t.TempDir(), stateDir: t.TempDir(), ctx: context.Background()}
	a.ext = filepath.Join(a.root, "ext")
	if err := os.MkdirAll(a.ext, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.ext, "part-0.csv"), []byte("k,v\n1,a\n2,b\n3,c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.secureCluster = startSecureCluster(t, 2, []string{a.root}, "  state-dir: "+a.stateDir)
	a.aliceC, a.sharedC = a.as(t, "alice"), a.as(t, "client")
	a.alice, a.bob, a.shared = a.aliceC.NewSession(nil), a.as(t, "bob").NewSession(nil), a.sharedC.NewSession(nil)
	db, err := sql.Open("flightsql", a.flightSQLDSN(a.secrets.Scheduler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a.operator = db
	if _, err := db.ExecContext(a.ctx, a.extDef()); err != nil {
		t.Fatal(err)
	}
	if err := a.alice.Exec(a.ctx, "CREATE TABLE victim AS SELECT k, v FROM ext"); err != nil {
		t.Fatal(err)
	}
	if err := a.alice.Exec(a.ctx, "INSERT INTO victim VALUES (4, 'd')"); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *attackCluster) extDef() string {
	return "CREATE EXTERNAL TABLE ext STORED AS CSV WITH HEADER ROW LOCATION '" + a.ext + "'"
}

// exact checks a query's answer and that every process lives.
func (a *attackCluster) exact(t *testing.T, sess *client.Session, q string, want ...string) {
	t.Helper()
	if got := queryText(t, sess, q); !slices.Equal(got, want) {
		t.Fatalf("%s: %q, want %q", q, got, want)
	}
	a.alive(t)
}

// intact checks that ext and victim hold what they held, read by bob.
func (a *attackCluster) intact(t *testing.T) {
	t.Helper()
	a.exact(t, a.bob, "SELECT count(*), sum(k) FROM ext", "3|6")
	a.exact(t, a.bob, "SELECT count(*), sum(k) FROM victim", "4|10")
}

// filesUnder lists the regular files under dir (relative).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDataOwnershipAttacksHeldProcesses: the attacks on ownership and
// locations that are refused today (a regression test of each).
func TestDataOwnershipAttacksHeldProcesses(t *testing.T) {
	a := startAttackCluster(t)
	r := &attackRun{a: a}
	managed, _ := filepath.Glob(filepath.Join(a.stateDir, "warehouse", "victim*"))
	if len(managed) != 1 {
		t.Fatalf("victim's directory: %q", managed)
	}
	r.managed = managed

	t.Run("names in other cases and quoted", r.otherCasesAndQuoted)
	t.Run("views are the owner's", r.viewsAreTheOwners)
	t.Run("COPY to spellings of table data", r.copyToTableData)
	t.Run("Flight SQL acts for the principal it authenticated", r.flightSQLActsForPrincipal)
	t.Run("an external table over the warehouse or another table writes nothing", r.externalOverTableWritesNothing)
	t.Run("a raw plan that writes is refused", r.rawWritingPlanRefused)
	t.Run("the principal header does not pick another principal", r.principalHeaderPicksNoOther)
}

// attackRun holds TestDataOwnershipAttacksHeldProcesses's cluster and
// victim's managed directory, for its subtests.
type attackRun struct {
	a       *attackCluster
	managed []string // victim's directory under the warehouse
}

// code is err's gRPC code, under its wrappings.
func (r *attackRun) code(err error) codes.Code { return status.Code(errorsCause(err)) }

// refused runs q in sess: it must fail with one of the codes want.
func (r *attackRun) refused(t *testing.T, sess *client.Session, q string, want ...codes.Code) {
	t.Helper()
	err := sess.Exec(r.a.ctx, q)
	if !slices.Contains(want, r.code(err)) {
		t.Fatalf("%s: %v, want one of %v", q, err, want)
	}
}

// otherCasesAndQuoted: names in other cases and quoted.
func (r *attackRun) otherCasesAndQuoted(t *testing.T) {
	a, ctx, refused := r.a, r.a.ctx, r.refused
	for _, sess := range []*client.Session{a.bob, a.shared} {
		for _, q := range []string{
			`DROP TABLE "Victim"`, `DROP TABLE "VICTIM"`, `DROP TABLE IF EXISTS VICTIM`,
			`CREATE OR REPLACE TABLE "Victim" AS SELECT 1 AS k`,
			`CREATE OR REPLACE TABLE "victim" (k INT)`,
			`INSERT INTO "VICTIM" VALUES (9, 'z')`,
			`DROP TABLE "Ext"`, `DROP TABLE IF EXISTS EXT`,
			`INSERT INTO "EXT" VALUES (9, 'z')`,
			`CREATE OR REPLACE TABLE "EXT" AS SELECT 1 AS k`,
		} {
			refused(t, sess, q, codes.PermissionDenied)
		}
		// A view of a table's name, or a table of a view's.
		refused(t, sess, `CREATE VIEW "Victim" AS SELECT 1 AS k`, codes.AlreadyExists)
		refused(t, sess, `CREATE OR REPLACE VIEW victim AS SELECT 1 AS k`, codes.AlreadyExists)
		refused(t, sess, `CREATE EXTERNAL TABLE "VICTIM" STORED AS CSV WITH HEADER ROW LOCATION '`+a.ext+`'`, codes.AlreadyExists)
		// IF NOT EXISTS leaves the owner's table alone.
		if err := sess.Exec(ctx, `CREATE TABLE IF NOT EXISTS "Victim" AS SELECT 1 AS k`); err != nil {
			t.Fatal(err)
		}
		if err := sess.Exec(ctx, `CREATE TABLE IF NOT EXISTS victim (k INT)`); err != nil {
			t.Fatal(err)
		}
	}
	a.intact(t)
}

// viewsAreTheOwners: views are the owner's.
func (r *attackRun) viewsAreTheOwners(t *testing.T) {
	a, ctx, refused := r.a, r.a.ctx, r.refused
	if err := a.alice.Exec(ctx, "CREATE VIEW av AS SELECT k FROM victim"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP VIEW "AV"`, `DROP VIEW IF EXISTS av`, `CREATE OR REPLACE VIEW "Av" AS SELECT 7 AS k`} {
		refused(t, a.bob, q, codes.PermissionDenied)
	}
	refused(t, a.bob, `INSERT INTO av VALUES (5)`, codes.InvalidArgument)
	refused(t, a.bob, `CREATE OR REPLACE TABLE av AS SELECT 1 AS k`, codes.AlreadyExists)
	refused(t, a.bob, `DROP TABLE av`, codes.NotFound)
	a.exact(t, a.bob, "SELECT count(*) FROM av", "4")
}

// copyToTableData: COPY to spellings of table data.
func (r *attackRun) copyToTableData(t *testing.T) {
	a, ctx, refused, code, managed := r.a, r.a.ctx, r.refused, r.code, r.managed
	for _, target := range []string{
		a.ext + "/", a.ext + "//", a.ext + "/.", a.root + "/x/../ext", a.root + "//ext/sub",
		filepath.Join(a.ext, "part-0.csv"), managed[0] + "/", managed[0] + "/data/../_manifest",
		filepath.Join(a.stateDir, "warehouse") + "/.", a.stateDir, filepath.Dir(a.root),
	} {
		for _, opts := range []string{"(FORMAT csv, OVERWRITE true)", "(FORMAT csv)"} {
			err := a.shared.Exec(ctx, "COPY (SELECT 1 AS k, 'x' AS v) TO '"+target+"' "+opts)
			if c := code(err); c != codes.PermissionDenied {
				t.Fatalf("COPY to %s %s: %v, want PermissionDenied", target, opts, err)
			}
		}
	}
	// Not an absolute path: file:// URLs and relative paths.
	for _, target := range []string{"file://" + a.ext, "ext", "./ext", "../ext"} {
		refused(t, a.shared, "COPY (SELECT 1 AS k) TO '"+target+"' (FORMAT csv, OVERWRITE true)", codes.InvalidArgument, codes.PermissionDenied)
	}
	if got := filesUnder(t, a.ext); !slices.Equal(got, []string{"part-0.csv"}) {
		t.Fatalf("ext's directory holds %q", got)
	}
	// Names that only share a prefix with a table's are no table's.
	for _, target := range []string{a.ext + "2", a.root + "/ex"} {
		if err := a.shared.Exec(ctx, "COPY (SELECT 1 AS k) TO '"+target+"' (FORMAT csv)"); err != nil {
			t.Fatalf("COPY to %s: %v", target, err)
		}
	}
	a.intact(t)
}

// flightSQLActsForPrincipal: Flight SQL acts for the principal it authenticated.
func (r *attackRun) flightSQLActsForPrincipal(t *testing.T) {
	a, ctx := r.a, r.a.ctx
	as := func(user, secret string) *sql.DB {
		db, err := sql.Open("flightsql", strings.Replace(a.flightSQLDSN(secret), "kapot:", user+":", 1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	bobDB, aliceDB := as("bob", a.secrets.Principals["bob"]), as("alice", a.secrets.Principals["alice"])
	for _, q := range []string{`DROP TABLE "Victim"`, `CREATE OR REPLACE TABLE victim AS SELECT 1 AS k`, `INSERT INTO victim VALUES (9, 'z')`,
		`COPY (SELECT 1 AS k) TO '` + a.ext + `/' (FORMAT csv, OVERWRITE true)`, `DROP TABLE ext`} {
		if _, err := bobDB.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
			t.Fatalf("Flight SQL update %s as bob: %v, want PermissionDenied", q, err)
		}
		if rows, err := bobDB.QueryContext(ctx, q); err == nil {
			rows.Close()
			t.Fatalf("Flight SQL statement %s as bob succeeded", q)
		}
	}
	// A prepared update with parameters.
	if _, err := bobDB.ExecContext(ctx, `INSERT INTO victim VALUES ($1, $2)`, 9, "z"); err == nil {
		t.Fatal("a prepared INSERT INTO victim as bob succeeded")
	}
	// What alice makes through Flight SQL is alice's over gRPC.
	if _, err := aliceDB.ExecContext(ctx, `CREATE TABLE af AS SELECT 1 AS k`); err != nil {
		t.Fatal(err)
	}
	if err := a.bob.Exec(ctx, "DROP TABLE af"); status.Code(errorsCause(err)) != codes.PermissionDenied {
		t.Fatalf("DROP TABLE af as bob: %v, want PermissionDenied", err)
	}
	if err := a.alice.Exec(ctx, "INSERT INTO af VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	a.exact(t, a.bob, "SELECT sum(k) FROM af", "3")
	a.intact(t)
}

// externalOverTableWritesNothing: an external table over the warehouse or another table writes nothing.
func (r *attackRun) externalOverTableWritesNothing(t *testing.T) {
	a, ctx, refused := r.a, r.a.ctx, r.refused
	if err := a.shared.Exec(ctx, "CREATE EXTERNAL TABLE mine STORED AS CSV WITH HEADER ROW LOCATION '"+a.ext+"'"); err != nil {
		t.Fatal(err)
	}
	refused(t, a.shared, "INSERT INTO mine VALUES (9, 'z')", codes.PermissionDenied)
	refused(t, a.shared, "CREATE OR REPLACE TABLE mine AS SELECT 1 AS k", codes.PermissionDenied)
	refused(t, a.shared, "DROP TABLE mine", codes.PermissionDenied)
	if got := filesUnder(t, a.ext); !slices.Equal(got, []string{"part-0.csv"}) {
		t.Fatalf("ext's directory holds %q", got)
	}
	a.intact(t)
}

// rawWritingPlanRefused: a raw plan that writes is refused.
//
// SubmitJob refuses plans that write (wire.Writes): a raw Writer
// never reaches a table's directory or the warehouse.
func (r *attackRun) rawWritingPlanRefused(t *testing.T) {
	a, ctx, code, managed := r.a, r.a.ctx, r.code, r.managed
	st, err := planner.ParseStatement("COPY (SELECT 999 AS k, 'zzz' AS v) TO '/unused' (FORMAT csv, HEADER true)")
	if err != nil {
		t.Fatal(err)
	}
	wp, err := planner.PlanWrite(context.Background(), catalog.New(), st, nil, planner.Options{TargetPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{a.ext, filepath.Join(a.stateDir, "warehouse"), managed[0]} {
		// At the root, and under a projection and a union.
		w := wp.Node(loc)
		for _, plan := range []*kapotv1.PhysicalPlanNode{w,
			{Node: &kapotv1.PhysicalPlanNode_Union{Union: &kapotv1.UnionNode{Inputs: []*kapotv1.PhysicalPlanNode{wp.Query.Root, w}}}}} {
			_, _, err := a.sharedC.Run(ctx, &kapotv1.SubmitJobRequest{Plan: plan, JobName: "raw writer"})
			if c := code(err); c != codes.PermissionDenied {
				t.Fatalf("raw Writer to %s: %v, want PermissionDenied", loc, err)
			}
		}
	}
	if got := filesUnder(t, a.ext); !slices.Equal(got, []string{"part-0.csv"}) {
		t.Fatalf("ext's directory holds %q", got)
	}
	a.intact(t)
}

// principalHeaderPicksNoOther: the principal header does not pick another principal.
func (r *attackRun) principalHeaderPicksNoOther(t *testing.T) {
	a, ctx, code := r.a, r.a.ctx, r.code
	// The shared secret under alice's name, and alice's secret without it.
	for _, opts := range [][]client.Option{
		{client.WithSecret(a.secrets.Client), client.WithPrincipal("alice")},
		{client.WithSecret(a.secrets.Principals["alice"])},
		{client.WithSecret(a.secrets.Principals["alice"]), client.WithPrincipal("operator")},
		{client.WithSecret(a.secrets.Client), client.WithPrincipal("operator")},
	} {
		cl, err := client.Dial(a.addr, nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		err = cl.NewSession(nil).Exec(ctx, "DROP TABLE victim")
		cl.Close()
		if c := code(err); c != codes.Unauthenticated && c != codes.PermissionDenied {
			t.Fatalf("DROP TABLE victim: %v, want Unauthenticated", err)
		}
	}
	// Flight SQL: the shared secret under the operator's or alice's name.
	for _, user := range []string{"operator", "alice"} {
		db, err := sql.Open("flightsql", strings.Replace(a.flightSQLDSN(a.secrets.Client), "kapot:", user+":", 1))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.ExecContext(ctx, "DROP TABLE victim")
		db.Close()
		if err == nil {
			t.Fatalf("Flight SQL as %s with the client secret dropped victim", user)
		}
	}
	a.intact(t)
}

// TestAttackCopyPartitionNameEscapesStaging: COPY … PARTITION_BY a column
// whose name holds "../" writes its files outside the write's staging
// directory (the partition directory is "<name>=<value>", and only the
// value is escaped), into another table's directory; the commit then
// fails (the file is not under staging) but the file stays, and the
// operator's external table has a row the client wrote. Fix: engine
// Writer (writer.go) escapes partition column names as it escapes values
// (HiveEscape), or the planner refuses names with '/', '\\' or '..'.
func TestAttackCopyPartitionNameEscapesStaging(t *testing.T) {
	a := startAttackCluster(t)
	err := a.shared.Exec(a.ctx, `COPY (SELECT 999 AS k, 'zzz' AS v, 'x' AS "../ext/p") TO '`+filepath.Join(a.root, "out")+`' (FORMAT csv, HEADER true, PARTITION_BY ("../ext/p"))`)
	t.Logf("COPY: %v", err)
	if got := filesUnder(t, a.ext); !slices.Equal(got, []string{"part-0.csv"}) {
		t.Errorf("ext's directory holds %q", got)
	}
	if err := a.shared.Exec(a.ctx, a.extDef()); err != nil {
		t.Fatal(err)
	}
	a.intact(t)
}

// TestAttackExternalRefreshTakesOwnership: the shared client re-runs the
// operator's CREATE EXTERNAL TABLE (the same definition refreshes a table,
// which any client may) and becomes its owner (scheduler createTable sets
// t.Owner = who.Name and saves it); as owner, CREATE OR REPLACE TABLE ext
// (k INT) replaces the operator's external table with its own managed one
// (ddl checks external tables only for DROP; warehouse Replaceable checks
// the owner only), and then DROP TABLE drops it. Fix: createTable keeps
// old.Owner on a refresh; ddl (or Tables.Replaceable) refuses to replace
// an external table unless an operator, as write() does for CTAS.
func TestAttackExternalRefreshTakesOwnership(t *testing.T) {
	a := startAttackCluster(t)
	if err := a.shared.Exec(a.ctx, a.extDef()); err != nil {
		t.Fatal(err)
	}
	got := queryText(t, a.bob, "SHOW TABLES")
	if !slices.Contains(got, "ext|external table|operator") {
		t.Errorf("SHOW TABLES after the client's refresh: %q, want ext owned by operator", got)
	}
	err := a.shared.Exec(a.ctx, "CREATE OR REPLACE TABLE ext (k INT)")
	if c := status.Code(errorsCause(err)); c != codes.PermissionDenied {
		t.Errorf("CREATE OR REPLACE TABLE ext (k INT) by the client: %v, want PermissionDenied", err)
	}
	a.intact(t)
}

// TestAttackReplaceOwnExternalTable: a principal may not drop or write its
// own external table (only an operator does), yet CREATE OR REPLACE TABLE
// name (cols) replaces it with a managed table, which it then drops. Fix
// as TestAttackExternalRefreshTakesOwnership's second part.
func TestAttackReplaceOwnExternalTable(t *testing.T) {
	a := startAttackCluster(t)
	if err := a.alice.Exec(a.ctx, "CREATE EXTERNAL TABLE aext STORED AS CSV WITH HEADER ROW LOCATION '"+a.ext+"'"); err != nil {
		t.Fatal(err)
	}
	if err := a.alice.Exec(a.ctx, "DROP TABLE aext"); status.Code(errorsCause(err)) != codes.PermissionDenied {
		t.Fatalf("DROP TABLE aext: %v, want PermissionDenied", err)
	}
	err := a.alice.Exec(a.ctx, "CREATE OR REPLACE TABLE aext (k INT)")
	if c := status.Code(errorsCause(err)); c != codes.PermissionDenied {
		t.Errorf("CREATE OR REPLACE TABLE aext (k INT): %v, want PermissionDenied (as DROP TABLE and CREATE OR REPLACE TABLE AS)", err)
	}
	a.exact(t, a.bob, "SELECT count(*) FROM aext", "3")
}

// TestAttackExternalCreateRacesManagedCreate: scheduler createTable looked
// the name up, listed and read the location's files (slow for many files),
// then registered, without writeMu: a managed table another principal
// created meanwhile was replaced by the client's external table (catalog
// and saved entry; its files orphaned). Now createTable checks again and
// registers under writeMu: whichever of the two registers first keeps the
// name, the other is refused as existing.
func TestAttackExternalCreateRacesManagedCreate(t *testing.T) {
	a := startAttackCluster(t)
	many := filepath.Join(a.root, "many")
	// Many small Parquet files (3^7) make the listing slow: one footer each.
	if err := a.shared.Exec(a.ctx, "COPY (SELECT a.k AS k, (a.k-1) + 3*(b.k-1) + 9*(c.k-1) + 27*(d.k-1) + 81*(e.k-1) + 243*(f.k-1) + 729*(g.k-1) AS p FROM ext a, ext b, ext c, ext d, ext e, ext f, ext g) TO '"+many+"' (FORMAT parquet, PARTITION_BY (p))"); err != nil {
		t.Fatal(err)
	}
	// The two race: whichever registers first keeps the name, and the
	// other is refused as existing; never is one replaced by the other.
	var wg sync.WaitGroup
	wg.Add(1)
	var extErr error
	go func() {
		defer wg.Done()
		extErr = a.shared.Exec(a.ctx, "CREATE EXTERNAL TABLE prize STORED AS PARQUET LOCATION '"+many+"'")
	}()
	ctasErr := a.alice.Exec(a.ctx, "CREATE TABLE prize AS SELECT 1 AS k")
	wg.Wait()
	got := queryText(t, a.bob, "SHOW TABLES")
	t.Logf("client's CREATE EXTERNAL TABLE prize: %v; alice's CREATE TABLE AS: %v; SHOW TABLES: %q", extErr, ctasErr, got)
	switch {
	case ctasErr == nil && extErr != nil:
		if !slices.Contains(got, "prize|table|alice") || !strings.Contains(extErr.Error(), "exists") {
			t.Errorf("alice won: SHOW TABLES %q, the client's error %v", got, extErr)
		}
		a.exact(t, a.bob, "SELECT count(*), sum(k) FROM prize", "1|1")
	case extErr == nil && ctasErr != nil:
		if !slices.Contains(got, "prize|external table|client") || !strings.Contains(ctasErr.Error(), "exists") {
			t.Errorf("the client won: SHOW TABLES %q, alice's error %v", got, ctasErr)
		}
	default:
		t.Errorf("both or neither created prize: client %v, alice %v; SHOW TABLES %q", extErr, ctasErr, got)
	}
	a.intact(t)
}
