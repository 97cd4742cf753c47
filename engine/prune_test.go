package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// writeRowGroups writes 4 row groups of 250 rows: id 0..999 ascending,
// price = id/100 as decimal(15,2)... in cents, day = 10000+id/250 (one day
// per group), tag "g<group>", and nulls in note only in group 3.
func writeRowGroups(t *testing.T) string {
	t.Helper()
	mem := memory.NewGoAllocator()
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: dec},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "tag", Type: arrow.BinaryTypes.String},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	path := filepath.Join(t.TempDir(), "rg.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(250)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	for i := 0; i < 1000; i++ {
		g := i / 250
		bld.Field(0).(*array.Int64Builder).Append(int64(i))
		bld.Field(1).(*array.Decimal128Builder).AppendValueFromString(fmt.Sprintf("%d.%02d", i/100, i%100))
		bld.Field(2).(*array.Date32Builder).Append(arrow.Date32(10000 + g))
		bld.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("g%d", g))
		if g == 3 && i%2 == 0 {
			bld.Field(4).AppendNull()
		} else {
			bld.Field(4).(*array.StringBuilder).Append("n")
		}
	}
	rec := bld.NewRecordBatch()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParquetRowGroupPruning(t *testing.T) {
	path := writeRowGroups(t)
	dateLit := func(d int64) *kapotv1.PhysicalExprNode {
		return wiretest.Lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DATE32}, Value: &kapotv1.ScalarValue_IntValue{IntValue: d}})
	}
	op := func(l *kapotv1.PhysicalExprNode, o kapotv1.BinaryOp, r *kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
		return wiretest.Bin(l, o, r)
	}
	isNull := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_IsNull{IsNull: &kapotv1.IsNullExpr{Expr: wiretest.Col("note")}}}
	cases := []struct {
		name string
		pred *kapotv1.PhysicalExprNode
		read int64 // row groups read
	}{
		{"none", nil, 4},
		{"id < 300", op(wiretest.Col("id"), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.I64(300)), 2},
		{"id < 250", op(wiretest.Col("id"), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.I64(250)), 1},
		{"literal first", op(wiretest.I64(749), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.Col("id")), 1},
		{"id = 600", op(wiretest.Col("id"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.I64(600)), 1},
		{"id > 5000", op(wiretest.Col("id"), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(5000)), 0},
		{"decimal price >= 7.50", op(wiretest.Col("price"), kapotv1.BinaryOp_BINARY_OP_GTE, wiretest.Dec("750", 15, 2)), 1},
		{"decimal price <= 2.4999 at scale 4", op(wiretest.Col("price"), kapotv1.BinaryOp_BINARY_OP_LTE, wiretest.Dec("24999", 15, 4)), 1},
		{"date between", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Between{Between: &kapotv1.BetweenExpr{Expr: wiretest.Col("day"), Low: dateLit(10001), High: dateLit(10002)}}}, 2},
		{"string in list", wiretest.InList(wiretest.Col("tag"), false, wiretest.Str("g0"), wiretest.Str("g3"), wiretest.Str("zz")), 2},
		// Sets sent as values prune by their bounds.
		{"int set", wiretest.InSet(wiretest.Col("id"), false, []int64{260, 400, 499}, nil), 1},
		{"int set beyond", wiretest.InSet(wiretest.Col("id"), false, []int64{1000, 5000}, nil), 0},
		{"int set wide", wiretest.InSet(wiretest.Col("id"), false, []int64{3, 900}, nil), 4},
		{"string set", wiretest.InSet(wiretest.Col("tag"), false, nil, []string{"g1", "g2"}), 2},
		{"string set not in", wiretest.InSet(wiretest.Col("tag"), true, nil, []string{"g1", "g2"}), 4},
		{"or", op(op(wiretest.Col("id"), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.I64(10)), kapotv1.BinaryOp_BINARY_OP_OR, op(wiretest.Col("tag"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Str("g2"))), 2},
		{"is null", isNull, 1},
		{"unprunable", op(wiretest.Bin(wiretest.Col("id"), kapotv1.BinaryOp_BINARY_OP_MOD, wiretest.I64(7)), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.I64(0)), 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, _ := newTC(t)
			tc.Metrics = &Metrics{}
			tc.BatchSize = 1000
			scan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
				FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}, PruningPredicate: c.pred}}}
			rows := runOrdered(t, scan, tc)
			if int64(len(rows)) != 250*c.read {
				t.Fatalf("scan returned %d rows, want %d (%d row groups)", len(rows), 250*c.read, c.read)
			}
			if c.pred == nil {
				return
			}
			m := tc.Metrics.Snapshot()[0]
			if m.Counters["row_groups_read"] != c.read || m.Counters["row_groups_pruned"] != 4-c.read {
				t.Fatalf("counters %v, want %d read", m.Counters, c.read)
			}
			// The filter above keeps the answer exact.
			filtered := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
				FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}, PruningPredicate: c.pred}}}, Predicate: c.pred}}}
			unpruned := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
				FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}, Predicate: c.pred}}}
			got, want := run(t, filtered, tc), run(t, unpruned, tc)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("pruned+filtered %d rows, unpruned %d", len(got), len(want))
			}
		})
	}
}
