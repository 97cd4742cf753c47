package rowkey

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/kapot-go/kapot/errs"
)

// Two byte encodings of single values, for aggregate states that carry
// lists of values in one binary column (the wire's types are flat):
// EncodeValue / DecodeValue round-trip a non-null value of a flat type,
// and OrderedEncoder encodes sort keys so that bytes.Compare orders them as
// the key's direction and null placement say.

// EncodeValue appends row i (not null) of arr.
func EncodeValue(buf []byte, arr arrow.Array, i int) ([]byte, error) {
	switch a := arr.(type) {
	case *array.Boolean:
		if a.Value(i) {
			return append(buf, 1), nil
		}
		return append(buf, 0), nil
	case *array.Int8:
		return append(buf, byte(a.Value(i))), nil
	case *array.Int16:
		return binary.LittleEndian.AppendUint16(buf, uint16(a.Value(i))), nil
	case *array.Int32:
		return binary.LittleEndian.AppendUint32(buf, uint32(a.Value(i))), nil
	case *array.Int64:
		return binary.LittleEndian.AppendUint64(buf, uint64(a.Value(i))), nil
	case *array.Uint8:
		return append(buf, a.Value(i)), nil
	case *array.Uint16:
		return binary.LittleEndian.AppendUint16(buf, a.Value(i)), nil
	case *array.Uint32:
		return binary.LittleEndian.AppendUint32(buf, a.Value(i)), nil
	case *array.Uint64:
		return binary.LittleEndian.AppendUint64(buf, a.Value(i)), nil
	case *array.Float32:
		return binary.LittleEndian.AppendUint32(buf, math.Float32bits(a.Value(i))), nil
	case *array.Float64:
		return binary.LittleEndian.AppendUint64(buf, math.Float64bits(a.Value(i))), nil
	case *array.Date32:
		return binary.LittleEndian.AppendUint32(buf, uint32(a.Value(i))), nil
	case *array.Timestamp:
		return binary.LittleEndian.AppendUint64(buf, uint64(a.Value(i))), nil
	case *array.Decimal128:
		v := a.Value(i)
		buf = binary.LittleEndian.AppendUint64(buf, v.LowBits())
		return binary.LittleEndian.AppendUint64(buf, uint64(v.HighBits())), nil
	case *array.String:
		buf = binary.AppendUvarint(buf, uint64(len(a.Value(i))))
		return append(buf, a.Value(i)...), nil
	case *array.LargeString:
		buf = binary.AppendUvarint(buf, uint64(len(a.Value(i))))
		return append(buf, a.Value(i)...), nil
	}
	return nil, fmt.Errorf("encoding a value of type %s: %w", arr.DataType(), errs.ErrNotSupported)
}

// ValueCodable reports whether EncodeValue takes values of type t.
func ValueCodable(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.DATE32, arrow.TIMESTAMP, arrow.DECIMAL128, arrow.STRING, arrow.LARGE_STRING:
		return true
	}
	return false
}

// ErrShortValue is DecodeValue's error for bytes that end inside a value.
var ErrShortValue = fmt.Errorf("encoded value is cut short: %w", errs.ErrInvalidPlan)

// DecodeValue appends the value at the start of buf to b and returns the
// rest of buf.
func DecodeValue(b array.Builder, buf []byte) ([]byte, error) {
	fixed := func(n int) ([]byte, error) {
		if len(buf) < n {
			return nil, ErrShortValue
		}
		return buf[:n], nil
	}
	var n int
	switch x := b.(type) {
	case *array.BooleanBuilder:
		v, err := fixed(1)
		if err != nil {
			return nil, err
		}
		x.Append(v[0] != 0)
		n = 1
	case *array.Int8Builder:
		v, err := fixed(1)
		if err != nil {
			return nil, err
		}
		x.Append(int8(v[0]))
		n = 1
	case *array.Uint8Builder:
		v, err := fixed(1)
		if err != nil {
			return nil, err
		}
		x.Append(v[0])
		n = 1
	case *array.Int16Builder, *array.Uint16Builder:
		v, err := fixed(2)
		if err != nil {
			return nil, err
		}
		u := binary.LittleEndian.Uint16(v)
		if ib, ok := x.(*array.Int16Builder); ok {
			ib.Append(int16(u))
		} else {
			x.(*array.Uint16Builder).Append(u)
		}
		n = 2
	case *array.Int32Builder, *array.Uint32Builder, *array.Float32Builder, *array.Date32Builder:
		v, err := fixed(4)
		if err != nil {
			return nil, err
		}
		u := binary.LittleEndian.Uint32(v)
		switch bb := x.(type) {
		case *array.Int32Builder:
			bb.Append(int32(u))
		case *array.Uint32Builder:
			bb.Append(u)
		case *array.Float32Builder:
			bb.Append(math.Float32frombits(u))
		case *array.Date32Builder:
			bb.Append(arrow.Date32(int32(u)))
		}
		n = 4
	case *array.Int64Builder, *array.Uint64Builder, *array.Float64Builder, *array.TimestampBuilder:
		v, err := fixed(8)
		if err != nil {
			return nil, err
		}
		u := binary.LittleEndian.Uint64(v)
		switch bb := x.(type) {
		case *array.Int64Builder:
			bb.Append(int64(u))
		case *array.Uint64Builder:
			bb.Append(u)
		case *array.Float64Builder:
			bb.Append(math.Float64frombits(u))
		case *array.TimestampBuilder:
			bb.Append(arrow.Timestamp(int64(u)))
		}
		n = 8
	case *array.Decimal128Builder:
		v, err := fixed(16)
		if err != nil {
			return nil, err
		}
		x.Append(decimal128.New(int64(binary.LittleEndian.Uint64(v[8:])), binary.LittleEndian.Uint64(v)))
		n = 16
	case *array.StringBuilder, *array.LargeStringBuilder:
		l, k := binary.Uvarint(buf)
		if k <= 0 || uint64(len(buf)-k) < l {
			return nil, ErrShortValue
		}
		s := string(buf[k : k+int(l)])
		if sb, ok := x.(*array.StringBuilder); ok {
			sb.Append(s)
		} else {
			x.(*array.LargeStringBuilder).Append(s)
		}
		n = k + int(l)
	default:
		return nil, fmt.Errorf("decoding a value of type %s: %w", b.Type(), errs.ErrNotSupported)
	}
	return buf[n:], nil
}

