package warehouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
)

// On a secured catalog a managed table or a view is replaced, dropped or
// written into only by the principal that created it or an operator;
// everyone reads it; owners survive a restore.
func TestOwners(t *testing.T) {
	ctx := context.Background()
	store := objstore.Default()
	saved := map[string]string{}
	wh := &Warehouse{Root: t.TempDir(), Store: store}
	newTables := func() *Tables {
		return &Tables{Catalog: catalog.New(), Store: store, Warehouse: wh, Secured: true,
			Save:   func(_ context.Context, name, value string) error { saved[name] = value; return nil },
			Forget: func(_ context.Context, name string) error { delete(saved, name); return nil },
			Warn:   func(err error, msg string) { t.Errorf("%s: %v", msg, err) }}
	}
	tb := newTables()
	alice, bob := security.Principal{Name: "alice"}, security.Principal{Name: "bob"}
	operator := security.Principal{Name: security.PrincipalOperator, Operator: true}
	n := 0
	exec := func(who security.Principal, sql string) error {
		t.Helper()
		st, err := planner.ParseStatement(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if !st.Kind.Writes() {
			_, err := tb.Define(ctx, st, who, func(string) error { return nil })
			return err
		}
		n++
		w, _, err := tb.Prepare(ctx, st, who, fmt.Sprintf("w%d", n), nil, planner.Options{TargetPartitions: 1}, false)
		if err != nil {
			return err
		}
		tc := &engine.TaskContext{JobID: "t", WorkDir: t.TempDir(), Mem: memory.NewGoAllocator(), Properties: map[string]string{}}
		defer tc.End()
		_, err = tb.Run(ctx, w, tc)
		return err
	}
	must := func(who security.Principal, sql string) {
		t.Helper()
		if err := exec(who, sql); err != nil {
			t.Fatalf("%s as %s: %v", sql, who.Name, err)
		}
	}
	refused := func(who security.Principal, sql string) {
		t.Helper()
		err := exec(who, sql)
		if !errors.Is(err, ErrNotOwner) {
			t.Fatalf("%s as %s: %v, want a refusal (not the owner)", sql, who.Name, err)
		}
	}
	count := func(table string) string {
		t.Helper()
		p, err := planner.PlanQuery(context.Background(), tb.Catalog, "SELECT count(*) FROM "+table, planner.Options{TargetPartitions: 1})
		if err != nil {
			t.Fatal(err)
		}
		tc := &engine.TaskContext{JobID: "q", WorkDir: t.TempDir(), Mem: memory.NewGoAllocator(), Properties: map[string]string{}}
		defer tc.End()
		bs, err := planner.RunInProcess(ctx, p, tc, store)
		if err != nil {
			t.Fatal(err)
		}
		return engine.FormatRows(bs, "|")[0]
	}
	must(alice, "CREATE TABLE victim AS SELECT 1 AS a UNION ALL SELECT 2")
	must(alice, "CREATE VIEW v AS SELECT a FROM victim")
	for _, sql := range []string{
		"DROP TABLE victim",
		"CREATE OR REPLACE TABLE victim AS SELECT 1 AS a",
		"INSERT INTO victim VALUES (3)",
		"CREATE OR REPLACE VIEW v AS SELECT 42 AS a",
		"DROP VIEW v",
	} {
		refused(bob, sql)
	}
	if got := count("victim"); got != "2" {
		t.Fatalf("after bob's attempts victim has %s rows, want 2", got)
	}
	// Bob reads alice's table and makes his own.
	must(bob, "CREATE TABLE mine AS SELECT a FROM victim")
	refused(alice, "DROP TABLE mine")
	want := []catalog.Entry{{Name: "mine", Kind: "table", Owner: "bob"}, {Name: "v", Kind: "view", Owner: "alice"}, {Name: "victim", Kind: "table", Owner: "alice"}}
	if got := tb.Catalog.Entries(); !slices.Equal(got, want) {
		t.Fatalf("entries %+v, want %+v", got, want)
	}
	// Owners survive a restore from the saved entries.
	tb = newTables()
	for _, name := range []string{"victim", "v", "mine"} {
		if err := tb.Restore(ctx, name, []byte(saved[name])); err != nil {
			t.Fatalf("restore %s: %v", name, err)
		}
	}
	if got := tb.Catalog.Entries(); !slices.Equal(got, want) {
		t.Fatalf("restored entries %+v, want %+v", got, want)
	}
	refused(bob, "DROP TABLE victim")
	must(alice, "INSERT INTO victim VALUES (3)")
	if got := count("victim"); got != "3" {
		t.Fatalf("after alice's insert: %s rows, want 3", got)
	}
	// The owner and an operator alter; an unowned (legacy) table is the
	// operator's alone.
	must(alice, "CREATE OR REPLACE VIEW v AS SELECT a FROM victim WHERE a > 1")
	must(operator, "DROP VIEW v")
	must(alice, "DROP TABLE victim")
	must(operator, "DROP TABLE mine")
	must(bob, "CREATE TABLE legacy AS SELECT 1 AS a")
	tab, _ := tb.Catalog.Lookup("legacy")
	tab.Owner = ""
	refused(bob, "DROP TABLE legacy")
	must(operator, "DROP TABLE legacy")
	// Without secrets every caller is trusted.
	tb.Secured = false
	must(alice, "CREATE TABLE open AS SELECT 1 AS a")
	must(bob, "DROP TABLE open")
}

// COPY never writes into the warehouse or a table's location (the same,
// above or below it), with or without OVERWRITE, and its refusal names the
// table, never the directory.
func TestCopyNeverTouchesTableData(t *testing.T) {
	ctx := context.Background()
	store := objstore.Default()
	root := t.TempDir()
	tb := &Tables{Catalog: catalog.New(), Store: store, Warehouse: &Warehouse{Root: filepath.Join(root, "warehouse"), Store: store}, Secured: true}
	ext := filepath.Join(root, "data", "ext")
	if err := os.MkdirAll(ext, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ext, "a.csv"), []byte("a\n1\n2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "data"), filepath.Join(root, "alias")); err != nil {
		t.Fatal(err)
	}
	alice := security.Principal{Name: "alice"}
	run := func(sql string) error {
		t.Helper()
		st, err := planner.ClassifyIn(tb.Catalog, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		switch {
		case st.Kind == planner.StmtCreateExternalTable:
			tab, err := tb.Catalog.Resolve(ctx, st.Def, nil)
			if err != nil {
				t.Fatal(err)
			}
			return tb.Catalog.Register(tab)
		case !st.Kind.Writes():
			_, err := tb.Define(ctx, st, alice, func(string) error { return nil })
			return err
		}
		w, _, err := tb.Prepare(ctx, st, alice, "w1", nil, planner.Options{TargetPartitions: 1}, true)
		if err != nil {
			return err
		}
		tc := &engine.TaskContext{JobID: "t", WorkDir: t.TempDir(), Mem: memory.NewGoAllocator(), Properties: map[string]string{}}
		defer tc.End()
		_, err = tb.Run(ctx, w, tc)
		return err
	}
	if err := run("CREATE EXTERNAL TABLE ext STORED AS CSV WITH HEADER ROW LOCATION '" + ext + "'"); err != nil {
		t.Fatal(err)
	}
	if err := run("CREATE TABLE managed AS SELECT 1 AS a"); err != nil {
		t.Fatal(err)
	}
	managed, _ := tb.Catalog.Lookup("managed")
	for target, name := range map[string]string{
		ext:                                   "table ext",
		filepath.Join(root, "data"):           "table ext",
		filepath.Join(root, "alias", "ext"):   "table ext",
		filepath.Join(ext, "sub"):             "table ext",
		tb.Warehouse.Root:                     "warehouse",
		managed.Dir:                           "warehouse",
		filepath.Join(managed.Dir, "data"):    "warehouse",
		root:                                  "warehouse",
		filepath.Join(root, "alias", "x.csv"): "",
		filepath.Join(root, "elsewhere.csv"):  "",
	} {
		for _, overwrite := range []string{"", ", OVERWRITE true"} {
			format := "parquet"
			if strings.HasSuffix(target, ".csv") {
				format = "csv"
			}
			err := run(fmt.Sprintf("COPY (SELECT 7 AS a) TO '%s' (FORMAT %s%s)", target, format, overwrite))
			switch {
			case name == "" && err != nil:
				t.Errorf("COPY to %s%s: %v", target, overwrite, err)
			case name != "" && (!errors.Is(err, ErrNotOwner) || !strings.Contains(err.Error(), name)):
				t.Errorf("COPY to %s%s: %v, want refused naming %s", target, overwrite, err, name)
			case name != "" && !strings.Contains(target, managed.Dir) && strings.Contains(err.Error(), managed.Dir[len(root):]):
				t.Errorf("COPY to %s: the refusal shows the managed table's directory: %v", target, err)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(ext, "a.csv")); err != nil || string(b) != "a\n1\n2\n" {
		t.Fatalf("ext's file after the refused COPYs: %q %v", b, err)
	}
}
