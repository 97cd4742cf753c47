package expr

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/errs"
)

// argKind is what a row function takes in an argument position.
type argKind int

const (
	argText     argKind = iota // VARCHAR
	argInt                     // any integer, read as int64
	argFloat                   // any number, read as float64
	argDate                    // DATE, read as arrow.Date32
	argTime                    // DATE or any TIMESTAMP, read as int64 microseconds since the epoch
	argInterval                // INTERVAL, read as arrow.MonthDayNanoInterval
)

func (k argKind) String() string {
	return [...]string{"text", "an integer", "a number", "a date", "a date or timestamp", "an interval"}[k]
}

// accepts reports whether a value of type t fits kind k (an untyped NULL
// fits any).
func (k argKind) accepts(t arrow.DataType) bool {
	switch {
	case t.ID() == arrow.NULL:
		return true
	case k == argText:
		return isString(t)
	case k == argInt:
		return isInteger(t)
	case k == argDate:
		return t.ID() == arrow.DATE32
	case k == argTime:
		return t.ID() == arrow.DATE32 || t.ID() == arrow.TIMESTAMP
	case k == argInterval:
		return t.ID() == arrow.INTERVAL_MONTH_DAY_NANO
	}
	return isInteger(t) || arrow.IsFloating(t.ID()) || t.ID() == arrow.DECIMAL128
}

// rowFunc binds a scalar function computed row by row in Go: each
// argument is read as kinds says (the last kind repeats for variadic
// functions), a row with a NULL argument gives NULL, and f returns the
// row's value (string, int64, float64 or bool, as out says) or nil for
// NULL. For the functions Arrow's compute registry lacks, where clarity
// matters more than speed.
func rowFunc(display string, args []Expr, kinds []argKind, out arrow.DataType, f func(v []any) (any, error)) (Expr, error) {
	for i, a := range args {
		k := kinds[min(i, len(kinds)-1)]
		if !k.accepts(a.DataType()) {
			return nil, fmt.Errorf("argument %d must be %s, not %s: %w", i+1, k, a.DataType(), errs.ErrInvalidPlan)
		}
	}
	return &kernelExpr{display: display, args: args, typ: out,
		fn: func(ctx context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			get := make([]func(int) any, len(a))
			for i, arr := range a {
				k := kinds[min(i, len(kinds)-1)]
				g, release, err := rowGetter(ctx, arr, k)
				if err != nil {
					return nil, err
				}
				defer release()
				get[i] = g
			}
			bld := array.NewBuilder(mem, out)
			defer bld.Release()
			n := 0
			if len(a) > 0 {
				n = a[0].Len()
			}
			vals := make([]any, len(a))
			for r := 0; r < n; r++ {
				null := false
				for i, arr := range a {
					if arr.DataType().ID() == arrow.NULL || arr.IsNull(r) {
						null = true
						break
					}
					vals[i] = get[i](r)
				}
				if null {
					bld.AppendNull()
					continue
				}
				v, err := f(vals)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", display, err)
				}
				if err := appendValue(bld, v); err != nil {
					return nil, err
				}
			}
			return bld.NewArray(), nil
		}}, nil
}

// rowGetter reads row values of arr as kind k.
func rowGetter(ctx context.Context, arr arrow.Array, k argKind) (func(int) any, func(), error) {
	none := func() {}
	if arr.DataType().ID() == arrow.NULL {
		return func(int) any { return nil }, none, nil
	}
	switch k {
	case argText:
		s := arr.(stringValues)
		return func(i int) any { return s.Value(i) }, none, nil
	case argDate:
		d := arr.(*array.Date32)
		return func(i int) any { return d.Value(i) }, none, nil
	case argTime:
		if d, ok := arr.(*array.Date32); ok {
			return func(i int) any { return int64(d.Value(i)) * MicrosPerDay }, none, nil
		}
		ts := arr.(*array.Timestamp)
		unit := ts.DataType().(*arrow.TimestampType).Unit
		return func(i int) any { return microsOf(int64(ts.Value(i)), unit) }, none, nil
	case argInterval:
		iv := arr.(*array.MonthDayNanoInterval)
		return func(i int) any { return iv.Value(i) }, none, nil
	case argInt:
		v, err := int64Values(ctx, memory.DefaultAllocator, arr)
		if err != nil {
			return nil, nil, err
		}
		return func(i int) any { return v.Value(i) }, v.Release, nil
	}
	c, err := CastArray(ctx, arr, arrow.PrimitiveTypes.Float64)
	if err != nil {
		return nil, nil, err
	}
	f := c.(*array.Float64)
	return func(i int) any { return f.Value(i) }, c.Release, nil
}

// appendValue appends v (nil: NULL) to a builder of its type.
func appendValue(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch bb := b.(type) {
	case *array.StringBuilder:
		bb.Append(v.(string))
	case *array.Int64Builder:
		bb.Append(v.(int64))
	case *array.Float64Builder:
		bb.Append(v.(float64))
	case *array.BooleanBuilder:
		bb.Append(v.(bool))
	case *array.Int32Builder:
		bb.Append(v.(int32))
	case *array.Date32Builder:
		bb.Append(v.(arrow.Date32))
	case *array.TimestampBuilder:
		bb.Append(v.(arrow.Timestamp))
	case *array.MonthDayNanoIntervalBuilder:
		bb.Append(v.(arrow.MonthDayNanoInterval))
	default:
		return fmt.Errorf("internal: row function result of type %s: %w", b.Type(), errs.ErrNotSupported)
	}
	return nil
}
