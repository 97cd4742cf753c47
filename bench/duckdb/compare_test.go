//go:build duckdb

package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Scale: lineitem rows (orders has a quarter as many). KAPOT_BENCH_ROWS
// overrides it.
func lineitemRows() int {
	if v, err := strconv.Atoi(os.Getenv("KAPOT_BENCH_ROWS")); err == nil && v > 0 {
		return v
	}
	return 2_000_000
}

var (
	dataOnce sync.Once
	dataDir  string
	dataErr  error
)

// data writes lineitem.parquet and orders.parquet once per run.
func data(b *testing.B) string {
	dataOnce.Do(func() {
		dataDir, dataErr = os.MkdirTemp("", "kapot-bench-")
		if dataErr == nil {
			dataErr = writeTables(dataDir, lineitemRows())
		}
	})
	if dataErr != nil {
		b.Fatal(dataErr)
	}
	return dataDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dataDir != "" {
		os.RemoveAll(dataDir)
	}
	os.Exit(code)
}

var dec152 = &arrow.Decimal128Type{Precision: 15, Scale: 2}

func writeTables(dir string, rows int) error {
	mem := memory.NewGoAllocator()
	rng := rand.New(rand.NewPCG(42, 43))
	orders := rows / 4
	start := int64(8035) // 1992-01-01
	// The layout kapot's TPC-H generator uses: decimals stored as integers
	// (no fixed-length byte arrays), snappy, row groups of 128Ki rows.
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithMaxRowGroupLength(1<<17),
		parquet.WithStoreDecimalAsInteger(true), parquet.WithDictionaryDefault(false),
		parquet.WithDictionaryFor("l_returnflag", true), parquet.WithDictionaryFor("l_linestatus", true))
	write := func(name string, schema *arrow.Schema, n int, fill func(b *array.RecordBuilder, i int)) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		w, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
		if err != nil {
			return err
		}
		for done := 0; done < n; done += 1 << 16 {
			bld := array.NewRecordBuilder(mem, schema)
			for i := done; i < min(done+1<<16, n); i++ {
				fill(bld, i)
			}
			rec := bld.NewRecordBatch()
			bld.Release()
			err := w.Write(rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
		return w.Close()
	}
	lineitem := arrow.NewSchema([]arrow.Field{
		{Name: "l_orderkey", Type: arrow.PrimitiveTypes.Int64},
		{Name: "l_quantity", Type: dec152},
		{Name: "l_extendedprice", Type: dec152},
		{Name: "l_discount", Type: dec152},
		{Name: "l_returnflag", Type: arrow.BinaryTypes.String},
		{Name: "l_linestatus", Type: arrow.BinaryTypes.String},
		{Name: "l_shipdate", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	flags, status := []string{"A", "N", "R"}, []string{"F", "O"}
	err := write("lineitem.parquet", lineitem, rows, func(b *array.RecordBuilder, i int) {
		b.Field(0).(*array.Int64Builder).Append(rng.Int64N(int64(orders)) + 1)
		b.Field(1).(*array.Decimal128Builder).Append(decimal(rng.Int64N(50)*100 + 100))
		b.Field(2).(*array.Decimal128Builder).Append(decimal(rng.Int64N(10_000_000) + 90_000))
		b.Field(3).(*array.Decimal128Builder).Append(decimal(rng.Int64N(11)))
		b.Field(4).(*array.StringBuilder).Append(flags[rng.IntN(3)])
		b.Field(5).(*array.StringBuilder).Append(status[rng.IntN(2)])
		b.Field(6).(*array.Date32Builder).Append(arrow.Date32(start + rng.Int64N(2526)))
	})
	if err != nil {
		return err
	}
	ordersSchema := arrow.NewSchema([]arrow.Field{
		{Name: "o_orderkey", Type: arrow.PrimitiveTypes.Int64},
		{Name: "o_custkey", Type: arrow.PrimitiveTypes.Int64},
		{Name: "o_orderdate", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	return write("orders.parquet", ordersSchema, orders, func(b *array.RecordBuilder, i int) {
		b.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		b.Field(1).(*array.Int64Builder).Append(rng.Int64N(int64(orders/10)) + 1)
		b.Field(2).(*array.Date32Builder).Append(arrow.Date32(start + rng.Int64N(2406)))
	})
}

func decimal(unscaled int64) decimal128.Num { return decimal128.FromI64(unscaled) }

// query is one comparison: a kapot plan and the DuckDB SQL that must give
// the same rows.
type query struct {
	name string
	sql  string
	plan func(dir string) *kapotv1.PhysicalPlanNode
}

func col(name string) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Name: name}}}
}

func dateLit(days int64) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Literal{Literal: &kapotv1.ScalarValue{
		Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DATE32}, Value: &kapotv1.ScalarValue_IntValue{IntValue: days}}}}
}

func bin(l *kapotv1.PhysicalExprNode, op kapotv1.BinaryOp, r *kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Binary{Binary: &kapotv1.BinaryExpr{Left: l, Op: op, Right: r}}}
}

func scan(path string, pred *kapotv1.PhysicalExprNode, cols ...string) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}, Projection: cols, PruningPredicate: pred}}}
}

func filter(in *kapotv1.PhysicalPlanNode, pred *kapotv1.PhysicalExprNode) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: in, Predicate: pred}}}
}

func agg(fn kapotv1.AggregateFunction, e *kapotv1.PhysicalExprNode, name string) *kapotv1.AggregateExprNode {
	return &kapotv1.AggregateExprNode{Func: fn, Expr: e, Name: name}
}

const (
	sum   = kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM
	count = kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT
	avg   = kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG
)

