package rowkey

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestIntTableMatchesMap drives the table and a Go map with the same
// operations over key sets that stress it: dense ranges, one hash
// partition's keys, extremes and zero, random 64-bit keys.
func TestIntTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := map[string][]int64{
		"dense":     {},
		"strided":   {},
		"extremes":  {0, -1, 1, math.MinInt64, math.MaxInt64, math.MinInt64 + 1, math.MaxInt64 - 1},
		"random":    {},
		"partition": {},
	}
	for i := int64(0); i < 5000; i++ {
		sets["dense"] = append(sets["dense"], i)
		sets["strided"] = append(sets["strided"], i<<20)
		sets["random"] = append(sets["random"], int64(rng.Uint64()))
		if Mix64(uint64(i))%2 == 0 { // the keys one of two hash partitions holds
			sets["partition"] = append(sets["partition"], i)
		}
	}
	for name, keys := range sets {
		tab, ref := NewIntTable(0), map[int64]int32{}
		for i, k := range keys {
			// getOrPut keeps the first value, swap replaces it.
			got, found := tab.GetOrPut(k, int32(i))
			want, had := ref[k]
			if !had {
				want = int32(i)
				ref[k] = want
			}
			if got != want || found != had {
				t.Fatalf("%s: getOrPut(%d) = %d, %v; want %d, %v", name, k, got, found, want, had)
			}
			if i%3 == 0 {
				old, found := tab.Swap(k, int32(-i))
				if !found || old != ref[k] {
					t.Fatalf("%s: swap(%d) = %d, %v; want %d, true", name, k, old, found, ref[k])
				}
				ref[k] = int32(-i)
			}
		}
		if tab.Len() != len(ref) {
			t.Fatalf("%s: %d keys, want %d", name, tab.Len(), len(ref))
		}
		for k, want := range ref {
			if got, ok := tab.Get(k); !ok || got != want {
				t.Fatalf("%s: get(%d) = %d, %v; want %d", name, k, got, ok, want)
			}
		}
		for i := 0; i < 1000; i++ {
			k := int64(rng.Uint64())
			_, want := ref[k]
			if _, got := tab.Get(k); got != want {
				t.Fatalf("%s: get(%d) found %v, want %v", name, k, got, want)
			}
		}
	}
}

func BenchmarkIntTable(b *testing.B) {
	keys := make([]int64, 1<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range keys {
		keys[i] = int64(rng.IntN(1 << 18))
	}
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			tab := NewIntTable(0)
			for i, k := range keys {
				tab.GetOrPut(k, int32(i))
			}
		}
	})
	// Q18's partial aggregate: 6M rows in key order, 4 per key.
	sorted := make([]int64, 6<<20)
	for i := range sorted {
		sorted[i] = int64(i / 4)
	}
	b.Run("sorted-1.5M-groups", func(b *testing.B) {
		for b.Loop() {
			tab := NewIntTable(0)
			for i, k := range sorted {
				tab.GetOrPut(k, int32(i))
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		for b.Loop() {
			m := map[int64]int32{}
			for i, k := range keys {
				if _, ok := m[k]; !ok {
					m[k] = int32(i)
				}
			}
		}
	})
}

// A join's probe of a build side larger than the caches: 2M keys, probed
// with 4M keys of which half are present.
func BenchmarkIntTableProbe(b *testing.B) {
	tab := NewIntTable(0)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 2 << 20 {
		tab.GetOrPut(int64(i)*7, int32(i))
	}
	probes := make([]int64, 4<<20)
	for i := range probes {
		probes[i] = int64(rng.IntN(4<<20)) * 7 / 2 * 2
	}
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for _, k := range probes {
			if _, ok := tab.Get(k); ok {
				n++
			}
		}
	}
}

// TestTouchWindows: loops touching ahead over keys of any length, from
// first to last or last to first, stay within the keys and leave the
// table's contents as they were.
func TestTouchWindows(t *testing.T) {
	tab := NewIntTable(touchSlots) // past touchSlots: touches load
	for k := range int64(1000) {
		tab.GetOrPut(k*7, int32(k))
	}
	for _, n := range []int{0, 1, touchRows - 1, touchRows, touchRows + 1, 3*touchRows + 17} {
		keys := make([]int64, n)
		for i := range keys {
			keys[i] = int64(i) * 7
		}
		for r := range keys {
			TouchAt(tab, keys, r)
		}
		for r := len(keys) - 1; r >= 0; r-- {
			TouchBackAt(tab, keys, r)
		}
	}
	for k := range int64(1000) {
		if v, ok := tab.Get(k * 7); !ok || v != int32(k) {
			t.Fatalf("key %d: %d, %v", k*7, v, ok)
		}
	}
}
