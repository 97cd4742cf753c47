package expr

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/errs"
)

// Date functions beyond date_part (datetime.go), on DATE values.

// addDateFunctions adds the date functions to the registry functions.
func addDateFunctions(functions map[string]scalarFunction) {
	functions["date_trunc"] = dateTruncFunc
	functions["make_date"] = makeDateFunc
}

// truncUnits are the units date_trunc knows, finest first.
var truncUnits = []string{"microseconds", "milliseconds", "second", "minute", "hour", "day", "week", "month", "quarter", "year", "decade", "century", "millennium"}

// dateTruncFunc is date_trunc(unit, date_or_timestamp): the start of the
// unit's period (weeks start on Monday; centuries and millennia start in
// years ending in 00 and 000, as DuckDB counts them, PostgreSQL in 01), a TIMESTAMP for a date or TIMESTAMP (µs or
// ns), a TIMESTAMPTZ for a TIMESTAMPTZ, as in DuckDB.
func dateTruncFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	field, ok := literalString(args[0])
	if !ok {
		return nil, fmt.Errorf("the date part must be a string literal: %w", errs.ErrNotSupported)
	}
	field = strings.ToLower(field)
	if a, ok := map[string]string{"microsecond": "microseconds", "us": "microseconds", "millisecond": "milliseconds", "ms": "milliseconds",
		"seconds": "second", "minutes": "minute", "hours": "hour", "days": "day", "weeks": "week", "months": "month",
		"quarters": "quarter", "years": "year", "decades": "decade", "centuries": "century", "millennia": "millennium"}[field]; ok {
		field = a
	}
	if !slices.Contains(truncUnits, field) {
		return nil, fmt.Errorf("date_trunc unit %q (have %s): %w", field, strings.Join(truncUnits, ", "), errs.ErrNotSupported)
	}
	in := args[1]
	out := arrow.DataType(timestampType)
	switch t := in.DataType().(type) {
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			out = t
		}
		if t.Unit != arrow.Microsecond {
			in = &castExpr{in: in, to: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: t.TimeZone}}
		}
	default:
		if t.ID() != arrow.DATE32 && t.ID() != arrow.NULL {
			return nil, fmt.Errorf("date_trunc of %s: %w", in.DataType(), errs.ErrInvalidPlan)
		}
		in = &castExpr{in: in, to: timestampType}
	}
	return &kernelExpr{display: name + "[" + field + "]", args: []Expr{in}, typ: out,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			ts := a[0].(*array.Timestamp)
			bld := array.NewTimestampBuilder(mem, out.(*arrow.TimestampType))
			defer bld.Release()
			bld.Reserve(ts.Len())
			for i := 0; i < ts.Len(); i++ {
				if ts.IsNull(i) {
					bld.UnsafeAppendBoolToBitmap(false)
					continue
				}
				bld.UnsafeAppend(arrow.Timestamp(truncMicros(int64(ts.Value(i)), field)))
			}
			return bld.NewArray(), nil
		}}, nil
}

// truncMicros truncates microseconds since the epoch to the start of
// unit's period.
func truncMicros(us int64, unit string) int64 {
	step := map[string]int64{"microseconds": 1, "milliseconds": 1000, "second": 1_000_000, "minute": 60_000_000, "hour": 3_600_000_000, "day": MicrosPerDay}[unit]
	if step != 0 {
		return floorDiv(us, step) * step
	}
	d := floorDiv(us, MicrosPerDay)
	y, m, _ := civilFromDays(d)
	switch unit {
	case "week":
		return (d - floorMod(d+3, 7)) * MicrosPerDay // 1970-01-01 was a Thursday
	case "month":
		return daysFromCivil(y, m, 1) * MicrosPerDay
	case "quarter":
		return daysFromCivil(y, (m-1)/3*3+1, 1) * MicrosPerDay
	case "year":
		return daysFromCivil(y, 1, 1) * MicrosPerDay
	case "decade":
		return daysFromCivil(floorDiv(y, 10)*10, 1, 1) * MicrosPerDay
	case "century":
		return daysFromCivil(floorDiv(y, 100)*100, 1, 1) * MicrosPerDay
	}
	return daysFromCivil(floorDiv(y, 1000)*1000, 1, 1) * MicrosPerDay // millennium
}

// makeDateFunc is make_date(year, month, day).
func makeDateFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 3, 3); err != nil {
		return nil, err
	}
	return rowFunc(name, args, []argKind{argInt}, arrow.FixedWidthTypes.Date32, func(v []any) (any, error) {
		y, m, d := v[0].(int64), v[1].(int64), v[2].(int64)
		if m < 1 || m > 12 || d < 1 || y < -290000 || y > 290000 || d > int64(daysInMonth(y, int(m))) {
			return nil, fmt.Errorf("date field value out of range: %d-%d-%d", y, m, d)
		}
		return arrow.Date32(daysFromCivil(y, int(m), int(d))), nil
	})
}
