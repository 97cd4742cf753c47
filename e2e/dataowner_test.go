package e2e

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
)

// TestDataOwnershipProcesses is issue 35's findings on a secured cluster
// of real processes (data roots, a state dir whose default warehouse lies
// outside them, principals alice and bob with secrets of their own, the
// shared client secret, the operator through Flight SQL): each attack is
// refused and a normal query answers exactly after it.
func TestDataOwnershipProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	root := t.TempDir()
	outside := t.TempDir()
	stateDir := t.TempDir()
	ext := filepath.Join(root, "ext")
	if err := os.MkdirAll(ext, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ext, "part-0.csv"), []byte("k,v\n1,a\n2,b\n3,c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	c := startSecureCluster(t, 2, []string{root}, "  state-dir: "+stateDir)
	ctx := context.Background()
	alice := c.as(t, "alice").NewSession(nil)
	bob := c.as(t, "bob").NewSession(nil)
	shared := c.as(t, "client").NewSession(nil)
	operator, err := sql.Open("flightsql", c.flightSQLDSN(c.secrets.Scheduler))
	if err != nil {
		t.Fatal(err)
	}
	defer operator.Close()
	if _, err := operator.ExecContext(ctx, "CREATE EXTERNAL TABLE ext STORED AS CSV WITH HEADER ROW LOCATION '"+ext+"'"); err != nil {
		t.Fatal(err)
	}
	exact := func(t *testing.T, sess *client.Session, q string, want ...string) {
		t.Helper()
		if got := queryText(t, sess, q); !slices.Equal(got, want) {
			t.Fatalf("%s: %q, want %q", q, got, want)
		}
		c.alive(t)
	}
	denied := func(t *testing.T, sess *client.Session, q string) {
		t.Helper()
		err := sess.Exec(ctx, q)
		if status.Code(errorsCause(err)) != codes.PermissionDenied {
			t.Fatalf("%s: %v, want PermissionDenied", q, err)
		}
	}

	// Finding 7: with data roots and the default warehouse (in the state
	// dir, outside the roots) managed tables are made, read and written.
	t.Run("managed tables with data roots and the default warehouse", func(t *testing.T) {
		if err := alice.Exec(ctx, "CREATE TABLE victim AS SELECT k, v FROM ext"); err != nil {
			t.Fatal(err)
		}
		if err := alice.Exec(ctx, "INSERT INTO victim VALUES (4, 'd')"); err != nil {
			t.Fatal(err)
		}
		if err := alice.Exec(ctx, "CREATE VIEW v AS SELECT k FROM victim WHERE k > 1"); err != nil {
			t.Fatal(err)
		}
		exact(t, bob, "SELECT count(*), sum(k) FROM victim", "4|10")
		exact(t, bob, "SELECT count(*) FROM v", "3")
	})

	// Finding 2: only the owner (or an operator) drops or replaces.
	t.Run("another principal neither drops nor replaces", func(t *testing.T) {
		for _, sess := range []*client.Session{bob, shared} {
			for _, q := range []string{
				"DROP TABLE victim",
				"CREATE OR REPLACE TABLE victim AS SELECT 1 AS k",
				"INSERT INTO victim VALUES (5, 'e')",
				"CREATE OR REPLACE VIEW v AS SELECT 42 AS k",
				"DROP VIEW v",
			} {
				denied(t, sess, q)
			}
		}
		exact(t, alice, "SELECT count(*), sum(k) FROM victim", "4|10")
		exact(t, alice, "SELECT count(*) FROM v", "3")
		exact(t, bob, "SHOW TABLES", "ext|external table|operator", "v|view|alice", "victim|table|alice")
	})

	// Finding 1: COPY never deletes or writes a table's files.
	t.Run("COPY OVERWRITE leaves table data alone", func(t *testing.T) {
		managed, _ := filepath.Glob(filepath.Join(stateDir, "warehouse", "victim*"))
		if len(managed) != 1 {
			t.Fatalf("victim's directory: %q", managed)
		}
		for _, target := range []string{ext, root, filepath.Join(ext, "sub"), managed[0], filepath.Join(managed[0], "data"), filepath.Join(stateDir, "warehouse")} {
			err := shared.Exec(ctx, "COPY (SELECT 1 AS k) TO '"+target+"' (FORMAT parquet, OVERWRITE true)")
			if code := status.Code(errorsCause(err)); code != codes.PermissionDenied {
				t.Fatalf("COPY to %s: %v, want PermissionDenied", target, err)
			}
			if strings.Contains(err.Error(), filepath.Base(managed[0])) && !strings.Contains(target, managed[0]) {
				t.Fatalf("COPY to %s: the error shows the managed table's directory: %v", target, err)
			}
		}
		exact(t, bob, "SELECT count(*), sum(k) FROM ext", "3|6")
		exact(t, bob, "SELECT count(*), sum(k) FROM victim", "4|10")
		// A COPY elsewhere in the roots works.
		if err := shared.Exec(ctx, "COPY (SELECT k FROM ext) TO '"+filepath.Join(root, "out")+"' (FORMAT parquet)"); err != nil {
			t.Fatal(err)
		}
	})

	// Finding 3: a symlink inside the roots does not lead a write out.
	t.Run("a symlink does not lead a write out of the roots", func(t *testing.T) {
		for _, target := range []string{filepath.Join(root, "link", "w.csv"), filepath.Join(root, "link", "deep", "dir")} {
			err := shared.Exec(ctx, "COPY (SELECT 1 AS a) TO '"+target+"' (FORMAT csv)")
			if code := status.Code(errorsCause(err)); code != codes.PermissionDenied {
				t.Fatalf("COPY to %s: %v, want PermissionDenied", target, err)
			}
		}
		if es, _ := os.ReadDir(outside); len(es) != 0 {
			t.Fatalf("files made outside the roots: %v", es)
		}
		exact(t, bob, "SELECT count(*) FROM ext", "3")
	})

	// The owner and the operator alter what is theirs to.
	t.Run("the owner and the operator", func(t *testing.T) {
		if err := alice.Exec(ctx, "CREATE OR REPLACE VIEW v AS SELECT k FROM victim WHERE k > 2"); err != nil {
			t.Fatal(err)
		}
		exact(t, bob, "SELECT count(*) FROM v", "2")
		if _, err := operator.ExecContext(ctx, "DROP VIEW v"); err != nil {
			t.Fatal(err)
		}
		if err := alice.Exec(ctx, "DROP TABLE victim"); err != nil {
			t.Fatal(err)
		}
		exact(t, bob, "SHOW TABLES", "ext|external table|operator")
	})
}
