package expr

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
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
		{wiretest.InSet(wiretest.Col("i"), false, []int64{2, -7, 2, 0}, nil), "[false true (null) true false]", "i@0 IN (2, -7, 2, 0)"},
		{wiretest.InSet(wiretest.Col("i"), true, []int64{2, -7, 2, 0}, nil), "[true false (null) false true]", "i@0 NOT IN (2, -7, 2, 0)"},
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

// TestIntSet: the set of an IN list answers as a Go map of its values
// would, narrow (a bitmap) or wide, negated or not, at the edges of its
// range and past them.
func TestIntSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name string
		vals []int64
	}{
		{"empty", nil},
		{"one", []int64{math.MinInt64}},
		{"narrow", []int64{-3, 0, 5, 63, 64, 65, 1000, 5}},
		{"edge", []int64{0, maxIntSetBits - 1}},
		{"wide", []int64{0, maxIntSetBits, math.MaxInt64, math.MinInt64}},
		{"wide random", func() []int64 {
			v := make([]int64, 5000)
			for i := range v {
				v[i] = rng.Int64N(60_000)*100_000 - 3_000_000_000
			}
			return append(v, v[:100]...)
		}()},
		{"random", func() []int64 {
			v := make([]int64, 1000)
			for i := range v {
				v[i] = rng.Int64N(50_000) - 25_000
			}
			return v
		}()},
	} {
		set := newIntSet(c.vals)
		want := map[int64]bool{}
		for _, v := range c.vals {
			want[v] = true
		}
		if set.Len() != len(want) {
			t.Errorf("%s: Len %d, want %d", c.name, set.Len(), len(want))
		}
		probe := []int64{math.MinInt64, math.MaxInt64, -1, 0, 1, maxIntSetBits, maxIntSetBits - 1}
		for v := range want {
			probe = append(probe, v, v-1, v+1)
		}
		for range 1000 {
			probe = append(probe, rng.Int64N(60_000)-30_000)
		}
		for _, negated := range []bool{false, true} {
			bits := make([]byte, (len(probe)+7)/8)
			set.mark(probe, bits, negated)
			for i, v := range probe {
				if got := bits[i/8]>>(i%8)&1 == 1; got != (want[v] != negated) || set.Has(v) != want[v] {
					t.Fatalf("%s: %d in set: mark %v (negated %v), Has %v, want %v", c.name, v, got, negated, set.Has(v), want[v])
				}
			}
		}
	}
}
