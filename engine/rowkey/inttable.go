package rowkey

import "math/bits"

// IntTable maps int64 keys to int32 values: an open-addressing hash table
// with linear probing, for the joins and aggregates keyed by one integer
// column (most of TPC-H's). Keys and values sit in two flat arrays, so a
// lookup is a multiply, a shift and, mostly, one or two adjacent loads;
// Go's map costs several times that per row.
//
// Slots are found by Fibonacci hashing (the key times 2^64/φ, top bits),
// which spreads both dense key ranges and the keys of one hash partition
// (whose Mix64 hashes share their low bits) over the whole table.
type IntTable struct {
	keys  []int64
	vals  []int32 // value+1; 0 marks an empty slot
	shift uint    // 64 - log2(len(keys))
	n     int     // keys held
}

const fibonacci = 0x9E3779B97F4A7C15

// NewIntTable returns a table sized for about hint keys.
func NewIntTable(hint int) *IntTable {
	t := &IntTable{}
	t.alloc(max(16, 2*hint))
	return t
}

// alloc makes room for size slots (rounded up to a power of two).
func (t *IntTable) alloc(size int) {
	lg := bits.Len(uint(size - 1))
	t.keys = make([]int64, 1<<lg)
	t.vals = make([]int32, 1<<lg)
	t.shift = uint(64 - lg)
}

// slot returns the slot of k: where it is, or the empty slot where it goes.
func (t *IntTable) slot(k int64) int {
	mask := len(t.keys) - 1
	i := int((uint64(k) * fibonacci) >> t.shift)
	for {
		if t.vals[i] == 0 || t.keys[i] == k {
			return i
		}
		i = (i + 1) & mask
	}
}

// get returns k's value.
func (t *IntTable) Get(k int64) (int32, bool) {
	i := t.slot(k)
	return t.vals[i] - 1, t.vals[i] != 0
}

// swap stores v under k and returns the value it replaces, if any.
func (t *IntTable) Swap(k int64, v int32) (int32, bool) {
	i := t.slot(k)
	if old := t.vals[i]; old != 0 {
		t.vals[i] = v + 1
		return old - 1, true
	}
	t.keys[i], t.vals[i] = k, v+1
	t.n++
	if 2*t.n > len(t.keys) {
		t.grow()
	}
	return 0, false
}

// getOrPut returns k's value, storing v under k first when k is new.
func (t *IntTable) GetOrPut(k int64, v int32) (int32, bool) {
	i := t.slot(k)
	if old := t.vals[i]; old != 0 {
		return old - 1, true
	}
	t.keys[i], t.vals[i] = k, v+1
	t.n++
	if 2*t.n > len(t.keys) {
		t.grow()
	}
	return v, false
}

// grow doubles the table (kept at most half full).
func (t *IntTable) grow() {
	keys, vals := t.keys, t.vals
	t.alloc(2 * len(keys))
	for i, v := range vals {
		if v != 0 {
			j := t.slot(keys[i])
			t.keys[j], t.vals[j] = keys[i], v
		}
	}
}

// len is the number of keys held.
func (t *IntTable) Len() int { return t.n }
