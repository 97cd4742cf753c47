package planner

import (
	"context"
	"math"
	"strings"
	"testing"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/tpch"
)

// TestPlanShapes pins the plan rules that decide how much data moves: which
// side a join builds, which exchanges an existing partitioning makes
// unnecessary, and which filters a disjunction lets run early. Each row's
// answers are checked against DuckDB by TestTPCHAgainstDuckDB.
func TestPlanShapes(t *testing.T) {
	cat := tpchCatalog(t)
	partitioned := Options{TargetPartitions: 2, BroadcastRows: -1}
	// With 3 target partitions, the 2 files of a table do not decide how
	// joins are partitioned.
	hashed := Options{TargetPartitions: 3, BroadcastRows: -1}
	cases := []struct {
		name     string
		query    int
		opts     Options
		contains []string
		counts   map[string]int
	}{
		{
			// The IN subquery reads only orders' columns, so it filters
			// orders before the joins; it is much smaller than orders, so
			// it is the build side (RIGHT_SEMI). The join with lineitem
			// keeps the o_orderkey partitioning, so the aggregate on
			// o_orderkey (among other keys) runs in one step without
			// another exchange.
			name: "q18 semi join filters orders and builds the subquery", query: 18, opts: hashed,
			contains: []string{"HashJoin(RIGHT_SEMI, PARTITIONED, on=[l_orderkey@0 = o_orderkey@0])",
				"HashAggregate(mode=SINGLE, group=[c_name@1, c_custkey@0, o_orderkey@2, o_orderdate@4, o_totalprice@3]"},
			counts: map[string]int{"Exchange(Hash(": 6, "mode=PARTIAL": 1},
		},
		{
			// kapot tpch gen splits orders and lineitem by order key, file
			// by file (and part and partsupp by part key): with as many
			// partitions as files, the lineitem aggregate on l_orderkey and
			// its semi join with orders need no exchange.
			name: "q18 storage-partitioned", query: 18, opts: partitioned,
			contains: []string{"HashJoin(RIGHT_SEMI, PARTITIONED, on=[l_orderkey@0 = o_orderkey@0])",
				"HashAggregate(mode=SINGLE, group=[l_orderkey@0], aggr=[sum_0])\n" +
					"                            ParquetScan(files=2, partitions=2)\n" +
					"                      ParquetScan(files=2, partitions=2)"},
			// The filtered orders move to customer's key ranges and the
			// join's output back to lineitem's: two range exchanges, no
			// hash exchange.
			counts: map[string]int{"Exchange(Hash(": 0, "Exchange(Range(": 2, "mode=PARTIAL": 0},
		},
		{
			// Q3: customer is broadcast to the orders files, which then
			// join the lineitem files pairwise.
			name: "q3 storage-partitioned", query: 3, opts: Options{TargetPartitions: 2},
			contains: []string{"HashJoin(INNER, PARTITIONED, on=[o_orderkey@0 = l_orderkey@0])"},
			counts:   map[string]int{"Exchange(Hash(": 0, "Exchange(single)": 1},
		},
		{
			// (n1 = FRANCE AND n2 = GERMANY) OR (n1 = GERMANY AND n2 =
			// FRANCE): each nation scan is filtered to the two names.
			name: "q7 disjunction filters both nations", query: 7, opts: Options{TargetPartitions: 2},
			contains: []string{"Filter(n_name@1 = 'FRANCE' OR n_name@1 = 'GERMANY')", "Filter(n_name@1 = 'GERMANY' OR n_name@1 = 'FRANCE')"},
		},
		{
			// Q19's three branches restrict part and lineitem separately.
			name: "q19 disjunction filters part and lineitem", query: 19, opts: partitioned,
			contains: []string{"(l_quantity@1 >= 1 AND l_quantity@1 <= 11 OR l_quantity@1 >= 10 AND l_quantity@1 <= 20 OR l_quantity@1 >= 20 AND l_quantity@1 <= 30)",
				"Filter(p_brand@1 = 'Brand#12' AND p_container@3 IN ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG') AND (p_size@2 >= 1 AND p_size@2 <= 5) OR"},
		},
		{
			// Broadcasting off: no join collects its build side whole.
			name: "broadcast off", query: 5, opts: partitioned,
			counts: map[string]int{"COLLECT_LEFT": 0},
		},
		{
			name: "broadcast on", query: 5, opts: Options{TargetPartitions: 2},
			contains: []string{"COLLECT_LEFT"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, err := tpch.Query(c.query)
			if err != nil {
				t.Fatal(err)
			}
			p, err := PlanQuery(context.Background(), cat, text, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Explain(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range c.contains {
				if !strings.Contains(plan, s) {
					t.Errorf("plan lacks %q:\n%s", s, plan)
				}
			}
			for s, n := range c.counts {
				if got := strings.Count(plan, s); got != n {
					t.Errorf("plan has %d × %q, want %d:\n%s", got, s, n, plan)
				}
			}
		})
	}
}

// TestStatistics checks the catalog's distinct-value estimates (integer
// ranges from min/max statistics, string columns from the dictionary of
// the first row group) and the filter selectivities built on them.
func TestStatistics(t *testing.T) {
	cat := tpchCatalog(t)
	want := map[string]map[string]float64{
		"nation":   {"n_name": 25, "n_nationkey": 25, "n_regionkey": 5},
		"region":   {"r_name": 5},
		"part":     {"p_type": 150, "p_brand": 25, "p_container": 40, "p_size": 50},
		"lineitem": {"l_shipmode": 7, "l_returnflag": 3, "l_linestatus": 2},
	}
	for table, cols := range want {
		tb, ok := cat.Lookup(table)
		if !ok {
			t.Fatalf("no table %s", table)
		}
		for col, n := range cols {
			if got := tb.NDV[col]; got != n {
				t.Errorf("%s.%s: NDV %v, want %v", table, col, got, n)
			}
		}
	}
	b := &binder{cat: cat, cols: map[colID]*column{}}
	part, _ := cat.Lookup("part")
	scan := &scanRel{table: part}
	for _, f := range part.Schema.Fields() {
		scan.cols = append(scan.cols, b.newCol("part", f.Name, f.Type))
	}
	col := func(name string) *expr {
		for i, f := range part.Schema.Fields() {
			if f.Name == name {
				return &expr{kind: eCol, col: scan.cols[i], typ: f.Type}
			}
		}
		t.Fatalf("no column %s", name)
		return nil
	}
	lit := &expr{kind: eLit}
	cases := []struct {
		name string
		pred *expr
		want float64
	}{
		{"p_type = const: 1/NDV", &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{col("p_type"), lit}}, 1.0 / 150},
		{"p_size = const: 1/NDV of the integer range", &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{col("p_size"), lit}}, 1.0 / 50},
		{"p_brand IN (3 values)", &expr{kind: eInList, args: []*expr{col("p_brand"), lit, lit, lit}}, 3.0 / 25},
		{"p_size < const", &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_LT, args: []*expr{col("p_size"), lit}}, rangeSelectivity},
		{"p_type LIKE", &expr{kind: eLike, args: []*expr{col("p_type"), lit}}, likeSelectivity},
		{"p_type NOT LIKE", &expr{kind: eLike, negated: true, args: []*expr{col("p_type"), lit}}, 1 - likeSelectivity},
	}
	for _, c := range cases {
		if got := selectivity(c.pred, scan); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: selectivity %v, want %v", c.name, got, c.want)
		}
	}
}
