package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestFooterCache: footers are found by location and version, the least
// recently used go first past the bound, and a nil cache keeps nothing.
func TestFooterCache(t *testing.T) {
	dir := t.TempDir()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	var mds []*metadata.FileMetaData
	for i := range 3 {
		bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
		bld.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
		rec := bld.NewRecordBatch()
		bld.Release()
		path := filepath.Join(dir, fmt.Sprintf("f%d.parquet", i))
		writeParquet(t, path, rec)
		rec.Release()
		pf, err := openParquetFile(path)
		if err != nil {
			t.Fatal(err)
		}
		mds = append(mds, pf)
	}
	one := int64(mds[0].Size())*4 + 1024
	c := NewFooterCache(2 * one)
	fs := []*parquetFooter{newParquetFooter(mds[0]), newParquetFooter(mds[1]), newParquetFooter(mds[2])}
	c.put("a", "v1", fs[0])
	c.put("b", "v1", fs[1])
	if c.get("a", "v1") != fs[0] || c.get("a", "v2") != nil || c.get("c", "v1") != nil {
		t.Fatal("lookup by location and version")
	}
	c.put("c", "v1", fs[2]) // evicts b, the least recently used
	if c.get("b", "v1") != nil || c.get("a", "v1") != fs[0] || c.get("c", "v1") != fs[2] || c.Len() != 2 {
		t.Errorf("after eviction: b %v, a %v, c %v, len %d", c.get("b", "v1") != nil, c.get("a", "v1") != nil, c.get("c", "v1") != nil, c.Len())
	}
	c.put("d", "", fs[1]) // no version: not kept
	if c.Len() != 2 {
		t.Errorf("a footer without version was kept")
	}
	var none *FooterCache
	none.put("a", "v1", fs[0])
	if none.get("a", "v1") != nil || none.Len() != 0 {
		t.Error("nil cache kept a footer")
	}
}

// TestScansShareFooters: scans built with one footer cache read each file's
// footer once and answer as scans without one, also concurrently.
func TestScansShareFooters(t *testing.T) {
	dir := t.TempDir()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	for i := range 500 {
		bld.Field(0).(*array.Int64Builder).Append(int64(i))
		bld.Field(1).(*array.StringBuilder).Append(fmt.Sprint("s", i%7))
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	path := filepath.Join(dir, "t.parquet")
	writeParquet(t, path, rec, parquet.WithMaxRowGroupLength(64))
	rec.Release()
	node := func(lo, hi int64) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}, RangeColumn: "k", Range: &kapotv1.KeyRange{Lo: lo, Hi: hi}}}}}}
	}
	// run may be called from goroutines: errors come back as rows.
	run := func(n *kapotv1.PhysicalPlanNode, fc *FooterCache) []string {
		p, err := FromProtoWith(n, BuildOptions{Footers: fc})
		if err != nil {
			return []string{err.Error()}
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		tc := &TaskContext{JobID: "job1", WorkDir: dir, Mem: mem, BatchSize: 100, Properties: map[string]string{}}
		bs, err := ExecuteCollect(context.Background(), p, tc)
		if err != nil {
			return []string{err.Error()}
		}
		rows := FormatRows(bs, "|")
		for _, b := range bs {
			b.Release()
		}
		if n := mem.CurrentAlloc(); n != 0 {
			return []string{fmt.Sprintf("%d bytes leaked", n)}
		}
		return rows
	}
	want := run(node(100, 299), nil)
	if len(want) != 200 {
		t.Fatalf("%d rows without a cache, want 200", len(want))
	}
	fc := NewFooterCache(DefaultFooterCacheBytes)
	var wg sync.WaitGroup
	got := make([][]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = run(node(100, 299), fc)
		}()
	}
	wg.Wait()
	for i, g := range got {
		if !slices.Equal(g, want) {
			t.Fatalf("scan %d with the cache: %d rows, want %d", i, len(g), len(want))
		}
	}
	if fc.Len() != 1 {
		t.Errorf("cache holds %d footers, want 1", fc.Len())
	}
}

// openParquetFile reads the footer of a local Parquet file.
func openParquetFile(path string) (*metadata.FileMetaData, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	return pf.MetaData(), nil
}
