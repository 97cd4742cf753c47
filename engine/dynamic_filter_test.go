package engine

import (
	"os"
	"path/filepath"
	"slices"
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

// writeSortedKeys writes 4 row groups of 250 rows: k = 0..999 ascending,
// NULL at every 7th row, and v = 2k.
func writeSortedKeys(t *testing.T) string {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	path := filepath.Join(t.TempDir(), "keys.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(250)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer bld.Release()
	for i := 0; i < 1000; i++ {
		if i%7 == 0 {
			bld.Field(0).AppendNull()
		} else {
			bld.Field(0).(*array.Int64Builder).Append(int64(i))
		}
		bld.Field(1).(*array.Int64Builder).Append(int64(2 * i))
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// buildValues is one column b of the given keys (nil: NULL).
func buildValues(keys ...any) *kapotv1.PhysicalPlanNode {
	v := &kapotv1.ValuesNode{Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "b", Type: wiretest.I64Type(), Nullable: true}}}}
	for _, k := range keys {
		v.Rows = append(v.Rows, &kapotv1.ValuesRow{Values: []*kapotv1.ScalarValue{ival(k)}})
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: v}}
}

// TestDynamicFilters: a collect-left hash join's build keys restrict the
// Parquet scan of its probe side, through a filter and a projection, to
// the row groups and rows whose key lies in their range; the answers are
// those of the same join without it (a partitioned join, which has none),
// for every join type, NULL keys on both sides and an empty build side.
func TestDynamicFilters(t *testing.T) {
	path := writeSortedKeys(t)
	probe := func() *kapotv1.PhysicalPlanNode {
		scan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
		filter := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{
			Input: scan, Predicate: wiretest.Bin(wiretest.Col("v"), kapotv1.BinaryOp_BINARY_OP_GTE, wiretest.I64(0))}}}
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
			Input: filter, Exprs: []*kapotv1.PhysicalExprNode{wiretest.Col("v"), wiretest.Col("k")}, Names: []string{"v", "k"}}}}
	}
	join := func(build *kapotv1.PhysicalPlanNode, jt kapotv1.JoinType, mode kapotv1.JoinMode) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
			Left: build, Right: probe(), JoinType: jt, Mode: mode,
			On: []*kapotv1.JoinOn{{Left: wiretest.Col("b"), Right: wiretest.Col("k")}}}}}
	}
	filtered := []kapotv1.JoinType{kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinType_JOIN_TYPE_LEFT,
		kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI}
	builds := []struct {
		name string
		keys []any
		read int64 // row groups of the probe read by the joins that filter
	}{
		{"past the end", []any{300, 310, 480, 1234567, nil}, 3}, // 1234567 matches nothing and widens the range past the file
		{"inside one", []any{300, 310, 480, nil}, 1},
		{"two", []any{260, 520}, 2},
		{"below all", []any{-5, -1}, 0},
		{"only null", []any{nil}, 0},
		{"empty", nil, 0},
		{"across every row group", []any{3, 900}, 4}, // then rows are not filtered either
	}
	for _, b := range builds {
		for jt := range kapotv1.JoinType_name {
			jt := kapotv1.JoinType(jt)
			if jt == kapotv1.JoinType_JOIN_TYPE_UNSPECIFIED {
				continue
			}
			t.Run(b.name+"/"+jt.String(), func(t *testing.T) {
				tc, _ := newTC(t)
				tc.Metrics = &Metrics{}
				tc.BatchSize = 100
				got := run(t, join(buildValues(b.keys...), jt, kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT), tc)
				plain, _ := newTC(t)
				plain.BatchSize = 100
				want := run(t, join(buildValues(b.keys...), jt, kapotv1.JoinMode_JOIN_MODE_PARTITIONED), plain)
				if !slices.Equal(got, want) {
					t.Fatalf("with dynamic filter %d rows:\n%s\nwithout %d rows:\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
				}
				var read, pruned int64 = -1, -1
				for _, m := range tc.Metrics.Snapshot() {
					if n, ok := m.Counters["row_groups_read"]; ok && read < 0 {
						read, pruned = n, m.Counters["row_groups_pruned"]
					}
				}
				switch {
				case !slices.Contains(filtered, jt) || b.read == 4:
					if read >= 0 {
						t.Errorf("a %s join filtered its probe side (%d row groups read)", jt, read)
					}
				case read != b.read || pruned != 4-b.read:
					t.Errorf("the collect-left join's scan read %d row groups and pruned %d, want %d read", read, pruned, b.read)
				}
			})
		}
	}
}