// 1998-09-02 and 1995-03-15 as days since the epoch.
const shipCutoff, orderCutoff = 10471, 9204

var queries = []query{
	{
		name: "scan_filter_aggregate",
		sql: `SELECT l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice),
		        sum(l_extendedprice * (1 - l_discount)), count(*)
		      FROM 'DIR/lineitem.parquet' WHERE l_shipdate <= DATE '1998-09-02'
		      GROUP BY l_returnflag, l_linestatus ORDER BY 1, 2`,
		plan: func(dir string) *kapotv1.PhysicalPlanNode {
			pred := bin(col("l_shipdate"), kapotv1.BinaryOp_BINARY_OP_LTE, dateLit(shipCutoff))
			one := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Literal{Literal: &kapotv1.ScalarValue{
				Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}, Value: &kapotv1.ScalarValue_IntValue{IntValue: 1}}}}
			disc := bin(col("l_extendedprice"), kapotv1.BinaryOp_BINARY_OP_MUL,
				bin(one, kapotv1.BinaryOp_BINARY_OP_SUB, col("l_discount")))
			in := filter(scan(filepath.Join(dir, "lineitem.parquet"), pred, "l_quantity", "l_extendedprice", "l_discount", "l_returnflag", "l_linestatus", "l_shipdate"), pred)
			a := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
				Input: in, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
				GroupExprs: []*kapotv1.PhysicalExprNode{col("l_returnflag"), col("l_linestatus")},
				Aggregates: []*kapotv1.AggregateExprNode{agg(sum, col("l_quantity"), "q"), agg(sum, col("l_extendedprice"), "p"), agg(sum, disc, "d"), agg(count, nil, "n")},
			}}}
			return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Sort{Sort: &kapotv1.SortNode{Input: a, Exprs: []*kapotv1.SortExprNode{{Expr: col("l_returnflag")}, {Expr: col("l_linestatus")}}}}}
		},
	},
	{
		name: "join_aggregate",
		sql: `SELECT count(*), sum(l_extendedprice)
		      FROM 'DIR/orders.parquet' JOIN 'DIR/lineitem.parquet' ON l_orderkey = o_orderkey
		      WHERE o_orderdate < DATE '1995-03-15'`,
		plan: func(dir string) *kapotv1.PhysicalPlanNode {
			pred := bin(col("o_orderdate"), kapotv1.BinaryOp_BINARY_OP_LT, dateLit(orderCutoff))
			build := filter(scan(filepath.Join(dir, "orders.parquet"), pred, "o_orderkey", "o_orderdate"), pred)
			probe := scan(filepath.Join(dir, "lineitem.parquet"), nil, "l_orderkey", "l_extendedprice")
			j := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
				Left: build, Right: probe, JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
				On: []*kapotv1.JoinOn{{Left: col("o_orderkey"), Right: col("l_orderkey")}}}}}
			return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
				Input: j, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
				Aggregates: []*kapotv1.AggregateExprNode{agg(count, nil, "n"), agg(sum, col("l_extendedprice"), "p")},
			}}}
		},
	},
}

// runKapot runs a plan's single partition in-process and formats its rows.
func runKapot(b *testing.B, n *kapotv1.PhysicalPlanNode) []string {
	p, err := engine.FromProto(n)
	if err != nil {
		b.Fatal(err)
	}
	tc := &engine.TaskContext{JobID: "bench", Mem: memory.NewGoAllocator(), Properties: map[string]string{}}
	bs, err := engine.ExecuteCollect(context.Background(), p, tc)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, r := range bs {
			r.Release()
		}
	}()
	return engine.FormatRows(bs, "|")
}

func runDuckDB(b *testing.B, db *sql.DB, q string) []string {
	rows, err := duck.QueryRows(db, q)
	if err != nil {
		b.Fatal(err)
	}
	return rows
}

// BenchmarkVersusDuckDB times each query on both engines, alternating, after
// a warm-up, and checks that the answers agree. ns/op of the kapot and
// duckdb sub-benchmarks of one query are the side-by-side figures.
func BenchmarkVersusDuckDB(b *testing.B) {
	dir := data(b)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Full strength: a timed reference runs on every CPU (the correctness
	// oracle's one thread is never a yardstick).
	if _, err := db.Exec(fmt.Sprintf("SET threads = %d", runtime.NumCPU())); err != nil {
		b.Fatal(err)
	}
	var threads int
	if err := db.QueryRow("SELECT current_setting('threads')::INTEGER").Scan(&threads); err != nil || threads < runtime.NumCPU() {
		b.Fatalf("DuckDB threads %d (%v), want %d", threads, err, runtime.NumCPU())
	}
	b.Logf("DuckDB threads: %d (CPUs: %d)", threads, runtime.NumCPU())
	for _, q := range queries {
		sqlText := strings.ReplaceAll(q.sql, "DIR", dir)
		plan := q.plan(dir)
		kapot, duck := runKapot(b, plan), runDuckDB(b, db, sqlText) // warm-up and answer check
		if err := oracle.SameRows(kapot, duck); err != nil {
			b.Fatalf("%s: answers differ: %v\nkapot:  %q\nduckdb: %q", q.name, err, kapot, duck)
		}
		var tk, td time.Duration
		b.Run(q.name+"/kapot", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runKapot(b, plan)
			}
			tk = b.Elapsed() / time.Duration(b.N)
		})
		b.Run(q.name+"/duckdb", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runDuckDB(b, db, sqlText)
			}
			td = b.Elapsed() / time.Duration(b.N)
		})
		if td > 0 {
			b.Logf("%s: kapot %v, duckdb %v, ratio %.2f", q.name, tk, td, float64(tk)/float64(td))
		}
	}
}
