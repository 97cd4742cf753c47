package agg

import (
	"context"
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestAvgDecimal: avg over decimal(15,2) values, with a null, a negative
// value and two groups, through the Accumulator's int64 fast path.
func TestAvgDecimal(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 15, Scale: 2})
	b.Append(decimal128.FromI64(1050))  // 10.50
	b.AppendNull()                      // ignored
	b.Append(decimal128.FromI64(-250))  // -2.50
	b.Append(decimal128.FromI64(12345)) // 123.45
	arr := b.NewArray()
	b.Release()
	defer arr.Release()
	acc := &avgAcc{}
	acc.Grow(2)
	if err := acc.Update(context.Background(), []uint32{0, 0, 0, 1}, arr); err != nil {
		t.Fatal(err)
	}
	res := acc.Result(mem).(*array.Float64)
	defer res.Release()
	if got := res.Value(0); math.Abs(got-4.0) > 1e-12 {
		t.Errorf("group 0: avg %v, want 4 ((10.50 - 2.50) / 2)", got)
	}
	if got := res.Value(1); math.Abs(got-123.45) > 1e-12 {
		t.Errorf("group 1: avg %v, want 123.45", got)
	}
}
