package alloc

import (
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Operator contract on buffer lifetimes: a value read out of a batch
// (String.Value, Binary.Value, a *Values() slice) aliases the batch's
// buffers and is valid only while the batch is. Whatever an operator keeps
// past the batch it read — an accumulator's minimum, a hash table's key,
// a top-K row, a dictionary entry — is either copied (strings.Clone,
// string(bytes), a builder) or kept together with a Retain of its batch,
// released when the operator is done with it. Freed buffers are recycled
// without zeroing (RecyclingAllocator), so a kept alias reads another
// batch's bytes; the poisoning allocator below makes that deterministic in
// tests.

// poisonByte fills freed and uninitialised memory in poisoning mode.
const poisonByte = 0xEE

// PoisoningAllocator wraps an allocator and overwrites every buffer it
// frees (and the old buffer of every Reallocate that moves) with garbage,
// and hands out the memory of uninitialised requests filled with garbage
// too. A value that outlives its batch then reads garbage every time, not
// only when the buffer happens to be reused. For tests and for executors
// run with buffer poisoning on (KAPOT_POISON_BUFFERS=1).
type PoisoningAllocator struct {
	inner memory.Allocator
}

// NewPoisoningAllocator poisons what inner frees.
func NewPoisoningAllocator(inner memory.Allocator) *PoisoningAllocator {
	return &PoisoningAllocator{inner: inner}
}

// Allocate implements memory.Allocator.
func (p *PoisoningAllocator) Allocate(size int) []byte { return p.inner.Allocate(size) }

// Reallocate implements memory.Allocator: a new buffer, the old one
// poisoned and freed.
func (p *PoisoningAllocator) Reallocate(size int, b []byte) []byte {
	nb := p.inner.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free implements memory.Allocator.
func (p *PoisoningAllocator) Free(b []byte) {
	poison(b[:cap(b)])
	p.inner.Free(b)
}

// AllocateUninit is Allocate without zeroing (see UninitAllocator).
func (p *PoisoningAllocator) AllocateUninit(size int) []byte {
	b := p.inner.Allocate(size)
	poison(b)
	return b
}

// ReallocateUninit is Reallocate without zeroing the new bytes.
func (p *PoisoningAllocator) ReallocateUninit(size int, b []byte) []byte {
	nb := p.inner.Allocate(size)
	n := copy(nb, b)
	poison(nb[n:])
	p.Free(b)
	return nb
}

func poison(b []byte) {
	for i := range b {
		b[i] = poisonByte
	}
}
