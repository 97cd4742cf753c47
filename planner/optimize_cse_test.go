package planner

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/catalog"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestShareSubexpressions: an expression an aggregate's arguments repeat,
// evaluated on every row at least once (q99's days between two dates in
// its CASE conditions), is computed once below the aggregate, with the
// same answers; one seen only in CASE branches (a division its WHEN
// guards) stays where it is and never sees the rows it is guarded from.
func TestShareSubexpressions(t *testing.T) {
	cat := tpchCatalog(t)
	for _, c := range []struct {
		sql    string
		shared []string // the expressions shared, as the logical plan prints them
		want   []string
	}{
		{`select sum(case when n_nationkey - n_regionkey <= 5 then 1 else 0 end),
			sum(case when n_nationkey - n_regionkey > 5 and n_nationkey - n_regionkey <= 15 then 1 else 0 end),
			sum(case when n_nationkey - n_regionkey > 15 then 1 else 0 end) from nation`,
			[]string{"n_nationkey#1 - n_regionkey#3 AS shared"}, []string{"8|8|9"}},
		{`select n_regionkey, sum((n_nationkey + 1) * 2), max((n_nationkey + 1) * 2 + 1), min(n_nationkey + 1)
			from nation group by n_regionkey order by n_regionkey`,
			[]string{"(n_nationkey#1 + 1) * 2 AS shared"},
			[]string{"0|110|35|1", "1|104|51|2", "2|146|45|9", "3|164|49|7", "4|126|43|5"}},
		{`select sum(case when n_regionkey = 1 then 1 else 0 end), max(case when n_regionkey = 1 then n_nationkey end) from nation`,
			nil, []string{"5|24"}},
		{`select sum(case when n_regionkey <> 0 then 100 / n_regionkey else 0 end),
			sum(case when n_regionkey > 0 then 100 / n_regionkey end) from nation`,
			nil, []string{"1040|1040"}},
	} {
		plan, err := ExplainLogical(context.Background(), cat, c.sql, Options{TargetPartitions: 2})
		if err != nil {
			t.Fatal(err)
		}
		var shared []string
		for _, l := range strings.Split(plan, "\n") {
			if strings.Contains(l, "Project:") {
				for _, e := range strings.Split(l, ", ") {
					if i := strings.Index(e, " AS shared"); i >= 0 {
						shared = append(shared, strings.TrimPrefix(e[:i+len(" AS shared")], strings.TrimSpace(l[:strings.Index(l, "Project:")+len("Project: ")])))
					}
				}
			}
		}
		if !slices.Equal(shared, c.shared) {
			t.Errorf("%s: shared %q, want %q\n%s", c.sql, shared, c.shared, plan)
		}
		for _, parts := range []int{1, 3} {
			if _, got := runSQLWith(t, cat, c.sql, Options{TargetPartitions: parts}); !slices.Equal(got, c.want) {
				t.Errorf("%s (%d partitions): %q, want %q", c.sql, parts, got, c.want)
			}
		}
	}
}

// chainSQL is a sum of n copies of col, parenthesised.
func chainSQL(col string, n int) string {
	return "(" + strings.Repeat(col+" + ", n-1) + col + ")"
}

// TestSubexprIDs: structurally equal subexpressions get one id, different
// ones different ids, and a chain of n additions is numbered once per
// node (n + 1 ids for its n additions and its column), whatever its depth.
func TestSubexprIDs(t *testing.T) {
	col := &expr{kind: eCol, col: 1, typ: arrow.PrimitiveTypes.Int64}
	other := &expr{kind: eCol, col: 2, typ: arrow.PrimitiveTypes.Int64}
	add := func(a, b *expr) *expr {
		return &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_ADD, args: []*expr{a, b}, typ: arrow.PrimitiveTypes.Int64}
	}
	const n = 2000
	chain, twin := col, &expr{kind: eCol, col: 1, typ: arrow.PrimitiveTypes.Int64}
	for range n {
		chain, twin = add(chain, col), add(twin, &expr{kind: eCol, col: 1, typ: arrow.PrimitiveTypes.Int64})
	}
	s := newSubexprs()
	if s.id(chain) != s.id(twin) || len(s.info) != n+1 || s.info[s.id(chain)].size != 2*n+1 {
		t.Fatalf("ids %d and %d, %d distinct, size %d", s.id(chain), s.id(twin), len(s.info), s.info[s.id(chain)].size)
	}
	if s.id(add(col, other)) == s.id(add(other, col)) || s.id(add(col, other)) == s.id(add(col, col)) {
		t.Fatal("different expressions share an id")
	}
}

// BenchmarkPlanRepeatedChains plans three aggregates over one chain of 900
// additions (3.6 s when each node's key printed its whole subtree).
func BenchmarkPlanRepeatedChains(b *testing.B) {
	cat := catalog.New()
	if err := cat.RegisterView("t", "select 1::bigint k", ""); err != nil {
		b.Fatal(err)
	}
	c := chainSQL("k", 900)
	sql := "select sum(" + c + "), sum(" + c + " * 2), max(" + c + ") from t"
	for b.Loop() {
		if _, err := PlanQuery(context.Background(), cat, sql, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
