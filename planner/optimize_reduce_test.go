package planner

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/tpch"
)

// TestSemiJoinReduction checks which joins of an aggregate get a semi-join
// reduction of the aggregate's input, and that the answers are the same
// with and without it (BroadcastRows -1 turns it off).
func TestSemiJoinReduction(t *testing.T) {
	cat := tpchCatalog(t)
	const semi = "HashJoin(RIGHT_SEMI, COLLECT_LEFT, on=[p_partkey@0 = l_partkey@0])"
	// At SF 0.01 lineitem is small too: broadcast only the filtered parts.
	opts := Options{TargetPartitions: 2, BroadcastRows: 1000}
	cases := []struct {
		name    string
		sql     string
		reduced bool
	}{
		{"decorrelated subquery (Q17's shape)", `select p_partkey, sum(l_quantity) from part, lineitem
			where p_partkey = l_partkey and p_brand = 'Brand#23'
			  and l_quantity < (select 0.2 * avg(l_quantity) from lineitem where l_partkey = p_partkey)
			group by p_partkey order by 1`, true},
		{"derived table joined on its group key", `select p_partkey, q from part,
			  (select l_partkey, sum(l_quantity) as q from lineitem group by l_partkey) x
			where p_partkey = x.l_partkey and p_size < 10 and p_brand = 'Brand#12' order by 1`, true},
		{"unfiltered side: nothing to gain", `select p_partkey, q from part,
			  (select l_partkey, sum(l_quantity) as q from lineitem group by l_partkey) x
			where p_partkey = x.l_partkey order by 1 limit 5`, false},
		{"left join keeps every group", `select x.l_partkey, q, p_partkey from
			  (select l_partkey, sum(l_quantity) as q from lineitem group by l_partkey) x
			  left join part on p_partkey = x.l_partkey and p_size < 10 and p_brand = 'Brand#12' order by 1 limit 5`, false},
		{"joined on an aggregate, not a group key", `select p_partkey, x.l_partkey from part,
			  (select l_partkey, count(*) as s from lineitem group by l_partkey) x
			where p_size = x.s and p_brand = 'Brand#12' order by 1, 2 limit 10`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := PlanQuery(context.Background(), cat, c.sql, opts)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Explain(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(plan, semi); got != c.reduced {
				t.Errorf("reduced: %v, want %v:\n%s", got, c.reduced, plan)
			}
			// The optimiser marks the reduction in the logical plan.
			logical, err := ExplainLogical(context.Background(), cat, c.sql, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logical, "(reduced)"); got != c.reduced {
				t.Errorf("logical plan reduced: %v, want %v:\n%s", got, c.reduced, logical)
			}
			_, got := runSQLWith(t, cat, c.sql, opts)
			_, want := runSQLWith(t, cat, c.sql, Options{TargetPartitions: 3, BroadcastRows: -1})
			if !slices.Equal(got, want) {
				t.Errorf("rows differ with the reduction:\n got %q\nwant %q", got, want)
			}
			if len(want) == 0 {
				t.Error("no rows: the case proves nothing")
			}
		})
	}
}

