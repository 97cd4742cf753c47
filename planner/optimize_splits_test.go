package planner

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/tpch"
)

// TestSplitRange checks the equal-width ranges a file's key range is
// split into: contiguous, covering it exactly, fewer when it holds fewer
// values, and without overflow at the ends of int64.
func TestSplitRange(t *testing.T) {
	cases := []struct {
		h    [2]int64
		k    int
		want [][2]int64
	}{
		{[2]int64{1, 10}, 3, [][2]int64{{1, 4}, {5, 8}, {9, 10}}},
		{[2]int64{1, 12}, 3, [][2]int64{{1, 4}, {5, 8}, {9, 12}}},
		{[2]int64{0, 2}, 5, [][2]int64{{0, 0}, {1, 1}, {2, 2}}},
		{[2]int64{5, 5}, 4, [][2]int64{{5, 5}}},
		{[2]int64{1, 0}, 3, [][2]int64{{1, 0}}},
		{[2]int64{-10, 9}, 2, [][2]int64{{-10, -1}, {0, 9}}},
		{[2]int64{math.MinInt64, math.MaxInt64}, 2, [][2]int64{{math.MinInt64, -1}, {0, math.MaxInt64}}},
	}
	for _, c := range cases {
		if got := splitRange(c.h, c.k); !slices.Equal(got, c.want) {
			t.Errorf("splitRange(%v, %d) = %v, want %v", c.h, c.k, got, c.want)
		}
	}
	for _, k := range []int{3, 7, 64} {
		got := splitRange([2]int64{math.MinInt64 + 5, math.MaxInt64 - 3}, k)
		if len(got) != k || got[0][0] != math.MinInt64+5 || got[k-1][1] != math.MaxInt64-3 {
			t.Fatalf("k=%d: %v", k, got)
		}
		for i := 1; i < k; i++ {
			if got[i][0] != got[i-1][1]+1 || got[i][0] > got[i][1] {
				t.Fatalf("k=%d: ranges %d and %d are not contiguous: %v", k, i-1, i, got)
			}
		}
	}
}

// TestCatalogSplits checks which tables are split and how: tables whose
// files split a key alike are one family, split by the count its largest
// member needs, into the same ranges; files out of key order, tables with
// overlapping files, managed tables and small families are not split.
func TestCatalogSplits(t *testing.T) {
	cat := catalog.New()
	add := func(name, col string, rows int64, sorted bool, ranges ...[2]int64) *catalog.Table {
		tb := &catalog.Table{Name: name, Format: "parquet", Rows: rows, Files: make([]string, len(ranges)),
			Schema: arrow.NewSchema([]arrow.Field{{Name: col, Type: arrow.PrimitiveTypes.Int64}}, nil),
			Ranges: map[string][][2]int64{col: ranges}}
		for i := range tb.Files {
			tb.Files[i] = name + "-" + string(rune('a'+i))
		}
		if sorted {
			tb.Sorted = map[string]bool{col: true}
		}
		if err := cat.Register(tb); err != nil {
			t.Fatal(err)
		}
		return tb
	}
	big := add("big", "l_key", 20_000_000, true, [2]int64{1, 999}, [2]int64{1001, 2000})
	small := add("small", "o_key", 5_000_000, true, [2]int64{1, 1000}, [2]int64{1002, 1990})
	unsorted := add("unsorted", "k", 20_000_000, false, [2]int64{1, 1000}, [2]int64{1001, 2000})
	overlap := add("overlap", "k", 20_000_000, true, [2]int64{1, 1500}, [2]int64{1400, 3000})
	tiny := add("tiny", "t", 1000, true, [2]int64{-5000, -4000}, [2]int64{-3999, -3000})

	s := splits(cat, 2, 0)
	want := [][][2]int64{{{1, 334}, {335, 668}, {669, 1000}}, {{1001, 1334}, {1335, 1668}, {1669, 2000}}}
	for _, tb := range []*catalog.Table{big, small} {
		sp := s[tb]
		if sp == nil || !slices.EqualFunc(sp.cells, want, slices.Equal) {
			t.Errorf("%s: split %+v, want 10 M rows a file in 3 ranges of the family's hulls %v", tb.Name, sp, want)
		}
	}
	if s[big].col != "l_key" || s[small].col != "o_key" {
		t.Errorf("split columns %q, %q", s[big].col, s[small].col)
	}
	for _, tb := range []*catalog.Table{unsorted, overlap, tiny} {
		if sp := s[tb]; sp != nil {
			t.Errorf("%s split: %+v", tb.Name, sp)
		}
	}
	// More slots than files split for parallelism too, down to a quarter
	// of the split size (tiny has too few rows to split at all).
	s = splits(cat, 16, 0)
	if got := len(s[big].cells[0]); got != 8 {
		t.Errorf("16 partitions: big's first file in %d ranges, want 8", got)
	}
	if s[tiny] != nil {
		t.Errorf("16 partitions: tiny split %+v", s[tiny])
	}
	// A table of many files is read a file per partition.
	var many [][2]int64
	for i := range int64(1500) {
		many = append(many, [2]int64{i*1000 + 1_000_000, i*1000 + 1_000_999})
	}
	wide := add("wide", "w", 1_000_000_000_000, true, many...)
	if sp := splits(cat, 2, 0)[wide]; sp != nil {
		t.Errorf("1500 files split into %d ranges each", len(sp.cells[0]))
	}
	// Smaller splits; none at all.
	if got := len(splitMap(splits(cat, 2, 1_000_000)).cells(big)); got != 10 {
		t.Errorf("split rows 1 M: big's first file in %d ranges, want 10", got)
	}
	if s := splits(cat, 16, -1); len(s) != 0 {
		t.Errorf("split rows -1: %d tables split", len(s))
	}
}

