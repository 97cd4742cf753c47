package engine

import (
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"

	"github.com/kapot-go/kapot/internal/panics"
)

// Recovered is the error that p, a non-nil value recover returned on a
// goroutine running operator code, becomes: an allocation refused for
// want of memory (an allocator cannot return an error, so it panics with
// one) stays that ErrResourcesExhausted error; anything else is a bug, a
// *panics.Error "internal error: <value>" that holds the stack.
func Recovered(p any) error {
	if err, ok := p.(error); ok && errors.Is(err, ErrResourcesExhausted) {
		return err
	}
	return panics.From(p)
}

// Catch, deferred on a goroutine the engine starts, turns its panic into
// the goroutine's error: defer Catch(&err). Whoever waits for the
// goroutine returns that error from the operator's Next, so the task
// fails and the process lives on.
func Catch(err *error) {
	if p := recover(); p != nil {
		*err = Recovered(p)
	}
}

// Arrow's compute functions run each kernel on a goroutine of their own
// (compute.CallFunction starts one per call), where no recover of ours can
// reach: a kernel's panic ended the process (TPC-DS q06's string Take).
// guardKernels wraps the exec functions of every kernel in Arrow's function
// registry so that a panic comes back as the call's error. It runs once, in
// init, before any goroutine can call a kernel. Arrow's executor around the
// kernels (output preallocation, null propagation) and the cast kernels,
// which live in a table of Arrow's outside the registry, stay unguarded.
func init() { guardKernels(compute.GetFunctionRegistry()) }

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
					defer Catch(&err)
					return run(ctx, in, out)
				}
			}
			if fin := k.Finalize; fin != nil {
				k.Finalize = func(ctx *exec.KernelCtx, in []*exec.ArraySpan) (res []*exec.ArraySpan, err error) {
					defer Catch(&err)
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
		defer Catch(&err)
		return run(ctx, in, out)
	}
}
