package alloc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BoundedAllocator is the allocator of a task's Arrow buffers: it keeps the
// Arrow memory live in the whole executor (what its CountingAllocator
// counts) within a bound, the executor's memory pool plus a margin.
// Operators reserve what they keep across batches from the pool and spill
// or fail cleanly before they reach it; this is the backstop for what no
// reservation covers (a string function's output, a batch a scan decodes,
// a builder that grows), so that a query that needs more fails with
// ErrResourcesExhausted and the executor lives on.
//
// Arrow's allocator interface cannot return an error, and Arrow runs some
// of its compute code on goroutines of its own, where a panic cannot be
// recovered. So an allocation past the bound is let through once and the
// task is stopped through its context (stop, with a *MemoryExhaustedError
// as the cause: operators check their context between batches, and the
// task's error is the cause); an allocation of bigAllocation or more (a
// builder of kapot's growing: Arrow's own goroutines allocate a batch's
// output at a time) or past a hard ceiling (half the bound again, at least
// 512 MiB more) panics, with that error, which the task's recovers turn
// back into its error. Without a stop function every allocation past the
// bound panics.
type BoundedAllocator struct {
	inner *CountingAllocator
	// own is what this task holds now (its allocations less its frees:
	// a buffer is freed through the allocator that made it).
	own     atomic.Int64
	limit   int64
	hard    int64
	stop    context.CancelCauseFunc
	stopped atomic.Bool
}

// bigAllocation is the size from which an allocation past the bound panics
// at once rather than stopping the task at its next batch.
const bigAllocation = 16 << 20

// NewBoundedAllocator bounds the Arrow memory counted by inner at limit
// bytes (limit <= 0: inner itself, unbounded); past it, stop (may be nil)
// ends the task with a *MemoryExhaustedError as its cause.
func NewBoundedAllocator(inner *CountingAllocator, limit int64, stop context.CancelCauseFunc) memory.Allocator {
	if limit <= 0 {
		return inner
	}
	a := &BoundedAllocator{inner: inner, limit: limit, hard: limit, stop: stop}
	if stop != nil {
		a.hard = limit + max(limit/2, 512<<20)
	}
	return a
}

// MemoryExhaustedError is the panic value (and the task's error) of an
// allocation a BoundedAllocator refused.
type MemoryExhaustedError struct {
	// Need is the allocation refused; Live what the executor's tasks
	// held then, Own the part of it the refused task held; Limit the
	// bound.
	Need, Live, Own, Limit int64
}

func (e *MemoryExhaustedError) Error() string {
	return fmt.Sprintf("resources exhausted: a task needs %d bytes more while the executor's tasks hold %d bytes of Arrow memory (%d of them its own); its bound is %d (the memory pool and its margin): the query needs more memory than this executor may use (--memory-pool-size)", e.Need, e.Live, e.Own, e.Limit)
}

// Alone reports whether the refused task itself held at least half of the
// bound: it would be refused again on any executor with the same memory
// pool, so running it again only delays the job's failure. Otherwise the
// executor's other tasks held the memory, and another attempt (later, or
// on another executor) may have it.
func (e *MemoryExhaustedError) Alone() bool { return e.Own*2 >= e.Limit }

// Unwrap makes the error an ErrResourcesExhausted.
func (e *MemoryExhaustedError) Unwrap() error { return ErrResourcesExhausted }

// PanicError turns a recovered panic value into an error: a refused
// allocation stays the *MemoryExhaustedError it was (the query needs too
// much memory, whatever code was running), anything else is described
// by what (which may name the code that panicked) and the value.
func PanicError(p any, what string) error {
	if err, ok := p.(error); ok {
		var me *MemoryExhaustedError
		if errors.As(err, &me) {
			return me
		}
	}
	return fmt.Errorf("%s: %v", what, p)
}

func (a *BoundedAllocator) admit(n int) {
	if n <= 0 {
		return
	}
	live := a.inner.Allocated()
	if live+int64(n) <= a.limit {
		return
	}
	err := &MemoryExhaustedError{Need: int64(n), Live: live, Own: a.own.Load(), Limit: a.limit}
	if live+int64(n) > a.hard || n >= bigAllocation {
		panic(err)
	}
	if a.stopped.CompareAndSwap(false, true) {
		a.stop(err)
	}
}

// Allocate implements memory.Allocator.
func (a *BoundedAllocator) Allocate(size int) []byte {
	a.admit(size)
	b := a.inner.Allocate(size)
	a.own.Add(int64(len(b)))
	return b
}

// Reallocate implements memory.Allocator.
func (a *BoundedAllocator) Reallocate(size int, b []byte) []byte {
	a.admit(size - len(b))
	old := len(b)
	b = a.inner.Reallocate(size, b)
	a.own.Add(int64(len(b) - old))
	return b
}

// Free implements memory.Allocator.
func (a *BoundedAllocator) Free(b []byte) {
	a.own.Add(-int64(len(b)))
	a.inner.Free(b)
}

// AllocateUninit is Allocate without zeroing (see UninitAllocator).
func (a *BoundedAllocator) AllocateUninit(size int) []byte {
	a.admit(size)
	b := a.inner.AllocateUninit(size)
	a.own.Add(int64(len(b)))
	return b
}

// ReallocateUninit is Reallocate without zeroing the new bytes.
func (a *BoundedAllocator) ReallocateUninit(size int, b []byte) []byte {
	a.admit(size - len(b))
	old := len(b)
	b = a.inner.ReallocateUninit(size, b)
	a.own.Add(int64(len(b) - old))
	return b
}
