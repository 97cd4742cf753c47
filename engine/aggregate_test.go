package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/internal/optest"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	"github.com/kapot-go/kapot/engine/operator"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// TestAggregateIntPairs groups by two integer keys, with nulls in either,
// over batches of two rows (so groups meet again across batches): the
// integer-pair path and the byte-encoded path for null keys must give one
// group per distinct pair.
func TestAggregateIntPairs(t *testing.T) {
	rows := [][3]any{
		{1, 10, 1}, {1, 11, 2}, {2, 10, 4}, {1, 10, 8}, {nil, 10, 16}, {1, nil, 32},
		{nil, 10, 64}, {2, 10, 128}, {nil, nil, 256}, {1, 11, 512}, {3, 30, 1024}, {nil, nil, 2048},
	}
	v := &kapotv1.ValuesNode{Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{
		{Name: "a", Type: wiretest.I64Type(), Nullable: true}, {Name: "b", Type: wiretest.I64Type(), Nullable: true}, {Name: "v", Type: wiretest.I64Type()}}}}
	for _, r := range rows {
		v.Rows = append(v.Rows, &kapotv1.ValuesRow{Values: []*kapotv1.ScalarValue{ival(r[0]), ival(r[1]), ival(r[2])}})
	}
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: v}}, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
		GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("a"), wiretest.Col("b")}, GroupNames: []string{"a", "b"},
		Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "s"}}}}}
	tc, _ := newTC(t)
	want := []string{"1|10|9", "1|11|514", "1|NULL|32", "2|10|132", "3|30|1024", "NULL|10|80", "NULL|NULL|2304"}
	if got := run(t, plan, tc); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestAggregateShortStringKeys groups by two string keys over batches of
// two rows: keys that pack into 8 bytes take the packed cache, longer ones
// the byte-encoded keys, and a group reached both ways (across batches)
// must stay one group. ("A", "") and ("", "A") are different groups.
func TestAggregateShortStringKeys(t *testing.T) {
	str := func(s string) *kapotv1.ScalarValue {
		return &kapotv1.ScalarValue{Type: wiretest.StrType(), Value: &kapotv1.ScalarValue_StringValue{StringValue: s}}
	}
	rows := [][2]string{
		{"A", "F"}, {"N", "O"}, {"A", ""}, {"", "A"}, {"REG AIR", ""}, {"A", "F"},
		{"DELIVER IN PERSON", "x"}, {"A", "F"}, {"DELIVER IN PERSON", "x"}, {"N", "O"},
		{"TRUCK", "AB"}, {"DELIVER IN PERSON", "y"}, {"A", ""}, {"TRUCK", "AB"},
	}
	v := &kapotv1.ValuesNode{Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "a", Type: wiretest.StrType()}, {Name: "b", Type: wiretest.StrType()}, {Name: "v", Type: wiretest.I64Type()}}}}
	sums := map[[2]string]int64{}
	for i, r := range rows {
		v.Rows = append(v.Rows, &kapotv1.ValuesRow{Values: []*kapotv1.ScalarValue{str(r[0]), str(r[1]), ival(1 << i)}})
		sums[r] += 1 << i
	}
	var want []string
	for k, s := range sums {
		want = append(want, fmt.Sprintf("%s|%s|%d", k[0], k[1], s))
	}
	slices.Sort(want)
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: v}}, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
		GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("a"), wiretest.Col("b")}, GroupNames: []string{"a", "b"},
		Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "s"}}}}}
	for _, batch := range []int{2, 3, 100} {
		tc, _ := newTC(t)
		tc.BatchSize = batch
		if got := run(t, plan, tc); !slices.Equal(got, want) {
			t.Fatalf("batch size %d: got %q\nwant %q", batch, got, want)
		}
	}
}

func aggNode(in *kapotv1.PhysicalPlanNode, mode kapotv1.AggregateMode) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: in, Mode: mode,
		GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("region")},
		Aggregates: []*kapotv1.AggregateExprNode{
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Name: "n"},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Expr: wiretest.Col("qty"), Name: "n_qty"},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("qty"), Name: "qty"},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, Expr: wiretest.Col("product"), Name: "first"},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX, Expr: wiretest.Col("price"), Name: "top"},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, Expr: wiretest.Col("qty"), Name: "avg_qty"},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Expr: wiretest.Col("product"), Distinct: true, Name: "n_products"},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Expr: wiretest.Col("qty"), Distinct: true, Name: "n_qtys"},
		},
	}}}
}

