package rowkey

import (
	"math/bits"
	"slices"
)

// KeyFilter is a blocked Bloom filter over the keys of an IntTable: one
// 64-bit word per key, three bits set in it, about a byte per key. A join
// whose build side is too large for the CPU's caches probes it first: a
// probe row whose key is not in the build side (most rows of a selective
// join) then costs one cached word instead of a cache miss into the table.
// It never says no to a key the table holds; it says yes to about 3 % of
// the others.
type KeyFilter struct {
	words []uint64
	shift uint // 64 - log2(len(words))
}

// filterHash is the multiplier of the filter's hash, unrelated to the
// table's (fibonacci), so a key's word and bits say nothing of its slot.
const filterHash = 0xC2B2AE3D27D4EB4F

// NewKeyFilter returns the filter of t's keys.
func NewKeyFilter(t *IntTable) *KeyFilter {
	lg := bits.Len(uint(max(t.n/8, 64) - 1))
	f := &KeyFilter{words: make([]uint64, 1<<lg), shift: uint(64 - lg)}
	for _, s := range t.slots {
		if s.val != 0 {
			h := uint64(s.key) * filterHash
			f.words[h>>f.shift] |= filterBits(h)
		}
	}
	return f
}

// filterBits are the three bits of a hash within its word.
func filterBits(h uint64) uint64 {
	return 1<<(h&63) | 1<<((h>>6)&63) | 1<<((h>>12)&63)
}

// MayContain reports whether k may be one of the table's keys; false means
// it is not.
func (f *KeyFilter) MayContain(k int64) bool {
	h := uint64(k) * filterHash
	m := filterBits(h)
	return f.words[h>>f.shift]&m == m
}

// Bytes is the filter's memory.
func (f *KeyFilter) Bytes() int64 { return int64(len(f.words)) * 8 }

// Select appends to out the indexes of the keys that may be in the table
// and returns it. It tests a whole batch without a branch per key: each
// key's word is an independent load, which the processor overlaps with
// the next ones' (a branch on each answer, mispredicted for a few keys
// in ten, made the probes of TPC-H Q5 at SF 10 wait on one cache miss
// after another: 25 ns a key, a quarter of the query).
func (f *KeyFilter) Select(keys []int64, out []int32) []int32 {
	start := len(out)
	out = slices.Grow(out, len(keys))[:start+len(keys)]
	sel := out[start:]
	n := 0
	for i, k := range keys {
		h := uint64(k) * filterHash
		m := filterBits(h)
		z := f.words[h>>f.shift]&m ^ m // 0: every bit set
		sel[n] = int32(i)
		n += int(1 - (z|-z)>>63)
	}
	return out[:start+n]
}
