package engine

import (
	"slices"
	"testing"

	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func nestedLoop(l, r *kapotv1.PhysicalPlanNode, jt kapotv1.JoinType, filter *kapotv1.PhysicalExprNode) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_NestedLoopJoin{NestedLoopJoin: &kapotv1.NestedLoopJoinNode{
		Left: l, Right: r, JoinType: jt, Filter: filter}}}
}

func TestNestedLoopJoin(t *testing.T) {
	// orders.amt BETWEEN customers.cid*10 AND customers.cid*10+100, a band join.
	band := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Between{Between: &kapotv1.BetweenExpr{
		Expr: wiretest.Col("amt"), Low: wiretest.Bin(wiretest.Col("cid"), kapotv1.BinaryOp_BINARY_OP_MUL, wiretest.I64(10)),
		High: wiretest.Bin(wiretest.Bin(wiretest.Col("cid"), kapotv1.BinaryOp_BINARY_OP_MUL, wiretest.I64(10)), kapotv1.BinaryOp_BINARY_OP_ADD, wiretest.I64(100))}}}
	cases := []struct {
		name   string
		jt     kapotv1.JoinType
		filter *kapotv1.PhysicalExprNode
		single bool // probe side coalesced to one partition
		want   []string
	}{
		{"inner band", kapotv1.JoinType_JOIN_TYPE_INNER, band, false, []string{
			"1|10|100|10|ann", "1|10|100|10|ann2", "2|20|200|10|ann", "2|20|200|10|ann2", "2|20|200|20|bob", "3|NULL|300|20|bob", "3|NULL|300|30|cy", "4|10|400|30|cy"}},
		{"left band", kapotv1.JoinType_JOIN_TYPE_LEFT, band, true, []string{
			"1|10|100|10|ann", "1|10|100|10|ann2", "2|20|200|10|ann", "2|20|200|10|ann2", "2|20|200|20|bob", "3|NULL|300|20|bob", "3|NULL|300|30|cy", "4|10|400|30|cy", "5|40|500|NULL|NULL"}},
		{"right band", kapotv1.JoinType_JOIN_TYPE_RIGHT, band, false, []string{
			"1|10|100|10|ann", "1|10|100|10|ann2", "2|20|200|10|ann", "2|20|200|10|ann2", "2|20|200|20|bob", "3|NULL|300|20|bob", "3|NULL|300|30|cy", "4|10|400|30|cy", "NULL|NULL|NULL|NULL|nul"}},
		{"left anti band", kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI, band, true, []string{"5|40|500"}},
		{"right semi band", kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, band, false, []string{"10|ann", "10|ann2", "20|bob", "30|cy"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, _ := newTC(t)
			right := customersCSV(t)
			if c.single {
				right = coalesceNode(right)
			}
			got := run(t, nestedLoop(ordersValues(), right, c.jt, c.filter), tc)
			slices.Sort(c.want)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
	t.Run("cross join", func(t *testing.T) {
		tc, _ := newTC(t)
		got := run(t, nestedLoop(intValues("a", 1, 2), intValues("b", 10, nil, 30), kapotv1.JoinType_JOIN_TYPE_INNER, nil), tc)
		want := []string{"1|10", "1|30", "1|NULL", "2|10", "2|30", "2|NULL"}
		if !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
	t.Run("cross join with empty side", func(t *testing.T) {
		tc, _ := newTC(t)
		if got := run(t, nestedLoop(intValues("a"), intValues("b", 1), kapotv1.JoinType_JOIN_TYPE_INNER, nil), tc); len(got) != 0 {
			t.Fatalf("got %q", got)
		}
		got := run(t, nestedLoop(intValues("a"), intValues("b", 1), kapotv1.JoinType_JOIN_TYPE_RIGHT, nil), tc)
		if !slices.Equal(got, []string{"NULL|1"}) {
			t.Fatalf("right join with empty left: got %q", got)
		}
	})
	t.Run("large cross join is sliced", func(t *testing.T) {
		tc, _ := newTC(t)
		var a, b []any
		for i := 0; i < 300; i++ {
			a = append(a, i)
		}
		for i := 0; i < 400; i++ {
			b = append(b, i)
		}
		tc.BatchSize = 8192
		// 120000 pairs; a filter keeps i = j.
		got := run(t, nestedLoop(intValues("a", a...), intValues("b", b...), kapotv1.JoinType_JOIN_TYPE_INNER,
			wiretest.Bin(wiretest.Col("a"), kapotv1.BinaryOp_BINARY_OP_EQ, wiretest.Col("b"))), tc)
		if len(got) != 300 {
			t.Fatalf("got %d rows, want 300", len(got))
		}
	})
}