func TestSingleAggregate(t *testing.T) {
	tc, _ := newTC(t)
	got := run(t, aggNode(salesCSV([]string{"testdata/sales.csv"}), kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE), tc)
	if !slices.Equal(got, salesByRegion) {
		t.Fatalf("got %q\nwant %q", got, salesByRegion)
	}
}

// TestTwoStageAggregate runs partial aggregation over two partitions, a hash
// shuffle into three partitions on disk, and the final aggregation reading
// them back: the same result as a single-phase aggregate.
func TestTwoStageAggregate(t *testing.T) {
	tc, _ := newTC(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	data, _ := os.ReadFile("testdata/sales.csv")
	lines := splitLines(string(data))
	os.WriteFile(a, []byte(lines[0]+"\n"+joinLines(lines[1:4])), 0o644)
	os.WriteFile(b, []byte(lines[0]+"\n"+joinLines(lines[4:])), 0o644)

	partial := aggNode(salesCSV([]string{a}, []string{b}), kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL)
	writer := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleWriter{ShuffleWriter: &kapotv1.ShuffleWriterNode{
		JobId: "job1", StageId: 1, Input: partial,
		Partitioning: &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Hash{Hash: &kapotv1.HashPartitioning{Exprs: []*kapotv1.PhysicalExprNode{wiretest.Col("region")}, PartitionCount: 3}}},
	}}}
	wp, err := FromProto(writer)
	if err != nil {
		t.Fatal(err)
	}
	sw := wp.(*ShuffleWriter)
	var total int64
	for m := 0; m < sw.OutputPartitions(); m++ {
		stats, err := sw.Run(context.Background(), m, tc)
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) != 3 {
			t.Fatalf("stats %v", stats)
		}
		for _, s := range stats {
			total += s.Rows
		}
	}
	// Partition a has north,south; b has north,south,east,NULL: 6 partial rows.
	if total != 6 {
		t.Fatalf("shuffled %d partial rows, want 6", total)
	}
	schema, err := wire.SchemaToProto(sw.Schema())
	if err != nil {
		t.Fatal(err)
	}
	reader := &kapotv1.ShuffleReaderNode{StageId: 1, Schema: schema}
	for out := uint32(0); out < 3; out++ {
		var locs []*kapotv1.PartitionLocation
		for m := uint32(0); m < 2; m++ {
			locs = append(locs, &kapotv1.PartitionLocation{JobId: "job1", StageId: 1, MapPartition: m, OutputPartition: out, Executor: &kapotv1.ExecutorMetadata{Id: "exec-a"}})
		}
		reader.Partitions = append(reader.Partitions, &kapotv1.ShuffleReaderPartition{Locations: locs})
	}
	final := aggNode(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleReader{ShuffleReader: reader}}, kapotv1.AggregateMode_AGGREGATE_MODE_FINAL)
	got := run(t, final, tc)
	if !slices.Equal(got, salesByRegion) {
		t.Fatalf("got %q\nwant %q", got, salesByRegion)
	}
}

