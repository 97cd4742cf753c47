package rowkey

import "hash/maphash"

// BytesTable maps byte-string keys (the encoded group keys of aggregates
// over several or non-integer columns) to int32 values. Keys are copied
// into arena blocks and found through an IntTable of their hashes, entries
// with the same hash chained: unlike a Go map of strings it allocates no
// string per key and holds no pointers per key, so millions of groups cost
// the garbage collector nothing to scan, and growing never copies the keys.
type BytesTable struct {
	seed   maphash.Seed
	heads  *IntTable    // hash -> newest entry with that hash
	ents   []bytesEntry // one per key, in the order stored
	blocks [][]byte     // the keys, appended; a full block is never moved
	hashes []int64      // GetOrPutBatch's, reused
	sink   int32        // touch's loads, kept
}

// bytesEntry is a key's entry: where its key lies, its value and the
// older entry with the same hash (-1: none), side by side so that a
// lookup of a table larger than the caches misses one line for them, not
// three.
type bytesEntry struct {
	ref  keyRef
	val  int32
	next int32
}

// keyRef is where an entry's key lies: blocks[block][off:off+n].
type keyRef struct {
	block, off, n int32
}

// bytesBlock is the size of an arena block; a longer key gets a block of
// its own. The first block is firstBytesBlock, each next one twice the
// last up to bytesBlock: a small table (a small aggregate's groups, a
// count(DISTINCT)'s few values) holds little.
const (
	bytesBlock      = 1 << 20
	firstBytesBlock = 4 << 10
)

// NewBytesTable returns an empty table.
func NewBytesTable() *BytesTable {
	return &BytesTable{seed: maphash.MakeSeed(), heads: NewIntTable(0)}
}

// key returns entry e's key.
func (t *BytesTable) key(e int32) []byte {
	r := t.ents[e].ref
	return t.blocks[r.block][r.off : r.off+r.n]
}

// GetOrPut returns k's value, storing v under a copy of k first when k is
// new (then it returns v and false).
func (t *BytesTable) GetOrPut(k []byte, v int32) (int32, bool) {
	return t.getOrPutHashed(k, int64(maphash.Bytes(t.seed, k)), v)
}

// GetOrPutBatch gives each key of a batch (key r is buf[offs[r]:offs[r+1]])
// its value, appended to ids: a stored key's, or, for a new key, the next
// of n, n+1, ... in order of first appearance, stored under a copy of the
// key; the rows of the new keys are appended to fresh, and the next value
// unused is returned. The batch's keys are hashed first, then probed one
// after another: consecutive probes, with no hashing between them,
// overlap their cache misses in a table larger than the caches.
func (t *BytesTable) GetOrPutBatch(buf []byte, offs []int32, n int32, ids []uint32, fresh []int32) ([]uint32, []int32, int32) {
	rows := len(offs) - 1
	if cap(t.hashes) < rows {
		t.hashes = make([]int64, rows)
	}
	hs := t.hashes[:rows]
	for r := range hs {
		hs[r] = int64(maphash.Bytes(t.seed, buf[offs[r]:offs[r+1]]))
	}
	for lo := 0; lo < rows; lo += touchRows {
		hi := min(lo+touchRows, rows)
		t.touch(hs[lo:hi])
		for r := lo; r < hi; r++ {
			id, found := t.getOrPutHashed(buf[offs[r]:offs[r+1]], hs[r], n)
			if !found {
				fresh = append(fresh, int32(r))
				n++
			}
			ids = append(ids, uint32(id))
		}
	}
	return ids, fresh, n
}

// touch loads, for each hash of hs, the slot of heads it probes first,
// and then the entry and the key's first bytes that slot leads to: loads
// that do not depend on one another, which the processor overlaps (tens
// of cache misses in flight), so that the probes that follow, each a
// chain of dependent loads, find their lines in the caches. Go has no
// prefetch instruction; a load whose value is kept is one. A table larger
// than the caches otherwise misses on every probe, one miss after the
// other (TPC-DS q47's 112 000 groups of four strings and two integers:
// 400 ns a row).
func (t *BytesTable) touch(hs []int64) {
	slots := t.heads.slots
	if len(slots) < touchSlots {
		return
	}
	shift := t.heads.shift
	var sink int32
	for _, h := range hs {
		sink += slots[(uint64(h)*fibonacci)>>shift].val
	}
	for _, h := range hs {
		if e := slots[(uint64(h)*fibonacci)>>shift].val - 1; e >= 0 {
			if r := t.ents[e].ref; r.n > 0 {
				sink += int32(t.blocks[r.block][r.off])
			}
		}
	}
	t.sink = sink
}

// touchRows is the rows touched ahead at a time: the three lines each
// touches, of so many rows, stay in a core's level-2 cache.
const touchRows = 1024

// touchSlots is the size of heads from which touch pays: a smaller table
// stays in the caches.
const touchSlots = 1 << 15

// getOrPutHashed is GetOrPut of k, whose hash is h.
func (t *BytesTable) getOrPutHashed(k []byte, h int64, v int32) (int32, bool) {
	// One probe of heads finds the chain or the empty slot the new head
	// goes to.
	i := t.heads.slot(h)
	head := t.heads.slots[i].val - 1
	for e := head; e >= 0; e = t.ents[e].next {
		if string(t.key(e)) == string(k) {
			return t.ents[e].val, true
		}
	}
	e := int32(len(t.ents))
	if len(t.ents) == cap(t.ents) {
		t.ents = grown(t.ents)
	}
	t.ents = append(t.ents, bytesEntry{ref: t.store(k), val: v, next: head})
	t.heads.setSlot(i, h, e)
	return v, false
}

// store copies k into the arena.
func (t *BytesTable) store(k []byte) keyRef {
	last := len(t.blocks) - 1
	if last < 0 || len(t.blocks[last])+len(k) > cap(t.blocks[last]) {
		size := firstBytesBlock
		if last >= 0 {
			size = min(bytesBlock, 2*cap(t.blocks[last]))
		}
		t.blocks = append(t.blocks, make([]byte, 0, max(size, len(k))))
		last++
	}
	b := t.blocks[last]
	off := len(b)
	t.blocks[last] = append(b, k...)
	return keyRef{block: int32(last), off: int32(off), n: int32(len(k))}
}

// KeyAt is the i-th key stored (0 <= i < Len()), in the order stored;
// the slice is the table's, valid while the table is.
func (t *BytesTable) KeyAt(i int) []byte { return t.key(int32(i)) }

// Len is the number of keys held.
func (t *BytesTable) Len() int { return len(t.ents) }

// grown returns s with its capacity doubled: append's growth for large
// slices (1.25x) copies a table of millions of entries several times as
// often.
func grown[T any](s []T) []T {
	t := make([]T, len(s), max(2*cap(s), 64))
	copy(t, s)
	return t
}

// Bytes is the memory the table holds: its entries, key blocks and index.
func (t *BytesTable) Bytes() int64 {
	n := int64(cap(t.ents))*12 + int64(cap(t.hashes))*8 + t.heads.Bytes()
	for _, b := range t.blocks {
		n += int64(cap(b))
	}
	return n
}
