package expr

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestInSet: an IN list sent as a set of values answers as the same list
// of literals would: SQL's nulls, values the column's type cannot hold
// never match, strings of either width.
func TestInSet(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "l", Type: arrow.BinaryTypes.LargeString, Nullable: true}}, nil)
	arr := func(typ arrow.DataType, js string) arrow.Array {
		a, _, err := array.FromJSON(mem, typ, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cols := []arrow.Array{arr(arrow.PrimitiveTypes.Int32, `[1, 2, null, -7, 2147483647]`), arr(arrow.BinaryTypes.String, `["a", "b", null, "it's", ""]`),
		arr(arrow.BinaryTypes.LargeString, `["a", "b", null, "it's", ""]`)}
	b := array.NewRecordBatch(schema, cols, 5)
	for _, c := range cols {
		c.Release()
	}
	defer b.Release()
	big := []int64{1 << 40, -7, 2147483647, -1 << 40}
	for _, c := range []struct {
		e          *kapotv1.PhysicalExprNode
		want, text string
	}{
		{wiretest.InSet(wiretest.Col("i"), false, big, nil), "[false false (null) true true]", "i@0 IN (-7, 2147483647)"},
		{wiretest.InSet(wiretest.Col("i"), true, big, nil), "[true true (null) false false]", "i@0 NOT IN (-7, 2147483647)"},
		{wiretest.InSet(wiretest.Col("i"), false, []int64{1 << 40}, nil), "[false false (null) false false]", "i@0 IN ()"},
		{wiretest.InSet(wiretest.Col("s"), false, nil, []string{"it's", "", "zz"}), "[false false (null) true true]", "s@1 IN ('it''s', '', 'zz')"},
		{wiretest.InSet(wiretest.Col("l"), true, nil, []string{"it's", "", "zz"}), "[true true (null) false false]", "l@2 NOT IN ('it''s', '', 'zz')"},
	} {
		ex, err := FromProto(c.e, schema)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ex.Eval(context.Background(), alloc.NewPoisoningAllocator(mem), b)
		if err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
		if got := fmt.Sprint(out); got != c.want {
			t.Errorf("%s = %s, want %s", ex, got, c.want)
		}
		if got := ex.String(); got != c.text {
			t.Errorf("printed as %s, want %s", got, c.text)
		}
		out.Release()
	}
	// A set of a type the column does not compare with, or both a list
	// and a set, is a bad plan.
	for _, e := range []*kapotv1.PhysicalExprNode{wiretest.InSet(wiretest.Col("s"), false, []int64{1}, nil), wiretest.InSet(wiretest.Col("i"), false, nil, []string{"a"}),
		{Expr: &kapotv1.PhysicalExprNode_InList{InList: &kapotv1.InListExpr{Expr: wiretest.Col("i"), List: []*kapotv1.PhysicalExprNode{wiretest.I64(1)}, IntSet: []int64{2}}}}} {
		if _, err := FromProto(e, schema); err == nil {
			t.Errorf("%v: no error", e)
		}
	}
	// Printed: the first values and the count.
	many := make([]int64, 100)
	for i := range many {
		many[i] = int64(i)
	}
	ex, err := FromProto(wiretest.InSet(wiretest.Col("i"), false, many, nil), schema)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ex.String(), "i@0 IN (0, 1, 2, 3, 4, 5, 6, 7, … 100 values)"; got != want {
		t.Errorf("printed as %s, want %s", got, want)
	}
}