func TestEmptyInputGlobalAggregate(t *testing.T) {
	tc, _ := newTC(t)
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
		Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{
			Input: salesCSV([]string{"testdata/sales.csv"}), Predicate: wiretest.Bin(wiretest.Col("qty"), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(100))}}},
		Aggregates: []*kapotv1.AggregateExprNode{
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("qty")},
		},
	}}}
	got := run(t, plan, tc)
	if want := []string{"0|NULL"}; !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestAggregateSpills(t *testing.T) {
	in := spillInput(t, 3000)
	agg := func(in *kapotv1.PhysicalPlanNode, mode kapotv1.AggregateMode, group *kapotv1.PhysicalExprNode) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
			Input: in, Mode: mode, GroupExprs: []*kapotv1.PhysicalExprNode{group},
			Aggregates: []*kapotv1.AggregateExprNode{
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Name: "n"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "sum_v"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, Expr: wiretest.Col("s"), Name: "min_s"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, Expr: wiretest.Col("v"), Name: "avg_v"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Expr: wiretest.Col("s"), Distinct: true, Name: "n_s"},
				// NULLs kept, in id's order, through partial states and spill files.
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG, Expr: wiretest.Col("v"), Name: "vs",
					OrderBy: []*kapotv1.SortExprNode{{Expr: wiretest.Col("id"), Descending: true}}},
			}}}}
	}
	// ~1500 groups: id / 2.
	group := wiretest.Bin(wiretest.Col("id"), kapotv1.BinaryOp_BINARY_OP_DIV, wiretest.I64(2))
	tc, _ := newTC(t)
	tc.BatchSize = 512
	want := run(t, agg(in, kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, group), tc)
	if len(want) != 1500 {
		t.Fatalf("%d groups, want 1500", len(want))
	}
	twoPhase := agg(agg(in, kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, group), kapotv1.AggregateMode_AGGREGATE_MODE_FINAL, wiretest.Col(group.String()))
	twoPhase.GetHashAggregate().GroupExprs = []*kapotv1.PhysicalExprNode{{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: 0}}}}
	for name, plan := range map[string]*kapotv1.PhysicalPlanNode{
		"single":          agg(in, kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, group),
		"partial + final": twoPhase,
	} {
		t.Run(name, func(t *testing.T) {
			tc, _ := newTC(t)
			tc.BatchSize = 512
			// 48 KiB: the groups, array_agg's values and count(DISTINCT)'s
			// sets (all reserved) spill several times.
			tc.Pool = alloc.NewMemoryPool(48 << 10)
			tc.Metrics = &Metrics{}
			got := run(t, plan, tc)
			if !slices.Equal(got, want) {
				t.Fatalf("aggregate under memory pressure differs: %d rows vs %d", len(got), len(want))
			}
			if st := tc.Pool.Stats(); st.Denied == 0 || st.Used != 0 || st.Reservations != 0 {
				t.Fatalf("pool %+v: want refusals and everything returned", st)
			}
			if name == "single" {
				var spills int64
				for _, m := range tc.Metrics.Snapshot() {
					spills += m.SpillCount
				}
				if spills == 0 {
					t.Fatal("single-mode aggregate did not spill")
				}
			}
			left, _ := filepath.Glob(filepath.Join(tc.WorkDir, "job1", operator.SpillDirName, "*"))
			if len(left) != 0 {
				t.Fatalf("spill files left: %v", left)
			}
		})
	}
}

// TestPartialAggregateBounded runs partial + final aggregation with the
// partial table bounded (PropPartialAggGroups) over keys in order (id / 2:
// each bound-full table is emitted), keys each their own group (id: the
// bound grows to its cap, then rows pass through as their own state),
// few string keys and a nullable key in random order: every bound gives
// the single-phase answer, and the partial emits as many rows as expected.
func TestPartialAggregateBounded(t *testing.T) {
	in := spillInput(t, 3000)
	agg := func(in *kapotv1.PhysicalPlanNode, mode kapotv1.AggregateMode, group *kapotv1.PhysicalExprNode) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
			Input: in, Mode: mode, GroupExprs: []*kapotv1.PhysicalExprNode{group},
			Aggregates: []*kapotv1.AggregateExprNode{
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Name: "n"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "sum_v"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, Expr: wiretest.Col("s"), Name: "min_s"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, Expr: wiretest.Col("v"), Name: "avg_v"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Expr: wiretest.Col("s"), Distinct: true, Name: "n_s"},
			}}}}
	}
	final := func(partial *kapotv1.PhysicalPlanNode) *kapotv1.PhysicalPlanNode {
		f := agg(partial, kapotv1.AggregateMode_AGGREGATE_MODE_FINAL, nil)
		f.GetHashAggregate().GroupExprs = []*kapotv1.PhysicalExprNode{{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: 0}}}}
		return f
	}
	for _, c := range []struct {
		name    string
		group   *kapotv1.PhysicalExprNode
		partial map[string]int // bound -> rows the partial emits (0: unchecked)
	}{
		{"in order", wiretest.Bin(wiretest.Col("id"), kapotv1.BinaryOp_BINARY_OP_DIV, wiretest.I64(2)), map[string]int{"-1": 1500, "4": 1500}},
		{"unique", wiretest.Col("id"), map[string]int{"-1": 3000, "4": 3000}},
		{"few strings", wiretest.Col("s"), map[string]int{"-1": 40}},
		{"nullable spread", wiretest.Col("v"), map[string]int{"-1": 201}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc, _ := newTC(t)
			want := run(t, agg(in, kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, c.group), tc)
			for _, bound := range []string{"-1", "1", "4", "64", "0"} {
				tc, _ := newTC(t)
				tc.Properties = map[string]string{PropPartialAggGroups: bound}
				partial := agg(in, kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, c.group)
				if got := run(t, final(partial), tc); !slices.Equal(got, want) {
					t.Fatalf("bound %s: %d rows differ from the single-phase aggregate's %d", bound, len(got), len(want))
				}
				if n, ok := c.partial[bound]; ok {
					if got := len(run(t, partial, tc)); got != n {
						t.Fatalf("bound %s: the partial aggregate emitted %d rows, want %d", bound, got, n)
					}
				}
				bounded := bound != "-1" && bound != "0"
				if pass := passesThrough(t, partial, tc); pass != (bounded && c.name == "unique") && bound != "1" {
					t.Fatalf("bound %s: passes rows through: %v", bound, pass)
				}
			}
		})
	}
	tc, _ := newTC(t)
	tc.Properties = map[string]string{PropPartialAggGroups: "many"}
	p, err := FromProto(agg(in, kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, wiretest.Col("s")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Execute(context.Background(), 0, tc); err == nil || !errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("bound \"many\": got %v, want an invalid-plan error", err)
	}
}

