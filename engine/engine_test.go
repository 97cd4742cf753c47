package engine

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
	"github.com/kapot-go/kapot/wire"
)

func salesCSV(groups ...[]string) *kapotv1.PhysicalPlanNode {
	var fg []*kapotv1.FileGroup
	for _, g := range groups {
		fg = append(fg, &kapotv1.FileGroup{Paths: g})
	}
	str := &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
		FileGroups: fg, HasHeader: true,
		Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{
			{Name: "region", Type: str, Nullable: true},
			{Name: "product", Type: str, Nullable: true},
			{Name: "qty", Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}, Nullable: true},
			{Name: "price", Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_FLOAT64}, Nullable: true},
		}},
	}}}
}

// The expected result of aggNode over testdata/sales.csv, sorted.
var salesByRegion = []string{
	"NULL|1|1|4|plum|3.25|4|1|1",
	"east|1|0|NULL|apple|1.5|NULL|1|0",
	"north|3|3|6|apple|2|2|2|3",
	"south|2|2|6|apple|2|3|2|2",
}

func newTC(t *testing.T) (*TaskContext, *memory.CheckedAllocator) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return &TaskContext{JobID: "job1", ExecutorID: "exec-a", WorkDir: t.TempDir(), Mem: alloc.NewPoisoningAllocator(mem), BatchSize: 2, Properties: map[string]string{}}, mem
}

// run returns the rows of every partition, sorted.
// collectFormatted runs p (ExecuteCollect) and returns its rows as
// FormatRows gives them, the batches released.
func collectFormatted(t *testing.T, p ExecutionPlan, tc *TaskContext) []string {
	t.Helper()
	bs, err := ExecuteCollect(context.Background(), p, tc)
	if err != nil {
		t.Fatal(err)
	}
	got := FormatRows(bs, "|")
	for _, b := range bs {
		b.Release()
	}
	return got
}

func run(t *testing.T, n *kapotv1.PhysicalPlanNode, tc *TaskContext) []string {
	t.Helper()
	rows := runOrdered(t, n, tc)
	slices.Sort(rows)
	return rows
}

