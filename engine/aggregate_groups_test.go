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
	// Values of one length each pack column by column, as the general
	// loop packs them.
	f1, f2 := build("A", "N", "R", "A"), build("F", "O", "F", "O")
	defer f1.Release()
	defer f2.Release()
	f3 := build("ab", "cd", "ef", "gh")
	defer f3.Release()
	fixed := packShortKeys([]arrow.Array{f1, f2, f3}, nil)
	want := []uint64{0x62_61_03_46_02_41_02, 0x64_63_03_4f_02_4e_02, 0x66_65_03_46_02_52_02, 0x68_67_03_4f_02_41_02}
	if !slices.Equal(fixed, want) {
		t.Fatalf("fixed-length keys packed %x, want %x", fixed, want)
	}
	s1, s2, s3 := array.NewSlice(f1, 1, 4), array.NewSlice(f2, 1, 4), array.NewSlice(f3, 1, 4)
	defer s1.Release()
	defer s2.Release()
	defer s3.Release()
	if got := packShortKeys([]arrow.Array{s1, s2, s3}, []uint64{7}); !slices.Equal(got, append([]uint64{7}, want[1:]...)) {
		t.Fatalf("sliced fixed-length keys packed %x, want %x after 7", got, want[1:])
	}
}
