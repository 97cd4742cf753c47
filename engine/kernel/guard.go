package kernel

import (
	"context"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"

	"github.com/kapot-go/kapot/engine/alloc"
)

// Context returns ctx carrying an Arrow execution context whose function
// registry is the engine's own (newGuardedExecCtx): the functions Arrow
// registers, each kernel's exec functions wrapped so that a panic comes back
// as the call's error. Arrow's compute functions run each kernel on a
// goroutine of their own (compute.CallFunction starts one per call), where
// no recover of ours can reach: a kernel's panic ended the process (TPC-DS
// q06's string Take). Every engine call of a registry function
// (CallFunction, TakeArray, IsIn) goes through Context. Arrow's executor
// around the kernels (output preallocation, null propagation) and the cast
// kernels, which live in a table of Arrow's outside the registry, stay
// unguarded.
func Context(ctx context.Context) context.Context {
	return compute.SetExecCtx(ctx, guardedExecCtx())
}

// guardedExecCtx builds the guarded execution context once, on first use,
// and hands out that value, which nothing writes afterwards; Arrow's own
// registry is left as Arrow built it.
var guardedExecCtx = sync.OnceValue(newGuardedExecCtx)

// newGuardedExecCtx is Arrow's default execution context over a registry
// of its own: Arrow's functions registered afresh, their kernels guarded.
func newGuardedExecCtx() compute.ExecCtx {
	reg := compute.NewRegistry()
	for _, register := range []func(compute.FunctionRegistry){
		compute.RegisterScalarCast,
		compute.RegisterVectorSelection,
		compute.RegisterScalarNested,
		compute.RegisterVectorSort,
		compute.RegisterScalarBoolean,
		compute.RegisterScalarArithmetic,
		compute.RegisterScalarComparisons,
		compute.RegisterVectorHash,
		compute.RegisterVectorCumulative,
		compute.RegisterVectorRunEndFuncs,
		compute.RegisterScalarSetLookup,
	} {
		register(reg)
	}
	guardKernels(reg)
	ectx := compute.DefaultExecCtx()
	ectx.Registry = reg
	return ectx
}

// guardKernels wraps the kernels of every function in reg (newGuardedExecCtx
// passes a registry of the engine's own, never Arrow's global one).
func guardKernels(reg compute.FunctionRegistry) {
	for _, name := range reg.GetFunctionNames() {
		if fn, ok := reg.GetFunction(name); ok {
			guardFunction(fn)
		}
	}
}

// guardFunction wraps fn's kernels (see guardKernels); other kinds of
// function (meta functions call registry functions) are left alone.
func guardFunction(fn compute.Function) {
	switch f := fn.(type) {
	case *compute.ScalarFunction:
		for _, k := range f.Kernels() {
			k.ExecFn = guardExec(k.ExecFn)
		}
	case *compute.VectorFunction:
		for _, k := range f.Kernels() {
			k.ExecFn = guardExec(k.ExecFn)
			if run := k.ExecChunked; run != nil {
				k.ExecChunked = func(ctx *exec.KernelCtx, in []*arrow.Chunked, out *exec.ExecResult) (res []*exec.ExecResult, err error) {
					defer alloc.Catch(&err)
					return run(ctx, in, out)
				}
			}
			if fin := k.Finalize; fin != nil {
				k.Finalize = func(ctx *exec.KernelCtx, in []*exec.ArraySpan) (res []*exec.ArraySpan, err error) {
					defer alloc.Catch(&err)
					return fin(ctx, in)
				}
			}
		}
	}
}

func guardExec(run exec.ArrayKernelExec) exec.ArrayKernelExec {
	if run == nil {
		return nil
	}
	return func(ctx *exec.KernelCtx, in *exec.ExecSpan, out *exec.ExecResult) (err error) {
		defer alloc.Catch(&err)
		return run(ctx, in, out)
	}
}
