// Package alloc is the engine's memory: the Arrow allocators a task's
// buffers come from and the pool its operators reserve from.
//
// RecyclingAllocator reuses freed buffers by size class (and can hand out
// memory unzeroed, NewUninitBuffer, to kernels that overwrite every byte);
// PoisoningAllocator overwrites freed buffers so that a value kept past its
// batch reads garbage every time; CountingAllocator and BoundedAllocator
// count and cap what a task holds. An allocator cannot return an error, so
// a refused allocation panics with a *MemoryExhaustedError, which Recovered
// and Catch turn back into an ErrResourcesExhausted error on the goroutine
// that ran the operator. MemoryPool hands out Reservations: what operators
// that hold data (joins, aggregates, sorts) must reserve before they
// allocate it, and spill when they cannot.
package alloc