// TestPartialAggregatePassesUniqueKeysEarly: a partial aggregate whose
// table fills with every row a group of its own passes the rows through
// from then on, without growing its table to the cap first.
func TestPartialAggregatePassesUniqueKeysEarly(t *testing.T) {
	tc, _ := newTC(t)
	tc.Properties = map[string]string{PropPartialAggGroups: "64"}
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: spillInput(t, 3000), Mode: kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("id")},
		Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "sum_v"}}}}}
	op := openOp(t, plan, tc)
	defer op.Close()
	drainOp(t, op)
	agg := op.(*hashAggOp)
	if !agg.passThrough || agg.maxGroups != agg.baseGroups {
		t.Fatalf("passes through: %v, table bound %d (base %d)", agg.passThrough, agg.maxGroups, agg.baseGroups)
	}
}

// passesThrough runs the partial aggregate plan in one partition and says
// whether it ended passing rows through.
func passesThrough(t *testing.T, plan *kapotv1.PhysicalPlanNode, tc *TaskContext) bool {
	t.Helper()
	op := openOp(t, plan, tc)
	defer op.Close()
	drainOp(t, op)
	return op.(*hashAggOp).passThrough
}

// TestArrayAggExhaustsMemory: array_agg without groups keeps every value;
// past the pool it fails with ErrResourcesExhausted (its values are
// reserved) and returns what it reserved.
func TestArrayAggExhaustsMemory(t *testing.T) {
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: spillInput(t, 3000), Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
		Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG, Expr: wiretest.Col("s"), Name: "l"}}}}}
	p, err := FromProto(plan)
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := newTC(t)
	tc.BatchSize = 512
	tc.Pool = alloc.NewMemoryPool(16 << 10)
	_, err = ExecuteCollect(context.Background(), p, tc)
	if !errors.Is(err, ErrResourcesExhausted) {
		t.Fatalf("got %v, want resources exhausted", err)
	}
	if st := tc.Pool.Stats(); st.Used != 0 || st.Reservations != 0 {
		t.Fatalf("pool not returned: %+v", st)
	}
}

// TestAggregateManyEncodedGroups groups by a string, an integer and a
// nullable string into more groups than batchProbeGroups, so that batches
// past it are hashed whole before they probe (GetOrPutBatch): the sums
// and counts are a Go map's.
func TestAggregateManyEncodedGroups(t *testing.T) {
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "i", Type: arrow.PrimitiveTypes.Int32},
		{Name: "n", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	rng := rand.New(rand.NewPCG(9, 10))
	src := optest.NewSource(schema)
	type key struct {
		s    string
		i    int32
		n    string
		null bool
	}
	sums, counts := map[key]int64{}, map[key]int64{}
	for range 40 {
		b := array.NewRecordBuilder(mem, schema)
		for range 8192 {
			k := key{s: fmt.Sprintf("s%d", rng.IntN(400)), i: int32(rng.IntN(300)), n: fmt.Sprint(rng.IntN(3)), null: rng.IntN(5) == 0}
			if k.null {
				k.n = ""
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.StringBuilder).Append(k.n)
			}
			v := rng.Int64N(1000)
			b.Field(0).(*array.StringBuilder).Append(k.s)
			b.Field(1).(*array.Int32Builder).Append(k.i)
			b.Field(3).(*array.Int64Builder).Append(v)
			sums[k] += v
			counts[k]++
		}
		src.Batches = append(src.Batches, b.NewRecordBatch())
		b.Release()
	}
	if len(sums) < 2*batchProbeGroups {
		t.Fatalf("only %d groups", len(sums))
	}
	var want []string
	for k, s := range sums {
		n := k.n
		if k.null {
			n = "NULL"
		}
		want = append(want, fmt.Sprintf("%s|%d|%s|%d|%d", k.s, k.i, n, s, counts[k]))
	}
	slices.Sort(want)
	agg, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
		GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("s"), wiretest.Col("i"), wiretest.Col("n")},
		Aggregates: []*kapotv1.AggregateExprNode{
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "sum"},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Name: "n"}}})
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := newTC(t)
	tc.BatchSize = 8192
	got := collectFormatted(t, agg, tc)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%d groups, want %d", len(got), len(want))
	}
}