// TestSemiJoinReductionComputedOnce: at SF 10 TPC-H Q2's parts (4 000
// brass parts of size 15, from 2 M) are too costly a scan to repeat in
// every task that aggregates partsupp, and too few to leave the minimum
// cost of all 2 M parts to be computed: the filtered parts are computed
// once and read whole by each task, which keeps only their partsupp rows.
// (The subquery has a condition of its own, always true, so that it is
// not the window over the outer join that Q2's becomes: optimize_subwindow.go.)
func TestSemiJoinReductionComputedOnce(t *testing.T) {
	cat := tpchCatalog(t)
	q, err := tpch.Query(2)
	if err != nil {
		t.Fatal(err)
	}
	q = strings.Replace(q, "and r_name = 'EUROPE'\n    )", "and r_name = 'EUROPE'\n            and ps_availqty > 0\n    )", 1)
	if !strings.Contains(q, "ps_availqty > 0") {
		t.Fatal("the query's text changed")
	}
	scaleStats(cat, map[string]int64{"part": 2_000_000, "partsupp": 8_000_000, "supplier": 100_000, "lineitem": 59_986_052,
		"orders": 15_000_000, "customer": 1_500_000})
	// Files that do not split the keys alike (users' files; one per
	// table): no file-by-file semi join. Columns of a fixed domain keep
	// their distinct values.
	for name, ndv := range map[string]map[string]float64{
		"part":     {"p_size": 50, "p_type": 150, "p_brand": 25, "p_mfgr": 5, "p_container": 40},
		"supplier": {"s_nationkey": 25},
	} {
		tb, _ := cat.Lookup(name)
		tb.Ranges, tb.Sorted = nil, nil
		for c, n := range ndv {
			tb.NDV[c] = n
		}
	}
	tb, _ := cat.Lookup("partsupp")
	tb.Ranges, tb.Sorted = nil, nil
	p, err := PlanQuery(context.Background(), cat, q, Options{TargetPartitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Explain(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "HashJoin(RIGHT_SEMI, COLLECT_LEFT, on=[p_partkey@0 = ps_partkey@") {
		t.Fatalf("partsupp is not reduced to the filtered parts:\n%s", plan)
	}
	_, got := runSQLWith(t, cat, q, Options{TargetPartitions: 2})
	_, want := runSQLWith(t, cat, q, Options{TargetPartitions: 3, BroadcastRows: -1})
	if !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("rows differ with the reduction (or none):\n got %q\nwant %q", got, want)
	}
}

// TestJoinConditionPushdown checks which ON conditions of outer joins
// filter a join input early (those on the side whose unmatched rows are
// dropped) and which stay on the join, against DuckDB's answers.
func TestJoinConditionPushdown(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	cases := []struct {
		name, sql string
		pushed    bool // a Filter below the join, none on it
	}{
		{"left join, condition on the right", `select c_custkey, count(o_orderkey) from customer left join orders
			on c_custkey = o_custkey and o_orderpriority = '1-URGENT' group by c_custkey order by 2 desc, 1 limit 20`, true},
		{"left join, condition on the left stays", `select count(*), count(o_orderkey) from customer left join orders
			on c_custkey = o_custkey and c_nationkey = 3`, false},
		{"right join, condition on the left", `select o_orderkey, c_name from customer right join orders
			on c_custkey = o_custkey and c_mktsegment = 'BUILDING' order by 1 limit 20`, true},
		{"full join stays", `select count(*), count(c_custkey), count(o_orderkey) from customer full join orders
			on c_custkey = o_custkey and o_orderpriority = '1-URGENT'`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := explainSQL(t, cat, c.sql, Options{TargetPartitions: 2})
			pushed := strings.Contains(plan, "Filter(") && !strings.Contains(plan, "filter=")
			if pushed != c.pushed {
				t.Errorf("condition pushed below the join: %v, want %v:\n%s", pushed, c.pushed, plan)
			}
			_, got := runSQLWith(t, cat, c.sql, Options{TargetPartitions: 2})
			want, err := db.Rows(c.sql)
			if err != nil {
				t.Fatal(err)
			}
			if err := oracle.SameRows(got, want); err != nil {
				t.Fatalf("%v\nkapot:  %q\nduckdb: %q", err, head(got), head(want))
			}
		})
	}
}

// TestScalarSubqueryOverNoRows: a correlated scalar subquery compares as
// its aggregate over no rows for an outer row no group matches: NULL for
// SUM and the like (the row is dropped), 0 for COUNT (the row may pass);
// answers checked against DuckDB. A value over no rows the planner cannot
// work out is refused, not guessed.
func TestScalarSubqueryOverNoRows(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for _, sql := range []string{
		`select count(*) from orders where 0 = (select count(*) from lineitem where l_orderkey = o_orderkey and l_quantity > 100)`,
		`select count(*) from orders where 3 < (select count(*) from lineitem where l_orderkey = o_orderkey)`,
		`select count(*) from orders where 2 >= (select count(l_comment) from lineitem where l_orderkey = o_orderkey and l_quantity > 45)`,
		`select count(*) from orders where 0 < (select sum(l_quantity) from lineitem where l_orderkey = o_orderkey and l_quantity > 45)`,
		`select count(*) from orders where o_totalprice > (select 2 * avg(l_extendedprice) from lineitem where l_orderkey = o_orderkey and l_quantity > 45)`,
	} {
		_, got := runSQLWith(t, cat, sql, Options{TargetPartitions: 2})
		want, err := db.Rows(sql)
		if err != nil {
			t.Fatal(err)
		}
		if err := oracle.SameRows(got, want); err != nil {
			t.Errorf("%s: %v\nkapot:  %q\nduckdb: %q", sql, err, got, want)
		}
	}
	_, err := PlanQuery(context.Background(), cat, `select count(*) from orders where 0 = (select count(*) + 1 from lineitem where l_orderkey = o_orderkey)`, Options{})
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("count(*) + 1 over no rows: %v, want not supported", err)
	}
}
