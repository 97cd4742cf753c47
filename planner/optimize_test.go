package planner

import (
	"context"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/tpch"
)

// TestJoinGraphOrderedByOptimiser checks the split of work between binder
// and optimiser: binding TPC-H Q5 leaves its six FROM relations as one join
// graph (joined as written, no order chosen), and optimise turns every
// graph into a tree of joins, the order the physical plan has.
func TestJoinGraphOrderedByOptimiser(t *testing.T) {
	cat := tpchCatalog(t)
	q, err := tpch.Query(5)
	if err != nil {
		t.Fatal(err)
	}
	sel, lists, err := parseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{TargetPartitions: 4}
	lp, err := bindQuery(context.Background(), cat, sel, lists, o)
	if err != nil {
		t.Fatal(err)
	}
	bound := printLogical(lp.root, lp.b.cols)
	if n := strings.Count(bound, "JoinGraph:"); n != 1 || strings.Contains(bound, "Join: ") {
		t.Fatalf("bound plan: %d join graphs, want 1 and no joins:\n%s", n, bound)
	}
	var graph *joinGraphRel
	var find func(rel)
	find = func(r rel) {
		if g, ok := r.(*joinGraphRel); ok {
			graph = g
		}
		for _, in := range inputs(r) {
			find(in)
		}
	}
	find(lp.root)
	if len(graph.items) != 6 {
		t.Fatalf("the graph joins %d relations, want 6", len(graph.items))
	}
	optimise(lp, o)
	got := printLogical(lp.root, lp.b.cols)
	if strings.Contains(got, "JoinGraph:") || strings.Count(got, "Join: INNER") != 5 {
		t.Fatalf("optimised plan:\n%s", got)
	}
	want, err := ExplainLogical(context.Background(), cat, q, o)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("optimise differs from ExplainLogical:\n%s", lineDiff(want, got))
	}
}
