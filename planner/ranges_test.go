package planner

import (
	"context"
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

	"github.com/kapot-go/kapot/catalog"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestFileRanges checks the per-file key ranges the catalog reads from
// Parquet statistics: only signed integer columns without nulls, one range
// per file, and a file without rows as an empty range.
func TestFileRanges(t *testing.T) {
	dir := t.TempDir()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	write := func(name string, ks []int64, ns []int32, nullAt int) string {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		for i, k := range ks {
			b.Field(0).(*array.Int64Builder).Append(k)
			if i == nullAt {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.Int32Builder).Append(ns[i])
			}
			b.Field(2).(*array.StringBuilder).Append("x")
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
		defer tbl.Release()
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pqarrow.WriteTable(tbl, f, 2, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := write("a.parquet", []int64{1, 5, 3}, []int32{7, 8, 9}, -1)
	empty := write("b.parquet", nil, nil, -1)
	c := write("c.parquet", []int64{10, 12}, []int32{1, 2}, 1)

	tb, err := catalog.ParquetTable("t", []string{a, empty, c})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]int64{{1, 5}, {1, 0}, {10, 12}}
	if got := tb.Ranges["k"]; !slices.Equal(got, want) {
		t.Errorf("ranges of k: %v, want %v", got, want)
	}
	if got, ok := tb.Ranges["n"]; ok {
		t.Errorf("n has a null in c.parquet, yet ranges %v", got)
	}
	if got, ok := tb.Ranges["s"]; ok {
		t.Errorf("s is a string column, yet ranges %v", got)
	}
	tb, err = catalog.ParquetTable("t", []string{a, empty})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tb.Ranges["n"], [][2]int64{{7, 9}, {1, 0}}; !slices.Equal(got, want) {
		t.Errorf("ranges of n without c.parquet: %v, want %v", got, want)
	}
}

// TestDisjointHulls checks when two tables' file ranges let their files
// join pairwise.
func TestDisjointHulls(t *testing.T) {
	cases := []struct {
		name string
		a, b [][2]int64
		want bool
	}{
		{"same ranges", [][2]int64{{1, 10}, {11, 20}}, [][2]int64{{1, 10}, {11, 20}}, true},
		{"narrower ranges", [][2]int64{{1, 10}, {11, 20}}, [][2]int64{{3, 4}, {15, 20}}, true},
		{"files out of key order", [][2]int64{{11, 20}, {1, 10}}, [][2]int64{{12, 12}, {2, 9}}, true},
		{"empty file", [][2]int64{{1, 10}, {1, 0}}, [][2]int64{{1, 0}, {11, 20}}, true},
		{"touching ranges", [][2]int64{{1, 10}, {10, 20}}, [][2]int64{{1, 9}, {11, 20}}, false},
		{"other side crosses", [][2]int64{{1, 10}, {11, 20}}, [][2]int64{{1, 12}, {13, 20}}, false},
		{"swapped files", [][2]int64{{1, 10}, {11, 20}}, [][2]int64{{11, 20}, {1, 10}}, false},
		{"file counts differ", [][2]int64{{1, 10}, {11, 20}}, [][2]int64{{1, 20}}, false},
	}
	for _, c := range cases {
		if got := disjointHulls(c.a, c.b); got != c.want {
			t.Errorf("%s: disjointHulls(%v, %v) = %v, want %v", c.name, c.a, c.b, got, c.want)
		}
	}
}

// TestStoragePartitionedNeedsDisjointFiles checks that a table whose files
// overlap in a key is exchanged before a join or aggregate on it, even with
// as many partitions as files.
func TestStoragePartitionedNeedsDisjointFiles(t *testing.T) {
	cat := tpchCatalog(t)
	opts := Options{TargetPartitions: 2, BroadcastRows: -1}
	cases := []struct {
		sql               string
		exchanges, ranges int
	}{
		// Both tables split by order key: no exchange below the sort.
		{"select o_orderkey, count(*) from orders join lineitem on o_orderkey = l_orderkey group by o_orderkey order by 1", 0, 0},
		// l_suppkey spans every file: the aggregate repartitions.
		{"select l_suppkey, count(*) from lineitem group by l_suppkey order by 1", 1, 0},
		// The orders files split o_orderkey, not o_custkey: orders move
		// to the customer files' key ranges (customer stays).
		{"select c_custkey, count(*) from customer join orders on c_custkey = o_custkey group by c_custkey order by 1", 0, 1},
	}
	for _, c := range cases {
		p, err := PlanQuery(context.Background(), cat, c.sql, opts)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := Explain(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(plan, "Exchange(Hash("); got != c.exchanges {
			t.Errorf("%s: %d hash exchanges, want %d:\n%s", c.sql, got, c.exchanges, plan)
		}
		if got := strings.Count(plan, "Exchange(Range("); got != c.ranges {
			t.Errorf("%s: %d range exchanges, want %d:\n%s", c.sql, got, c.ranges, plan)
		}
		if _, cols := runSQLWith(t, cat, c.sql, opts); len(cols) == 0 {
			t.Errorf("%s: no columns", c.sql)
		}
	}
}

// TestJoinCostCoPartitioned checks that the join order does not charge an
// exchange for a join whose sides' files split the key alike.
func TestJoinCostCoPartitioned(t *testing.T) {
	b := &binder{cols: map[colID]*column{}}
	scan := func(name, key string, ranges [][2]int64) *scanRel {
		tb := &catalog.Table{Name: name, Format: "parquet", Files: []string{"a", "b"}, Rows: 1_000_000,
			Schema: arrow.NewSchema([]arrow.Field{{Name: key, Type: arrow.PrimitiveTypes.Int64}}, nil)}
		if ranges != nil {
			tb.Ranges = map[string][][2]int64{key: ranges}
		}
		return &scanRel{table: tb, cols: []colID{b.newCol(name, key, arrow.PrimitiveTypes.Int64)}}
	}
	join := func(l, r *scanRel) *joinRel {
		return &joinRel{left: l, right: r, jt: kapotv1.JoinType_JOIN_TYPE_INNER,
			leftKeys:  []*expr{{kind: eCol, col: l.cols[0], typ: arrow.PrimitiveTypes.Int64}},
			rightKeys: []*expr{{kind: eCol, col: r.cols[0], typ: arrow.PrimitiveTypes.Int64}}}
	}
	split := [][2]int64{{1, 500}, {501, 1000}}
	co := join(scan("orders", "o_orderkey", split), scan("lineitem", "l_orderkey", split))
	apart := join(scan("orders", "o_orderkey", split), scan("lineitem", "l_orderkey", [][2]int64{{1, 1000}, {1, 1000}}))
	if got, want := joinCost(apart)-joinCost(co), 2_000_000.0; got != want {
		t.Errorf("exchange charged to the join of overlapping files minus the co-partitioned one: %v, want %v", got, want)
	}
	if got := relRanged(co); len(got) != 2 {
		t.Errorf("co-partitioned join output split by %d columns, want 2 (both keys)", len(got))
	}
	if got := relRanged(apart); len(got) != 0 {
		t.Errorf("repartitioned join output split by %d columns, want none", len(got))
	}
}

// TestBroadcastable checks when a join side is built whole in every task:
// small sides always; sides above the threshold when all copies are a
// small share of the rows repartitioning the other side would move; sides
// that scan a big table only when the other side is bigger still.
func TestBroadcastable(t *testing.T) {
	scan, filtered := broadcastSides()
	checkBroadcast(t, "broadcastable", costModel.broadcastable, []broadcastCase{
		{"small side", scan(50_000), scan(100_000), true},
		{"small side, probe unknown", scan(50_000), nil, true},
		{"above the threshold, probe 10x", scan(150_000), scan(1_500_000), false},
		{"above the threshold, probe 100x", scan(150_000), scan(15_000_000), true},
		{"above the threshold, probe unknown", scan(150_000), nil, false},
		{"past the cap", scan(3_000_000), scan(1_000_000_000), false},
		{"filtered big scan, bigger probe", filtered, scan(60_000_000), true},
		{"filtered big scan, probe as big as the scan", filtered, scan(3_000_000), false},
	})
}

// TestBroadcastOnce: a side too costly to compute in every probe task is
// computed once and broadcast when its copies are a small share of a
// probe side of half a million rows or more; smaller probe sides are
// repartitioned (the stage boundary would cost more than moving them).
func TestBroadcastOnce(t *testing.T) {
	scan, filtered := broadcastSides()
	checkBroadcast(t, "broadcastOnce", costModel.broadcastOnce, []broadcastCase{
		{"costly side, probe 8x its copies", filtered, scan(8_000_000), true},
		{"costly side, probe 2x its copies", filtered, scan(2_000_000), false},
		{"small side, probe under half a million", scan(1_000), scan(450_000), false},
		{"small side, probe of half a million", scan(1_000), scan(500_000), true},
		{"past the cap", scan(3_000_000), scan(1_000_000_000), false},
		{"probe unknown", scan(1_000), nil, false},
	})
}

// broadcastCase is a build side, a probe side and whether it is
// broadcast.
type broadcastCase struct {
	name         string
	build, probe rel
	want         bool
}

// broadcastSides returns scans of tables of given sizes and a filter
// keeping 1/4 of a 2 M-row table: 500 000 rows from a big scan.
func broadcastSides() (func(rows int64) *scanRel, rel) {
	b := &binder{cols: map[colID]*column{}}
	scan := func(rows int64) *scanRel { return scanOfRows(b, rows) }
	return scan, &filterRel{in: scan(2_000_000), pred: &expr{kind: eLit}}
}

// checkBroadcast runs the cases through decide with the default
// threshold and two tasks, and checks that broadcasting off
// (broadcast < 0) broadcasts nothing.
func checkBroadcast(t *testing.T, name string, decide func(costModel, rel, rel) bool, cases []broadcastCase) {
	t.Helper()
	p := costModel{broadcast: broadcastRows, parts: 2}
	for _, c := range cases {
		if got := decide(p, c.build, c.probe); got != c.want {
			t.Errorf("%s: %s %v, want %v (build ~%.0f rows)", c.name, name, got, c.want, estimate(c.build))
		}
	}
	b := &binder{cols: map[colID]*column{}}
	if decide(costModel{broadcast: -1, parts: 2}, scanOfRows(b, 10), scanOfRows(b, 10_000_000)) {
		t.Errorf("%s: broadcasting off, yet a side is broadcast", name)
	}
}

// scanOfRows is a scan of a one-column table of rows rows, its column
// bound in b.
func scanOfRows(b *binder, rows int64) *scanRel {
	tb := &catalog.Table{Name: "t", Format: "parquet", Files: []string{"a"}, Rows: rows,
		Schema: arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)}
	return &scanRel{table: tb, cols: []colID{b.newCol("t", "k", arrow.PrimitiveTypes.Int64)}}
}
