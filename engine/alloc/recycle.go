package alloc

import (
	"math/bits"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// RecyclingAllocator is an Arrow allocator that keeps the buffers operators
// free and hands them out again. A query allocates the same few buffer sizes
// batch after batch (8 Ki rows of each column); recycling them spares the Go
// heap most of its allocation volume, and with it most garbage collections
// and the page faults of fresh memory.
//
// Buffers from 4 KiB to 64 MiB are rounded up to a power of two and
// recycled; smaller and larger ones come from the Go heap. The cache is bounded: freed buffers
// beyond its limit go back to the garbage collector. Allocate returns zeroed
// memory, as the Go allocator does (the engine's own kernels that write
// whole buffers skip that, see UninitAllocator). Safe for concurrent use.
//
// Like the Go allocator, it returns slices whose capacity is their length:
// Arrow's compute kernels size their output from cap(buffer.Buf()) and
// write up to it (kernels.execBufBuilder), so a buffer of length 9 KiB
// with the 16 KiB capacity of its class made the string Take kernel slice
// past the length and panic (TPC-DS q06). The whole class buffer is found
// again from the capacity when the slice comes back (see whole).
type RecyclingAllocator struct {
	small memory.Allocator
	limit int64

	// poison overwrites every freed buffer (SetPoison).
	poison bool

	mu     sync.Mutex
	free   [maxRecycleClass + 1][][]byte
	cached int64
	hits   int64
	misses int64
}

const (
	minRecycleClass = 12 // 4 KiB
	maxRecycleClass = 26 // 64 MiB: larger buffers are rare, and rounding them up would waste much
)

// NewRecyclingAllocator returns an allocator that caches up to limit bytes
// of freed buffers (limit <= 0: 256 MiB).
func NewRecyclingAllocator(limit int64) *RecyclingAllocator {
	if limit <= 0 {
		limit = 256 << 20
	}
	return &RecyclingAllocator{small: memory.NewGoAllocator(), limit: limit}
}

// recycleClass is the power-of-two class of a request, or -1 when it is
// not recycled.
func recycleClass(size int) int {
	if size < 1<<minRecycleClass {
		return -1
	}
	c := bits.Len(uint(size - 1))
	if c > maxRecycleClass {
		return -1
	}
	return c
}

// Allocate returns a zeroed buffer of size bytes.
func (a *RecyclingAllocator) Allocate(size int) []byte {
	b, recycled := a.allocate(size)
	if recycled {
		clear(b)
	}
	return b
}

// AllocateUninit is Allocate without zeroing a recycled buffer: for
// buffers their user overwrites whole (see UninitAllocator).
func (a *RecyclingAllocator) AllocateUninit(size int) []byte {
	b, _ := a.allocate(size)
	return b
}

// allocate returns a buffer of size bytes and whether it was recycled (and
// so holds old bytes).
func (a *RecyclingAllocator) allocate(size int) ([]byte, bool) {
	c := recycleClass(size)
	if c < 0 {
		return a.small.Allocate(size), false
	}
	a.mu.Lock()
	if n := len(a.free[c]); n > 0 {
		b := a.free[c][n-1]
		a.free[c][n-1] = nil
		a.free[c] = a.free[c][:n-1]
		a.cached -= int64(cap(b))
		a.hits++
		a.mu.Unlock()
		return b[:size:size], true
	}
	a.misses++
	a.mu.Unlock()
	// Power-of-two sizes of 4 KiB and more are at least 64-byte aligned
	// in the Go heap, as Arrow wants.
	return make([]byte, 1<<c)[:size:size], false
}

// whole returns the class buffer that b, a slice this allocator returned,
// is the start of, or false when b is not recycled (a small or a large
// buffer from the Go heap). Every buffer of 4 KiB to 64 MiB that this
// allocator hands out is the start of a buffer of its class's size, and
// keeps a capacity of that class (see allocate): the class, and so the
// buffer's true size, follow from the capacity.
func whole(b []byte) ([]byte, bool) {
	c := recycleClass(cap(b))
	if c < 0 {
		return nil, false
	}
	if cap(b) == 1<<c {
		return b[:cap(b)], true
	}
	return unsafe.Slice(unsafe.SliceData(b), 1<<c), true
}

// Reallocate resizes b, in place when its capacity allows; the bytes
// beyond b's length are zeroed.
func (a *RecyclingAllocator) Reallocate(size int, b []byte) []byte {
	old := len(b)
	nb := a.ReallocateUninit(size, b)
	if size > old {
		clear(nb[old:])
	}
	return nb
}

// ReallocateUninit is Reallocate that leaves the bytes beyond b's length
// as they are. In place where b's class buffer holds size bytes: grown or
// shrunk within its class, the slice's capacity is its length again; shrunk
// below its class, it keeps the class's capacity (as the Go allocator's
// Reallocate does), from which whole finds the buffer.
func (a *RecyclingAllocator) ReallocateUninit(size int, b []byte) []byte {
	if w, ok := whole(b); ok && size <= len(w) {
		if recycleClass(size) == recycleClass(len(w)) {
			return w[:size:size]
		}
		return w[:size]
	}
	nb, _ := a.allocate(size)
	copy(nb, b)
	a.Free(b)
	return nb
}

// UninitAllocator is an Arrow allocator that can also hand out memory
// without zeroing it. Arrow's builders rely on zeroed memory; kernels that
// write every byte of a buffer (gathers, conversions, decompression) need
// not pay for clearing it first.
type UninitAllocator interface {
	memory.Allocator
	AllocateUninit(size int) []byte
	ReallocateUninit(size int, b []byte) []byte
}

// newUninitBuffer returns a buffer of size bytes from mem whose bytes are
// undefined, for a caller that overwrites all of them.
func NewUninitBuffer(mem memory.Allocator, size int) *memory.Buffer {
	if u, ok := mem.(UninitAllocator); ok {
		return memory.NewBufferWithAllocator(u.AllocateUninit(size), mem)
	}
	b := memory.NewResizableBuffer(mem)
	b.Resize(size)
	return b
}

// overwriting is an allocator whose Allocate and Reallocate do not zero:
// for the Parquet reader, which decompresses and decodes into whole
// buffers and writes its validity bitmaps bit by bit.
type overwriting struct{ u UninitAllocator }

// withoutZeroing returns mem as an allocator that does not zero, when mem
// can (otherwise mem itself).
func WithoutZeroing(mem memory.Allocator) memory.Allocator {
	if u, ok := mem.(UninitAllocator); ok {
		return overwriting{u}
	}
	return mem
}

func (o overwriting) Allocate(size int) []byte { return o.u.AllocateUninit(size) }
func (o overwriting) Reallocate(size int, b []byte) []byte {
	return o.u.ReallocateUninit(size, b)
}
func (o overwriting) Free(b []byte) { o.u.Free(b) }

// SetPoison turns buffer poisoning on or off: every buffer freed from
// then on is overwritten with garbage before it is cached or dropped, so a
// value kept past its batch's lifetime reads garbage deterministically (see
// PoisoningAllocator). Set it before the allocator is used.
func (a *RecyclingAllocator) SetPoison(on bool) { a.poison = on }

// Free returns b to the cache (or to the garbage collector).
func (a *RecyclingAllocator) Free(b []byte) {
	w, ok := whole(b)
	if !ok {
		if a.poison {
			poison(b[:cap(b)])
		}
		a.small.Free(b)
		return
	}
	if a.poison {
		poison(w)
	}
	b = w
	c := bits.Len(uint(cap(b) - 1))
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cached+int64(cap(b)) > a.limit {
		return
	}
	a.free[c] = append(a.free[c], b[:0])
	a.cached += int64(cap(b))
}

// Trim drops every cached buffer, for the garbage collector to return to
// the operating system (an idle executor calls it).
func (a *RecyclingAllocator) Trim() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.free {
		clear(a.free[c])
		a.free[c] = a.free[c][:0:0]
	}
	a.cached = 0
}

// RecyclingStats is a snapshot of a RecyclingAllocator.
type RecyclingStats struct {
	Cached       int64 // bytes held for reuse
	Hits, Misses int64 // recyclable requests served from the cache, and not
}

// Stats returns the allocator's counters.
func (a *RecyclingAllocator) Stats() RecyclingStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return RecyclingStats{Cached: a.cached, Hits: a.hits, Misses: a.misses}
}
