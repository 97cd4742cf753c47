package alloc

import (
	"context"
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A bounded allocator refuses (with a panic carrying a
// MemoryExhaustedError) what would take the counted Arrow memory past its
// bound, lets everything else through, and PanicError gives the refusal
// back as an ErrResourcesExhausted error.
func TestBoundedAllocator(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	counting := NewCountingAllocator(checked)
	mem := NewBoundedAllocator(counting, 1<<20, nil)
	b := mem.Allocate(512 << 10)
	b = mem.Reallocate(900<<10, b)
	refused := func(f func()) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = PanicError(p, "test")
			}
		}()
		f()
		return nil
	}
	if err := refused(func() { mem.Allocate(200 << 10) }); !errors.Is(err, ErrResourcesExhausted) {
		t.Fatalf("an allocation past the bound: %v, want resources exhausted", err)
	}
	// A builder that grows past the bound fails the same way.
	err := refused(func() {
		sb := array.NewStringBuilder(mem)
		defer sb.Release()
		for range 1000 {
			sb.Append(string(make([]byte, 1<<10)))
		}
	})
	var me *MemoryExhaustedError
	if !errors.As(err, &me) || me.Limit != 1<<20 {
		t.Fatalf("a growing builder: %v", err)
	}
	// The task held most of the bound itself: refused again anywhere.
	if me.Own < 900<<10 || !me.Alone() {
		t.Fatalf("the refused task's own bytes: %d of %d (alone %v)", me.Own, me.Live, me.Alone())
	}
	// Another task's allocator over the same count holds nothing of it.
	other := NewBoundedAllocator(counting, 1<<20, nil)
	err = refused(func() { other.Allocate(200 << 10) })
	if !errors.As(err, &me) || me.Own != 0 || me.Alone() {
		t.Fatalf("a task refused for the others' memory: %v (own %d)", err, me.Own)
	}
	mem.Free(b)
	if counting.Allocated() != 0 {
		t.Fatalf("%d bytes counted after everything was freed", counting.Allocated())
	}
	checked.AssertSize(t, 0)
	if err := PanicError("boom", "scan"); err.Error() != "scan: boom" || errors.Is(err, ErrResourcesExhausted) {
		t.Fatalf("another panic: %v", err)
	}

	// With a stop function the first allocation past the bound goes
	// through and stops the task (its context's cause); only one past the
	// hard ceiling (the bound and 512 MiB here), or a big one, panics.
	ctx, stop := context.WithCancelCause(context.Background())
	mem = NewBoundedAllocator(counting, 1<<20, stop)
	b = mem.Allocate(900 << 10)
	if err := refused(func() { b = mem.Reallocate(1<<20+512<<10, b) }); err != nil {
		t.Fatalf("past the bound, under the ceiling: %v", err)
	}
	if !errors.As(context.Cause(ctx), &me) || ctx.Err() == nil {
		t.Fatalf("the task was not stopped: %v", context.Cause(ctx))
	}
	if err := refused(func() { mem.Allocate(600 << 20) }); !errors.Is(err, ErrResourcesExhausted) {
		t.Fatalf("past the hard ceiling: %v", err)
	}
	if err := refused(func() { mem.Allocate(bigAllocation) }); !errors.Is(err, ErrResourcesExhausted) {
		t.Fatalf("a big allocation past the bound: %v", err)
	}
	mem.Free(b)
	checked.AssertSize(t, 0)
}
