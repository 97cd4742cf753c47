package agg

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/expr"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestArrayAggTwoPhase: array_agg(v ORDER BY k DESC) in two partial
// accumulators (NULL values kept, a group seen by one of them only, a
// group without rows), their states merged by a final one built over the
// state type, on a checked allocator.
func TestArrayAggTwoPhase(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	opts := Options{Order: []expr.SortKey{{Descending: true}}}
	argType := arrow.StructOf(arrow.Field{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true})
	arg := func(vals []string, keys []int64) arrow.Array {
		b := array.NewStructBuilder(mem, argType)
		defer b.Release()
		for i, v := range vals {
			b.Append(true)
			if v == "NULL" {
				b.FieldBuilder(0).AppendNull()
			} else {
				b.FieldBuilder(0).(*array.StringBuilder).Append(v)
			}
			b.FieldBuilder(1).(*array.Int64Builder).Append(keys[i])
		}
		return b.NewArray()
	}
	var states [][]arrow.Array
	for _, in := range []struct {
		groups []uint32
		vals   []string
		keys   []int64
	}{
		{[]uint32{0, 1, 0}, []string{"a", "b", "NULL"}, []int64{1, 5, 3}},
		{[]uint32{0, 0}, []string{"c", "d"}, []int64{2, 4}},
	} {
		acc, err := NewWithOptions(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG, argType, false, opts)
		if err != nil {
			t.Fatal(err)
		}
		acc.Grow(3)
		a := arg(in.vals, in.keys)
		err = acc.Update(ctx, in.groups, a)
		a.Release()
		if err != nil {
			t.Fatal(err)
		}
		if acc.(Sized).Bytes() <= 0 {
			t.Error("array_agg holds values but reports no bytes")
		}
		states = append(states, acc.State(mem))
	}
	fopts := opts
	fopts.FromState = true
	final, err := NewWithOptions(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG, states[0][0].DataType(), false, fopts)
	if err != nil {
		t.Fatal(err)
	}
	final.Grow(3)
	for _, st := range states {
		if err := final.Merge(ctx, []uint32{0, 1, 2}, st); err != nil {
			t.Fatal(err)
		}
		for _, c := range st {
			c.Release()
		}
	}
	res := final.Result(mem)
	defer res.Release()
	if !arrow.TypeEqual(res.DataType(), arrow.ListOf(arrow.BinaryTypes.String)) {
		t.Fatalf("result type %s", res.DataType())
	}
	want := []string{"[d, NULL, c, a]", "[b]", "NULL"}
	for i, w := range want {
		if got := expr.FormatValue(res, i); got != w {
			t.Errorf("group %d: %s, want %s", i, got, w)
		}
	}
}

// TestNestedMinMaxTwoPhase: max of lists in DuckDB's order ([1, NULL]
// after [1, 2], [] first) in two partial accumulators merged by a final
// one, NULL rows skipped, a group without values NULL.
func TestNestedMinMaxTwoPhase(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	lt := arrow.ListOf(arrow.PrimitiveTypes.Int64)
	var states []arrow.Array
	for _, js := range []string{`[[1, 2], [], null]`, `[[1, null], [0], null]`} {
		arr, _, err := array.FromJSON(mem, lt, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		acc, err := New(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX, lt, false)
		if err != nil {
			t.Fatal(err)
		}
		acc.Grow(3)
		err = acc.Update(ctx, []uint32{0, 1, 2}, arr)
		arr.Release()
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, acc.State(mem)[0])
	}
	final, err := NewWithOptions(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX, lt, false, Options{FromState: true})
	if err != nil {
		t.Fatal(err)
	}
	final.Grow(3)
	for _, st := range states {
		if err := final.Merge(ctx, []uint32{0, 1, 2}, []arrow.Array{st}); err != nil {
			t.Fatal(err)
		}
		st.Release()
	}
	res := final.Result(mem)
	defer res.Release()
	for i, want := range []string{"[1, NULL]", "[0]", "NULL"} {
		if got := expr.FormatValue(res, i); got != want {
			t.Errorf("group %d: %s, want %s", i, got, want)
		}
	}
}