// TestAggregateCoalescesSmallBatches: a partial or single aggregate that
// evaluates four or more computed arguments concatenates its small input
// batches first (the same answers, the arguments evaluated a few times
// instead of once per 100-row batch); one with fewer reads its input as it
// comes.
func TestAggregateCoalescesSmallBatches(t *testing.T) {
	in := spillInput(t, 3000) // batches of 100 rows
	plus := func(k int64) *kapotv1.PhysicalExprNode {
		return wiretest.Bin(wiretest.Col("v"), kapotv1.BinaryOp_BINARY_OP_ADD, wiretest.I64(k))
	}
	sum := func(e *kapotv1.PhysicalExprNode, name string) *kapotv1.AggregateExprNode {
		return &kapotv1.AggregateExprNode{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: e, Name: name}
	}
	for _, c := range []struct {
		args      int
		coalesced bool
	}{{4, true}, {3, false}} {
		t.Run(fmt.Sprintf("%d computed arguments", c.args), func(t *testing.T) {
			var aggs []*kapotv1.AggregateExprNode
			for k := range c.args {
				aggs = append(aggs, sum(plus(int64(k)), fmt.Sprintf("s%d", k)))
			}
			aggs = append(aggs, sum(wiretest.Col("v"), "v"))
			plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
				Input: in, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("s")},
				Aggregates: aggs}}}
			tc, _ := newTC(t)
			got := run(t, plan, tc)
			// Each sum of v+k is the group's sum of v plus k times its
			// non-null values: checked against sum(v) and count(v).
			counts := map[string]int64{}
			plain := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
				Input: in, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("s")},
				Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Expr: wiretest.Col("v"), Name: "n"}}}}}
			for _, r := range run(t, plain, tc) {
				f := strings.Split(r, "|")
				n, _ := strconv.ParseInt(f[1], 10, 64)
				counts[f[0]] = n
			}
			if len(got) != 40 {
				t.Fatalf("%d groups, want 40", len(got))
			}
			for _, r := range got {
				f := strings.Split(r, "|")
				v, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
				for k := range c.args {
					if want := fmt.Sprint(v + int64(k)*counts[f[0]]); f[1+k] != want {
						t.Fatalf("group %s: s%d = %s, want %s", f[0], k, f[1+k], want)
					}
				}
			}
			op := openOp(t, plan, tc)
			defer op.Close()
			if _, ok := op.(*hashAggOp).in.(*coalesceBatchesOp); ok != c.coalesced {
				t.Fatalf("input coalesced %v, want %v", ok, c.coalesced)
			}
		})
	}
}

// TestAverageSharesSum: an AVG of a decimal column that a SUM before it
// also sums reads that sum (agg.ShareSum) and answers as an AVG with a sum
// of its own (the first AVG, before the SUM): in one phase, under memory
// pressure (spilled and merged states) and in two phases, with NULLs and
// groups of NULLs only.
func TestAverageSharesSum(t *testing.T) {
	dec := wiretest.Bin(wiretest.Col("v"), kapotv1.BinaryOp_BINARY_OP_MUL, wiretest.Dec("125", 3, 2))
	in := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
		Input: spillInput(t, 3000), Exprs: []*kapotv1.PhysicalExprNode{dec, wiretest.Col("id")}, Names: []string{"d", "id"}}}}
	agg := func(in *kapotv1.PhysicalPlanNode, mode kapotv1.AggregateMode, group *kapotv1.PhysicalExprNode) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
			Input: in, Mode: mode, GroupExprs: []*kapotv1.PhysicalExprNode{group},
			Aggregates: []*kapotv1.AggregateExprNode{
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, Expr: wiretest.Col("d"), Name: "own"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("d"), Name: "sum"},
				{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, Expr: wiretest.Col("d"), Name: "shared"},
			}}}}
	}
	group := wiretest.Bin(wiretest.Col("id"), kapotv1.BinaryOp_BINARY_OP_DIV, wiretest.I64(2))
	twoPhase := agg(agg(in, kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, group), kapotv1.AggregateMode_AGGREGATE_MODE_FINAL, wiretest.Col(group.String()))
	twoPhase.GetHashAggregate().GroupExprs = []*kapotv1.PhysicalExprNode{wiretest.ColAt(0)}
	for _, c := range []struct {
		name string
		plan *kapotv1.PhysicalPlanNode
		pool int64
	}{
		{"single", agg(in, kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, group), 0},
		{"single, spilled", agg(in, kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, group), 48 << 10},
		{"partial + final", twoPhase, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc, _ := newTC(t)
			tc.BatchSize = 512
			if c.pool > 0 {
				tc.Pool = alloc.NewMemoryPool(c.pool)
			}
			rows := run(t, c.plan, tc)
			if len(rows) != 1500 {
				t.Fatalf("%d groups, want 1500", len(rows))
			}
			nulls := 0
			for _, r := range rows {
				f := strings.Split(r, "|")
				if f[1] != f[3] {
					t.Fatalf("group %s: shared average %s, own %s (sum %s)", f[0], f[3], f[1], f[2])
				}
				if f[3] == "NULL" {
					nulls++
				}
			}
			if nulls == 0 {
				t.Fatal("no group of NULLs only: the test lost its edge case")
			}
		})
	}
}

