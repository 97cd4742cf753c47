package agg

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestDistinctStringAgg: string_agg(DISTINCT) keeps each value once per
// group, in the order values first arrive, through the partial state's
// round trip (two partials of the same rows merge to the same value).
func TestDistinctStringAgg(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"b", "a", "b", "a", "", "", "x"}, nil)
	sb.AppendNull()
	arg := sb.NewArray()
	sb.Release()
	defer arg.Release()
	groups := []uint32{0, 0, 0, 0, 1, 1, 1, 2}
	fn := kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG
	opts := Options{Param: scalar.NewStringScalar(";")}
	partial, err := NewWithOptions(fn, arrow.BinaryTypes.String, true, opts)
	if err != nil {
		t.Fatal(err)
	}
	partial.Grow(3)
	if err := partial.Update(ctx, groups, arg); err != nil {
		t.Fatal(err)
	}
	want := `["b;a" ";x" (null)]`
	res := partial.Result(mem)
	if got := res.String(); got != want {
		t.Errorf("partial: %s, want %s", got, want)
	}
	res.Release()
	st := partial.State(mem)
	final, err := NewWithOptions(fn, st[0].DataType(), true, opts)
	if err != nil {
		t.Fatal(err)
	}
	final.Grow(3)
	for range 2 {
		if err := final.Merge(ctx, []uint32{0, 1, 2}, st); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range st {
		a.Release()
	}
	res = final.Result(mem)
	defer res.Release()
	if got := res.String(); got != want {
		t.Errorf("final: %s, want %s", got, want)
	}
	if _, err := NewWithOptions(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_CORR, arrow.BinaryTypes.String, true, Options{}); err == nil {
		t.Error("corr(DISTINCT) is not refused")
	}
}
