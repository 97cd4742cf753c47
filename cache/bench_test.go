package cache_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/cache"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/testkit/s3test"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// BenchmarkS3ScanColdWarm scans a Parquet file (2M rows, two int64
// columns) from the local S3 server through the data cache: cold (an empty
// cache every iteration) and warm (a filled cache), reporting the bytes
// each scan fetched from the store next to its time.
func BenchmarkS3ScanColdWarm(b *testing.B) {
	srv := s3test.Start(b)
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	kb, vb := array.NewInt64Builder(memory.DefaultAllocator), array.NewInt64Builder(memory.DefaultAllocator)
	const rows = 2_000_000
	for i := 0; i < rows; i++ {
		kb.Append(int64(i) * 2654435761 % 1_000_003)
		vb.Append(int64(i))
	}
	ka, va := kb.NewArray(), vb.NewArray()
	rec := array.NewRecordBatch(schema, []arrow.Array{ka, va}, rows)
	tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
	var buf bytes.Buffer
	if err := pqarrow.WriteTable(tbl, &buf, 256<<10, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		b.Fatal(err)
	}
	tbl.Release()
	rec.Release()
	ka.Release()
	va.Release()
	srv.Put("bench", "t.parquet", buf.Bytes())
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{"s3://bench/t.parquet"}}}, Projection: []string{"v"}}}}
	scan := func(b *testing.B, c *cache.Cache) {
		reg := objstore.NewRegistry(srv.Config(), c)
		p, err := engine.FromProtoWith(plan, engine.BuildOptions{Store: reg})
		if err != nil {
			b.Fatal(err)
		}
		tc := &engine.TaskContext{Mem: memory.NewGoAllocator(), Properties: map[string]string{}}
		bs, err := engine.ExecuteCollect(context.Background(), p, tc)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, x := range bs {
			n += int(x.NumRows())
			x.Release()
		}
		if n != rows {
			b.Fatalf("%d rows", n)
		}
	}
	for _, warm := range []bool{false, true} {
		name := map[bool]string{false: "cold", true: "warm"}[warm]
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			open := func() *cache.Cache {
				c, err := cache.Open(cache.Options{Dir: dir, Capacity: 1 << 30, IOConcurrency: 8})
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			c := open()
			if warm {
				scan(b, c)
			}
			before := srv.BytesOut.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !warm {
					b.StopTimer()
					dir = b.TempDir()
					c = open()
					b.StartTimer()
				}
				scan(b, c)
			}
			b.ReportMetric(float64(srv.BytesOut.Load()-before)/float64(b.N), "store-bytes/op")
			b.ReportMetric(float64(len(buf.Bytes())), "object-bytes")
		})
	}
}
