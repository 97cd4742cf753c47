package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/testkit/s3test"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// parquetBytes is a Parquet file of rows (k, v = k*mul) in row groups of
// 64K rows, and the expected "count|sum(v)" of it.
func parquetBytes(t *testing.T, rows int, mul int64) ([]byte, string) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	kb, vb := array.NewInt64Builder(memory.DefaultAllocator), array.NewInt64Builder(memory.DefaultAllocator)
	var sum int64
	for i := 0; i < rows; i++ {
		// Spread values so the file does not compress to nothing.
		k := int64(i)*2654435761%1_000_003 + int64(i)<<20
		kb.Append(k)
		vb.Append(k * mul)
		sum += k * mul
	}
	ka, va := kb.NewArray(), vb.NewArray()
	defer ka.Release()
	defer va.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{ka, va}, int64(rows))
	defer rec.Release()
	tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
	defer tbl.Release()
	var buf bytes.Buffer
	if err := pqarrow.WriteTable(tbl, &buf, 64<<10, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), fmt.Sprintf("%d|%d", rows, sum)
}

// TestS3ScanWithDataCache runs SQL over Parquet in a real S3-compatible
// server (versitygw) on executors with the local-disk data cache: a cold
// read fetches from the store, a warm read and a restarted executor on the
// same cache directory fetch no data bytes (the server's ranged GETs are
// counted by a proxy), a replaced object returns its new data, a server
// stopped mid-read fails the job with an I/O error naming the object while
// the executor keeps serving, and a small cache evicts to stay under its
// capacity.
func TestS3ScanWithDataCache(t *testing.T) {
	srv := s3test.Start(t)
	data, want := parquetBytes(t, 300_000, 3)
	srv.Put("warehouse", "t/part-0.parquet", data)

	// The server is a session's endpoint on loopback: the catalog and the
	// executors allow local URLs (--allow-local-urls).
	props := srv.Properties()
	reg := objstore.Default()
	reg.AllowLocalURLs(true)
	cat := catalog.NewWith(reg, props)
	st, err := planner.ClassifyIn(cat, "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://warehouse/t/'")
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Register(st.Table); err != nil {
		t.Fatal(err)
	}
	plan, err := planner.PlanQuery(context.Background(), cat, "SELECT count(*), sum(v) FROM t", planner.Options{TargetPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	req := func() *kapotv1.SubmitJobRequest {
		return &kapotv1.SubmitJobRequest{Plan: plan.Root, SessionProperties: props}
	}

	s := startScheduler(t, 0, nil)
	cacheDir := t.TempDir()
	// withCache configures the data cache: the shared directory, or a
	// fresh one of the given capacity.
	withCache := func(capacity config.ByteSize) func(*executor.Config) {
		return func(c *executor.Config) {
			c.DataCachePolicy, c.CacheDir, c.CacheCapacity, c.CacheIOConcurrency = "local-disk-file", cacheDir, 1<<30, 4
			if capacity > 0 {
				c.CacheDir, c.CacheCapacity = t.TempDir(), capacity
			}
			c.AdminPort, c.AdminBindHost = 0, "127.0.0.1"
			c.AllowLocalURLs = true
		}
	}
	e := startExecutor(t, s.addr, "push-staged", withCache(0))
	metrics := func(e *testExecutor, series string) float64 {
		return scrape(t, http.DefaultClient, "http://"+e.AdminAddr().String(), series)
	}
	run := func(name string) []string {
		t.Helper()
		got, err := runJobErr(s.addr, req())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return got
	}

	// Cold: the data comes from the store.
	gets := srv.Gets.Load()
	if got := run("cold"); !slices.Equal(got, []string{want}) {
		t.Fatalf("cold: got %q, want %q", got, want)
	}
	coldGets := srv.Gets.Load() - gets
	if coldGets == 0 || metrics(e, "kapot_executor_cache_misses_total") == 0 {
		t.Fatalf("cold read: %d GETs, misses %v", coldGets, metrics(e, "kapot_executor_cache_misses_total"))
	}
	fromStore := metrics(e, `kapot_executor_cache_read_bytes_total{source="store"}`)
	if fromStore > float64(len(data)) {
		t.Fatalf("fetched %v bytes of a %d-byte object", fromStore, len(data))
	}

	// Warm: no data request reaches the store (only the version check).
	gets = srv.Gets.Load()
	if got := run("warm"); !slices.Equal(got, []string{want}) {
		t.Fatalf("warm: got %q", got)
	}
	if n := srv.Gets.Load() - gets; n != 0 {
		t.Fatalf("warm read made %d ranged GETs, want 0", n)
	}
	if metrics(e, `kapot_executor_cache_read_bytes_total{source="cache"}`) == 0 || metrics(e, `kapot_executor_cache_read_bytes_total{source="store"}`) != fromStore {
		t.Fatal("warm read not served from the cache")
	}

	// Restart: a new executor process state on the same cache directory is
	// warm from the start.
	if err := e.stop(t); err != nil {
		t.Fatal(err)
	}
	e = startExecutor(t, s.addr, "push-staged", withCache(0))
	if metrics(e, "kapot_executor_cache_entries") == 0 {
		t.Fatal("cache index not rebuilt at start")
	}
	gets = srv.Gets.Load()
	if got := run("restarted"); !slices.Equal(got, []string{want}) {
		t.Fatalf("after restart: got %q", got)
	}
	if n := srv.Gets.Load() - gets; n != 0 {
		t.Fatalf("read after restart made %d ranged GETs, want 0", n)
	}

	// Replaced object: new version, new data, never the cached old pages.
	data2, want2 := parquetBytes(t, 200_000, 5)
	srv.Put("warehouse", "t/part-0.parquet", data2)
	if got := run("replaced"); !slices.Equal(got, []string{want2}) {
		t.Fatalf("after replace: got %q, want %q", got, want2)
	}

	// Server stopped mid-read: replace the object again (cold pages), stop
	// the server at the first data request.
	data3, want3 := parquetBytes(t, 300_000, 7)
	srv.Put("warehouse", "t/part-0.parquet", data3)
	srv.OnGet = func() { srv.OnGet = nil; srv.Stop() }
	_, err = runJobErr(s.addr, req())
	if err == nil || !strings.Contains(err.Error(), "s3://warehouse/t/part-0.parquet") || !strings.Contains(err.Error(), "object store I/O error") {
		t.Fatalf("job with the store down: %v", err)
	}
	srv.Restart()
	if got := run("after the store came back"); !slices.Equal(got, []string{want3}) {
		t.Fatalf("after restart of the store: got %q, want %q", got, want3)
	}

	// A cache smaller than the object evicts and stays under capacity.
	small := startExecutor(t, s.addr, "push-staged", withCache(2<<20))
	if err := e.stop(t); err != nil { // leave the small one alone
		t.Fatal(err)
	}
	if got := run("small cache"); !slices.Equal(got, []string{want3}) {
		t.Fatalf("small cache: got %q", got)
	}
	if metrics(small, "kapot_executor_cache_evictions_total") == 0 || metrics(small, "kapot_executor_cache_bytes") > 2<<20 {
		t.Fatalf("small cache: evictions %v, bytes %v", metrics(small, "kapot_executor_cache_evictions_total"), metrics(small, "kapot_executor_cache_bytes"))
	}
}
