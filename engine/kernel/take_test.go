package kernel

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
)

// TestTakeArrayMatchesArrow gathers rows of every layout Take handles
// itself (and one it hands to arrow) and compares with arrow's Take kernel:
// with and without nulls, from sliced arrays, with repeated and empty
// index lists.
func TestTakeArrayMatchesArrow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	build := takeTestArrays(mem)
	indexLists := map[string][]int32{
		"empty":    {},
		"reversed": {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
		"repeats":  {3, 3, 0, 10, 10, 10, 59, 1},
		"sparse":   {0, 17, 24, 31, 38, 45, 52, 59},
		"runs":     {0, 1, 2, 3, 5, 6, 7, 20, 21, 22, 23, 24, 58, 59},
		"all":      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59},
	}
	ctx := context.Background()
	for name, mk := range build {
		for _, nulls := range []bool{false, true} {
			whole := mk(nulls)
			// A slice starting at 7 checks that offsets are honoured.
			arr := array.NewSlice(whole, 7, 67)
			whole.Release()
			for iname, idx := range indexLists {
				got, err := Take(ctx, alloc.NewPoisoningAllocator(mem), arr, idx)
				if err != nil {
					t.Fatalf("%s/%s: %v", name, iname, err)
				}
				ib := array.NewInt32Builder(mem)
				ib.AppendValues(idx, nil)
				ia := ib.NewArray()
				ib.Release()
				want, err := compute.TakeArray(ctx, arr, ia)
				ia.Release()
				if err != nil {
					t.Fatal(err)
				}
				if !array.Equal(got, want) || got.NullN() != want.NullN() {
					t.Errorf("%s (nulls %v) at %s: got %v (%d nulls), want %v (%d nulls)", name, nulls, iname, got, got.NullN(), want, want.NullN())
				}
				got.Release()
				want.Release()
			}
			arr.Release()
		}
	}
}

// takeTestArrays builds, by layout, 100 values with or without nulls (every
// seventh value from the fourth).
func takeTestArrays(mem memory.Allocator) map[string]func(nulls bool) arrow.Array {
	const n = 100
	valid := func(i int) bool { return i%7 != 3 }
	return map[string]func(nulls bool) arrow.Array{
		"int8": func(nulls bool) arrow.Array {
			b := array.NewInt8Builder(mem)
			defer b.Release()
			for i := 0; i < n; i++ {
				if nulls && !valid(i) {
					b.AppendNull()
				} else {
					b.Append(int8(i - 50))
				}
			}
			return b.NewArray()
		},
		"int32": func(nulls bool) arrow.Array {
			b := array.NewInt32Builder(mem)
			defer b.Release()
			for i := 0; i < n; i++ {
				if nulls && !valid(i) {
					b.AppendNull()
				} else {
					b.Append(int32(i * 1000))
				}
			}
			return b.NewArray()
		},
		"int64": func(nulls bool) arrow.Array {
			b := array.NewInt64Builder(mem)
			defer b.Release()
			for i := 0; i < n; i++ {
				if nulls && !valid(i) {
					b.AppendNull()
				} else {
					b.Append(int64(i) << 40)
				}
			}
			return b.NewArray()
		},
		"float64": func(nulls bool) arrow.Array {
			b := array.NewFloat64Builder(mem)
			defer b.Release()
			for i := 0; i < n; i++ {
				if nulls && !valid(i) {
					b.AppendNull()
				} else {
					b.Append(float64(i) / 3)
				}
			}
			return b.NewArray()
		},
		"date32": func(nulls bool) arrow.Array {
			b := array.NewDate32Builder(mem)
			defer b.Release()
			for i := 0; i < n; i++ {
				if nulls && !valid(i) {
					b.AppendNull()
				} else {
					b.Append(arrow.Date32(9000 + i))
				}
			}
			return b.NewArray()
		},
		"decimal128": func(nulls bool) arrow.Array {
			b := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 38, Scale: 2})
			defer b.Release()
			for i := 0; i < n; i++ {
				if nulls && !valid(i) {
					b.AppendNull()
				} else {
					b.Append(decimal128.New(int64(i), uint64(i)*12345))
				}
			}
			return b.NewArray()
		},
		"bool": func(nulls bool) arrow.Array {
			b := array.NewBooleanBuilder(mem)
			defer b.Release()
			for i := 0; i < n; i++ {
				if nulls && !valid(i) {
					b.AppendNull()
				} else {
					b.Append(i%3 == 0)
				}
			}
			return b.NewArray()
		},
		"string": func(nulls bool) arrow.Array {
			b := array.NewStringBuilder(mem)
			defer b.Release()
			for i := 0; i < n; i++ {
				if nulls && !valid(i) {
					b.AppendNull()
				} else {
					b.Append(strings.Repeat("x", i%5) + string(rune('a'+i%26)))
				}
			}
			return b.NewArray()
		},
		"large_string (arrow's kernel)": func(nulls bool) arrow.Array {
			b := array.NewLargeStringBuilder(mem)
			defer b.Release()
			for i := 0; i < n; i++ {
				if nulls && !valid(i) {
					b.AppendNull()
				} else {
					b.Append(strings.Repeat("y", i%4))
				}
			}
			return b.NewArray()
		},
	}
}