// TestDynamicFilterThroughNarrowedJoin: a probe key read through a join
// narrowed by the projection above it (which drops the join's probe key k
// and keeps a build column and v) still filters the scan by v, not by the
// column at v's position before the narrowing (k: TPC-DS q96 counted 0).
func TestDynamicFilterThroughNarrowedJoin(t *testing.T) {
	path := writeSortedKeys(t)
	all := &kapotv1.ValuesNode{Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "a", Type: wiretest.I64Type()}}}}
	for k := range 1000 {
		all.Rows = append(all.Rows, &kapotv1.ValuesRow{Values: []*kapotv1.ScalarValue{ival(k)}})
	}
	probe := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
		Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
			Left: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: all}},
			Right: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
				FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}},
			JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
			On: []*kapotv1.JoinOn{{Left: wiretest.Col("a"), Right: wiretest.Col("k")}}}}},
		Exprs: []*kapotv1.PhysicalExprNode{wiretest.ColAt(0), wiretest.ColAt(2)}, Names: []string{"a", "v"}}}}
	join := func(mode kapotv1.JoinMode) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
			Left: buildValues(600, 620, 960), Right: probe, JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: mode,
			On: []*kapotv1.JoinOn{{Left: wiretest.Col("b"), Right: wiretest.Col("v")}}}}}
	}
	tc, _ := newTC(t)
	tc.BatchSize = 100
	got := run(t, join(kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT), tc)
	want := []string{"600|300|600", "620|310|620", "960|480|960"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestDynamicPrefilter: keys spread over every row group (no group can
// be skipped) are still filtered row by row when the build keys' range
// holds a small share of each group's, or when the build side's few keys
// (maxDynamicSet), its many keys within a narrow range
// (maxDynamicBitmapSpan) or from few build rows over a wide one
// (maxDynamicWideRows), do: the scan emits fewer rows, and the answers
// are those of the join without dynamic filters; keys that cover the
// probe's, or too many over too wide a range, leave the scan as it was.
func TestDynamicPrefilter(t *testing.T) {
	path := spreadKeys(t, func(i int) (int64, bool) { return int64(i * 389 % 1000), i%7 != 0 }) // every row group spans 0..999
	join := func(build *kapotv1.PhysicalPlanNode, mode kapotv1.JoinMode) *kapotv1.PhysicalPlanNode {
		scan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
			Left: build, Right: scan, JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: mode,
			On: []*kapotv1.JoinOn{{Left: wiretest.Col("b"), Right: wiretest.Col("k")}}}}}
	}
	for _, c := range []struct {
		name     string
		keys     []any
		filtered bool
	}{
		{"narrow", []any{300, 301, 310, 320, nil}, true},
		{"few wide", []any{3, 900}, true},                                                                      // by the set of keys
		{"many wide", manyKeys(maxDynamicSet+76, 1), false},                                                    // a set of every probe key
		{"many sparse", manyKeys(maxDynamicSet+76, 40), true},                                                  // a set (a bitmap) of one key in 40
		{"many sparse far", append([]any{300, 301, 310, 320}, manyKeys(maxDynamicSet+76, 1<<12)...), true},     // a set over a wide range (a table behind a key filter)
		{"too many far", append([]any{300, 301, 310, 320}, manyKeys(maxDynamicBitmapKeys+1, 1<<12)...), false}, // too many keys over too wide a range for a set
	} {
		t.Run(c.name, func(t *testing.T) {
			tc, _ := newTC(t)
			tc.Metrics = &Metrics{}
			tc.BatchSize = 100
			got := run(t, join(buildValues(c.keys...), kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT), tc)
			plain, _ := newTC(t)
			plain.BatchSize = 100
			want := run(t, join(buildValues(c.keys...), kapotv1.JoinMode_JOIN_MODE_PARTITIONED), plain)
			if !slices.Equal(got, want) || len(want) == 0 {
				t.Fatalf("with dynamic filter %d rows:\n%s\nwithout %d rows:\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
			}
			scanned := int64(-1)
			for _, m := range tc.Metrics.Snapshot() {
				if strings.Contains(m.Name, "Scan") {
					scanned = m.OutputRows
				}
			}
			if c.filtered && (scanned < 0 || scanned >= 100) || !c.filtered && scanned != 1000 {
				t.Errorf("the scan emitted %d of 1000 rows (filtered: want %v)", scanned, c.filtered)
			}
		})
	}
}

