package rowkey

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// codecArrays are one array per type the value codec and the order-key
// encoder take, with edge values and NULLs.
func codecArrays(t *testing.T, mem memory.Allocator) []arrow.Array {
	t.Helper()
	var out []arrow.Array
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{0, -1, 1, math.MinInt64, math.MaxInt64, 42, -42}, nil)
	ib.AppendNull()
	out = append(out, ib.NewArray())
	ib.Release()
	i32 := array.NewInt32Builder(mem)
	i32.AppendValues([]int32{0, -7, 7, math.MinInt32, math.MaxInt32}, nil)
	i32.AppendNull()
	out = append(out, i32.NewArray())
	i32.Release()
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues([]float64{0, math.Copysign(0, -1), -1.5, 1.5, math.Inf(1), math.Inf(-1), math.NaN(), 1e-300, -1e300}, nil)
	fb.AppendNull()
	out = append(out, fb.NewArray())
	fb.Release()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"", "a", "ab", "a\x00", "a\x00b", "b", "\xff", "ä"}, nil)
	sb.AppendNull()
	out = append(out, sb.NewArray())
	sb.Release()
	db := array.NewDate32Builder(mem)
	db.AppendValues([]arrow.Date32{0, -1, 10957, 1 << 20}, nil)
	db.AppendNull()
	out = append(out, db.NewArray())
	db.Release()
	dt := &arrow.Decimal128Type{Precision: 38, Scale: 2}
	decb := array.NewDecimal128Builder(mem, dt)
	decb.AppendValues([]decimal128.Num{decimal128.FromI64(0), decimal128.FromI64(-1), decimal128.FromI64(1), decimal128.New(1, 0), decimal128.New(-2, 5), decimal128.MaxDecimal128}, nil)
	decb.AppendNull()
	out = append(out, decb.NewArray())
	decb.Release()
	bb := array.NewBooleanBuilder(mem)
	bb.AppendValues([]bool{true, false}, nil)
	bb.AppendNull()
	out = append(out, bb.NewArray())
	bb.Release()
	return out
}

// TestValueCodecRoundTrip: every non-null value decodes to itself.
func TestValueCodecRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, arr := range codecArrays(t, mem) {
		var buf []byte
		n := 0
		for i := 0; i < arr.Len(); i++ {
			if arr.IsNull(i) {
				continue
			}
			var err error
			if buf, err = EncodeValue(buf, arr, i); err != nil {
				t.Fatal(err)
			}
			n++
		}
		b := array.NewBuilder(mem, arr.DataType())
		for len(buf) > 0 {
			rest, err := DecodeValue(b, buf)
			if err != nil {
				t.Fatalf("%s: %v", arr.DataType(), err)
			}
			buf = rest
		}
		got := b.NewArray()
		b.Release()
		if got.Len() != n {
			t.Fatalf("%s: %d values back, want %d", arr.DataType(), got.Len(), n)
		}
		for i, j := 0, 0; i < arr.Len(); i++ {
			if arr.IsNull(i) {
				continue
			}
			want, have := arr.ValueStr(i), got.ValueStr(j)
			if want != have {
				t.Errorf("%s: value %d: got %q, want %q", arr.DataType(), i, have, want)
			}
			j++
		}
		got.Release()
		arr.Release()
	}
}

// TestOrdKeyOrder: the byte order of encoded keys is the comparator's
// order, in both directions and both NULL placements.
func TestOrdKeyOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, arr := range codecArrays(t, mem) {
		for _, key := range []struct{ Descending, NullsFirst bool }{{}, {Descending: true}, {NullsFirst: true}, {Descending: true, NullsFirst: true}} {
			enc, err := NewOrderedEncoder(arr, key.Descending, key.NullsFirst)
			if err != nil {
				t.Fatal(err)
			}
			cmp, err := NewComparator(arr, key.Descending, key.NullsFirst)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < arr.Len(); i++ {
				for j := 0; j < arr.Len(); j++ {
					want := cmp(i, j)
					if f, ok := arr.(*array.Float64); ok && (math.IsNaN(f.Value(i)) || math.IsNaN(f.Value(j))) && arr.IsValid(i) && arr.IsValid(j) {
						continue // the comparator's NaN order is its own business
					}
					got := bytes.Compare(enc(nil, i), enc(nil, j))
					if got != want {
						t.Errorf("%s %+v: rows %d (%s) and %d (%s): bytes say %d, comparator %d", arr.DataType(), key, i, arr.ValueStr(i), j, arr.ValueStr(j), got, want)
					}
				}
			}
		}
		arr.Release()
	}
}

// TestOrdKeyStringsRandom: random strings with zero bytes sort the same
// by their encodings as by Go's string order.
func TestOrdKeyStringsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := array.NewStringBuilder(memory.NewGoAllocator())
	for i := 0; i < 500; i++ {
		s := make([]byte, r.IntN(5))
		for k := range s {
			s[k] = []byte{0, 1, 'a', 0xff}[r.IntN(4)]
		}
		b.Append(string(s))
	}
	arr := b.NewArray().(*array.String)
	enc, err := NewOrderedEncoder(arr, false, false)
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, arr.Len())
	for i := range idx {
		idx[i] = i
	}
	byKey := slices.Clone(idx)
	slices.SortStableFunc(byKey, func(i, j int) int { return bytes.Compare(enc(nil, i), enc(nil, j)) })
	for k := 1; k < len(byKey); k++ {
		if arr.Value(byKey[k-1]) > arr.Value(byKey[k]) {
			t.Fatalf("%q sorted before %q", arr.Value(byKey[k-1]), arr.Value(byKey[k]))
		}
	}
}

// FuzzDecodeValue: a malformed aggregate state (from a peer's shuffle
// file) is an error, never a panic.
func FuzzDecodeValue(f *testing.F) {
	f.Add([]byte{3, 'a', 'b', 'c'}, uint8(0))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint8(0))
	types := []arrow.DataType{arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64,
		&arrow.Decimal128Type{Precision: 15, Scale: 2}, arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Boolean, arrow.PrimitiveTypes.Int16}
	f.Fuzz(func(t *testing.T, buf []byte, typ uint8) {
		b := array.NewBuilder(memory.NewGoAllocator(), types[int(typ)%len(types)])
		defer b.Release()
		for len(buf) > 0 {
			rest, err := DecodeValue(b, buf)
			if err != nil {
				return
			}
			if len(rest) >= len(buf) {
				t.Fatalf("DecodeValue consumed nothing")
			}
			buf = rest
		}
	})
}
