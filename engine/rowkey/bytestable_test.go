package rowkey

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestBytesTableMatchesMap drives the table and a Go map with the same
// keys: short, empty, long, sharing prefixes, repeated.
func TestBytesTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tab, ref := NewBytesTable(), map[string]int32{}
	for i := range 200000 {
		var k []byte
		switch rng.IntN(4) {
		case 0:
			k = nil
		case 1:
			k = []byte(fmt.Sprint(rng.IntN(5000)))
		case 2:
			k = []byte(fmt.Sprintf("prefix-%d-%s", rng.IntN(50000), string(make([]byte, rng.IntN(40)))))
		default:
			k = fmt.Appendf(nil, "%d|%d", rng.IntN(300), rng.IntN(300))
		}
		want, had := ref[string(k)]
		if !had {
			want = int32(i)
			ref[string(k)] = want
		}
		got, found := tab.GetOrPut(k, int32(i))
		if got != want || found != had {
			t.Fatalf("key %q: got %d, %v; want %d, %v", k, got, found, want, had)
		}
	}
	if tab.Len() != len(ref) {
		t.Fatalf("%d keys, want %d", tab.Len(), len(ref))
	}
}

func BenchmarkBytesTable(b *testing.B) {
	keys := make([][]byte, 1<<20)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "%08d|%08d|%04d", i*7919%500000, i%1000, i%3)
	}
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			tab := NewBytesTable()
			for i, k := range keys {
				tab.GetOrPut(k, int32(i))
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		for b.Loop() {
			m := map[string]int32{}
			for i, k := range keys {
				if _, ok := m[string(k)]; !ok {
					m[string(k)] = int32(i)
				}
			}
		}
	})
}
