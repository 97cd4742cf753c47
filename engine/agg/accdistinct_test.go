package agg

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/rowkey"
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

// TestDistinctCountWordsThenBytes: integer values are kept as words until
// a value with a longer key comes (a final phase may merge any states):
// the words move to the byte-key table in the order they came, and the
// state is the same bytes as the encoder's keys (rowkey.NewEncoder).
func TestDistinctCountWordsThenBytes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	ib := array.NewInt32Builder(mem)
	ib.AppendValues([]int32{7, -1, 7, 3}, nil)
	ints := ib.NewArray()
	ib.Release()
	defer ints.Release()
	a := &distinctCountAcc{}
	a.Grow(2)
	if err := a.Update(ctx, []uint32{0, 0, 0, 1}, ints); err != nil {
		t.Fatal(err)
	}
	if a.seen != nil || len(a.pairs.groups) != 3 {
		t.Fatalf("words: seen %v, %d pairs, want 3 pairs", a.seen != nil, len(a.pairs.groups))
	}
	enc, err := rowkey.NewEncoder(ints)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, i := range []int{0, 1} {
		k := enc(nil, i)
		want = append(binary.AppendUvarint(want, uint64(len(k))), k...)
	}
	st := a.State(mem)
	if got := st[0].(*array.Binary).Value(0); string(got) != string(want) {
		t.Fatalf("group 0's state % x, want % x", got, want)
	}
	st[0].Release()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"seven c", "a longer string", "seven c"}, nil)
	strs := sb.NewArray()
	sb.Release()
	defer strs.Release()
	if err := a.Update(ctx, []uint32{0, 1, 1}, strs); err != nil {
		t.Fatal(err)
	}
	if a.seen == nil || len(a.pairs.groups) != 0 || a.Bytes() <= 0 {
		t.Fatalf("after a longer key: seen %v, %d pairs, %d bytes", a.seen != nil, len(a.pairs.groups), a.Bytes())
	}
	checkInt64s(t, a.Result(mem), []int64{3, 3})
	var order []string
	a.each(func(g uint32, v []byte) { order = append(order, fmt.Sprintf("%d:%x", g, v)) })
	if len(order) != 6 || order[0] != fmt.Sprintf("0:%x", enc(nil, 0)) || order[2] != fmt.Sprintf("1:%x", enc(nil, 3)) {
		t.Fatalf("order %v", order)
	}
}
