package engine

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/internal/optest"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// benchTable builds rows rows of (k int64 in [0,keys), v int64, s utf8) in
// batches of 8192.
func benchTable(rows, keys int) *optest.Source {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	rng := rand.New(rand.NewPCG(7, 8))
	return benchSource(schema, rows, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Int64Builder).Append(rng.Int64N(int64(keys)))
		b.Field(1).(*array.Int64Builder).Append(rng.Int64N(1_000_000))
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("str%05d", rng.IntN(50000)))
	})
}

// benchSource builds rows rows of schema in batches of DefaultBatchSize,
// appending each row with row.
func benchSource(schema *arrow.Schema, rows int, row func(b *array.RecordBuilder)) *optest.Source {
	mem := memory.NewGoAllocator()
	m := optest.NewSource(schema)
	for done := 0; done < rows; done += DefaultBatchSize {
		n := min(DefaultBatchSize, rows-done)
		b := array.NewRecordBuilder(mem, schema)
		for i := 0; i < n; i++ {
			row(b)
		}
		m.Batches = append(m.Batches, b.NewRecordBatch())
		b.Release()
	}
	return m
}

func benchTC() *TaskContext {
	return &TaskContext{JobID: "bench", Mem: memory.NewGoAllocator(), BatchSize: DefaultBatchSize, Properties: map[string]string{}}
}

// drain runs partition 0 of p and returns the rows it produced.
func drain(b *testing.B, p ExecutionPlan, tc *TaskContext) int64 {
	op, err := p.Execute(context.Background(), 0, tc)
	if err != nil {
		b.Fatal(err)
	}
	var rows int64
	for {
		batch, err := op.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		rows += batch.NumRows()
		batch.Release()
	}
	op.Close()
	tc.End()
	return rows
}

func reportRows(b *testing.B, rows int64) {
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

const benchRows = 1 << 20

func bindBench(b *testing.B, e *kapotv1.PhysicalExprNode, s *arrow.Schema) expr.Expr {
	x, err := expr.FromProto(e, s)
	if err != nil {
		b.Fatal(err)
	}
	return x
}

func BenchmarkFilter(b *testing.B) {
	src := benchTable(benchRows, 10000)
	f, err := NewFilter(src, bindBench(b, wiretest.Bin(wiretest.Col("v"), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.I64(500_000)), src.Schema()))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(src.Bytes())
	benchRun(b, f, src.Rows())
}

func BenchmarkProjection(b *testing.B) {
	src := benchTable(benchRows, 10000)
	p, err := NewProjection(src, []expr.Expr{
		bindBench(b, wiretest.Bin(wiretest.Bin(wiretest.Col("v"), kapotv1.BinaryOp_BINARY_OP_MUL, wiretest.I64(2)), kapotv1.BinaryOp_BINARY_OP_ADD, wiretest.Col("k")), src.Schema()),
		bindBench(b, wiretest.Col("s"), src.Schema()),
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(src.Bytes())
	benchRun(b, p, src.Rows())
}

func BenchmarkHashAggregate(b *testing.B) {
	for _, keys := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("groups=%d", keys), func(b *testing.B) {
			src := benchTable(benchRows, keys)
			agg, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
				GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("k")},
				Aggregates: []*kapotv1.AggregateExprNode{
					{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Name: "n"},
					{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("v"), Name: "sum_v"},
				}})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(src.Bytes())
			benchRun(b, agg, src.Rows())
		})
	}
}

// BenchmarkHashAggregateTwoKeys groups by two integer keys whose first has
// few values (as GROUP BY c_nationkey, c_custkey): the pair table must not
// degrade into chains over the first key (it did: 4.3 s for 1.5 M rows).
func BenchmarkHashAggregateTwoKeys(b *testing.B) {
	src := benchTable(benchRows, 25)
	agg, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
		GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("k"), wiretest.Col("v")},
		Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Name: "n"}}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(src.Bytes())
	benchRun(b, agg, src.Rows())
}

// BenchmarkHashAggregateTwoNarrowKeys groups by two INT32 keys of many
// pairs (as TPC-DS q97's GROUP BY ss_customer_sk, ss_item_sk): the keys
// pack into one int64 of the single-key table.
func BenchmarkHashAggregateTwoNarrowKeys(b *testing.B) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "c", Type: arrow.PrimitiveTypes.Int32},
		{Name: "i", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	rng := rand.New(rand.NewPCG(7, 8))
	src := benchSource(schema, benchRows, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Int32Builder).Append(rng.Int32N(100_000))
		b.Field(1).(*array.Int32Builder).Append(rng.Int32N(18_000))
	})
	agg, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
		GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("c"), wiretest.Col("i")}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(src.Bytes())
	benchRun(b, agg, src.Rows())
}

