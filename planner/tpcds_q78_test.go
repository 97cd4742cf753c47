package planner

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
)

// TestTPCDSQ78AgainstDuckDB runs TPC-DS q78 at SF 0.1 in this process under
// a 256 MiB memory pool and a one-minute deadline, and compares its answer
// with DuckDB's (issue 36 item 2). Its three-key join on (year, item,
// customer) indexed the build side by the year alone, so every probe row
// drew all build rows of its year as candidates: `kapot sql` grew past
// 8 GB, unreserved and deaf to its timeout, where DuckDB answers in 0.4 s.
func TestTPCDSQ78AgainstDuckDB(t *testing.T) {
	dir := tpcdsDir(t)
	text, err := os.ReadFile(filepath.Join(dir, "..", "queries", "q78.sql"))
	if err != nil {
		t.Skipf("no TPC-DS queries: %v", err)
	}
	cat, files := tpcdsCatalog(t, dir, "web_sales", "web_returns", "catalog_sales", "catalog_returns", "store_sales", "store_returns", "date_dim")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := PlanQuery(ctx, cat, string(text), Options{TargetPartitions: 3})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	rec := alloc.NewRecyclingAllocator(0)
	rec.SetPoison(true)
	mem := memory.NewCheckedAllocator(rec)
	defer mem.AssertSize(t, 0)
	tc := &engine.TaskContext{JobID: "q78", WorkDir: t.TempDir(), Mem: mem, Properties: map[string]string{},
		Pool: alloc.NewMemoryPool(256 << 20)}
	bs, err := RunInProcess(ctx, p, tc, nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	got := engine.FormatRows(bs, "|")
	for _, b := range bs {
		b.Release()
	}
	sameAsDuckDB(t, got, files, string(text))
}
