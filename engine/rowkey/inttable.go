package rowkey

import "math/bits"

// IntTable maps int64 keys to int32 values: an open-addressing hash table
// with linear probing, for the joins and aggregates keyed by one integer
// column (most of TPC-H's). A slot holds its key and value side by side,
// so a lookup is a multiply, a shift and, mostly, one cache line (two
// arrays of keys and values cost two cache misses a probe of a table
// larger than the caches); Go's map costs several times that per row.
//
// Slots are found by Fibonacci hashing (the key times 2^64/φ, top bits),
// which spreads both dense key ranges and the keys of one hash partition
// (whose Mix64 hashes share their low bits) over the whole table.
type IntTable struct {
	slots []intSlot
	shift uint  // 64 - log2(len(slots))
	n     int   // keys held
	sink  int32 // Touch's loads, kept
}

// intSlot is a key and its value+1; val 0 marks an empty slot.
type intSlot struct {
	key int64
	val int32
}

// IntTableSlotBytes is the memory of one slot of an IntTable (a table of
// hint keys has 2*hint slots, rounded up to a power of two).
const IntTableSlotBytes = 16

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
	t.slots = make([]intSlot, 1<<lg)
	t.shift = uint(64 - lg)
}

// slot returns the slot of k: where it is, or the empty slot where it goes.
func (t *IntTable) slot(k int64) int {
	mask := len(t.slots) - 1
	i := int((uint64(k) * fibonacci) >> t.shift)
	for {
		if s := &t.slots[i]; s.val == 0 || s.key == k {
			return i
		}
		i = (i + 1) & mask
	}
}

// Touch loads the slot of t each key of keys probes first: loads that do
// not depend on one another, which the processor overlaps, so that the
// lookups of those keys that follow find their lines in the caches (see
// BytesTable.touch). It does nothing for a table the caches hold; loops
// touch touchRows keys at a time (TouchAt, TouchBackAt).
func Touch[K ~int64 | ~uint64](t *IntTable, keys []K) {
	if len(t.slots) < touchSlots {
		return
	}
	var sink int32
	for _, k := range keys {
		sink += t.slots[(uint64(k)*fibonacci)>>t.shift].val
	}
	t.sink = sink
}

// TouchAt touches, in a loop over keys from first to last, the next
// touchRows keys when row r starts them.
func TouchAt[K ~int64 | ~uint64](t *IntTable, keys []K, r int) {
	if r%touchRows == 0 {
		Touch(t, keys[r:min(r+touchRows, len(keys))])
	}
}

// TouchBackAt is TouchAt for a loop over keys from last to first: the
// touchRows keys up to row r when r starts them.
func TouchBackAt[K ~int64 | ~uint64](t *IntTable, keys []K, r int) {
	if (len(keys)-1-r)%touchRows == 0 {
		Touch(t, keys[max(0, r+1-touchRows):r+1])
	}
}

// get returns k's value.
func (t *IntTable) Get(k int64) (int32, bool) {
	v := t.slots[t.slot(k)].val
	return v - 1, v != 0
}

// swap stores v under k and returns the value it replaces, if any.
func (t *IntTable) Swap(k int64, v int32) (int32, bool) {
	s := &t.slots[t.slot(k)]
	if old := s.val; old != 0 {
		s.val = v + 1
		return old - 1, true
	}
	s.key, s.val = k, v+1
	t.n++
	if 2*t.n > len(t.slots) {
		t.grow()
	}
	return 0, false
}

// getOrPut returns k's value, storing v under k first when k is new.
func (t *IntTable) GetOrPut(k int64, v int32) (int32, bool) {
	s := &t.slots[t.slot(k)]
	if old := s.val; old != 0 {
		return old - 1, true
	}
	s.key, s.val = k, v+1
	t.n++
	if 2*t.n > len(t.slots) {
		t.grow()
	}
	return v, false
}

// setSlot stores v under k in slot i, which slot(k) returned (no other
// change to the table since).
func (t *IntTable) setSlot(i int, k int64, v int32) {
	s := &t.slots[i]
	if s.val != 0 {
		s.val = v + 1
		return
	}
	s.key, s.val = k, v+1
	t.n++
	if 2*t.n > len(t.slots) {
		t.grow()
	}
}

// grow doubles the table (kept at most half full).
func (t *IntTable) grow() {
	old := t.slots
	t.alloc(2 * len(old))
	for _, s := range old {
		if s.val != 0 {
			t.slots[t.slot(s.key)] = s
		}
	}
}

// len is the number of keys held.
func (t *IntTable) Len() int { return t.n }

// Bytes is the memory of the table's slots.
func (t *IntTable) Bytes() int64 { return int64(cap(t.slots)) * IntTableSlotBytes }