// cells is how many ranges t's first file is read as (0 when not split).
func (m splitMap) cells(t *catalog.Table) [][2]int64 {
	if sp := m[t]; sp != nil {
		return sp.cells[0]
	}
	return nil
}

// TestSplitPlans checks a plan over split tables: EXPLAIN names the split,
// a join of two tables of one family needs no exchange, and the answer is
// the one read a file per partition.
func TestSplitPlans(t *testing.T) {
	cat := tpchCatalog(t)
	opts := Options{TargetPartitions: 2, BroadcastRows: -1, SplitRows: 2000}
	p, err := PlanQuery(context.Background(), cat, "select o_orderkey, count(*) from orders join lineitem on o_orderkey = l_orderkey group by o_orderkey order by 1", opts)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Explain(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ParquetScan(files=2, partitions=30, split by o_orderkey)", "ParquetScan(files=2, partitions=30, split by l_orderkey)"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if n := strings.Count(plan, "Exchange(Hash("); n != 0 {
		t.Errorf("%d hash exchanges in a join of one family:\n%s", n, plan)
	}
	// Only a table joined or grouped by its split key is split by size;
	// otherwise as far as the target partitions ask (16: 8 a file).
	for _, c := range []struct {
		sql   string
		parts int
		want  string
	}{
		{"select l_orderkey, count(*) from lineitem group by l_orderkey", 2, "ParquetScan(files=2, partitions=30, split by l_orderkey)"},
		{"select l_suppkey, count(*) from lineitem group by l_suppkey", 2, "ParquetScan(files=2, partitions=2)"},
		{"select l_suppkey, count(*) from lineitem group by l_suppkey", 16, "ParquetScan(files=2, partitions=16, split by l_orderkey)"},
		{"select k, count(*) from (select l_orderkey as k from lineitem) t group by k", 2, "ParquetScan(files=2, partitions=30, split by l_orderkey)"},
	} {
		p, err := PlanQuery(context.Background(), cat, c.sql, Options{TargetPartitions: c.parts, SplitRows: 2000})
		if err != nil {
			t.Fatal(err)
		}
		plan, err := Explain(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, c.want) {
			t.Errorf("%s with %d partitions: plan lacks %q:\n%s", c.sql, c.parts, c.want, plan)
		}
	}
	_, split := runSQLWith(t, cat, "select o_orderkey, count(*) from orders join lineitem on o_orderkey = l_orderkey group by o_orderkey order by 1", opts)
	_, whole := runSQLWith(t, cat, "select o_orderkey, count(*) from orders join lineitem on o_orderkey = l_orderkey group by o_orderkey order by 1", Options{TargetPartitions: 2, BroadcastRows: -1, SplitRows: -1})
	if !slices.Equal(split, whole) || len(whole) == 0 {
		t.Errorf("split: %d rows, whole files: %d rows", len(split), len(whole))
	}
}

type splitMap map[*catalog.Table]*tableSplit

// TestRangeExchangeJoins checks when a join moves only the side that is
// not split by key ranges (into the other side's ranges): joins that
// output no unmatched row of that side, with at least as many ranges as
// the target partition count; and that the answers are those of hash
// exchanges (three partitions: more than the two files).
func TestRangeExchangeJoins(t *testing.T) {
	cat := tpchCatalog(t)
	cases := []struct {
		name          string
		sql           string
		ranges, hashs int
	}{
		{"inner", "select c_nationkey, count(*) from customer join orders on c_custkey = o_custkey group by c_nationkey order by 1", 1, 1},
		{"left keeps customer", "select c_custkey, count(o_orderkey) from customer left join orders on c_custkey = o_custkey group by c_custkey order by 2 desc, 1 limit 20", 1, 0},
		{"semi", "select count(*) from customer where exists (select 1 from orders where o_custkey = c_custkey and o_totalprice > 300000)", 1, 0},
		{"anti", "select count(*) from customer where not exists (select 1 from orders where o_custkey = c_custkey)", 1, 0},
		{"full keeps both", "select count(*), count(c_custkey), count(o_orderkey) from customer full join orders on c_custkey = o_custkey", 0, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{TargetPartitions: 2, BroadcastRows: -1}
			p, err := PlanQuery(context.Background(), cat, c.sql, opts)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Explain(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(plan, "Exchange(Range("); got != c.ranges {
				t.Errorf("%d range exchanges, want %d:\n%s", got, c.ranges, plan)
			}
			if got := strings.Count(plan, "Exchange(Hash("); got != c.hashs {
				t.Errorf("%d hash exchanges, want %d:\n%s", got, c.hashs, plan)
			}
			_, got := runSQLWith(t, cat, c.sql, opts)
			_, want := runSQLWith(t, cat, c.sql, Options{TargetPartitions: 3, BroadcastRows: -1})
			if !slices.Equal(got, want) || len(want) == 0 {
				t.Errorf("range exchanged: %q\nhash exchanged: %q", head(got), head(want))
			}
		})
	}
}

// oneFileTPCH rewrites the SF 0.01 tables of tpchData into one file per
// table (rows in the files' order, so still sorted by key) of row groups
// of rowGroup rows, and returns a catalog of them: the layout of an
// export, which only shares of row groups read in parallel.
func oneFileTPCH(t *testing.T, rowGroup int64) *catalog.Catalog {
	t.Helper()
	src, dir := tpchData(t), t.TempDir()
	ctx := context.Background()
	for _, name := range tpch.Tables {
		files, err := tpch.Files(src, name)
		if err != nil {
			t.Fatal(err)
		}
		var tables []arrow.Table
		for _, f := range files {
			r, err := file.OpenParquetFile(f, false)
			if err != nil {
				t.Fatal(err)
			}
			fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			tb, err := fr.ReadTable(ctx)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer tb.Release()
			tables = append(tables, tb)
		}
		var chunks []arrow.RecordBatch
		for _, tb := range tables {
			tr := array.NewTableReader(tb, 0)
			for tr.Next() {
				b := tr.RecordBatch()
				b.Retain()
				defer b.Release()
				chunks = append(chunks, b)
			}
			tr.Release()
		}
		all := array.NewTableFromRecords(tables[0].Schema(), chunks)
		defer all.Release()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, name, "part-0.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		if err := pqarrow.WriteTable(all, out, rowGroup, parquet.NewWriterProperties(parquet.WithStats(true)), pqarrow.DefaultWriterProps()); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
	cat := catalog.New()
	if err := cat.RegisterParquetDir(dir, tpch.Tables); err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestRowGroupShares checks how many shares of their row groups a
// table's files are read as: none with as many files as partitions,
// without statistics, under kapot.scan.split_rows=-1, or for a file of
// fewer rows than two shares' worth (in rows, or in bytes of the columns
// read); otherwise enough for the target partitions (rounded up per
// file), bounded by rows and by maxSplits.
func TestRowGroupShares(t *testing.T) {
	tb := func(files int, rows int64) *catalog.Table {
		return &catalog.Table{Name: "t", Format: "parquet", Files: make([]string, files), Rows: rows}
	}
	wide := tb(1, 150_000)
	wide.Bytes = map[string]int64{"k": 1_200_000, "s": 24_000_000}
	cases := []struct {
		t         *catalog.Table
		cols      []string
		parts     int
		splitRows int64
		want      int
	}{
		{tb(1, 6_000_000), nil, 2, 0, 2},
		{tb(1, 6_000_000), nil, 16, 0, 16},
		{tb(1, 6_000_000), nil, 128, 0, 22}, // 6 M / 262,144 rows
		{tb(1, 600_000_000), nil, 128, 0, maxSplits},
		{tb(3, 6_000_000), nil, 16, 0, 6},
		{tb(2, 6_000_000), nil, 2, 0, 1},
		{tb(1, 400_000), nil, 2, 0, 1}, // under two shares of 262,144 rows
		{tb(1, 400_000), nil, 2, 2000, 2},
		// 150 000 rows whose columns read decode 25 MB: two shares of
		// 8 MiB or more; read without the strings, one.
		{wide, []string{"k", "s"}, 2, 0, 2},
		{wide, []string{"k"}, 2, 0, 1},
		{tb(1, 6_000_000), nil, 2, -1, 1},
		{tb(1, 0), nil, 2, 0, 1},
		{&catalog.Table{Name: "t", Format: "csv", Files: []string{"a"}, Rows: 6_000_000}, nil, 2, 0, 1},
	}
	for i, c := range cases {
		if got := rowGroupShares(c.t, c.cols, c.parts, c.splitRows); got != c.want {
			t.Errorf("case %d (%d files, %d rows, %d partitions, split rows %d): %d shares, want %d", i, len(c.t.Files), c.t.Rows, c.parts, c.splitRows, got, c.want)
		}
	}
}

// TestRowGroupSharePlans: a table in one file of many row groups is read
// as a share of them per target partition, and the answers are those of
// a file per partition.
func TestRowGroupSharePlans(t *testing.T) {
	cat := oneFileTPCH(t, 1000)
	sql := "select l_returnflag, l_linestatus, sum(l_quantity), count(*) from lineitem where l_shipdate <= date '1998-09-02' group by 1, 2 order by 1, 2"
	for _, c := range []struct {
		parts int
		want  string
	}{
		{3, "ParquetScan(files=1, partitions=3, split by row groups)"},
		{1, "ParquetScan(files=1, partitions=1)"},
	} {
		p, err := PlanQuery(context.Background(), cat, sql, Options{TargetPartitions: c.parts, SplitRows: 2000})
		if err != nil {
			t.Fatal(err)
		}
		plan, err := Explain(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, c.want) {
			t.Errorf("%d partitions: plan lacks %q:\n%s", c.parts, c.want, plan)
		}
	}
	_, shares := runSQLWith(t, cat, sql, Options{TargetPartitions: 3, SplitRows: 2000})
	_, whole := runSQLWith(t, cat, sql, Options{TargetPartitions: 3, SplitRows: -1})
	want := []string{"A|F|366830.00|14479", "N|F|9914.00|398", "N|O|754885.00|29677", "R|F|371933.00|14542"}
	if !slices.Equal(shares, want) || !slices.Equal(whole, want) {
		t.Errorf("shares: %q, whole file: %q, want %q", shares, whole, want)
	}
	duck, err := tpchOracle(t).Rows(sql)
	if err != nil {
		t.Fatal(err)
	}
	if err := oracle.SameRows(want, duck); err != nil {
		t.Errorf("DuckDB: %v: %q", err, duck)
	}
}

// TestSmallFilesGrouped checks that a small table in more files than the
// target partitions is read as that many partitions of consecutive files,
// that two such tables whose files hold matching key ranges still join
// partition by partition, and that the answers are those of a partition
// per file.
func TestSmallFilesGrouped(t *testing.T) {
	cat := generatedTPCH(t, 8, "part", "partsupp", "supplier")
	sql := `select p_brand, count(*), sum(ps_supplycost) from part join partsupp on p_partkey = ps_partkey
		where p_size < 10 group by p_brand order by p_brand`
	opts := Options{TargetPartitions: 2, BroadcastRows: -1}
	plan := explainSQL(t, cat, sql, opts)
	if n := strings.Count(plan, "ParquetScan(files=8, partitions=2)"); n != 2 {
		t.Errorf("%d scans of 8 files in 2 partitions, want 2:\n%s", n, plan)
	}
	if !strings.Contains(plan, "HashJoin(INNER, PARTITIONED") || strings.Contains(plan, "Exchange(Hash([p_partkey") || strings.Contains(plan, "Exchange(Hash([ps_partkey") {
		t.Errorf("the join of two tables of matching key ranges exchanges a side:\n%s", plan)
	}
	_, grouped := runSQLWith(t, cat, sql, opts)
	_, perFile := runSQLWith(t, cat, sql, Options{TargetPartitions: 8, BroadcastRows: -1})
	if !slices.Equal(grouped, perFile) || len(perFile) == 0 {
		t.Errorf("files grouped: %q\na partition per file: %q", grouped, perFile)
	}
}

// generatedTPCH is a catalog of TPC-H SF 0.01 tables generated for the
// test in files files a table (0: one).
func generatedTPCH(t *testing.T, files int, tables ...string) *catalog.Catalog {
	t.Helper()
	dir := t.TempDir()
	if err := tpch.Generate(context.Background(), tpch.Options{SF: 0.01, Dir: dir, Partitions: files, Tables: tables}); err != nil {
		t.Fatal(err)
	}
	cat := catalog.New()
	if err := cat.RegisterParquetDir(dir, tables); err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestFilesPerPartition: a table in more files than the plan's partitions
// is read in runs of consecutive files, one run a partition, when every
// partition still gets one and none more than defaultSplitRows rows (a
// small table's always), and files of disjoint key ranges stay disjoint
// in runs; managed and hive-partitioned tables, and tables in no more
// files than partitions, a file a partition.
func TestFilesPerPartition(t *testing.T) {
	tb := func(files int, rows int64) *catalog.Table {
		return &catalog.Table{Name: "t", Format: "parquet", Files: make([]string, files), Rows: rows}
	}
	managed := tb(8, 1000)
	managed.Managed = true
	sorted := func(names ...int) *catalog.Table {
		t := tb(len(names), 6_000_000)
		t.Ranges = map[string][][2]int64{"k": {}}
		for _, n := range names { // file n holds keys [100n, 100n+99]
			t.Ranges["k"] = append(t.Ranges["k"], [2]int64{int64(100 * n), int64(100*n + 99)})
		}
		return t
	}
	for _, c := range []struct {
		t     *catalog.Table
		parts int
		want  int
	}{
		{tb(8, 150_000), 2, 4},                               // small: always
		{tb(8, 150_000), 5, 2},                               // small: 4 partitions of 5 is fine
		{tb(8, 1_500_000), 2, 4},                             // TPC-H SF 1 orders in 8 files
		{tb(8, 6_000_000), 2, 4},                             // lineitem: 3 M rows a partition
		{tb(8, 6_000_000), 5, 1},                             // 2 files a run leave a slot idle
		{tb(8, 60_000_000), 2, 1},                            // 30 M rows a partition: too many
		{tb(2, 6_000_000), 2, 1},                             // no more files than partitions
		{tb(10, 4_000_000), 4, 3},                            // runs of 3, 3, 3, 1
		{managed, 2, 1},                                      // (a managed table's files group at lowering)
		{tb(8, 0), 2, 1},                                     // rows unknown
		{sorted(0, 1, 2, 3, 4, 5, 6, 7), 2, 4},               // runs follow the files' keys
		{sorted(0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9), 2, 1}, // part-1, part-10, part-2: they would not
	} {
		if got := filesPerPartition(c.t, c.parts); got != c.want {
			t.Errorf("%d files, %d rows, %d partitions: %d files a partition, want %d", len(c.t.Files), c.t.Rows, c.parts, got, c.want)
		}
	}
}
