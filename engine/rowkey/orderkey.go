package rowkey

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// OrderEncoder appends the order-preserving encoding of row i of one
// column to buf: rows encoded key after key compare, byte-wise, in the
// order NewComparator gives them (ties included), so a sort compares two
// byte strings instead of calling a comparator per key (DuckDB's and
// CockroachDB's normalized keys). The encodings of one column are
// prefix-free: no row's is a proper prefix of another's.
type OrderEncoder func(buf []byte, i int) []byte

// Null markers: a null sorts before or after every value whatever the
// direction, so the marker is never inverted.
const (
	nullFirstMark = 0x00
	valueMark     = 0x01
	nullLastMark  = 0x02
)

// NewOrderEncoder returns the OrderEncoder of arr sorted in the direction
// desc says, nulls first or last as nullsFirst says, and the bytes it
// appends for all of arr's rows; ok is false for a type it does not
// encode (intervals, nested types: sort them with NewComparator).
func NewOrderEncoder(arr arrow.Array, desc, nullsFirst bool) (enc OrderEncoder, size int64, ok bool) {
	var flip byte // xor of every value byte: 0xff inverts for desc
	if desc {
		flip = 0xff
	}
	nullMark := byte(nullLastMark)
	if nullsFirst {
		nullMark = nullFirstMark
	}
	n, nulls := int64(arr.Len()), int64(arr.NullN())
	fixed := func(width int64, get func(int) uint64) (OrderEncoder, int64, bool) {
		mask := uint64(0)
		if desc {
			mask = ^uint64(0)
		}
		return func(buf []byte, i int) []byte {
			if nulls > 0 && arr.IsNull(i) {
				return append(buf, nullMark)
			}
			return binary.BigEndian.AppendUint64(append(buf, valueMark), get(i)^mask)
		}, nulls + (n-nulls)*(1+width), true
	}
	const sign = 1 << 63
	switch a := arr.(type) {
	case *array.Boolean:
		return func(buf []byte, i int) []byte {
			if nulls > 0 && a.IsNull(i) {
				return append(buf, nullMark)
			}
			v := byte(0)
			if a.Value(i) {
				v = 1
			}
			return append(buf, valueMark, v^flip)
		}, nulls + (n-nulls)*2, true
	case *array.Int8:
		return fixed(8, func(i int) uint64 { return uint64(int64(a.Value(i))) ^ sign })
	case *array.Int16:
		return fixed(8, func(i int) uint64 { return uint64(int64(a.Value(i))) ^ sign })
	case *array.Int32:
		return fixed(8, func(i int) uint64 { return uint64(int64(a.Value(i))) ^ sign })
	case *array.Int64:
		return fixed(8, func(i int) uint64 { return uint64(a.Value(i)) ^ sign })
	case *array.Uint8:
		return fixed(8, func(i int) uint64 { return uint64(a.Value(i)) })
	case *array.Uint16:
		return fixed(8, func(i int) uint64 { return uint64(a.Value(i)) })
	case *array.Uint32:
		return fixed(8, func(i int) uint64 { return uint64(a.Value(i)) })
	case *array.Uint64:
		return fixed(8, func(i int) uint64 { return a.Value(i) })
	case *array.Date32:
		return fixed(8, func(i int) uint64 { return uint64(int64(a.Value(i))) ^ sign })
	case *array.Timestamp:
		return fixed(8, func(i int) uint64 { return uint64(int64(a.Value(i))) ^ sign })
	case *array.Float32:
		return fixed(8, func(i int) uint64 { return orderedFloat(float64(a.Value(i))) })
	case *array.Float64:
		return fixed(8, func(i int) uint64 { return orderedFloat(a.Value(i)) })
	case *array.Decimal128:
		return func(buf []byte, i int) []byte {
			if nulls > 0 && a.IsNull(i) {
				return append(buf, nullMark)
			}
			v := a.Value(i)
			hi, lo := uint64(v.HighBits())^sign, v.LowBits()
			if desc {
				hi, lo = ^hi, ^lo
			}
			buf = binary.BigEndian.AppendUint64(append(buf, valueMark), hi)
			return binary.BigEndian.AppendUint64(buf, lo)
		}, nulls + (n-nulls)*17, true
	case *array.String:
		return bytesOrderEncoder(arr, a.ValueOffsets(), a.ValueBytes(), flip, nullMark)
	}
	return nil, 0, false
}

// bytesOrderEncoder encodes strings (offsets into data, which
// starts at the first offset): each value with its 0x00 bytes escaped as
// 0x00 0xff and ended by 0x00 0x00, so that a shorter value sorts first
// and no encoding is a prefix of another; every byte xor flip.
func bytesOrderEncoder(arr arrow.Array, offsets []int32, data []byte, flip, nullMark byte) (OrderEncoder, int64, bool) {
	n, nulls := int64(arr.Len()), int64(arr.NullN())
	base := int64(0)
	if len(offsets) > 0 {
		base = int64(offsets[0])
	}
	// Every value byte, and a second byte for each 0x00 (nulls' bytes,
	// when a null has any, counted too: an upper bound).
	size := nulls + (n-nulls)*3
	if len(offsets) > 0 {
		vals := data[:int64(offsets[len(offsets)-1])-base]
		size += int64(len(vals)) + int64(bytes.Count(vals, []byte{0}))
	}
	return func(buf []byte, i int) []byte {
		if nulls > 0 && arr.IsNull(i) {
			return append(buf, nullMark)
		}
		v := data[int64(offsets[i])-base : int64(offsets[i+1])-base]
		buf = append(buf, valueMark)
		if flip == 0 && bytes.IndexByte(v, 0) < 0 {
			buf = append(buf, v...)
		} else {
			for _, c := range v {
				if c == 0 {
					buf = append(buf, flip, 0xff^flip)
				} else {
					buf = append(buf, c^flip)
				}
			}
		}
		return append(buf, flip, flip)
	}, size, true
}

// orderedFloat maps f to a uint64 in the order cmp.Compare gives floats:
// NaN below everything, -0 equal to 0.
func orderedFloat(f float64) uint64 {
	if f != f {
		return 0
	}
	if f == 0 {
		f = 0 // -0 is 0
	}
	b := math.Float64bits(f)
	if b&(1<<63) != 0 {
		return ^b
	}
	return b | 1<<63
}
