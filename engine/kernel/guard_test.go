package kernel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/internal/panics"
)

// spareCapAllocator hands out buffers with capacity beyond their length,
// as the recycling allocator did before issue 36: Arrow's string Take
// kernel then writes past a buffer's length and panics.
type spareCapAllocator struct{}

func (spareCapAllocator) Allocate(n int) []byte { return make([]byte, n, 2*n+64) }

func (a spareCapAllocator) Reallocate(n int, b []byte) []byte {
	if n <= cap(b) {
		return b[:n]
	}
	nb := a.Allocate(n)
	copy(nb, b)
	return nb
}

func (spareCapAllocator) Free([]byte) {}

// TestArrowKernelPanicIsAnError: a panic inside one of Arrow's kernels,
// which Arrow runs on a goroutine of its own, comes back as the call's
// "internal error" instead of ending the process (guardKernels).
func TestArrowKernelPanicIsAnError(t *testing.T) {
	out, err := takeLongStrings(spareCapAllocator{})
	if err == nil {
		out.Release()
		t.Fatal("Take wrote past its buffer without panicking: the test no longer exercises a kernel panic")
	}
	var pe *panics.Error
	if !errors.Is(err, panics.ErrInternal) || !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "internal error: ") {
		t.Fatalf("error %q (%T), want an internal error", err, err)
	}
	if !strings.Contains(pe.Stack, "VarBinaryImpl") {
		t.Errorf("the stack does not name the kernel:\n%s", pe.Stack)
	}
}

// TestGuardedFunction: a kernel's panic is an internal error; a refused
// allocation (an allocator panics with alloc.ErrResourcesExhausted) stays a
// resources-exhausted error.
func TestGuardedFunction(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value any
		is    error
		not   error
	}{
		{"boom", "boom", panics.ErrInternal, alloc.ErrResourcesExhausted},
		{"oom", fmt.Errorf("%w: 1 GiB more", alloc.ErrResourcesExhausted), alloc.ErrResourcesExhausted, panics.ErrInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "kapot_test_panics_" + tc.name
			fn := compute.NewScalarFunction(name, compute.Unary(), compute.EmptyFuncDoc)
			k := exec.NewScalarKernel([]exec.InputType{exec.NewExactInput(arrow.PrimitiveTypes.Int64)}, exec.NewOutputType(arrow.PrimitiveTypes.Int64),
				func(*exec.KernelCtx, *exec.ExecSpan, *exec.ExecResult) error { panic(tc.value) }, nil)
			if err := fn.AddKernel(k); err != nil {
				t.Fatal(err)
			}
			reg := compute.NewRegistry()
			if !reg.AddFunction(fn, false) {
				t.Fatal("could not register the function")
			}
			guardKernels(reg) // what newGuardedExecCtx does for the functions Arrow registers
			ectx := compute.DefaultExecCtx()
			ectx.Registry = reg
			in := array.NewInt64Builder(memory.DefaultAllocator)
			in.AppendValues([]int64{1, 2, 3}, nil)
			arr := in.NewArray()
			in.Release()
			defer arr.Release()
			out, err := compute.CallFunction(compute.SetExecCtx(context.Background(), ectx), name, nil, compute.NewDatumWithoutOwning(arr))
			if err == nil {
				out.Release()
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.is) || errors.Is(err, tc.not) {
				t.Fatalf("error %q: want one that is %v and not %v", err, tc.is, tc.not)
			}
		})
	}
}

// TestGuardedRegistryHasArrowsFunctions: the engine's registry holds every
// function of Arrow's own (newGuardedExecCtx registers them afresh), so an
// Arrow upgrade that adds a family fails here rather than at a query.
func TestGuardedRegistryHasArrowsFunctions(t *testing.T) {
	got := guardedExecCtx().Registry.GetFunctionNames()
	want := compute.GetFunctionRegistry().GetFunctionNames()
	if !slices.Equal(got, want) {
		t.Fatalf("guarded registry has %d functions, Arrow's %d", len(got), len(want))
	}
}

// takeLongStrings calls Arrow's Take kernel on strings allocated from mem:
// 1 000 copies of the one 100-byte value among ten, where the kernel
// reserves the values' mean length (10.9 bytes) for each row taken.
func takeLongStrings(mem memory.Allocator) (arrow.Array, error) {
	vb := array.NewStringBuilder(mem)
	for i := 0; i < 9; i++ {
		vb.Append("a")
	}
	vb.Append(strings.Repeat("x", 100))
	values := vb.NewArray()
	vb.Release()
	defer values.Release()
	ib := array.NewInt32Builder(mem)
	for i := 0; i < 1000; i++ {
		ib.Append(9)
	}
	idx := ib.NewArray()
	ib.Release()
	defer idx.Release()
	return compute.TakeArray(Context(exec.WithAllocator(context.Background(), mem)), values, idx)
}

// TestArrowTakeStringsOnRecycledBuffers is TPC-DS q06's crash (issue 36):
// Arrow's Take kernel for strings sizes its output from the capacity of the
// buffer it reserved and writes up to it. The recycler handed out a 10 944
// byte buffer with the 16 KiB capacity of its class, so taking many copies
// of a long value sliced past the buffer's length and panicked on a
// goroutine of Arrow's own, which ended the process.
func TestArrowTakeStringsOnRecycledBuffers(t *testing.T) {
	mem := memory.NewCheckedAllocator(alloc.NewRecyclingAllocator(0))
	defer mem.AssertSize(t, 0)
	out, err := takeLongStrings(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	got := out.(*array.String)
	if got.Len() != 1000 {
		t.Fatalf("%d rows, want 1000", got.Len())
	}
	for i := 0; i < got.Len(); i++ {
		if got.Value(i) != strings.Repeat("x", 100) {
			t.Fatalf("row %d is %q", i, got.Value(i))
		}
	}
}
