package engine

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"

	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestParquetPrefilter filters dictionary-encoded string columns right
// above a Parquet scan, which then drops rejected rows before expanding
// them: the answers must be those of the filter alone (nulls included,
// which some predicates keep), the scan must emit fewer rows, and a column
// written without a dictionary is filtered by the filter only.
func TestParquetPrefilter(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "mode", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64},
		{Name: "plain", Type: arrow.BinaryTypes.String},
	}, nil)
	modes := []string{"AIR", "MAIL", "", "AIR REG", "SHIP", "TRUCK", "RAIL"}
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	type row struct {
		mode  *string
		n     int64
		plain string
	}
	var rows []row
	for i := range 700 {
		m := modes[i%len(modes)]
		r := row{n: int64(i % 10), plain: modes[(i/3)%len(modes)]}
		if i%11 == 5 {
			bld.Field(0).AppendNull()
		} else {
			bld.Field(0).(*array.StringBuilder).Append(m)
			r.mode = &m
		}
		bld.Field(1).(*array.Int64Builder).Append(r.n)
		bld.Field(2).(*array.StringBuilder).Append(r.plain)
		rows = append(rows, r)
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	path := filepath.Join(t.TempDir(), "modes.parquet")
	writeParquet(t, path, rec, parquet.WithMaxRowGroupLength(200), parquet.WithDictionaryFor("plain", false))
	rec.Release()

	str := func(r row) string {
		m := "NULL"
		if r.mode != nil {
			m = *r.mode
		}
		return fmt.Sprintf("%s|%d|%s", m, r.n, r.plain)
	}
	is := func(r row, vs ...string) bool { return r.mode != nil && slices.Contains(vs, *r.mode) }
	cases := []struct {
		name      string
		pred      *kapotv1.PhysicalExprNode
		keep      func(r row) bool
		prefilter bool
	}{
		{"in list", wiretest.InList(wiretest.Col("mode"), false, wiretest.Str("AIR"), wiretest.Str("AIR REG")), func(r row) bool { return is(r, "AIR", "AIR REG") }, true},
		{"equal and a number", wiretest.Bin(wiretest.Bin(wiretest.Col("mode"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Str("MAIL")), kapotv1.BinaryOp_BINARY_OP_AND, wiretest.Bin(wiretest.Col("n"), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(4))),
			func(r row) bool { return is(r, "MAIL") && r.n > 4 }, true},
		{"or is null keeps nulls", wiretest.Bin(wiretest.Bin(wiretest.Col("mode"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Str("SHIP")), kapotv1.BinaryOp_BINARY_OP_OR,
			&kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_IsNull{IsNull: &kapotv1.IsNullExpr{Expr: wiretest.Col("mode")}}}),
			func(r row) bool { return r.mode == nil || *r.mode == "SHIP" }, true},
		{"not equal drops nulls and empty", wiretest.Bin(wiretest.Col("mode"), kapotv1.BinaryOp_BINARY_OP_NEQ, wiretest.Str("")), func(r row) bool { return r.mode != nil && *r.mode != "" }, true},
		{"like", wiretest.Like(wiretest.Col("mode"), "%AI%", false, false), func(r row) bool { return r.mode != nil && strings.Contains(*r.mode, "AI") }, true},
		{"plain pages: filter only", wiretest.Bin(wiretest.Col("plain"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Str("RAIL")), func(r row) bool { return r.plain == "RAIL" }, false},
		{"or of ands over two columns: what it implies of each", wiretest.Bin(
			wiretest.Bin(wiretest.Bin(wiretest.Col("mode"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Str("AIR")), kapotv1.BinaryOp_BINARY_OP_AND, wiretest.Bin(wiretest.Col("n"), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.I64(3))),
			kapotv1.BinaryOp_BINARY_OP_OR,
			wiretest.Bin(wiretest.Bin(wiretest.Col("n"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.I64(7)), kapotv1.BinaryOp_BINARY_OP_AND,
				&kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_IsNull{IsNull: &kapotv1.IsNullExpr{Expr: wiretest.Col("mode")}}})),
			func(r row) bool { return is(r, "AIR") && r.n < 3 || r.n == 7 && r.mode == nil }, true},
		{"or with a disjunct not on the string column", wiretest.Bin(
			wiretest.Bin(wiretest.Bin(wiretest.Col("mode"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Str("AIR")), kapotv1.BinaryOp_BINARY_OP_AND, wiretest.Bin(wiretest.Col("plain"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Str("RAIL"))),
			kapotv1.BinaryOp_BINARY_OP_OR, wiretest.Bin(wiretest.Col("plain"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Str("SHIP"))),
			func(r row) bool { return is(r, "AIR") && r.plain == "RAIL" || r.plain == "SHIP" }, false},
		{"two columns: not a prefilter", wiretest.Bin(wiretest.Col("mode"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Col("plain")), func(r row) bool { return r.mode != nil && *r.mode == r.plain }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []string
			for _, r := range rows {
				if c.keep(r) {
					want = append(want, str(r))
				}
			}
			plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Predicate: c.pred,
				Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
					FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}}}}
			for _, batch := range []int{13, 70, 1000} {
				tc, _ := newTC(t)
				tc.BatchSize = batch
				tc.Metrics = &Metrics{}
				if got := runOrdered(t, plan, tc); !slices.Equal(got, want) {
					t.Fatalf("batch size %d: got %d rows %q\nwant %d rows %q", batch, len(got), head(got), len(want), head(want))
				}
				var scanned, batches int64
				for _, m := range tc.Metrics.Snapshot() {
					if strings.Contains(m.Name, "Scan") {
						scanned, batches = m.OutputRows, m.OutputBatches
					}
				}
				// The few rows prefilters keep of each batch read are
				// gathered into batches of a quarter of the batch size or
				// more (but the last), not sent on one small batch each.
				if minRows := int64(batch / 4); c.prefilter && batches > scanned/minRows+1 {
					t.Errorf("batch size %d: the scan emitted %d rows in %d batches, want batches of %d rows or more", batch, scanned, batches, minRows)
				}
				if c.prefilter && scanned >= int64(len(rows)) || !c.prefilter && scanned != int64(len(rows)) {
					t.Errorf("batch size %d: the scan emitted %d of %d rows (prefiltered: want %v)", batch, scanned, len(rows), c.prefilter)
				}
			}
		})
	}
}

// TestParquetValuePrefilter filters date and number columns right above
// a Parquet scan (late materialisation): a date read as integers, a
// decimal converted before the test (and kept), an integer with nulls,
// and with a dictionary string prefilter before them. The answers must be
// those of the filter alone, the scan must emit only the rows kept, and
// the columns it did not test must come out converted for those rows.
func TestParquetValuePrefilter(t *testing.T) {
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "p", Type: dec},
		{Name: "q", Type: dec},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	type row struct {
		d    int32
		p, q int64 // unscaled
		n    *int32
		s    string
	}
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	var rows []row
	for i := range 1000 {
		r := row{d: int32(9000 + (i*37)%500), p: int64((i * 13) % 11), q: int64(i * 101), s: []string{"AIR", "MAIL", "SHIP"}[i%3]}
		bld.Field(0).(*array.Date32Builder).Append(arrow.Date32(r.d))
		bld.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(r.p))
		bld.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(r.q))
		if i%7 == 3 {
			bld.Field(3).AppendNull()
		} else {
			n := int32(i % 10)
			r.n = &n
			bld.Field(3).(*array.Int32Builder).Append(n)
		}
		bld.Field(4).(*array.StringBuilder).Append(r.s)
		rows = append(rows, r)
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	path := filepath.Join(t.TempDir(), "values.parquet")
	writeParquet(t, path, rec, parquet.WithMaxRowGroupLength(300))
	rec.Release()

	date := func(d int64) *kapotv1.PhysicalExprNode {
		return wiretest.Lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DATE32}, Value: &kapotv1.ScalarValue_IntValue{IntValue: d}})
	}
	and := func(l, r *kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
		return wiretest.Bin(l, kapotv1.BinaryOp_BINARY_OP_AND, r)
	}
	str := func(r row) string {
		n := "NULL"
		if r.n != nil {
			n = fmt.Sprint(*r.n)
		}
		return fmt.Sprintf("%s|%s|%s|%s|%s", arrow.Date32(r.d).FormattedString(), decimal128.FromI64(r.p).ToString(2),
			decimal128.FromI64(r.q).ToString(2), n, r.s)
	}
	cases := []struct {
		name      string
		pred      *kapotv1.PhysicalExprNode
		keep      func(r row) bool
		prefilter bool
	}{
		{"date", wiretest.Bin(wiretest.Col("d"), kapotv1.BinaryOp_BINARY_OP_GT, date(9300)), func(r row) bool { return r.d > 9300 }, true},
		{"date range and decimal between", and(and(wiretest.Bin(wiretest.Col("d"), kapotv1.BinaryOp_BINARY_OP_GTE, date(9100)), wiretest.Bin(wiretest.Col("d"), kapotv1.BinaryOp_BINARY_OP_LT, date(9200))),
			and(wiretest.Bin(wiretest.Col("p"), kapotv1.BinaryOp_BINARY_OP_GTE, wiretest.Dec("5", 15, 2)), wiretest.Bin(wiretest.Col("p"), kapotv1.BinaryOp_BINARY_OP_LTE, wiretest.Dec("7", 15, 2)))),
			func(r row) bool { return r.d >= 9100 && r.d < 9200 && r.p >= 5 && r.p <= 7 }, true},
		{"integer or null", wiretest.Bin(wiretest.Bin(wiretest.Col("n"), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(6)), kapotv1.BinaryOp_BINARY_OP_OR,
			&kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_IsNull{IsNull: &kapotv1.IsNullExpr{Expr: wiretest.Col("n")}}}),
			func(r row) bool { return r.n == nil || *r.n > 6 }, true},
		{"integer drops nulls", wiretest.Bin(wiretest.Col("n"), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.I64(3)), func(r row) bool { return r.n != nil && *r.n < 3 }, true},
		{"dictionary string then decimal", and(wiretest.Bin(wiretest.Col("s"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Str("MAIL")), wiretest.Bin(wiretest.Col("q"), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.Dec("5000000", 15, 2))),
			func(r row) bool { return r.s == "MAIL" && r.q < 5000000 }, true},
		{"nothing passes", wiretest.Bin(wiretest.Col("d"), kapotv1.BinaryOp_BINARY_OP_LT, date(0)), func(r row) bool { return false }, true},
		{"two columns: not a prefilter", wiretest.Bin(wiretest.Col("p"), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.Col("q")), func(r row) bool { return r.p < r.q }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []string
			for _, r := range rows {
				if c.keep(r) {
					want = append(want, str(r))
				}
			}
			plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Predicate: c.pred,
				Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
					FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}}}}
			for _, batch := range []int{13, 256, 1000} {
				tc, _ := newTC(t)
				tc.BatchSize = batch
				tc.Metrics = &Metrics{}
				if got := runOrdered(t, plan, tc); !slices.Equal(got, want) {
					t.Fatalf("batch size %d: got %d rows %q\nwant %d rows %q", batch, len(got), head(got), len(want), head(want))
				}
				var scanned int64
				for _, m := range tc.Metrics.Snapshot() {
					if strings.Contains(m.Name, "Scan") {
						scanned = m.OutputRows
					}
				}
				if c.prefilter && scanned != int64(len(want)) || !c.prefilter && scanned != int64(len(rows)) {
					t.Errorf("batch size %d: the scan emitted %d of %d rows, %d pass (prefiltered: want %v)", batch, scanned, len(rows), len(want), c.prefilter)
				}
			}
		})
	}
}

func head(rows []string) []string {
	if len(rows) > 4 {
		return rows[:4]
	}
	return rows
}
