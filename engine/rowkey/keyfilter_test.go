package rowkey

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKeyFilter: every key of the table passes; of keys not in it, few do.
func TestKeyFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	tab := NewIntTable(0)
	in := map[int64]bool{}
	for i := range 100000 {
		k := rng.Int64N(1<<40) - 1<<39
		tab.GetOrPut(k, int32(i))
		in[k] = true
	}
	f := NewKeyFilter(tab)
	for k := range in {
		if !f.MayContain(k) {
			t.Fatalf("key %d of the table is filtered out", k)
		}
	}
	pass, n := 0, 0
	for range 200000 {
		k := rng.Int64N(1<<40) - 1<<39
		if in[k] {
			continue
		}
		n++
		if f.MayContain(k) {
			pass++
		}
	}
	if rate := float64(pass) / float64(n); rate > 0.06 {
		t.Fatalf("%.1f %% of absent keys pass the filter, want about 3 %%", 100*rate)
	}
	// Select picks, in order, the keys MayContain passes, after what out
	// holds.
	keys := make([]int64, 0, 3000)
	for k := range in {
		keys = append(keys, k, rng.Int64N(1<<40)-1<<39)
		if len(keys) == cap(keys) {
			break
		}
	}
	want := []int32{-1}
	for i, k := range keys {
		if f.MayContain(k) {
			want = append(want, int32(i))
		}
	}
	if got := f.Select(keys, []int32{-1}); !slices.Equal(got, want) || len(want) < 1500 {
		t.Fatalf("Select: %d indexes, want %d", len(got), len(want))
	}
}