// TestDynamicFilterThroughAggregate: a join's few build keys filter the
// scan under an aggregate grouped by the probe key (an early aggregate
// below the join): the scan emits the matching rows only, and the answer
// is the join's without dynamic filters.
func TestDynamicFilterThroughAggregate(t *testing.T) {
	scan := scanOf(spreadKeys(t, func(i int) (int64, bool) { return int64(i * 389 % 500), true }))
	agg := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: scan, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("k")}, GroupNames: []string{"k"},
		Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "s"}}}}}
	got, want, scanned := joinFewKeys(t, agg)
	if !slices.Equal(got, want) || len(want) != 3 {
		t.Fatalf("with dynamic filter:\n%s\nwithout:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, n := range scanned {
		if n != 6 {
			t.Errorf("the scan emitted %d of 1000 rows, want the 6 of the 3 keys", n)
		}
	}
}

// TestDynamicFilterThroughSemiJoin: a join's few build keys filter the
// scan under a semi or anti join that keeps some of the probe rows as they
// are (TPC-H Q16's part supplies without a complaining supplier): the
// scan emits the matching rows only, and the answer is the join's without
// dynamic filters.
func TestDynamicFilterThroughSemiJoin(t *testing.T) {
	path := spreadKeys(t, func(i int) (int64, bool) { return int64(i * 389 % 500), true })
	for _, jt := range []kapotv1.JoinType{kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI} {
		// v is the row number: of the rows of keys 7, 123 and 401 (63,
		// 107, 109, 563, 607, 609), the semi join keeps all but 107 and
		// 607, the anti join those two. (Its own keys, nearly every v,
		// filter nothing.)
		var vs []any
		for v := range 1000 {
			if v != 107 && v != 607 {
				vs = append(vs, v)
			}
		}
		semi := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
			Left: buildValues(vs...), Right: scanOf(path), JoinType: jt, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
			On: []*kapotv1.JoinOn{{Left: wiretest.Col("b"), Right: wiretest.Col("v")}}}}}
		got, want, scanned := joinFewKeys(t, semi)
		if !slices.Equal(got, want) || len(want) == 0 {
			t.Fatalf("%v: with dynamic filter:\n%s\nwithout:\n%s", jt, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if len(scanned) != 1 || scanned[0] != 6 {
			t.Errorf("%v: the scan emitted %v of 1000 rows, want the 6 of the 3 keys", jt, scanned)
		}
	}
}

// joinFewKeys joins build keys 7, 123 and 401 with probe (column k) in
// one task, with dynamic filters and without, and returns both answers and
// the rows each scan emitted with them.
func joinFewKeys(t *testing.T, probe *kapotv1.PhysicalPlanNode) (got, want []string, scanned []int64) {
	t.Helper()
	join := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
		Left: buildValues(7, 123, 401), Right: probe, JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
		On: []*kapotv1.JoinOn{{Left: wiretest.Col("b"), Right: wiretest.Col("k")}}}}}
	tc, _ := newTC(t)
	tc.Metrics = &Metrics{}
	tc.BatchSize = 100
	got = run(t, join, tc)
	plain, _ := newTC(t)
	plain.Properties = map[string]string{PropDynamicFilters: "false"}
	want = run(t, join, plain)
	for _, m := range tc.Metrics.Snapshot() {
		if strings.Contains(m.Name, "Scan") {
			scanned = append(scanned, m.OutputRows)
		}
	}
	return got, want, scanned
}