// TestAggregateOrderedIntKeys groups by one integer key that comes in
// ascending order (repeats, nulls among them), then in a few more
// ascending runs (keys met before and new ones), then in more runs than
// are kept without a hash table: the groups found without a table must be
// the groups the table finds after, each key one group, as a map counts
// them; and a partial aggregate that starts over at its bound must give
// the same.
func TestAggregateOrderedIntKeys(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	var keys []any
	for k := 0; k < 40; k++ { // ascending, repeats and nulls
		for range 1 + rnd.IntN(3) {
			keys = append(keys, 2*k)
			if rnd.IntN(9) == 0 {
				keys = append(keys, nil)
			}
		}
	}
	// Out of order, then a run over earlier keys and new ones.
	keys = append(keys, 10, 7, nil, 79, 81, 3, 100, 100, 101)
	for k := 0; k < 60; k += 3 {
		keys = append(keys, k)
	}
	for k := 120; k > 105; k-- { // a run a key, past the runs kept without a table
		keys = append(keys, k, k)
	}
	keys = append(keys, 0, 7, 55, 110, 200)
	var rows [][]any
	sums := map[string]int{}
	for i, k := range keys {
		rows = append(rows, []any{k, i})
		name := "NULL"
		if k != nil {
			name = strconv.Itoa(k.(int))
		}
		sums[name] += i
	}
	var want []string
	for k, s := range sums {
		want = append(want, fmt.Sprintf("%s|%d", k, s))
	}
	slices.Sort(want)
	agg := func(in *kapotv1.PhysicalPlanNode, mode kapotv1.AggregateMode, group *kapotv1.PhysicalExprNode, sum *kapotv1.PhysicalExprNode) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
			Input: in, Mode: mode, GroupExprs: []*kapotv1.PhysicalExprNode{group}, GroupNames: []string{"k"},
			Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: sum, Name: "s"}}}}}
	}
	values := csvInts(t, []string{"k", "v"}, rows, 7)
	tc, _ := newTC(t)
	if got := run(t, agg(values, kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, wiretest.Col("k"), wiretest.Col("v")), tc); !slices.Equal(got, want) {
		t.Fatalf("single: got %q\nwant %q", got, want)
	}
	for _, bound := range []string{"1", "4", "16", "-1"} {
		tc, _ := newTC(t)
		tc.Properties = map[string]string{PropPartialAggGroups: bound}
		partial := agg(values, kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, wiretest.Col("k"), wiretest.Col("v"))
		col0 := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: 0}}}
		final := agg(partial, kapotv1.AggregateMode_AGGREGATE_MODE_FINAL, col0, nil)
		if got := run(t, final, tc); !slices.Equal(got, want) {
			t.Fatalf("partial bound %s, then final: got %q\nwant %q", bound, got, want)
		}
	}
}