// OrderedEncoder appends row i of one sort key so that the concatenated
// encodings of several keys compare with bytes.Compare as the keys do
// under their directions (NULLs first or last, as the key says; NaN after
// every number, -0 equal to 0).
type OrderedEncoder func(buf []byte, i int) []byte

// NewOrderedEncoder returns the OrderedEncoder of arr in the direction
// desc says, nulls first or last as nullsFirst says.
func NewOrderedEncoder(arr arrow.Array, desc, nullsFirst bool) (OrderedEncoder, error) {
	var value func(buf []byte, i int) []byte
	u64 := func(buf []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(buf, v) }
	signed := func(v int64) uint64 { return uint64(v) ^ (1 << 63) }
	switch a := arr.(type) {
	case *array.Boolean:
		value = func(buf []byte, i int) []byte {
			if a.Value(i) {
				return append(buf, 1)
			}
			return append(buf, 0)
		}
	case *array.Int8:
		value = func(buf []byte, i int) []byte { return u64(buf, signed(int64(a.Value(i)))) }
	case *array.Int16:
		value = func(buf []byte, i int) []byte { return u64(buf, signed(int64(a.Value(i)))) }
	case *array.Int32:
		value = func(buf []byte, i int) []byte { return u64(buf, signed(int64(a.Value(i)))) }
	case *array.Int64:
		value = func(buf []byte, i int) []byte { return u64(buf, signed(a.Value(i))) }
	case *array.Date32:
		value = func(buf []byte, i int) []byte { return u64(buf, signed(int64(a.Value(i)))) }
	case *array.Timestamp:
		value = func(buf []byte, i int) []byte { return u64(buf, signed(int64(a.Value(i)))) }
	case *array.Uint8:
		value = func(buf []byte, i int) []byte { return u64(buf, uint64(a.Value(i))) }
	case *array.Uint16:
		value = func(buf []byte, i int) []byte { return u64(buf, uint64(a.Value(i))) }
	case *array.Uint32:
		value = func(buf []byte, i int) []byte { return u64(buf, uint64(a.Value(i))) }
	case *array.Uint64:
		value = func(buf []byte, i int) []byte { return u64(buf, a.Value(i)) }
	case *array.Float32:
		value = func(buf []byte, i int) []byte { return u64(buf, floatKey(float64(a.Value(i)))) }
	case *array.Float64:
		value = func(buf []byte, i int) []byte { return u64(buf, floatKey(a.Value(i))) }
	case *array.Decimal128:
		value = func(buf []byte, i int) []byte {
			v := a.Value(i)
			return u64(u64(buf, signed(v.HighBits())), v.LowBits())
		}
	case *array.String:
		value = func(buf []byte, i int) []byte { return escapedKey(buf, a.Value(i)) }
	case *array.LargeString:
		value = func(buf []byte, i int) []byte { return escapedKey(buf, a.Value(i)) }
	case *array.List, *array.Map, *array.Struct:
		k, err := nestedKey(arr)
		if err != nil {
			return nil, err
		}
		value = k
	default:
		return nil, fmt.Errorf("sort key of type %s: %w", arr.DataType(), errs.ErrNotSupported)
	}
	nullMark := byte(2)
	if nullsFirst {
		nullMark = 0
	}
	return func(buf []byte, i int) []byte {
		if arr.IsNull(i) {
			return append(buf, nullMark)
		}
		buf = append(buf, 1)
		start := len(buf)
		buf = value(buf, i)
		if desc {
			for j := start; j < len(buf); j++ {
				buf[j] = ^buf[j]
			}
		}
		return buf
	}, nil
}

// floatKey maps a float to an unsigned integer of the same order.
func floatKey(f float64) uint64 {
	if f == 0 {
		f = 0 // -0 sorts as 0
	}
	if math.IsNaN(f) {
		return math.MaxUint64
	}
	b := math.Float64bits(f)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

// escapedKey appends s with its zero bytes escaped (0x00 0xFF) and a
// terminator (0x00 0x01), so a prefix sorts before its extensions.
func escapedKey(buf []byte, s string) []byte {
	for j := 0; j < len(s); j++ {
		buf = append(buf, s[j])
		if s[j] == 0 {
			buf = append(buf, 0xFF)
		}
	}
	return append(buf, 0, 1)
}
