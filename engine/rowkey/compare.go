package rowkey

import (
	"cmp"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/errs"
)

// NewComparator compares rows i and j of arr in the direction desc says,
// nulls first or last as nullsFirst says. Nulls compare equal to each
// other.
func NewComparator(arr arrow.Array, desc, nullsFirst bool) (func(i, j int) int, error) {
	return NewCrossComparator(arr, arr, desc, nullsFirst)
}

// NewCrossComparator compares row i of a with row j of b as NewComparator
// compares rows of one array.
func NewCrossComparator(a, b arrow.Array, desc, nullsFirst bool) (func(i, j int) int, error) {
	base, err := crossComparator(a, b)
	if err != nil {
		return nil, err
	}
	sign := 1
	if desc {
		sign = -1
	}
	nullSide := 1 // nulls last
	if nullsFirst {
		nullSide = -1
	}
	if a.NullN() == 0 && b.NullN() == 0 {
		return func(i, j int) int { return sign * base(i, j) }, nil
	}
	return func(i, j int) int {
		ni, nj := a.IsNull(i), b.IsNull(j)
		switch {
		case ni && nj:
			return 0
		case ni:
			return nullSide
		case nj:
			return -nullSide
		}
		return sign * base(i, j)
	}, nil
}

func ordered2[T cmp.Ordered, A interface{ Value(int) T }](a, b arrow.Array) func(i, j int) int {
	x, y := a.(A), b.(A)
	return func(i, j int) int { return cmp.Compare(x.Value(i), y.Value(j)) }
}

// crossComparator compares row i of a with row j of b, two arrays of the
// same type, ignoring nulls.
func crossComparator(a, b arrow.Array) (func(i, j int) int, error) {
	if !arrow.TypeEqual(a.DataType(), b.DataType()) {
		return nil, fmt.Errorf("comparing %s with %s: %w", a.DataType(), b.DataType(), errs.ErrInvalidPlan)
	}
	if isNested(a) {
		return nestedComparator(a, b)
	}
	switch x := a.(type) {
	case *array.Boolean:
		y := b.(*array.Boolean)
		return func(i, j int) int {
			p, q := x.Value(i), y.Value(j)
			switch {
			case p == q:
				return 0
			case !p:
				return -1
			}
			return 1
		}, nil
	case *array.Int8:
		return ordered2[int8, *array.Int8](a, b), nil
	case *array.Int16:
		return ordered2[int16, *array.Int16](a, b), nil
	case *array.Int32:
		return ordered2[int32, *array.Int32](a, b), nil
	case *array.Int64:
		return ordered2[int64, *array.Int64](a, b), nil
	case *array.Uint8:
		return ordered2[uint8, *array.Uint8](a, b), nil
	case *array.Uint16:
		return ordered2[uint16, *array.Uint16](a, b), nil
	case *array.Uint32:
		return ordered2[uint32, *array.Uint32](a, b), nil
	case *array.Uint64:
		return ordered2[uint64, *array.Uint64](a, b), nil
	case *array.Float32:
		return ordered2[float32, *array.Float32](a, b), nil
	case *array.Float64:
		return ordered2[float64, *array.Float64](a, b), nil
	case *array.Date32:
		return ordered2[arrow.Date32, *array.Date32](a, b), nil
	case *array.Timestamp:
		return ordered2[arrow.Timestamp, *array.Timestamp](a, b), nil
	case *array.String:
		return ordered2[string, *array.String](a, b), nil
	case *array.LargeString:
		return ordered2[string, *array.LargeString](a, b), nil
	case *array.MonthDayNanoInterval:
		y := b.(*array.MonthDayNanoInterval)
		return func(i, j int) int { return CompareIntervals(x.Value(i), y.Value(j)) }, nil
	case *array.Decimal128:
		y := b.(*array.Decimal128)
		return func(i, j int) int { return x.Value(i).Cmp(y.Value(j)) }, nil
	}
	return nil, fmt.Errorf("sorting by %s: %w", a.DataType(), errs.ErrNotSupported)
}
