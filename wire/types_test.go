package wire

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func TestSchemaRoundTrip(t *testing.T) {
	in := arrow.NewSchema([]arrow.Field{
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us},
		{Name: "m", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}},
	}, nil)
	p, err := SchemaToProto(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := SchemaFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Equal(in) {
		t.Fatalf("round trip: got %s, want %s", out, in)
	}
}

func TestTypeFromProtoRejects(t *testing.T) {
	for name, dt := range map[string]*kapotv1.DataType{
		"missing":      nil,
		"decimal p=0":  {Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: 0},
		"decimal p=39": {Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: 39},
		"decimal s>p":  {Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: 5, Scale: 6},
	} {
		if _, err := TypeFromProto(dt); !errors.Is(err, ErrInvalidPlan) {
			t.Errorf("%s: got %v, want ErrInvalidPlan", name, err)
		}
	}
	if _, err := TypeFromProto(&kapotv1.DataType{Id: kapotv1.TypeId(9999)}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("unknown type id: got %v, want ErrNotSupported", err)
	}
}

func TestWalkFilesReachesEveryScan(t *testing.T) {
	scan := func(path string) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
	}
	root := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
		Left:  &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: scan("a")}}},
		Right: scan("b"),
	}}}
	var seen []string
	WalkFiles(root, func(p *string) { seen = append(seen, *p); *p = "/abs/" + *p })
	if len(seen) != 2 || seen[0] != "a" || seen[1] != "b" {
		t.Fatalf("visited %v, want [a b]", seen)
	}
	if got := root.GetHashJoin().GetRight().GetParquetScan().GetFileGroups()[0].GetPaths()[0]; got != "/abs/b" {
		t.Fatalf("rewrite not in place: %q", got)
	}
}

func TestTextBatch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := TextSchema([]string{"a", "b"})
	b, err := TextBatch(mem, s, [][]string{{"1", "x"}, {"2", ""}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if b.NumRows() != 2 || b.Column(1).ValueStr(0) != "x" || !b.Schema().Equal(s) {
		t.Fatalf("got %v", b)
	}
	if _, err := TextBatch(mem, s, [][]string{{"ragged"}}); !errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("ragged row: %v", err)
	}
}
