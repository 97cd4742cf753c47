package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func sortNode(in *kapotv1.PhysicalPlanNode, fetch *int64, keys ...*kapotv1.SortExprNode) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Sort{Sort: &kapotv1.SortNode{Input: in, Exprs: keys, Fetch: fetch}}}
}

func key(name string, desc, nullsFirst bool) *kapotv1.SortExprNode {
	return &kapotv1.SortExprNode{Expr: col(name), Descending: desc, NullsFirst: nullsFirst}
}

func projectCols(in *kapotv1.PhysicalPlanNode, names ...string) *kapotv1.PhysicalPlanNode {
	p := &kapotv1.ProjectionNode{Input: in}
	for _, n := range names {
		p.Exprs = append(p.Exprs, col(n))
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: p}}
}

// runOrdered returns the rows of every partition in output order.
func runOrdered(t *testing.T, n *kapotv1.PhysicalPlanNode, tc *TaskContext) []string {
	t.Helper()
	p, err := FromProto(n)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := ExecuteCollect(context.Background(), p, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	return FormatRows(bs, "|")
}

func i64p(v int64) *int64 { return &v }

func TestSort(t *testing.T) {
	sales := func() *kapotv1.PhysicalPlanNode { return salesCSV([]string{"testdata/sales.csv"}) }
	cases := []struct {
		name string
		plan *kapotv1.PhysicalPlanNode
		want []string
	}{
		{"qty asc nulls last", projectCols(sortNode(sales(), nil, key("qty", false, false)), "qty", "product"),
			[]string{"1|pear", "1|apple", "2|pear", "3|apple", "4|plum", "5|apple", "NULL|apple"}},
		{"qty desc nulls first", projectCols(sortNode(sales(), nil, key("qty", true, true)), "qty"),
			[]string{"NULL", "5", "4", "3", "2", "1", "1"}},
		{"region asc nulls first, qty desc", projectCols(sortNode(sales(), nil, key("region", false, true), key("qty", true, false)), "region", "qty"),
			[]string{"NULL|4", "east|NULL", "north|3", "north|2", "north|1", "south|5", "south|1"}},
		{"float desc with fetch", projectCols(sortNode(sales(), i64p(3), key("price", true, false), key("product", false, false)), "price", "product"),
			[]string{"3.25|plum", "2|pear", "2|pear"}},
		{"fetch 0", sortNode(sales(), i64p(0), key("qty", false, false)), nil},
		{"empty input", sortNode(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{
			Input: sales(), Predicate: bin(col("qty"), kapotv1.BinaryOp_BINARY_OP_GT, i64(99))}}}, nil, key("qty", false, false)), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, _ := newTC(t)
			got := runOrdered(t, c.plan, tc)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestTopKMatchesFullSort compares the heap path (small fetch) with a full
// sort on random data with duplicates and nulls.
func TestTopKMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([]*kapotv1.ValuesRow, 500)
	typ := &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}
	for i := range rows {
		v := &kapotv1.ScalarValue{Type: typ}
		if rng.IntN(10) > 0 {
			v.Value = &kapotv1.ScalarValue_IntValue{IntValue: rng.Int64N(50) - 25}
		}
		id := &kapotv1.ScalarValue{Type: typ, Value: &kapotv1.ScalarValue_IntValue{IntValue: int64(i)}}
		rows[i] = &kapotv1.ValuesRow{Values: []*kapotv1.ScalarValue{v, id}}
	}
	values := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: &kapotv1.ValuesNode{
		Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "v", Type: typ, Nullable: true}, {Name: "id", Type: typ}}}, Rows: rows}}}
	for _, desc := range []bool{false, true} {
		for _, nf := range []bool{false, true} {
			tc, _ := newTC(t)
			full := runOrdered(t, sortNode(values, nil, key("v", desc, nf)), tc)
			for _, k := range []int64{1, 7, 50, 124} {
				got := runOrdered(t, sortNode(values, i64p(k), key("v", desc, nf)), tc)
				if !slices.Equal(got, full[:k]) {
					t.Fatalf("desc=%v nullsFirst=%v k=%d: top-K differs from the sorted prefix\n%v\n%v", desc, nf, k, got, full[:k])
				}
			}
		}
	}
}

func TestSortRejects(t *testing.T) {
	sales := salesCSV([]string{"testdata/sales.csv"})
	for name, n := range map[string]*kapotv1.PhysicalPlanNode{
		"no keys":        sortNode(sales, nil),
		"negative fetch": sortNode(sales, i64p(-1), key("qty", false, false)),
		"unknown column": sortNode(sales, nil, key("nope", false, false)),
	} {
		if _, err := FromProto(n); err == nil {
			t.Errorf("%s: accepted", name)
		} else if testing.Verbose() {
			fmt.Println(name, err)
		}
	}
}