func TestFilterProjection(t *testing.T) {
	tc, _ := newTC(t)
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
		Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{
			Input:     salesCSV([]string{"testdata/sales.csv"}),
			Predicate: wiretest.Bin(wiretest.Col("qty"), kapotv1.BinaryOp_BINARY_OP_GTE, wiretest.I64(2)),
		}}},
		Exprs: []*kapotv1.PhysicalExprNode{wiretest.Col("product"), wiretest.Bin(wiretest.Col("qty"), kapotv1.BinaryOp_BINARY_OP_MUL, wiretest.I64(10))},
		Names: []string{"", "q10"},
	}}}
	p, err := FromProto(plan)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Schema().Field(1).Name; got != "q10" {
		t.Fatalf("name %q", got)
	}
	got := run(t, plan, tc)
	want := []string{"apple|30", "apple|50", "pear|20", "plum|40"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestParquetScanProjection(t *testing.T) {
	tc, mem := newTC(t)
	path := filepath.Join(t.TempDir(), "t.parquet")
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int32}, {Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	bld.Field(0).(*array.Int32Builder).AppendValues([]int32{1, 2, 3}, nil)
	bld.Field(1).(*array.StringBuilder).AppendValues([]string{"x", "", "z"}, []bool{true, false, true})
	rec := bld.NewRecordBatch()
	bld.Release()
	f, _ := os.Create(path)
	tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
	rec.Release()
	if err := pqarrow.WriteTable(tbl, f, 1024, nil, pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	tbl.Release()
	f.Close()
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}, {Paths: []string{path}}}, Projection: []string{"s"}}}}
	got := run(t, plan, tc)
	want := []string{"NULL", "NULL", "x", "x", "z", "z"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestBadPlans(t *testing.T) {
	cases := map[string]*kapotv1.PhysicalPlanNode{
		"empty":           {},
		"unknown column":  {Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: salesCSV([]string{"testdata/sales.csv"}), Predicate: wiretest.Col("nope")}}},
		"non-bool filter": {Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: salesCSV([]string{"testdata/sales.csv"}), Predicate: wiretest.Col("qty")}}},
		"missing file":    salesCSV(),
		"bad job id":      {Node: &kapotv1.PhysicalPlanNode_ShuffleWriter{ShuffleWriter: &kapotv1.ShuffleWriterNode{JobId: "../etc", Input: salesCSV([]string{"testdata/sales.csv"})}}},
	}
	for name, n := range cases {
		if _, err := FromProto(n); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func joinLines(ls []string) string {
	s := ""
	for _, l := range ls {
		s += l + "\n"
	}
	return s
}

// TestCorruptFilesFailClearly checks that unreadable inputs fail the plan
// or the task with an error naming the scan and the file, never a panic.
func TestCorruptFilesFailClearly(t *testing.T) {
	dir := t.TempDir()
	good := writeRowGroups(t)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.parquet")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	garbage := filepath.Join(dir, "garbage.parquet")
	os.WriteFile(garbage, []byte("PAR1 this is not parquet at all PAR1"), 0o644)
	// A file whose footer is intact but whose pages are overwritten.
	smashed := filepath.Join(dir, "smashed.parquet")
	bad := append([]byte{}, data...)
	for i := 8; i < len(bad)/2; i++ {
		bad[i] = 0xAB
	}
	os.WriteFile(smashed, bad, 0o644)
	ipcFile := filepath.Join(dir, "bad.arrow")
	os.WriteFile(ipcFile, []byte("ARROW1\x00\x00garbage"), 0o644)
	scan := func(paths ...string) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: paths}}}}}
	}
	cases := map[string]struct {
		plan *kapotv1.PhysicalPlanNode
		want string
	}{
		"truncated parquet":             {scan(truncated), "truncated.parquet"},
		"garbage parquet":               {scan(garbage), "garbage.parquet"},
		"corrupt pages after good file": {scan(good, smashed), "smashed.parquet"},
		"corrupt ipc": {&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_IpcScan{IpcScan: &kapotv1.IpcScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{ipcFile}}}}}}, "bad.arrow"},
		"column index out of range": {&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
			Input: scan(good), Exprs: []*kapotv1.PhysicalExprNode{{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: 9}}}}}}}, "out of range"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tc, _ := newTC(t)
			p, err := FromProto(c.plan)
			if err == nil {
				var bs []arrow.RecordBatch
				bs, err = ExecuteCollect(context.Background(), p, tc)
				for _, b := range bs {
					b.Release()
				}
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

// countingFetcher fails every fetch and counts them.
type countingFetcher struct{ calls atomic.Int32 }

func (f *countingFetcher) Fetch(_ context.Context, loc *kapotv1.PartitionLocation) (io.ReadCloser, error) {
	f.calls.Add(1)
	return nil, &shuffle.FetchError{ExecutorID: loc.GetExecutor().GetId(), JobID: loc.GetJobId(), Err: errors.New("no network in this test")}
}

// TestHostLocalShuffleRead reads map output that a peer executor wrote into
// its own work dir: straight from that dir when the peer's marker is there,
// through the fetcher when it is not.
func TestHostLocalShuffleRead(t *testing.T) {
	peer, _ := newTC(t)
	peer.ExecutorID = "exec-b"
	if err := shuffle.WriteMarker(peer.WorkDir, "exec-b"); err != nil {
		t.Fatal(err)
	}
	writer := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleWriter{ShuffleWriter: &kapotv1.ShuffleWriterNode{
		JobId: "job1", StageId: 1, Input: aggNode(salesCSV([]string{"testdata/sales.csv"}), kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL),
		Partitioning: &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Hash{Hash: &kapotv1.HashPartitioning{Exprs: []*kapotv1.PhysicalExprNode{wiretest.Col("region")}, PartitionCount: 2}}},
	}}}
	wp, err := FromProto(writer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wp.(*ShuffleWriter).Run(context.Background(), 0, peer); err != nil {
		t.Fatal(err)
	}
	schema, err := wire.SchemaToProto(wp.Schema())
	if err != nil {
		t.Fatal(err)
	}
	final := func(id string) *kapotv1.PhysicalPlanNode {
		reader := &kapotv1.ShuffleReaderNode{StageId: 1, Schema: schema}
		for out := uint32(0); out < 2; out++ {
			reader.Partitions = append(reader.Partitions, &kapotv1.ShuffleReaderPartition{Locations: []*kapotv1.PartitionLocation{
				{JobId: "job1", StageId: 1, OutputPartition: out, Executor: &kapotv1.ExecutorMetadata{Id: id, WorkDir: peer.WorkDir}}}})
		}
		return aggNode(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleReader{ShuffleReader: reader}}, kapotv1.AggregateMode_AGGREGATE_MODE_FINAL)
	}

	tc, _ := newTC(t)
	f := &countingFetcher{}
	tc.Fetcher, tc.HostLocal = f, &shuffle.HostLocal{}
	if got := run(t, final("exec-b"), tc); !slices.Equal(got, salesByRegion) {
		t.Fatalf("host-local read: got %q\nwant %q", got, salesByRegion)
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("host-local read fetched %d partitions over the network", n)
	}

	// The dir's marker names another executor: the data is not trusted as
	// this one's, and the reader asks the fetcher.
	p, err := FromProto(final("exec-x"))
	if err != nil {
		t.Fatal(err)
	}
	bs, err := ExecuteCollect(context.Background(), p, tc)
	for _, b := range bs {
		b.Release()
	}
	if fe := (*shuffle.FetchError)(nil); !errors.As(err, &fe) || fe.ExecutorID != "exec-x" {
		t.Fatalf("read of an unverified dir: err %v, want a fetch error from exec-x", err)
	}
	if f.calls.Load() == 0 {
		t.Fatal("unverified dir read without asking the fetcher")
	}
}
