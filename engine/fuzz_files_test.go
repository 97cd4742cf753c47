package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/engine/alloc"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// seedBatch is a small batch of every common column kind.
func seedBatch() arrow.RecordBatch {
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	ib, sb := array.NewInt64Builder(mem), array.NewStringBuilder(mem)
	for i := 0; i < 50; i++ {
		ib.Append(int64(i * 3))
		sb.Append("row")
	}
	ib.AppendNull()
	sb.AppendNull()
	ia, sa := ib.NewArray(), sb.NewArray()
	defer ia.Release()
	defer sa.Release()
	return array.NewRecordBatch(schema, []arrow.Array{ia, sa}, 51)
}

// scanFuzzed writes data to a file and scans it whole with a checked
// allocator: any error is fine, a panic is not, and a scan that succeeds
// releases everything. (After a decoding error arrow-go may keep a message
// buffer; the Go allocator reclaims it, so only successful scans are held
// to zero.) A file that claims billions of rows is cut off by a deadline:
// tasks have the same protection through cancellation.
func scanFuzzed(t *testing.T, data []byte, node func(path string) *kapotv1.PhysicalPlanNode) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := FromProto(node(path))
	if err != nil {
		return
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	tc := &TaskContext{Mem: alloc.NewPoisoningAllocator(mem), Properties: map[string]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	bs, err := ExecuteCollect(ctx, p, tc)
	for _, b := range bs {
		b.Release()
	}
	tc.End()
	if err == nil {
		mem.AssertSize(t, 0)
	}
}

// FuzzParquetScan feeds corrupted Parquet files to a scan.
func FuzzParquetScan(f *testing.F) {
	rec := seedBatch()
	tbl := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
	var buf bytes.Buffer
	if err := pqarrow.WriteTable(tbl, &buf, 16, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		f.Fatal(err)
	}
	tbl.Release()
	rec.Release()
	f.Add(buf.Bytes())
	f.Add([]byte("PAR1"))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		scanFuzzed(t, data, func(path string) *kapotv1.PhysicalPlanNode {
			return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
				FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
		})
	})
}

// FuzzCSVScan feeds arbitrary text to a CSV scan that infers its schema.
func FuzzCSVScan(f *testing.F) {
	f.Add([]byte("a,b\n1,x\n2,y\n"))
	f.Add([]byte("a,b\n1\n\"unterminated\n"))
	f.Add([]byte("x;y\n1.5;2020-01-01\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		scanFuzzed(t, data, func(path string) *kapotv1.PhysicalPlanNode {
			return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
				FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}, HasHeader: true, InferSchema: true}}}
		})
	})
}

// FuzzIPCScan feeds corrupted Arrow IPC files and streams to a scan.
func FuzzIPCScan(f *testing.F) {
	rec := seedBatch()
	for _, file := range []bool{true, false} {
		var buf bytes.Buffer
		if file {
			w, _ := ipc.NewFileWriter(&buf, ipc.WithSchema(rec.Schema()))
			w.Write(rec)
			w.Close()
		} else {
			w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
			w.Write(rec)
			w.Close()
		}
		f.Add(buf.Bytes())
	}
	rec.Release()
	f.Add([]byte("ARROW1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		scanFuzzed(t, data, func(path string) *kapotv1.PhysicalPlanNode {
			return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_IpcScan{IpcScan: &kapotv1.IpcScanNode{
				FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
		})
	})
}
