package planner

import (
	"context"
	"regexp"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/oracle"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestEagerAggregation: an aggregate over a join whose values come from
// one side, grouped by the other side's strings, aggregates that side
// first (by its join key and its own group columns) when its groups are
// few by their distinct values (also a side that is itself a join, and a
// join's side below a join above it), and
// answers as DuckDB does: sums, counts of rows and of values, minimums and
// maximums, nulls in the grouped columns, and a group key of each side.
// An aggregate grouped by the other side's numbers only, of DISTINCT
// values, or without GROUP BY gets no early aggregate.
func TestEagerAggregation(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	early := regexp.MustCompile(`(?s)HashJoin\([^\n]*\n(\s+[^\n]*\n)*?\s+HashAggregate\(mode=PARTIAL, group=\[o_custkey@`)
	for _, c := range []struct {
		sql   string
		early bool
	}{
		{`select c_name, c_mktsegment, sum(o_totalprice), count(*), count(o_clerk), min(o_orderdate), max(o_orderpriority)
			from orders, customer where o_custkey = c_custkey group by c_name, c_mktsegment order by 1, 2`, true},
		{`select c_mktsegment, o_shippriority, sum(o_totalprice), count(*) from orders join customer on o_custkey = c_custkey
			where c_acctbal > 0 group by 1, 2 order by 1, 2`, true},
		{`select case when c_acctbal > 5000 then c_mktsegment end s, sum(o_totalprice)
			from orders, customer where o_custkey = c_custkey group by 1 order by 1`, true},
		{`select c_nationkey, sum(o_totalprice) from orders, customer where o_custkey = c_custkey group by 1 order by 1`, false},
		{`select c_mktsegment, count(distinct o_orderstatus) from orders, customer where o_custkey = c_custkey group by 1 order by 1`, false},
		{`select sum(o_totalprice), count(*) from orders, customer where o_custkey = c_custkey`, false},
		{`select c_mktsegment, sum(l_quantity) from lineitem, orders, customer
			where l_orderkey = o_orderkey and o_custkey = c_custkey group by 1 order by 1`, true},
		// TPC-H Q10's shape: nation's join above customer's; orders and
		// lineitem aggregated by customer key below customer's join.
		{`select c_custkey, c_name, n_name, sum(l_extendedprice * (1 - l_discount)), count(*) from customer, orders, lineitem, nation
			where c_custkey = o_custkey and l_orderkey = o_orderkey and c_nationkey = n_nationkey and l_returnflag = 'R'
			group by c_custkey, c_name, n_name order by 1`, true},
	} {
		o := Options{TargetPartitions: 3, EagerRows: 1}
		_, got := runSQLWith(t, cat, c.sql, o)
		want, err := db.Rows(c.sql)
		if err != nil {
			t.Fatal(err)
		}
		if err := oracle.SameRows(got, want); err != nil {
			t.Fatalf("%s: %v\nkapot:  %q\nduckdb: %q", c.sql, err, got, want)
		}
		p, err := PlanQuery(context.Background(), cat, c.sql, o)
		if err != nil {
			t.Fatal(err)
		}
		text, err := Explain(p)
		if err != nil {
			t.Fatal(err)
		}
		if early.MatchString(text) != c.early {
			t.Errorf("%s: early aggregate %v, want %v:\n%s", c.sql, !c.early, c.early, text)
		}
	}
}

// TestImpliedValues: the constants a filter restricts a column to, through
// ORs (their union) and ANDs (the smaller side), and none where it does
// not (a range, NOT IN, another column).
func TestImpliedValues(t *testing.T) {
	col := func(id colID) *expr { return &expr{kind: eCol, col: id} }
	eq := func(id colID, v int64) *expr {
		return &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{col(id), int64Lit(v)}}
	}
	bin := func(op kapotv1.BinaryOp, a, b *expr) *expr { return &expr{kind: eBinary, op: op, args: []*expr{a, b}} }
	or := func(a, b *expr) *expr { return bin(kapotv1.BinaryOp_BINARY_OP_OR, a, b) }
	and := func(a, b *expr) *expr { return bin(kapotv1.BinaryOp_BINARY_OP_AND, a, b) }
	in := &expr{kind: eInList, args: []*expr{col(1), int64Lit(3), int64Lit(4), int64Lit(3)}}
	for _, c := range []struct {
		name string
		pred *expr
		want int // -1: none
	}{
		{"col = c", eq(1, 7), 1},
		{"c = col", bin(kapotv1.BinaryOp_BINARY_OP_EQ, int64Lit(7), col(1)), 1},
		{"q04's OR of ANDs", or(and(eq(1, 2001), eq(2, 1)), or(and(eq(1, 2002), eq(2, 1)), and(eq(1, 2001), eq(2, 2)))), 2},
		{"IN, a value twice", in, 2},
		{"AND: the smaller", and(in, eq(1, 3)), 1},
		{"OR with another column", or(eq(1, 1), eq(2, 1)), -1},
		{"a range", bin(kapotv1.BinaryOp_BINARY_OP_LT, col(1), int64Lit(3)), -1},
		{"NOT IN", &expr{kind: eInList, negated: true, args: []*expr{col(1), int64Lit(3)}}, -1},
	} {
		got := impliedValues(c.pred, 1)
		if (got == nil) != (c.want < 0) || got != nil && len(got) != c.want {
			t.Errorf("%s: %v, want %d values", c.name, got, c.want)
		}
	}
}
