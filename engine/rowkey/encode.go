package rowkey

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/errs"
)

// Encoder appends the encoding of row i of one column to buf. Equal values
// (and nulls) encode to equal bytes, so concatenated encodings identify a
// group, and hashing them partitions rows the same way on every executor.
type Encoder func(buf []byte, i int) []byte

// NewEncoder returns the Encoder of arr's type, or an ErrNotSupported
// error for a type that cannot be a key.
func NewEncoder(arr arrow.Array) (Encoder, error) {
	valid := func(buf []byte, i int) ([]byte, bool) {
		if arr.IsNull(i) {
			return append(buf, 0), false
		}
		return append(buf, 1), true
	}
	u64 := func(get func(int) uint64) Encoder {
		return func(buf []byte, i int) []byte {
			buf, ok := valid(buf, i)
			if !ok {
				return buf
			}
			return binary.LittleEndian.AppendUint64(buf, get(i))
		}
	}
	switch a := arr.(type) {
	case *array.Boolean:
		return u64(func(i int) uint64 {
			if a.Value(i) {
				return 1
			}
			return 0
		}), nil
	case *array.Int8:
		return fixedKey(arr, a.Int8Values()), nil
	case *array.Int16:
		return fixedKey(arr, a.Int16Values()), nil
	case *array.Int32:
		return fixedKey(arr, a.Int32Values()), nil
	case *array.Int64:
		return fixedKey(arr, a.Int64Values()), nil
	case *array.Uint8:
		return fixedKey(arr, a.Uint8Values()), nil
	case *array.Uint16:
		return fixedKey(arr, a.Uint16Values()), nil
	case *array.Uint32:
		return fixedKey(arr, a.Uint32Values()), nil
	case *array.Uint64:
		return fixedKey(arr, a.Uint64Values()), nil
	case *array.Float32:
		return u64(func(i int) uint64 { return uint64(math.Float32bits(normFloat32(a.Value(i)))) }), nil
	case *array.Float64:
		return u64(func(i int) uint64 { return math.Float64bits(normFloat64(a.Value(i))) }), nil
	case *array.Date32:
		return fixedKey(arr, a.Date32Values()), nil
	case *array.Timestamp:
		return fixedKey(arr, a.TimestampValues()), nil
	case *array.MonthDayNanoInterval:
		// Intervals DuckDB calls equal (1 month and 30 days) make one key.
		return func(buf []byte, i int) []byte {
			buf, ok := valid(buf, i)
			if !ok {
				return buf
			}
			m, d, us := NormalizeInterval(a.Value(i))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(m))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(d))
			return binary.LittleEndian.AppendUint64(buf, uint64(us))
		}, nil
	case *array.Decimal128:
		return func(buf []byte, i int) []byte {
			buf, ok := valid(buf, i)
			if !ok {
				return buf
			}
			v := a.Value(i)
			buf = binary.LittleEndian.AppendUint64(buf, v.LowBits())
			return binary.LittleEndian.AppendUint64(buf, uint64(v.HighBits()))
		}, nil
	case *array.String:
		var data []byte // the whole buffer: offsets index it (ValueBytes starts at the first)
		if b := a.Data().Buffers()[2]; b != nil {
			data = b.Bytes()
		}
		return bytesKey(arr, a.ValueOffsets(), data), nil
	case *array.LargeString:
		return stringKey(a, valid), nil
	case *array.Null:
		return func(buf []byte, i int) []byte { return append(buf, 0) }, nil
	case *array.List, *array.Map, *array.Struct:
		k, err := nestedKey(arr)
		if err != nil {
			return nil, err
		}
		return k, nil
	}
	return nil, fmt.Errorf("group or partition key of type %s: %w", arr.DataType(), errs.ErrNotSupported)
}

func stringKey(a interface{ Value(int) string }, valid func([]byte, int) ([]byte, bool)) Encoder {
	return func(buf []byte, i int) []byte {
		buf, ok := valid(buf, i)
		if !ok {
			return buf
		}
		s := a.Value(i)
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		return append(buf, s...)
	}
}

// fixedKey encodes integer-like values as encoders from u64 do (a validity
// byte, then the value widened to 8 bytes, little endian), with one call a
// value instead of three.
func fixedKey[T ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64](arr arrow.Array, vals []T) Encoder {
	if arr.NullN() == 0 {
		return func(buf []byte, i int) []byte {
			return binary.LittleEndian.AppendUint64(append(buf, 1), uint64(vals[i]))
		}
	}
	valid := ValidityOf(arr)
	return func(buf []byte, i int) []byte {
		if valid.Null(i) {
			return append(buf, 0)
		}
		return binary.LittleEndian.AppendUint64(append(buf, 1), uint64(vals[i]))
	}
}

// bytesKey encodes strings as stringKey does, reading the offsets and bytes
// directly.
func bytesKey(arr arrow.Array, offs []int32, data []byte) Encoder {
	valid := ValidityOf(arr)
	return func(buf []byte, i int) []byte {
		if valid.Null(i) {
			return append(buf, 0)
		}
		v := data[offs[i]:offs[i+1]]
		buf = binary.AppendUvarint(append(buf, 1), uint64(len(v)))
		return append(buf, v...)
	}
}

// normFloat64 maps -0 to +0 and every NaN to one NaN so they group together.
func normFloat64(f float64) float64 {
	if f == 0 {
		return 0
	}
	if math.IsNaN(f) {
		return math.NaN()
	}
	return f
}

