package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func filterNode(in *kapotv1.PhysicalPlanNode, pred *kapotv1.PhysicalExprNode) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: in, Predicate: pred}}}
}

// planLines renders a built plan one node per line, as EXPLAIN does.
func planLines(t *testing.T, n *kapotv1.PhysicalPlanNode) []string {
	t.Helper()
	p, err := FromProto(n)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(ExecutionPlan)
	walk = func(p ExecutionPlan) {
		out = append(out, Unwrap(p).String())
		for _, c := range p.Children() {
			walk(c)
		}
	}
	walk(p)
	return out
}

// TestStackedFilters checks that stacked filters merge into one node when
// the outer predicate cannot fail, keep the rows each would keep, and that
// a predicate that can fail still sees only the rows the filter below kept.
func TestStackedFilters(t *testing.T) {
	// qty 0..299 with every 7th NULL; product p<qty%5>.
	var sb strings.Builder
	sb.WriteString("region,product,qty,price\n")
	for i := range 300 {
		q := fmt.Sprint(i)
		if i%7 == 3 {
			q = ""
		}
		fmt.Fprintf(&sb, "r,p%d,%s,1.0\n", i%5, q)
	}
	path := filepath.Join(t.TempDir(), "f.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	scan := salesCSV([]string{path})
	qty := func(keep func(int) bool) []string {
		var out []string
		for i := range 300 {
			if i%7 != 3 && keep(i) {
				out = append(out, fmt.Sprintf("r|p%d|%d|1", i%5, i))
			}
		}
		slices.Sort(out)
		return out
	}
	str := func(s string) *kapotv1.PhysicalExprNode {
		return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Literal{Literal: &kapotv1.ScalarValue{
			Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8}, Value: &kapotv1.ScalarValue_StringValue{StringValue: s}}}}
	}
	cases := []struct {
		name    string
		plan    *kapotv1.PhysicalPlanNode
		filters int // Filter nodes after building
		want    []string
	}{
		{
			name: "dense then sparse selection",
			plan: filterNode(filterNode(filterNode(scan,
				wiretest.Bin(wiretest.Col("qty"), kapotv1.BinaryOp_BINARY_OP_GTE, wiretest.I64(10))),
				wiretest.Bin(wiretest.Col("qty"), kapotv1.BinaryOp_BINARY_OP_LT, wiretest.I64(40))),
				wiretest.Bin(wiretest.Col("product"), kapotv1.BinaryOp_BINARY_OP_NEQ, str("p1"))),
			filters: 1,
			want:    qty(func(i int) bool { return i >= 10 && i < 40 && i%5 != 1 }),
		},
		{
			name: "nothing left before the last conjunct",
			plan: filterNode(filterNode(scan,
				wiretest.Bin(wiretest.Col("qty"), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(1000))),
				wiretest.Bin(wiretest.Col("product"), kapotv1.BinaryOp_BINARY_OP_EQ, str("p1"))),
			filters: 1,
			want:    nil,
		},
		{
			name: "every row passes",
			plan: filterNode(filterNode(scan,
				wiretest.Bin(wiretest.Col("qty"), kapotv1.BinaryOp_BINARY_OP_GTE, wiretest.I64(0))),
				wiretest.Bin(wiretest.Col("region"), kapotv1.BinaryOp_BINARY_OP_EQ, str("r"))),
			filters: 1,
			want:    qty(func(int) bool { return true }),
		},
		{
			name: "a predicate that can fail is not merged",
			plan: filterNode(filterNode(scan,
				wiretest.Bin(wiretest.Col("qty"), kapotv1.BinaryOp_BINARY_OP_NEQ, wiretest.I64(0))),
				wiretest.Bin(wiretest.Bin(wiretest.I64(600), kapotv1.BinaryOp_BINARY_OP_DIV, wiretest.Col("qty")), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(20))),
			filters: 2,
			want:    qty(func(i int) bool { return i != 0 && 600/i > 20 }),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			for _, l := range planLines(t, c.plan) {
				if strings.HasPrefix(l, "Filter(") {
					n++
				}
			}
			if n != c.filters {
				t.Errorf("%d Filter nodes, want %d: %q", n, c.filters, planLines(t, c.plan))
			}
			for _, batch := range []int{2, 64, 1000} {
				tc, _ := newTC(t)
				tc.BatchSize = batch
				if got := run(t, c.plan, tc); !slices.Equal(got, c.want) {
					t.Fatalf("batch size %d: got %d rows %q\nwant %d rows %q", batch, len(got), got, len(c.want), c.want)
				}
			}
		})
	}
}