func BenchmarkHashJoin(b *testing.B) {
	build := benchTable(100_000, 1<<40) // distinct-ish keys
	probe := benchTable(benchRows, 1<<40)
	// Make every probe key hit: probe k = build k of some row.
	j, err := newHashJoin(build, probe, &kapotv1.HashJoinNode{JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
		On: []*kapotv1.JoinOn{{Left: wiretest.Col("v"), Right: wiretest.Col("v")}}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(probe.Bytes())
	b.ResetTimer()
	var out int64
	for i := 0; i < b.N; i++ {
		out = drain(b, j, benchTC())
	}
	reportRows(b, probe.Rows())
	b.ReportMetric(float64(out), "out-rows")
}

func BenchmarkSort(b *testing.B) {
	src := benchTable(benchRows, 10000)
	s, err := NewSort(src, []expr.SortKey{{Expr: bindBench(b, wiretest.Col("v"), src.Schema())}}, -1)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(src.Bytes())
	benchRun(b, s, src.Rows())
}

// BenchmarkSortStringDecimal sorts by a string of few values, then a
// decimal descending (TPC-DS q67's window: category, sum of sales).
func BenchmarkSortStringDecimal(b *testing.B) {
	src := wideKeyTable(1 << 19)
	s, err := NewSort(src, []expr.SortKey{
		{Expr: bindBench(b, wiretest.Col("category"), src.Schema())},
		{Expr: bindBench(b, wiretest.Col("price"), src.Schema()), Descending: true, NullsFirst: true},
	}, -1)
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, s, src.Rows())
}

func BenchmarkShuffleWrite(b *testing.B) {
	for _, comp := range []string{"none", "lz4", "zstd"} {
		b.Run(comp, func(b *testing.B) {
			src := benchTable(benchRows, 10000)
			p, err := newPartitioning(&kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Hash{Hash: &kapotv1.HashPartitioning{
				Exprs: []*kapotv1.PhysicalExprNode{wiretest.Col("k")}, PartitionCount: 16}}}, src.Schema())
			if err != nil {
				b.Fatal(err)
			}
			w := &ShuffleWriter{JobID: "bench", StageID: 1, input: src, part: p}
			dir := b.TempDir()
			b.SetBytes(src.Bytes())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tc := benchTC()
				tc.WorkDir = dir
				tc.Properties[PropShuffleCompression] = comp
				if _, err := w.Run(context.Background(), 0, tc); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, src.Rows())
		})
	}
}

// wideKeyTable builds rows rows shaped like TPC-DS q67's all-keys
// aggregate input: four strings of an item (category, class, brand,
// product name, all determined by one of 18 000 items), a year, quarter
// and month, a store id of 16 characters and a decimal price; most rows
// are groups of their own.
func wideKeyTable(rows int) *optest.Source {
	price := &arrow.Decimal128Type{Precision: 7, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "category", Type: arrow.BinaryTypes.String},
		{Name: "class", Type: arrow.BinaryTypes.String},
		{Name: "brand", Type: arrow.BinaryTypes.String},
		{Name: "product", Type: arrow.BinaryTypes.String},
		{Name: "year", Type: arrow.PrimitiveTypes.Int32},
		{Name: "qoy", Type: arrow.PrimitiveTypes.Int32},
		{Name: "moy", Type: arrow.PrimitiveTypes.Int32},
		{Name: "store", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: price},
	}, nil)
	rng := rand.New(rand.NewPCG(7, 9))
	return benchSource(schema, rows, func(b *array.RecordBuilder) {
		item, moy := rng.IntN(18000), 1+rng.IntN(12)
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("Category%d", item%10))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("class-%03d", item%100))
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("brandbrand #%d", item%700))
		b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("productname%09d", item))
		b.Field(4).(*array.Int32Builder).Append(2000)
		b.Field(5).(*array.Int32Builder).Append(int32((moy-1)/3 + 1))
		b.Field(6).(*array.Int32Builder).Append(int32(moy))
		b.Field(7).(*array.StringBuilder).Append(fmt.Sprintf("AAAAAAAA%08d", rng.IntN(12)))
		b.Field(8).(*array.Decimal128Builder).Append(decimal128.FromI64(rng.Int64N(100000)))
	})
}

// BenchmarkHashAggregateWideKeys groups by eight keys, five of them
// strings, into about as many groups as rows (TPC-DS q67's all-keys
// aggregate: 540 000 rows, 420 000 groups).
func BenchmarkHashAggregateWideKeys(b *testing.B) {
	src := wideKeyTable(1 << 19)
	var keys []*kapotv1.PhysicalExprNode
	for _, k := range []string{"category", "class", "brand", "product", "year", "qoy", "moy", "store"} {
		keys = append(keys, wiretest.Col(k))
	}
	for _, mode := range []kapotv1.AggregateMode{kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL} {
		b.Run(mode.String(), func(b *testing.B) {
			agg, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: mode, GroupExprs: keys,
				Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: wiretest.Col("price"), Name: "s"}}})
			if err != nil {
				b.Fatal(err)
			}
			benchRun(b, agg, src.Rows())
		})
	}
}