// scanOf is a Parquet scan of the file at path.
func scanOf(path string) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
}

// manyKeys is n build keys 0, 1, …, n-1.
func manyKeys(n, step int) []any {
	keys := make([]any, n)
	for i := range keys {
		keys[i] = i * step
	}
	return keys
}

// TestDynamicFilterThroughUnion: a join's few build keys filter every
// scan under a UNION ALL of its probe side (each input a partition of its
// own): both scans emit the matching rows only, and the answer is the
// join's without dynamic filters.
func TestDynamicFilterThroughUnion(t *testing.T) {
	a := spreadKeys(t, func(i int) (int64, bool) { return int64(i * 389 % 500), true })
	b := spreadKeys(t, func(i int) (int64, bool) { return int64(i * 211 % 500), i%3 != 0 })
	union := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Union{Union: &kapotv1.UnionNode{
		Inputs: []*kapotv1.PhysicalPlanNode{scanOf(a), scanOf(b)}}}}
	got, want, scanned := joinFewKeys(t, union)
	if !slices.Equal(got, want) || len(want) == 0 {
		t.Fatalf("with dynamic filter:\n%s\nwithout:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(scanned) != 2 {
		t.Fatalf("%d scans measured, want 2", len(scanned))
	}
	for i, n := range scanned {
		if n > 10 {
			t.Errorf("scan %d emitted %d of 1000 rows", i, n)
		}
	}
}

// spreadKeys writes a Parquet file of 1000 rows (k, v = row number) in
// row groups of 250, k of row i key(i) (null where key says so).
func spreadKeys(t *testing.T, key func(i int) (int64, bool)) string {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	path := filepath.Join(t.TempDir(), "spread.parquet")
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer bld.Release()
	for i := 0; i < 1000; i++ {
		if k, ok := key(i); ok {
			bld.Field(0).(*array.Int64Builder).Append(k)
		} else {
			bld.Field(0).AppendNull()
		}
		bld.Field(1).(*array.Int64Builder).Append(int64(i))
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	writeParquet(t, path, rec, parquet.WithMaxRowGroupLength(250))
	return path
}

// TestDynamicFilterThroughNarrowedFilter: a dynamic filter on the probe
// key v follows it through a filter narrowed by the projection above it
// (which keeps v, column 1 of the scan, as column 0): it filters the
// scan's v, not k (column 0 of the scan).
func TestDynamicFilterThroughNarrowedFilter(t *testing.T) {
	path := writeSortedKeys(t)
	scan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
	probe := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
		Input: filterNode(scan, wiretest.Bin(wiretest.Col("k"), kapotv1.BinaryOp_BINARY_OP_GTE, wiretest.I64(0))),
		Exprs: []*kapotv1.PhysicalExprNode{wiretest.ColAt(1)}, Names: []string{"v"}}}}
	p, err := FromProto(probe)
	if err != nil {
		t.Fatal(err)
	}
	if f := Unwrap(p.Children()[0]); f.Schema().NumFields() != 1 || f.Schema().Field(0).Name != "v" {
		t.Fatalf("the filter under the projection is not narrowed to v: %s", f.Schema())
	}
	join := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
		Left: buildValues(600, 620, 960), Right: probe, JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
		On: []*kapotv1.JoinOn{{Left: wiretest.Col("b"), Right: wiretest.Col("v")}}}}}
	tc, _ := newTC(t)
	tc.BatchSize = 100
	got := run(t, join, tc)
	want := []string{"600|600", "620|620", "960|960"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
