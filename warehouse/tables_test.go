package warehouse

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
)

// TestTablesInProcess creates a table, fills it with many one-row
// INSERTs (compacted as they go), reads it, restores it into a fresh
// catalog from its saved entry, and drops it.
func TestTablesInProcess(t *testing.T) {
	ctx := context.Background()
	store := objstore.Default()
	saved := map[string]string{}
	newTables := func() *Tables {
		cat := catalog.New()
		return &Tables{Catalog: cat, Store: store, Warehouse: &Warehouse{Root: t.TempDir(), Store: store},
			Save:   func(_ context.Context, name, value string) error { saved[name] = value; return nil },
			Forget: func(_ context.Context, name string) error { delete(saved, name); return nil },
			Warn:   func(err error, msg string) { t.Errorf("%s: %v", msg, err) }}
	}
	tb := newTables()
	exec := func(sql string) int64 {
		t.Helper()
		st, err := planner.ParseStatement(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if !st.Kind.Writes() {
			if _, err := tb.Define(ctx, st, security.Principal{}, func(string) error { return nil }); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			return 0
		}
		w, _, err := tb.Prepare(ctx, st, security.Principal{}, fmt.Sprintf("w%d", len(saved)+int(st.Kind)), nil, planner.Options{TargetPartitions: 2}, false)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		tc := &engine.TaskContext{JobID: "t", WorkDir: t.TempDir(), Mem: mem, Properties: map[string]string{}}
		n, err := tb.Run(ctx, w, tc)
		tc.End()
		mem.AssertSize(t, 0)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	query := func(sql string) []string {
		t.Helper()
		p, err := planner.PlanQuery(context.Background(), tb.Catalog, sql, planner.Options{TargetPartitions: 2})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		tc := &engine.TaskContext{JobID: "q", WorkDir: t.TempDir(), Mem: memory.NewGoAllocator(), Properties: map[string]string{}}
		bs, err := planner.RunInProcess(ctx, p, tc, store)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return engine.FormatRows(bs, "|")
	}
	exec("CREATE TABLE t (k BIGINT NOT NULL, v VARCHAR)")
	for i := range 20 {
		if n := exec(fmt.Sprintf("INSERT INTO t VALUES (%d, 'v%d')", i, i)); n != 1 {
			t.Fatalf("insert %d wrote %d rows", i, n)
		}
	}
	if got := query("SELECT count(*), sum(k), min(v), max(v) FROM t"); !slices.Equal(got, []string{"20|190|v0|v9"}) {
		t.Fatalf("after 20 inserts: %q", got)
	}
	tab, _ := tb.Catalog.Lookup("t")
	m, err := tb.Warehouse.Current(ctx, tab.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) > MaxSmallFiles+1 || m.Rows != 20 {
		t.Fatalf("%d files, %d rows: small files not compacted", len(m.Files), m.Rows)
	}
	// Restore into a fresh catalog from the saved entry.
	old := tb
	tb = newTables()
	tb.Warehouse = old.Warehouse
	if err := tb.Restore(ctx, "t", []byte(saved["t"])); err != nil {
		t.Fatal(err)
	}
	if got := query("SELECT count(*) FROM t WHERE k >= 10"); !slices.Equal(got, []string{"10"}) {
		t.Fatalf("restored: %q", got)
	}
	exec("CREATE VIEW big AS SELECT k FROM t WHERE k > 15")
	if err := tb.Restore(ctx, "big2", []byte(ViewSQL("big2", "SELECT k FROM t WHERE k > 17"))); err != nil {
		t.Fatal(err)
	}
	if got := query("SELECT (SELECT count(*) FROM big), (SELECT count(*) FROM big2)"); !slices.Equal(got, []string{"4|2"}) {
		t.Fatalf("views: %q", got)
	}
	exec("DROP TABLE t")
	if _, ok := saved["t"]; ok {
		t.Fatal("dropped table still saved")
	}
}
