package engine

import (
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestPackShortKeysSliced: string keys of a sliced batch (a join's output,
// a scan's prefiltered rows) pack from the slice's rows, as the same
// strings unsliced do; keys longer than 8 bytes together do not pack.
func TestPackShortKeysSliced(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	build := func(vals ...string) *array.String {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewStringArray()
	}
	a, b := build("x", "A", "", "N", "RR", "toolongvalue"), build("yy", "F", "O", "", "Q", "z")
	defer a.Release()
	defer b.Release()
	whole := packShortKeys([]arrow.Array{a, b}, nil)
	sa, sb := array.NewSlice(a, 1, 6), array.NewSlice(b, 1, 6)
	defer sa.Release()
	defer sb.Release()
	sliced := packShortKeys([]arrow.Array{sa, sb}, nil)
	if len(whole) != 6 || !slices.Equal(sliced, whole[1:]) {
		t.Fatalf("sliced %x, want %x", sliced, whole[1:])
	}
	if whole[5] != noShortKey || whole[1] != 0x46_02_41_02 {
		t.Fatalf("packed %x", whole)
	}
}
