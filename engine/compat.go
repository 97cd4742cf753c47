package engine

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
)

// The names below moved to engine/alloc and engine/expr (issue 37, item 5).
// They forward only until the callers that other changes in flight are
// rewriting (cmd/kapot/sql.go, internal/testkit/slt/kapot.go) import those
// packages; this file goes then.

// MemoryPool is alloc.MemoryPool.
//
// Deprecated: use alloc.MemoryPool.
type MemoryPool = alloc.MemoryPool

// NewMemoryPool is alloc.NewMemoryPool.
//
// Deprecated: use alloc.NewMemoryPool.
func NewMemoryPool(limit int64) *MemoryPool { return alloc.NewMemoryPool(limit) }

// NewRecyclingAllocator is alloc.NewRecyclingAllocator.
//
// Deprecated: use alloc.NewRecyclingAllocator.
func NewRecyclingAllocator(limit int64) *alloc.RecyclingAllocator {
	return alloc.NewRecyclingAllocator(limit)
}

// NewCountingAllocator is alloc.NewCountingAllocator.
//
// Deprecated: use alloc.NewCountingAllocator.
func NewCountingAllocator(inner memory.Allocator) *alloc.CountingAllocator {
	return alloc.NewCountingAllocator(inner)
}

// NewBoundedAllocator is alloc.NewBoundedAllocator.
//
// Deprecated: use alloc.NewBoundedAllocator.
func NewBoundedAllocator(inner *alloc.CountingAllocator, limit int64, stop context.CancelCauseFunc) memory.Allocator {
	return alloc.NewBoundedAllocator(inner, limit, stop)
}

// NewPoisoningAllocator is alloc.NewPoisoningAllocator.
//
// Deprecated: use alloc.NewPoisoningAllocator.
func NewPoisoningAllocator(inner memory.Allocator) *alloc.PoisoningAllocator {
	return alloc.NewPoisoningAllocator(inner)
}

// Recovered is alloc.Recovered.
//
// Deprecated: use alloc.Recovered.
func Recovered(p any) error { return alloc.Recovered(p) }

// FormatValue is expr.FormatValue.
//
// Deprecated: use expr.FormatValue.
func FormatValue(arr arrow.Array, i int) string { return expr.FormatValue(arr, i) }
