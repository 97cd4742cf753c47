package rowkey

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// orderArrays builds, per encodable type, an array of n rows with nulls,
// duplicates and the awkward values of each type (NaN, -0, infinities,
// negative decimals, strings with 0x00 bytes and common prefixes).
func orderArrays(t *testing.T, n int) map[string]arrow.Array {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	rng := rand.New(rand.NewPCG(3, 4))
	out := map[string]arrow.Array{}
	add := func(name string, b array.Builder, app func()) {
		for range n {
			if rng.IntN(8) == 0 {
				b.AppendNull()
			} else {
				app()
			}
		}
		out[name] = b.NewArray()
		b.Release()
		t.Cleanup(out[name].Release)
	}
	ib := array.NewInt32Builder(mem)
	add("int32", ib, func() { ib.Append(int32(rng.IntN(7)) - 3 + []int32{0, math.MinInt32, math.MaxInt32}[rng.IntN(3)]) })
	lb := array.NewInt64Builder(mem)
	add("int64", lb, func() { lb.Append(rng.Int64N(11) - 5) })
	ub := array.NewUint64Builder(mem)
	add("uint64", ub, func() { ub.Append([]uint64{0, 1, math.MaxUint64, 1 << 63}[rng.IntN(4)]) })
	fb := array.NewFloat64Builder(mem)
	floats := []float64{math.NaN(), math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1), -1.5, 2.25, -math.MaxFloat64, math.SmallestNonzeroFloat64}
	add("float64", fb, func() { fb.Append(floats[rng.IntN(len(floats))]) })
	f32 := array.NewFloat32Builder(mem)
	add("float32", f32, func() { f32.Append(float32(floats[rng.IntN(len(floats))])) })
	db := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 38, Scale: 2})
	decs := []decimal128.Num{decimal128.FromI64(-1), decimal128.FromI64(0), decimal128.FromI64(1), decimal128.New(-5, 0), decimal128.New(3, 7), decimal128.FromI64(math.MinInt64)}
	add("decimal", db, func() { db.Append(decs[rng.IntN(len(decs))]) })
	bb := array.NewBooleanBuilder(mem)
	add("bool", bb, func() { bb.Append(rng.IntN(2) == 0) })
	sb := array.NewStringBuilder(mem)
	strs := []string{"", "a", "a\x00", "a\x00b", "ab", "abcdefgh", "abcdefghi", "abcdefgh\x00", "\x00", "\xff", "b"}
	add("string", sb, func() { sb.Append(strs[rng.IntN(len(strs))]) })
	dt := array.NewDate32Builder(mem)
	add("date32", dt, func() { dt.Append(arrow.Date32(rng.IntN(5) - 2)) })
	return out
}

// TestOrderEncoderMatchesComparator: for every pair of rows, the byte
// order of the encodings is NewComparator's order, equal encodings are
// equal rows, and the size reported bounds the bytes appended.
func TestOrderEncoderMatchesComparator(t *testing.T) {
	for name, arr := range orderArrays(t, 300) {
		for _, desc := range []bool{false, true} {
			for _, nullsFirst := range []bool{false, true} {
				enc, size, ok := NewOrderEncoder(arr, desc, nullsFirst)
				if !ok {
					t.Fatalf("%s: not encodable", name)
				}
				cmpf, err := NewComparator(arr, desc, nullsFirst)
				if err != nil {
					t.Fatal(err)
				}
				var all []byte
				keys := make([][]byte, arr.Len())
				for i := range keys {
					off := len(all)
					all = enc(all, i)
					keys[i] = all[off:]
				}
				if int64(len(all)) > size {
					t.Errorf("%s: %d bytes encoded, %d reported", name, len(all), size)
				}
				for i := range keys {
					for j := range keys {
						want, got := cmpf(i, j), bytes.Compare(keys[i], keys[j])
						if sign(want) != got {
							t.Fatalf("%s desc=%v nullsFirst=%v: rows %d (%v) and %d (%v) compare %d, encodings %d",
								name, desc, nullsFirst, i, arr.GetOneForMarshal(i), j, arr.GetOneForMarshal(j), want, got)
						}
						if got != 0 && (bytes.HasPrefix(keys[i], keys[j]) || bytes.HasPrefix(keys[j], keys[i])) {
							t.Fatalf("%s: encoding of row %d is a prefix of row %d's", name, i, j)
						}
					}
				}
			}
		}
	}
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// TestOrderEncoderRefusesOtherTypes: intervals (and nested types) are
// sorted by comparators.
func TestOrderEncoderRefusesOtherTypes(t *testing.T) {
	b := array.NewMonthDayNanoIntervalBuilder(memory.NewGoAllocator())
	b.Append(arrow.MonthDayNanoInterval{Months: 1})
	a := b.NewArray()
	defer a.Release()
	if _, _, ok := NewOrderEncoder(a, false, false); ok {
		t.Error("an interval array was encoded")
	}
}
