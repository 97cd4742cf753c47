package expr

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestCastIntExact: the small-integer casts done here equal Arrow's, nulls
// kept; casts that could lose a value (too few digits, a larger scale, an
// int64 input) are left to Arrow.
func TestCastIntExact(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	valid := []bool{true, false, true, true, true}
	b8 := array.NewInt8Builder(mem)
	b8.AppendValues([]int8{-128, 0, 127, 0, 5}, valid)
	b16 := array.NewInt16Builder(mem)
	b16.AppendValues([]int16{-32768, 0, 32767, 1, -5}, valid)
	b32 := array.NewInt32Builder(mem)
	b32.AppendValues([]int32{-2147483648, 0, 2147483647, 1, -5}, valid)
	b64 := array.NewInt64Builder(mem)
	b64.AppendValues([]int64{1, 2, 3, 4, 5}, nil)
	ins := []arrow.Array{b8.NewArray(), b16.NewArray(), b32.NewArray(), b64.NewArray()}
	for _, b := range []interface{ Release() }{b8, b16, b32, b64} {
		b.Release()
	}
	defer func() {
		for _, a := range ins {
			a.Release()
		}
	}()
	tos := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64,
		&arrow.Decimal128Type{Precision: 10, Scale: 0}, &arrow.Decimal128Type{Precision: 19, Scale: 9},
		&arrow.Decimal128Type{Precision: 38, Scale: 2}, &arrow.Decimal128Type{Precision: 7, Scale: 2},
		&arrow.Decimal128Type{Precision: 38, Scale: 10}}
	for _, in := range ins {
		for _, to := range tos {
			got, ok := castIntExact(mem, in, to)
			narrow := false
			if dt, isDec := to.(*arrow.Decimal128Type); isDec {
				narrow = dt.Scale > 9 || dt.Precision-dt.Scale < intDigits[in.DataType().ID()]
			}
			if wantOK := in.DataType().ID() != arrow.INT64 && !narrow; ok != wantOK {
				t.Errorf("%s to %s: done here %v, want %v", in.DataType(), to, ok, wantOK)
			}
			if !ok {
				continue
			}
			want, err := compute.CastArray(context.Background(), in, compute.SafeCastOptions(to))
			if err != nil {
				t.Fatal(err)
			}
			if !array.Equal(got, want) {
				t.Errorf("%s to %s: %v, want %v", in.DataType(), to, got, want)
			}
			got.Release()
			want.Release()
		}
	}
}
