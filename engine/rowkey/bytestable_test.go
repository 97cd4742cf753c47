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

// TestBytesTableBatch: GetOrPutBatch gives a batch's keys the values key
// by key GetOrPut would, new keys numbered in order of first appearance
// (repeats within the batch included), and lists the rows of new keys.
// The table grows past touchSlots (its probes touched ahead), and empty
// keys come last in a block.
func TestBytesTableBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	tab, ref := NewBytesTable(), NewBytesTable()
	var n int32
	for range 80 {
		var buf []byte
		offs := []int32{0}
		for range rng.IntN(3000) {
			if rng.IntN(500) > 0 {
				buf = fmt.Appendf(buf, "%d|%s", rng.IntN(40000), string(make([]byte, rng.IntN(3))))
			}
			offs = append(offs, int32(len(buf)))
		}
		ids, fresh, next := tab.GetOrPutBatch(buf, offs, n, nil, nil)
		var wantFresh []int32
		for r := range len(offs) - 1 {
			want, found := ref.GetOrPut(buf[offs[r]:offs[r+1]], n)
			if !found {
				wantFresh = append(wantFresh, int32(r))
				n++
			}
			if ids[r] != uint32(want) {
				t.Fatalf("row %d: value %d, want %d", r, ids[r], want)
			}
		}
		if next != n || fmt.Sprint(fresh) != fmt.Sprint(wantFresh) {
			t.Fatalf("next %d, want %d; new rows %v, want %v", next, n, fresh, wantFresh)
		}
	}
	if len(tab.heads.slots) < touchSlots {
		t.Fatalf("%d slots: the table never reached touchSlots (%d)", len(tab.heads.slots), touchSlots)
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

// TestBytesTableEmptyKeyLast: an empty key stored last in its block
// (its place is the block's end) is found again by a batch, whose probes
// are touched ahead in a table past touchSlots.
func TestBytesTableEmptyKeyLast(t *testing.T) {
	tab := NewBytesTable()
	var buf []byte
	offs := []int32{0}
	for i := range touchSlots {
		buf = fmt.Appendf(buf, "%d", i)
		offs = append(offs, int32(len(buf)))
	}
	offs = append(offs, int32(len(buf))) // the empty key, last
	_, _, n := tab.GetOrPutBatch(buf, offs, 0, nil, nil)
	ids, fresh, _ := tab.GetOrPutBatch(nil, []int32{0, 0}, n, nil, nil)
	if len(fresh) != 0 || ids[0] != uint32(n-1) {
		t.Fatalf("empty key: id %d (new rows %v), want %d", ids[0], fresh, n-1)
	}
}
