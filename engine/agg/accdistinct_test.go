package agg

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestDistinctCountSet counts distinct values per group for keys that fit
// the short set (ints, short strings) and keys that do not (long strings),
// and survives the partial state's round trip into a final Accumulator.
func TestDistinctCountSet(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	long := "a string longer than sixteen bytes"
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"a", "a", "b", long, long, long + "x", "", ""}, nil)
	sb.AppendNull()
	strs := sb.NewArray()
	sb.Release()
	defer strs.Release()
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{1, 1, 2, 3, 3, -4, 5, 5, 0}, []bool{true, true, true, true, true, true, true, true, false})
	ints := ib.NewArray()
	ib.Release()
	defer ints.Release()
	groups := []uint32{0, 0, 0, 1, 1, 1, 2, 2, 2}
	for _, tc := range []struct {
		name string
		arg  arrow.Array
		want []int64
	}{
		{"strings", strs, []int64{2, 2, 1}},
		{"ints", ints, []int64{2, 2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			partial := &distinctCountAcc{}
			partial.Grow(3)
			if err := partial.Update(ctx, groups, tc.arg); err != nil {
				t.Fatal(err)
			}
			checkInt64s(t, partial.Result(mem), tc.want)
			// Two partial states of the same rows merge into the same sets.
			st := partial.State(mem)
			// A state is the same bytes every run: the values in the
			// order they came (a set's order once varied run to run).
			again := &distinctCountAcc{}
			again.Grow(3)
			if err := again.Update(ctx, groups, tc.arg); err != nil {
				t.Fatal(err)
			}
			st2 := again.State(mem)
			if a, b := st[0].(*array.Binary), st2[0].(*array.Binary); a.Len() != 3 || b.Len() != 3 || string(a.ValueBytes()) != string(b.ValueBytes()) {
				t.Fatalf("states differ: %v and %v", a, b)
			}
			st2[0].Release()
			final := &distinctCountAcc{}
			final.Grow(3)
			for range 2 {
				if err := final.Merge(ctx, []uint32{0, 1, 2}, st); err != nil {
					t.Fatal(err)
				}
			}
			st[0].Release()
			checkInt64s(t, final.Result(mem), tc.want)
		})
	}
	sum, err := newDistinctSum(arrow.PrimitiveTypes.Int64, false)
	if err != nil {
		t.Fatal(err)
	}
	sum.Grow(4)
	if err := sum.Update(ctx, groups, ints); err != nil {
		t.Fatal(err)
	}
	got := sum.Result(mem)
	defer got.Release()
	// Group 3 saw no rows: NULL.
	if s := got.String(); s != "[3 -1 5 (null)]" {
		t.Fatalf("sum(DISTINCT) = %s, want [3 -1 5 (null)]", s)
	}
}

func checkInt64s(t *testing.T, a arrow.Array, want []int64) {
	t.Helper()
	defer a.Release()
	got := a.(*array.Int64).Int64Values()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
