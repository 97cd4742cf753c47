package rowkey

import (
	"math/rand/v2"
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
}
