package expr

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// intDigits is the most decimal digits a value of each integer type has.
var intDigits = map[arrow.Type]int32{arrow.INT8: 3, arrow.INT16: 5, arrow.INT32: 10}

// castIntExact casts a, an array of int8, int16 or int32, to to when every
// value of a's type fits it exactly: int64, float64, or a decimal128 with
// at least the type's digits before the point and a scale of at most 9
// (so that the scaled value fits an int64). ok is false for other casts,
// which Arrow's cast kernels do (each call of them starts a goroutine: a
// CASE's THEN quantity * price cast its quantity once per arm, 24 times a
// batch in TPC-DS q66).
func castIntExact(mem memory.Allocator, a arrow.Array, to arrow.DataType) (out arrow.Array, ok bool) {
	digits, isInt := intDigits[a.DataType().ID()]
	if !isInt || a.Data().Offset() != 0 {
		return nil, false
	}
	n := a.Len()
	switch to.ID() {
	case arrow.INT64:
		return widenArray[int64](mem, a, to, arrow.Int64Traits.CastFromBytes), true
	case arrow.FLOAT64:
		return widenArray[float64](mem, a, to, arrow.Float64Traits.CastFromBytes), true
	case arrow.DECIMAL128:
		d := to.(*arrow.Decimal128Type)
		if d.Scale < 0 || d.Scale > 9 || d.Precision-d.Scale < digits {
			return nil, false
		}
		mul := int64(1)
		for range d.Scale {
			mul *= 10
		}
		buf := memory.NewResizableBuffer(mem)
		buf.Resize(n * 16)
		dst := arrow.Decimal128Traits.CastFromBytes(buf.Bytes())
		switch x := a.(type) {
		case *array.Int8:
			scaled(x.Int8Values(), dst, mul)
		case *array.Int16:
			scaled(x.Int16Values(), dst, mul)
		case *array.Int32:
			scaled(x.Int32Values(), dst, mul)
		}
		return newFixed(a, to, buf), true
	}
	return nil, false
}

// widenArray is a (int8, int16 or int32) as an array of type to, whose
// values view converts every value into.
func widenArray[D int64 | float64](mem memory.Allocator, a arrow.Array, to arrow.DataType, view func([]byte) []D) arrow.Array {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(a.Len() * 8)
	dst := view(buf.Bytes())
	switch x := a.(type) {
	case *array.Int8:
		widen(x.Int8Values(), dst)
	case *array.Int16:
		widen(x.Int16Values(), dst)
	case *array.Int32:
		widen(x.Int32Values(), dst)
	}
	return newFixed(a, to, buf)
}

// widen converts every value of src (null rows too: whatever their slots
// hold) into dst.
func widen[S int8 | int16 | int32, D int64 | float64](src []S, dst []D) {
	for i, v := range src {
		dst[i] = D(v)
	}
}

// scaled stores every value of src times mul into dst as decimals.
func scaled[S int8 | int16 | int32](src []S, dst []decimal128.Num, mul int64) {
	for i, v := range src {
		dst[i] = DecimalOf(int64(v) * mul)
	}
}

// newFixed is the array of type to over values, with a's validity.
func newFixed(a arrow.Array, to arrow.DataType, values *memory.Buffer) arrow.Array {
	defer values.Release()
	data := array.NewData(to, a.Len(), []*memory.Buffer{a.Data().Buffers()[0], values}, nil, a.NullN(), 0)
	defer data.Release()
	return array.MakeFromData(data)
}