// TestAggregatePackedIntKeys groups by three integer keys over batches of
// two rows: the first batch fixes how their values pack into one integer
// (each key's range, twice as wide, and the bits left over), later rows
// with values outside it (far larger, negative) take the byte-encoded
// keys and null keys pack as their key's null code; each distinct triple
// must be one group, as a map counts them.
func TestAggregatePackedIntKeys(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 10))
	var rows [][]any
	sums := map[string]int{}
	key := func(x any) string {
		if x == nil {
			return "NULL"
		}
		return strconv.Itoa(x.(int))
	}
	pick := func(i int) any {
		switch {
		case i < 2:
			return []int{3, 5}[i] // the layout: small values
		case rnd.IntN(12) == 0:
			return nil
		case rnd.IntN(10) == 0:
			return []int{-7, 1 << 40, 100, 1<<62 + 1, -(1 << 62)}[rnd.IntN(5)] // outside it
		}
		return rnd.IntN(9)
	}
	for i := range 400 {
		row := []any{pick(i), pick(i), pick(i)}
		if i >= 2 && i%7 == 0 {
			row = []any{3, 5, 3} // the first batch's key again, now and then
		}
		rows = append(rows, append(row, i))
		sums[key(row[0])+"|"+key(row[1])+"|"+key(row[2])] += i
	}
	var want []string
	for k, s := range sums {
		want = append(want, fmt.Sprintf("%s|%d", k, s))
	}
	slices.Sort(want)
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: csvInts(t, []string{"a", "b", "c", "v"}, rows, 2), Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
		GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("a"), wiretest.Col("b"), wiretest.Col("c")}, GroupNames: []string{"a", "b", "c"},
		Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "s"}}}}}
	tc, _ := newTC(t)
	if got := run(t, plan, tc); !slices.Equal(got, want) {
		t.Fatalf("got %d groups, want %d:\n%q\n%q", len(got), len(want), got, want)
	}
}

// TestIntLayout: keys of the first batch fix each key's bits, those left
// go to the keys from 0; a layout that would need more than 63 bits is
// refused; values outside a key's range, or at its null code, pack as
// noShortKey, a null as the null code.
func TestIntLayout(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	col := func(vals []int64, valid []bool) *array.Int64 {
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.AppendValues(vals, valid)
		return b.NewInt64Array()
	}
	a, b, c := col([]int64{1, 3, 0}, nil), col([]int64{-4, 4, 0}, []bool{true, true, false}), col([]int64{1 << 40, 7, 2}, nil)
	defer a.Release()
	defer b.Release()
	defer c.Release()
	cols := []arrow.Array{a, b, c}
	vals := [][]int64{a.Int64Values(), b.Int64Values(), c.Int64Values()}
	l := planIntLayout(cols, vals, nil)
	// a: 0..3 in 3 bits; b: -4..4 (span 8) from -8 in 5 bits; c: 0..2^40
	// in 42 bits. The 13 bits left go to a (from 0, below maxKeyWidth):
	// 16 bits.
	if !l.ok || !slices.Equal(l.width, []uint{16, 5, 42}) || !slices.Equal(l.shift, []uint{0, 16, 21}) || !slices.Equal(l.base, []int64{0, -8, 0}) {
		t.Fatalf("layout %+v", l)
	}
	got := l.pack(cols, vals, nil)
	want := []uint64{1 | 4<<16 | 1<<40<<21, 3 | 12<<16 | 7<<21, 0 | 31<<16 | 2<<21} // b's null: 31, its 5 bits' largest
	if !slices.Equal(got, want) {
		t.Fatalf("packed %x, want %x", got, want)
	}
	// A value at a key's null code is outside: it never packs as a null.
	top := col([]int64{1<<16 - 1, 0, 0}, nil)
	defer top.Release()
	if got := l.pack([]arrow.Array{top, b, c}, [][]int64{top.Int64Values(), vals[1], vals[2]}, nil); got[0] != noShortKey {
		t.Fatalf("a's null code as a value packed as %x", got[0])
	}
	got = l.pack(cols, vals, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("packed %x, want %x", got, want)
	}
	wide := col([]int64{1 << 50, 1, 1}, nil)
	defer wide.Release()
	if l := planIntLayout([]arrow.Array{c, wide, a}, [][]int64{vals[2], wide.Int64Values(), vals[0]}, nil); l.ok {
		t.Fatalf("a layout of %v bits", l.width)
	}
}

// TestAggregateCodedStringKeys groups by string keys beside integer ones
// (strCodes): the first batch's two names fix the layout, later batches
// bring more names than it has room for, more than the codes hold, empty
// and null names, and names met before; every distinct key must stay one
// group whichever way its rows went, in SINGLE mode and in a PARTIAL
// aggregate that starts over every 50 groups (codes are numbered again)
// followed by its FINAL one. A first batch of 300 names plans no layout
// (the byte-encoded keys for every row).
func TestAggregateCodedStringKeys(t *testing.T) {
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "n", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "m", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	for _, first := range []int{3, 300} {
		t.Run(fmt.Sprintf("first batch %d rows", first), func(t *testing.T) { testCodedStringKeys(t, mem, schema, first) })
	}
}

