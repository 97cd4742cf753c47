package planner

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
)

// TestNestedSpillAgainstDuckDB sorts, joins and groups 3,000 rows with
// LIST, STRUCT and MAP columns under a memory pool of a few batches, with
// recycled (poisoned) memory: nested columns go through spill files and
// back, and the answers equal DuckDB's over the same file.
func TestNestedSpillAgainstDuckDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.parquet")
	db := duckOver(t, nil)
	if _, err := db.Exec(fmt.Sprintf(`copy (select i::INTEGER as k, case when i %% 11 = 0 then NULL else [i, i + 1, NULL, i %% 5]::INTEGER[] end as li,
		{'a': i %% 13, 'b': 'v' || i} as s, map([('k' || (i %% 7)), 'z'], [i, NULL]) as m from range(3000) t(i)) to '%s' (format parquet, row_group_size 500)`, path)); err != nil {
		t.Fatal(err)
	}
	cat := catalog.New()
	tb, err := cat.ParquetTable(context.Background(), "big", []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Register(tb); err != nil {
		t.Fatal(err)
	}
	d := &duckTable{t: t, files: map[string]string{"big": path}}
	for i, q := range []string{
		// These three spill (sort runs, a grace hash join).
		`select k, li, s, m from big order by k desc`,
		`select k, li, s, m from big order by s.b, k limit 2500`,
		`select a.k, b.li, b.s, b.m from big a join big b on a.k = b.k order by a.k`,
		`select a.k, b.li, b.m from big a left join (select * from big where k % 2 = 0) b on a.k = b.k order by a.k`,
		`select s.a, count(li), count(*), sum(li[1]), max(m['k3']) from big group by s.a order by 1`,
	} {
		t.Run(q, func(t *testing.T) {
			want, err := d.query(q)
			if err != nil {
				t.Fatal(err)
			}
			p, err := PlanQuery(context.Background(), cat, q, Options{TargetPartitions: 2})
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			rec := alloc.NewRecyclingAllocator(0)
			rec.SetPoison(true)
			mem := memory.NewCheckedAllocator(rec)
			defer mem.AssertSize(t, 0)
			tc := &engine.TaskContext{JobID: "q", WorkDir: t.TempDir(), Mem: mem, Properties: map[string]string{},
				BatchSize: 128, Pool: alloc.NewMemoryPool(64 << 10), Metrics: &engine.Metrics{}}
			bs, err := RunInProcess(context.Background(), p, tc, nil)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			got := engine.FormatRows(bs, "|")
			for _, b := range bs {
				b.Release()
			}
			if err := oracle.SameRows(got, want); err != nil {
				t.Fatalf("%v", err)
			}
			var spilled int64
			for _, m := range tc.Metrics.Snapshot() {
				spilled += m.SpillCount
			}
			if i < 3 && spilled == 0 {
				t.Errorf("no spill: the test no longer takes nested columns through spill files")
			}
		})
	}
}