// benchRun times draining p b.N times and reports rows (its input's) a
// second.
func benchRun(b *testing.B, p ExecutionPlan, rows int64) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		drain(b, p, benchTC())
	}
	reportRows(b, rows)
}

// BenchmarkHashAggregateInventory is TPC-DS q39's partial aggregate, one
// task's share: 180 000 inventory rows grouped by warehouse name (five
// values), warehouse, item and month into 90 000 groups, two rows each
// (two weeks of a month), with a standard deviation and an average.
func BenchmarkHashAggregateInventory(b *testing.B) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "w", Type: arrow.PrimitiveTypes.Int32},
		{Name: "item", Type: arrow.PrimitiveTypes.Int32},
		{Name: "moy", Type: arrow.PrimitiveTypes.Int32},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	rng := rand.New(rand.NewPCG(7, 10))
	row := 0
	src := benchSource(schema, 180_000, func(b *array.RecordBuilder) {
		week := row / 45_000
		item := 2*((row%45_000)/5) + week/2
		w := row % 5
		row++
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("Warehouse number %d", w))
		b.Field(1).(*array.Int32Builder).Append(int32(w + 1))
		b.Field(2).(*array.Int32Builder).Append(int32(item + 1))
		b.Field(3).(*array.Int32Builder).Append(int32(1 + week/2))
		b.Field(4).(*array.Int32Builder).Append(rng.Int32N(1000))
	})
	keys := []*kapotv1.PhysicalExprNode{wiretest.Col("name"), wiretest.Col("w"), wiretest.Col("item"), wiretest.Col("moy")}
	agg, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, GroupExprs: keys,
		Aggregates: []*kapotv1.AggregateExprNode{
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STDDEV_SAMP, Expr: wiretest.Col("qty"), Name: "sd"},
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, Expr: wiretest.Col("qty"), Name: "a"},
		}})
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, agg, src.Rows())
}

// BenchmarkHashJoinLarge probes a build side of 500 000 distinct, sparse
// integer keys (a table larger than the caches, as TPC-H's orders side of
// lineitem ⋈ orders) with 1 M rows that all match.
func BenchmarkHashJoinLarge(b *testing.B) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rng := rand.New(rand.NewPCG(7, 11))
	perm := rng.Perm(500_000)
	i := 0
	build := benchSource(schema, len(perm), func(b *array.RecordBuilder) {
		b.Field(0).(*array.Int64Builder).Append(int64(perm[i]) * 1_000_003)
		b.Field(1).(*array.Int64Builder).Append(int64(i))
		i++
	})
	probe := benchSource(schema, benchRows, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Int64Builder).Append(rng.Int64N(500_000) * 1_000_003)
		b.Field(1).(*array.Int64Builder).Append(1)
	})
	j, err := newHashJoin(build, probe, &kapotv1.HashJoinNode{JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
		On: []*kapotv1.JoinOn{{Left: wiretest.Col("k"), Right: wiretest.Col("k")}}})
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, j, probe.Rows())
}

// BenchmarkHashAggregateFewGroups is TPC-H Q1's partial aggregate: 1 M
// rows of two one-letter flags into four groups, in runs of rows of one
// group (line items of one order, shipped about when it was), with three
// decimal sums, three decimal averages and a count (each add into a
// group's counters waits on the one before).
func BenchmarkHashAggregateFewGroups(b *testing.B) {
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "flag", Type: arrow.BinaryTypes.String},
		{Name: "status", Type: arrow.BinaryTypes.String},
		{Name: "qty", Type: dec},
		{Name: "price", Type: dec},
		{Name: "disc", Type: dec},
	}, nil)
	rng := rand.New(rand.NewPCG(7, 12))
	f := 0
	src := benchSource(schema, benchRows, func(b *array.RecordBuilder) {
		if rng.IntN(40) == 0 {
			f = rng.IntN(4)
		}
		b.Field(0).(*array.StringBuilder).Append([]string{"A", "N", "N", "R"}[f])
		b.Field(1).(*array.StringBuilder).Append([]string{"F", "F", "O", "F"}[f])
		b.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(100 * (1 + rng.Int64N(50))))
		b.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(rng.Int64N(10_000_000)))
		b.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(rng.Int64N(11)))
	})
	sum := func(fn kapotv1.AggregateFunction, col, name string) *kapotv1.AggregateExprNode {
		return &kapotv1.AggregateExprNode{Func: fn, Expr: wiretest.Col(col), Name: name}
	}
	agg, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL,
		GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("flag"), wiretest.Col("status")},
		Aggregates: []*kapotv1.AggregateExprNode{
			sum(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, "qty", "s0"),
			sum(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, "price", "s1"),
			sum(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, "disc", "s2"),
			sum(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, "qty", "a0"),
			sum(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, "price", "a1"),
			sum(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG, "disc", "a2"),
			{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Name: "n"},
		}})
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, agg, src.Rows())
}
