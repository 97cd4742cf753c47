package kernel

import (
	"context"
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// TestCallFunction: scalar functions run here answer as Arrow's
// compute.CallFunction does (arguments cast to the kernel's types,
// scalars, nulls); unknown functions and missing options are errors.
func TestCallFunction(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := compute.WithAllocator(context.Background(), mem)
	b32 := array.NewInt32Builder(mem)
	b32.AppendValues([]int32{1, 2, 3, 4}, []bool{true, false, true, true})
	i32 := b32.NewArray()
	b32.Release()
	defer i32.Release()
	b64 := array.NewInt64Builder(mem)
	b64.AppendValues([]int64{10, 20, 30, 40}, nil)
	i64 := b64.NewArray()
	b64.Release()
	defer i64.Release()
	cases := []struct {
		name string
		args []compute.Datum
	}{
		{"add", []compute.Datum{compute.NewDatum(i32), compute.NewDatum(i64)}}, // int32 cast to int64
		{"equal", []compute.Datum{compute.NewDatum(i64), compute.NewDatum(scalar.NewInt64Scalar(20))}},
		{"less", []compute.Datum{compute.NewDatum(scalar.NewInt64Scalar(1)), compute.NewDatum(scalar.NewInt64Scalar(2))}},
		{"multiply", []compute.Datum{compute.NewDatum(i32), compute.NewDatum(i32)}},
	}
	for _, c := range cases {
		got, err := CallFunction(ctx, c.name, nil, c.args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want, err := compute.CallFunction(Context(ctx), c.name, nil, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		if !sameDatum(got, want) {
			t.Errorf("%s: %v, want %v", c.name, got, want)
		}
		got.Release()
		want.Release()
	}
	for _, c := range cases {
		for _, d := range c.args {
			d.Release()
		}
	}
	if _, err := CallFunction(ctx, "no_such_function", nil, compute.NewDatum(scalar.NewInt64Scalar(1))); err == nil {
		t.Error("an unknown function ran")
	}
	// A cancelled call returns the cancellation and releases its result
	// (the checked allocator above fails a leak).
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	arg := compute.NewDatum(i64)
	defer arg.Release()
	if out, err := CallFunction(cctx, "negate", nil, arg); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v, %v", out, err)
	}
}

// sameDatum compares two array or scalar results.
func sameDatum(a, b compute.Datum) bool {
	switch x := a.(type) {
	case *compute.ArrayDatum:
		y, ok := b.(*compute.ArrayDatum)
		if !ok {
			return false
		}
		xa, ya := x.MakeArray(), y.MakeArray()
		defer xa.Release()
		defer ya.Release()
		return arrow.TypeEqual(xa.DataType(), ya.DataType()) && array.Equal(xa, ya)
	case *compute.ScalarDatum:
		y, ok := b.(*compute.ScalarDatum)
		return ok && scalar.Equals(x.Value, y.Value)
	}
	return false
}
