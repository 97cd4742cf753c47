package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// selectIndicesNaive is selectIndices row by row.
func selectIndicesNaive(idx []int32, mask []bool, sel []int32, first bool) []int32 {
	pass := func(k int32) bool { return k < 0 || int(k) >= len(mask) || mask[k] }
	var out []int32
	if first {
		for i, k := range idx {
			if pass(k) {
				out = append(out, int32(i))
			}
		}
		return out
	}
	for _, i := range sel {
		if pass(idx[i]) {
			out = append(out, i)
		}
	}
	return out
}

// TestSelectIndices: the rows kept by a dictionary's mask, over all rows
// and over a selection, are the naive loop's, indices out of range kept.
func TestSelectIndices(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 1000, 4099} {
		idx := make([]int32, n)
		for i := range idx {
			idx[i] = int32(r.IntN(12)) - 1 // -1 and 10 are out of range
		}
		mask := make([]bool, 10)
		for i := range mask {
			mask[i] = r.IntN(3) == 0
		}
		all := selectIndices(idx, mask, nil, true)
		if want := selectIndicesNaive(idx, mask, nil, true); !slices.Equal(all, want) {
			t.Fatalf("n=%d first: got %v, want %v", n, all, want)
		}
		var some []int32
		for i := 0; i < n; i += 3 {
			some = append(some, int32(i))
		}
		want := selectIndicesNaive(idx, mask, some, false)
		if got := selectIndices(idx, mask, slices.Clone(some), false); !slices.Equal(got, want) {
			t.Fatalf("n=%d: got %v, want %v", n, got, want)
		}
	}
}

func BenchmarkSelectIndices(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	idx := make([]int32, 1<<16)
	for i := range idx {
		idx[i] = int32(r.IntN(3))
	}
	mask := []bool{false, true, false}
	sel := make([]int32, len(idx))
	b.SetBytes(int64(len(idx)))
	for b.Loop() {
		sel = selectIndices(idx, mask, sel, true)
	}
}
