package alloc

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/errs"
)

// ErrResourcesExhausted marks a task that needs more memory than its share of
// the pool, even after spilling what it can.
var ErrResourcesExhausted = errs.ErrResourcesExhausted

// MemoryPool is an executor's budget for the memory operators hold across
// batches (sort buffers, hash tables, shuffle buffers). Operators reserve
// from it before they grow; a refused reservation makes a spilling operator
// spill and others fail with ErrResourcesExhausted. The pool is split fairly:
// while k reservations are open, none may hold more than limit/k.
type MemoryPool struct {
	mu     sync.Mutex
	limit  int64
	used   int64
	peak   int64
	open   int
	denied int64
}

// NewMemoryPool returns a pool of limit bytes; limit <= 0 means unlimited.
func NewMemoryPool(limit int64) *MemoryPool { return &MemoryPool{limit: limit} }

// Limit is the pool size in bytes (0: unlimited).
func (p *MemoryPool) Limit() int64 {
	if p == nil || p.limit <= 0 {
		return 0
	}
	return p.limit
}

// MemoryPoolStats is a snapshot of a pool.
type MemoryPoolStats struct {
	Limit, Used, Peak int64
	Reservations      int
	Denied            int64
}

// Stats returns the pool's current use.
func (p *MemoryPool) Stats() MemoryPoolStats {
	if p == nil {
		return MemoryPoolStats{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return MemoryPoolStats{Limit: p.Limit(), Used: p.used, Peak: p.peak, Reservations: p.open, Denied: p.denied}
}

// NewReservation opens a reservation for one consumer (an operator of a
// task). A nil pool gives reservations that always succeed.
func (p *MemoryPool) NewReservation(name string) *Reservation {
	r := &Reservation{pool: p, name: name}
	if p != nil {
		p.mu.Lock()
		p.open++
		p.mu.Unlock()
	}
	return r
}

// Reservation is the memory one consumer holds in a pool.
type Reservation struct {
	pool   *MemoryPool
	name   string
	size   int64
	closed bool
}

// Size is the number of bytes reserved.
func (r *Reservation) Size() int64 { return r.size }

// Name is the name the reservation was made under (the operator's).
func (r *Reservation) Name() string { return r.name }

// TryGrow reserves n more bytes, or returns an error wrapping
// ErrResourcesExhausted (and reserves nothing) when the pool or this
// consumer's fair share would be exceeded.
func (r *Reservation) TryGrow(n int64) error {
	p := r.pool
	if n <= 0 || p == nil || p.limit <= 0 {
		r.size += max(n, 0)
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	share := p.limit / int64(max(p.open, 1))
	if p.used+n > p.limit || r.size+n > share {
		p.denied++
		return fmt.Errorf("%s: reserving %d bytes more than its %d would exceed its share %d of the %d-byte memory pool (%d in use by %d consumers): %w",
			r.name, n, r.size, share, p.limit, p.used, p.open, ErrResourcesExhausted)
	}
	p.used += n
	p.peak = max(p.peak, p.used)
	r.size += n
	return nil
}

// Shrink returns n bytes to the pool.
func (r *Reservation) Shrink(n int64) {
	n = min(n, r.size)
	r.size -= n
	if p := r.pool; p != nil && p.limit > 0 {
		p.mu.Lock()
		p.used -= n
		p.mu.Unlock()
	}
}

// Free returns everything reserved to the pool; the reservation stays open.
func (r *Reservation) Free() { r.Shrink(r.size) }

// Close frees the reservation and leaves the pool; it is idempotent.
func (r *Reservation) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Free()
	if p := r.pool; p != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
	}
}

// batchBytes is the memory a batch holds: the sum of its buffers.
func BatchBytes(b arrow.RecordBatch) int64 {
	var n int64
	for _, c := range b.Columns() {
		n += arrayBytes(c.Data())
	}
	return n
}

func arrayBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += arrayBytes(c)
	}
	return n
}

// CountingAllocator wraps an Arrow allocator and keeps the bytes it has
// handed out and not yet freed: the executor exports them as a metric, so
// an Arrow leak shows as a gauge that does not return to its baseline.
type CountingAllocator struct {
	inner memory.Allocator
	bytes atomic.Int64
}

// NewCountingAllocator counts what inner allocates.
func NewCountingAllocator(inner memory.Allocator) *CountingAllocator {
	return &CountingAllocator{inner: inner}
}

// Allocate implements memory.Allocator.
func (a *CountingAllocator) Allocate(size int) []byte {
	b := a.inner.Allocate(size)
	a.bytes.Add(int64(len(b)))
	return b
}

// Reallocate implements memory.Allocator.
func (a *CountingAllocator) Reallocate(size int, b []byte) []byte {
	old := len(b)
	nb := a.inner.Reallocate(size, b)
	a.bytes.Add(int64(len(nb) - old))
	return nb
}

// Free implements memory.Allocator.
func (a *CountingAllocator) Free(b []byte) {
	a.bytes.Add(-int64(len(b)))
	a.inner.Free(b)
}

// AllocateUninit is Allocate without zeroing, when the inner allocator
// can (see UninitAllocator).
func (a *CountingAllocator) AllocateUninit(size int) []byte {
	var b []byte
	if u, ok := a.inner.(UninitAllocator); ok {
		b = u.AllocateUninit(size)
	} else {
		b = a.inner.Allocate(size)
	}
	a.bytes.Add(int64(len(b)))
	return b
}

// ReallocateUninit is Reallocate without zeroing the new bytes, when the
// inner allocator can.
func (a *CountingAllocator) ReallocateUninit(size int, b []byte) []byte {
	old := len(b)
	var nb []byte
	if u, ok := a.inner.(UninitAllocator); ok {
		nb = u.ReallocateUninit(size, b)
	} else {
		nb = a.inner.Reallocate(size, b)
	}
	a.bytes.Add(int64(len(nb) - old))
	return nb
}

// Allocated returns the bytes allocated and not yet freed.
func (a *CountingAllocator) Allocated() int64 { return a.bytes.Load() }
