package kernel

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
)

// CallFunction runs the registry function name over args, as
// compute.CallFunction does under Context(ctx), but a scalar function over
// arrays and scalars runs on the calling goroutine. compute.CallFunction
// starts a goroutine and a channel for every call (its executor streams
// each chunk's result to the caller), and waking it costs more than the
// kernel over one batch: TPC-DS q66's 24 CASE arms, three calls each per
// batch, spent more in the scheduler's futex wakeups than in the kernels.
// Other functions (meta functions such as cast, vector functions) and
// chunked arguments go through compute.CallFunction.
func CallFunction(ctx context.Context, name string, opts compute.FunctionOptions, args ...compute.Datum) (compute.Datum, error) {
	ctx = Context(ctx)
	ectx := compute.GetExecCtx(ctx)
	fn, ok := ectx.Registry.GetFunction(name)
	if !ok {
		return nil, fmt.Errorf("%w: function '%s' not found", arrow.ErrKey, name)
	}
	// Every scalar function of Arrow's (arithmetic, comparisons, …)
	// executes as below; meta functions (cast) have their own Execute.
	if fn.Kind() != compute.FuncScalar || len(args) == 0 {
		return fn.Execute(ctx, opts, args...)
	}
	inTypes := make([]arrow.DataType, len(args))
	for i, a := range args {
		switch a.(type) {
		case *compute.ArrayDatum, *compute.ScalarDatum:
		default:
			return fn.Execute(ctx, opts, args...)
		}
		inTypes[i] = a.(compute.ArrayLikeDatum).Type()
	}
	if fa := fn.Arity(); len(args) < fa.NArgs || !fa.IsVarArgs && len(args) != fa.NArgs {
		return fn.Execute(ctx, opts, args...) // its error
	}
	if opts == nil {
		if fn.Doc().OptionsRequired {
			return fn.Execute(ctx, opts, args...) // its error
		}
		opts = fn.DefaultOptions()
	}
	k, err := fn.DispatchBest(inTypes...)
	if err != nil {
		return nil, err
	}
	// DispatchBest may have asked for other input types (an int32
	// against an int64): cast to them, as Arrow's executor does.
	copied := false
	for i, a := range args {
		if arrow.TypeEqual(inTypes[i], a.(compute.ArrayLikeDatum).Type()) {
			continue
		}
		if !copied {
			args, copied = append([]compute.Datum(nil), args...), true
		}
		c, err := compute.CastDatum(ctx, a, compute.SafeCastOptions(inTypes[i]))
		if err != nil {
			return nil, err
		}
		defer c.Release()
		args[i] = c
	}
	kctx := &exec.KernelCtx{Ctx: ctx, Kernel: k}
	initArgs := exec.KernelInitArgs{Kernel: k, Inputs: inTypes, Options: opts}
	if init := k.GetInitFn(); init != nil {
		if kctx.State, err = init(kctx, initArgs); err != nil {
			return nil, err
		}
	}
	ex := compute.NewScalarExecutor()
	if err := ex.Init(kctx, initArgs); err != nil {
		return nil, err
	}
	batch := compute.ExecBatch{Values: args, Len: batchLen(args)}
	if batch.Len > ectx.ChunkSize {
		// Several spans, several results: Arrow's executor streams them.
		return fn.Execute(ctx, opts, args...)
	}
	// Arrays (not chunked) and scalars within one chunk make one span, so
	// one result: the channel never fills.
	ch := make(chan compute.Datum, 2)
	err = ex.Execute(ctx, &batch, ch)
	close(ch)
	if err != nil {
		for d := range ch {
			if d != nil {
				d.Release()
			}
		}
		return nil, err
	}
	// The result is in the channel already: WrapResults must take it even
	// when ctx was cancelled meanwhile (it would leave it there, unreleased).
	out := ex.WrapResults(context.WithoutCancel(ctx), ch, false)
	for d := range ch {
		if d != nil {
			d.Release()
		}
	}
	if err := ctx.Err(); err != nil {
		if out != nil {
			out.Release()
		}
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("%w: function '%s' returned nothing", arrow.ErrInvalid, name)
	}
	return out, nil
}

// batchLen is the length of an execution batch over args: the arrays'
// (all one length), or 1 when all are scalars.
func batchLen(args []compute.Datum) int64 {
	for _, a := range args {
		if ad, ok := a.(*compute.ArrayDatum); ok {
			return ad.Len()
		}
	}
	return 1
}