func normFloat32(f float32) float32 {
	if f == 0 {
		return 0
	}
	if f != f {
		return float32(math.NaN())
	}
	return f
}

// Hash is 64-bit FNV-1a: stable across processes and machines, which
// partitioning needs (Go's maphash is seeded per process).
func Hash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	// Final avalanche so low bits (used by mod) depend on every byte.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// AppendFrom appends row i of arr to b, which has arr's type.
func AppendFrom(b array.Builder, arr arrow.Array, i int) error {
	if arr.IsNull(i) {
		b.AppendNull()
		return nil
	}
	switch a := arr.(type) {
	case *array.Boolean:
		b.(*array.BooleanBuilder).Append(a.Value(i))
	case *array.Int8:
		b.(*array.Int8Builder).Append(a.Value(i))
	case *array.Int16:
		b.(*array.Int16Builder).Append(a.Value(i))
	case *array.Int32:
		b.(*array.Int32Builder).Append(a.Value(i))
	case *array.Int64:
		b.(*array.Int64Builder).Append(a.Value(i))
	case *array.Uint8:
		b.(*array.Uint8Builder).Append(a.Value(i))
	case *array.Uint16:
		b.(*array.Uint16Builder).Append(a.Value(i))
	case *array.Uint32:
		b.(*array.Uint32Builder).Append(a.Value(i))
	case *array.Uint64:
		b.(*array.Uint64Builder).Append(a.Value(i))
	case *array.Float32:
		b.(*array.Float32Builder).Append(a.Value(i))
	case *array.Float64:
		b.(*array.Float64Builder).Append(a.Value(i))
	case *array.Date32:
		b.(*array.Date32Builder).Append(a.Value(i))
	case *array.Timestamp:
		b.(*array.TimestampBuilder).Append(a.Value(i))
	case *array.MonthDayNanoInterval:
		b.(*array.MonthDayNanoIntervalBuilder).Append(a.Value(i))
	case *array.Decimal128:
		b.(*array.Decimal128Builder).Append(a.Value(i))
	case *array.String:
		b.(*array.StringBuilder).Append(a.Value(i))
	case *array.LargeString:
		b.(*array.LargeStringBuilder).Append(a.Value(i))
	case *array.Null:
		b.AppendNull()
	case *array.Struct:
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		for f := 0; f < a.NumField(); f++ {
			if err := AppendFrom(sb.FieldBuilder(f), a.Field(f), i); err != nil {
				return err
			}
		}
	case *array.Map:
		mb := b.(*array.MapBuilder)
		mb.Append(true)
		lo, hi := a.ValueOffsets(i)
		for j := int(lo); j < int(hi); j++ {
			if err := AppendFrom(mb.KeyBuilder(), a.Keys(), j); err != nil {
				return err
			}
			if err := AppendFrom(mb.ItemBuilder(), a.Items(), j); err != nil {
				return err
			}
		}
	case *array.List:
		lb := b.(*array.ListBuilder)
		lb.Append(true)
		lo, hi := a.ValueOffsets(i)
		for j := int(lo); j < int(hi); j++ {
			if err := AppendFrom(lb.ValueBuilder(), a.ListValues(), j); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("append value of type %s: %w", arr.DataType(), errs.ErrNotSupported)
	}
	return nil
}

// IntValues returns the values of an integer-like array (signed and
// small unsigned integers, dates) widened to int64, for hash tables keyed
// by one fixed-width column. ok is false for other types.
func IntValues(arr arrow.Array) (vals []int64, ok bool) {
	switch a := arr.(type) {
	case *array.Int64:
		return a.Int64Values(), true
	case *array.Int32:
		return widen(a.Int32Values()), true
	case *array.Int16:
		return widen(a.Int16Values()), true
	case *array.Int8:
		return widen(a.Int8Values()), true
	case *array.Uint32:
		return widen(a.Uint32Values()), true
	case *array.Uint16:
		return widen(a.Uint16Values()), true
	case *array.Uint8:
		return widen(a.Uint8Values()), true
	case *array.Date32:
		return widen(a.Date32Values()), true
	}
	return nil, false
}

// widen copies narrower integers into int64s.
func widen[T ~int8 | ~int16 | ~int32 | ~uint8 | ~uint16 | ~uint32](vals []T) []int64 {
	return widenInto(vals, nil)
}

// widenInto is widen into buf's memory when it is large enough.
func widenInto[T ~int8 | ~int16 | ~int32 | ~uint8 | ~uint16 | ~uint32](vals []T, buf []int64) []int64 {
	if cap(buf) < len(vals) {
		buf = make([]int64, len(vals))
	}
	out := buf[:len(vals)]
	for i, v := range vals {
		out[i] = int64(v)
	}
	return out
}

// IntValuesBuf is IntValues for a caller that calls it batch after batch:
// narrower integers widen into buf (grown when short), which it returns as
// keep, for the next call. vals of an int64 array are the array's own.
func IntValuesBuf(arr arrow.Array, buf []int64) (vals, keep []int64, ok bool) {
	switch a := arr.(type) {
	case *array.Int32:
		vals = widenInto(a.Int32Values(), buf)
	case *array.Date32:
		vals = widenInto(a.Date32Values(), buf)
	default:
		vals, ok = IntValues(arr)
		return vals, buf, ok
	}
	return vals, vals, true
}

// IsIntType reports whether IntValues accepts arrays of type t.
func IsIntType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.DATE32:
		return true
	}
	return false
}