// testCodedStringKeys is TestAggregateCodedStringKeys with a first batch
// of first rows: 3 (two names: a layout) or 300 (300 names: none).
func testCodedStringKeys(t *testing.T, mem memory.Allocator, schema *arrow.Schema, first int) {
	rnd := rand.New(rand.NewPCG(11, 12))
	name := func(i int) string {
		switch {
		case first == 300 && i < 300:
			return fmt.Sprintf("first%d", i)
		case i < 3:
			return []string{"north", "south", "north"}[i]
		case rnd.IntN(15) == 0:
			return "NULL"
		case rnd.IntN(15) == 0:
			return ""
		case rnd.IntN(3) == 0:
			return fmt.Sprintf("w%d", rnd.IntN(6000)) // past the layout and the codes
		}
		return []string{"north", "south", "east", "west"}[rnd.IntN(4)]
	}
	type row struct {
		n, k, m string
		v       int64
	}
	var rows []row
	src := optest.NewSource(schema)
	for i := 0; i < 12_000; {
		size := first
		if i > 0 {
			size = 1 + rnd.IntN(700)
		}
		b := array.NewRecordBuilder(mem, schema)
		for range size {
			r := row{n: name(i), k: strconv.Itoa(rnd.IntN(5)), m: name(i), v: int64(i)}
			if i > 3 && rnd.IntN(20) == 0 {
				r.k = "NULL"
			}
			for f, x := range []string{r.n, r.k, r.m} {
				switch {
				case x == "NULL":
					b.Field(f).AppendNull()
				case f == 1:
					v, _ := strconv.Atoi(x)
					b.Field(1).(*array.Int64Builder).Append(int64(v))
				default:
					b.Field(f).(*array.StringBuilder).Append(x)
				}
			}
			b.Field(3).(*array.Int64Builder).Append(r.v)
			rows = append(rows, r)
			i++
		}
		src.Batches = append(src.Batches, b.NewRecordBatch())
		b.Release()
	}
	for _, keys := range [][]string{{"n", "k"}, {"k", "n", "m"}} {
		sums := map[string]int64{}
		for _, r := range rows {
			var parts []string
			for _, k := range keys {
				parts = append(parts, map[string]string{"n": r.n, "k": r.k, "m": r.m}[k])
			}
			sums[strings.Join(parts, "|")] += r.v
		}
		var want []string
		for k, s := range sums {
			want = append(want, fmt.Sprintf("%s|%d", k, s))
		}
		slices.Sort(want)
		var groups, finalGroups []*kapotv1.PhysicalExprNode
		for i, k := range keys {
			groups = append(groups, wiretest.Col(k))
			finalGroups = append(finalGroups, &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(i)}}})
		}
		collect := func(p ExecutionPlan, props map[string]string) []string {
			tc, _ := newTC(t)
			tc.Properties = props
			got := collectFormatted(t, p, tc)
			slices.Sort(got)
			return got
		}
		single, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, GroupExprs: groups,
			Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "s"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(single, map[string]string{}); !slices.Equal(got, want) {
			t.Fatalf("keys %v: got %d groups, want %d", keys, len(got), len(want))
		}
		partial, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, GroupExprs: groups,
			Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "s"}}})
		if err != nil {
			t.Fatal(err)
		}
		final, err := newHashAggregate(partial, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_FINAL, GroupExprs: finalGroups,
			Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Name: "s"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(final, map[string]string{PropPartialAggGroups: "50"}); !slices.Equal(got, want) {
			t.Fatalf("keys %v, partial then final: got %d groups, want %d", keys, len(got), len(want))
		}
	}
}

// csvInts is a CSV scan of rows of nullable integer columns names (nil a
// null), in batches of batch rows.
func csvInts(t *testing.T, names []string, rows [][]any, batch int) *kapotv1.PhysicalPlanNode {
	t.Helper()
	var sb strings.Builder
	sb.WriteString(strings.Join(names, ",") + "\n")
	for _, r := range rows {
		for i, v := range r {
			if i > 0 {
				sb.WriteByte(',')
			}
			if v != nil {
				fmt.Fprint(&sb, v)
			}
		}
		sb.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	schema := &kapotv1.Schema{}
	for _, n := range names {
		schema.Fields = append(schema.Fields, &kapotv1.Field{Name: n, Type: wiretest.I64Type(), Nullable: true})
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}, HasHeader: true, BatchSize: int64(batch), Schema: schema}}}
}
