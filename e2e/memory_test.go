package e2e

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/sysinfo"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/tpch"
)

// TestMemoryCapEnforced: an executor whose memory pool is far smaller than a
// sort's input spills through the engine's pool and still returns DuckDB's
// answer; another executor sizes its pool as --exposed-mem-percentage of the
// machine's memory and advertises it.
func TestMemoryCapEnforced(t *testing.T) {
	set := sharedTPCH(t, 0.01, 1)
	dir := set.dir
	cat := catalog.New()
	if err := cat.RegisterParquetDir(dir, tpch.Tables); err != nil {
		t.Fatal(err)
	}
	const query = "SELECT l_orderkey, l_linenumber, l_comment FROM lineitem ORDER BY l_comment, l_orderkey, l_linenumber"
	plan, err := planner.PlanQuery(context.Background(), cat, query, planner.Options{TargetPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	want, err := set.db.Rows(query)
	if err != nil {
		t.Fatal(err)
	}

	s := startScheduler(t, 0, nil)
	small := startExecutor(t, s.addr, "push-staged", func(c *executor.Config) {
		c.MemoryPoolSize, c.AdminPort, c.AdminBindHost = 1<<20, 0, "127.0.0.1"
	})
	url := "http://" + small.AdminAddr().String()
	if v := scrape(t, http.DefaultClient, url, "kapot_executor_memory_pool_bytes"); v != 1<<20 {
		t.Fatalf("pool %v, want 1MiB", v)
	}
	// 8 Ki-row batches: one batch of the default 32 Ki rows (1.4 MB of
	// comments) would not fit the pool at all.
	got, err := runJobErr(s.addr, &kapotv1.SubmitJobRequest{Plan: plan.Root, SessionProperties: map[string]string{engine.PropBatchSize: "8192"}})
	if err != nil {
		t.Fatal(err)
	}
	// runJobErr sorts rows; compare as sets of the same size, and the
	// engine's own order is checked by the TPC-H suite.
	if len(got) != len(want) || len(want) < 50000 {
		t.Fatalf("%d rows, DuckDB %d", len(got), len(want))
	}
	sortedWant := append([]string(nil), want...)
	slices.Sort(sortedWant)
	if err := oracle.SameRows(got, sortedWant); err != nil {
		t.Fatal(err)
	}
	if v := scrape(t, http.DefaultClient, url, "kapot_executor_spilled_bytes_total"); v <= 0 {
		t.Fatal("a sort of ~4 MB through a 1 MiB pool did not spill")
	}
	if v := scrape(t, http.DefaultClient, url, "kapot_executor_memory_pool_used_bytes"); v != 0 {
		t.Fatalf("pool still holds %v bytes after the job", v)
	}

	total, err := sysinfo.MemoryLimit("/")
	if err != nil {
		t.Fatal(err)
	}
	half := startExecutor(t, s.addr, "push-staged", func(c *executor.Config) {
		c.ExposedMemPercentage, c.AdminPort, c.AdminBindHost = 50, 0, "127.0.0.1"
	})
	if v := scrape(t, http.DefaultClient, "http://"+half.AdminAddr().String(), "kapot_executor_memory_pool_bytes"); v != float64(total*50/100) {
		t.Fatalf("pool %v, want 50%% of %d", v, total)
	}
}
