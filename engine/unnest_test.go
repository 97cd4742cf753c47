package engine

import (
	"slices"
	"testing"

	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestUnnest: each row once per element of its list, in order, the other
// columns repeated; a NULL or empty list gives no row; lists longer than a
// batch (two rows here) span batches; a poisoning, checked allocator.
func TestUnnest(t *testing.T) {
	x := wiretest.Col("x")
	lists := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
		Input: intValues("x", 1, nil, 3, 0),
		Exprs: []*kapotv1.PhysicalExprNode{x, wiretest.Fn("string_split", wiretest.Fn("repeat", wiretest.Str("a,"), x), wiretest.Str(","))},
		Names: []string{"x", "l"},
	}}}
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Unnest{Unnest: &kapotv1.UnnestNode{Input: lists, Column: 1, Name: "e"}}}
	tc, _ := newTC(t)
	got := runOrdered(t, plan, tc)
	want := []string{"1|[a, '']|a", "1|[a, '']|", "3|[a, a, a, '']|a", "3|[a, a, a, '']|a", "3|[a, a, a, '']|a", "3|[a, a, a, '']|", "0|['']|"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Zipped with a one-element list (NULLs past its end; [NULL] for a NULL
	// x, which gives a row though its other list is NULL).
	withOne := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
		Input: lists, Exprs: []*kapotv1.PhysicalExprNode{x, wiretest.Col("l"), wiretest.Fn("list_value", x)}, Names: []string{"x", "l", "one"}}}}
	zipped := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Unnest{Unnest: &kapotv1.UnnestNode{Input: withOne, Column: 1, Name: "e",
		MoreColumns: []uint32{2}, MoreNames: []string{"o"}}}}
	got = runOrdered(t, projectCols(zipped, "x", "e", "o"), tc)
	want = []string{"1|a|1", "1||NULL", "NULL|NULL|NULL", "3|a|3", "3|a|NULL", "3|a|NULL", "3||NULL", "0||0"}
	if !slices.Equal(got, want) {
		t.Fatalf("zipped: got %q\nwant %q", got, want)
	}
	bad := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Unnest{Unnest: &kapotv1.UnnestNode{Input: lists, Column: 0}}}
	if _, err := FromProto(bad); err == nil {
		t.Fatal("unnest of an integer column accepted")
	}
}
