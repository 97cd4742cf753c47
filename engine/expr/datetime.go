package expr

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

const (
	MicrosPerDay = int64(86_400_000_000)
	nanosPerDay  = int64(86_400_000_000_000)
)

// civilFromDays converts days since 1970-01-01 to a proleptic Gregorian
// date (Howard Hinnant's algorithm; no time.Time per row).
func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// daysFromCivil is the inverse of civilFromDays.
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysInMonth(y int64, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// addMonths moves a day count by months, clamping the day of month to the
// end of the target month (2020-01-31 + 1 month = 2020-02-29), as SQL does.
func addMonths(days int64, months int32) int64 {
	if months == 0 {
		return days
	}
	y, m, d := civilFromDays(days)
	total := y*12 + int64(m-1) + int64(months)
	ny, nm := floorDiv(total, 12), int(floorMod(total, 12))+1
	d = min(d, daysInMonth(ny, nm))
	return daysFromCivil(ny, nm, d)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// datePartFields are the fields date_part/extract knows; each maps a day
// count and the microseconds into that day to the field's value.
var datePartFields = map[string]func(days, micros int64) int64{
	"year":    func(d, _ int64) int64 { y, _, _ := civilFromDays(d); return y },
	"quarter": func(d, _ int64) int64 { _, m, _ := civilFromDays(d); return int64((m-1)/3 + 1) },
	"month":   func(d, _ int64) int64 { _, m, _ := civilFromDays(d); return int64(m) },
	"day":     func(d, _ int64) int64 { _, _, dd := civilFromDays(d); return int64(dd) },
	"dow":     func(d, _ int64) int64 { return floorMod(d+4, 7) },     // 1970-01-01 was a Thursday; Sunday is 0
	"isodow":  func(d, _ int64) int64 { return floorMod(d+3, 7) + 1 }, // Monday 1 … Sunday 7
	"week":    isoWeek,
	"isoyear": func(d, _ int64) int64 { y, _ := isoYearWeek(d); return y },
	"doy": func(d, _ int64) int64 {
		y, _, _ := civilFromDays(d)
		return d - daysFromCivil(y, 1, 1) + 1
	},
	"hour":        func(_, us int64) int64 { return us / 3_600_000_000 },
	"minute":      func(_, us int64) int64 { return us / 60_000_000 % 60 },
	"second":      func(_, us int64) int64 { return us / 1_000_000 % 60 },
	"millisecond": func(_, us int64) int64 { return us / 1000 % 60_000 }, // the seconds' part in milliseconds
	"microsecond": func(_, us int64) int64 { return us % 60_000_000 },    // the seconds' part in microseconds
	"decade":      func(d, _ int64) int64 { y, _, _ := civilFromDays(d); return floorDiv(y, 10) },
	"century":     func(d, _ int64) int64 { y, _, _ := civilFromDays(d); return floorDiv(y-1, 100) + 1 },
	"millennium":  func(d, _ int64) int64 { y, _, _ := civilFromDays(d); return floorDiv(y-1, 1000) + 1 },
}

// datePartAliases are other names of datePartFields' fields.
var datePartAliases = map[string]string{
	"years": "year", "months": "month", "days": "day", "hours": "hour", "minutes": "minute", "seconds": "second",
	"milliseconds": "millisecond", "ms": "millisecond", "microseconds": "microsecond", "us": "microsecond",
	"weeks": "week", "quarters": "quarter", "decades": "decade", "centuries": "century", "millennia": "millennium",
	"dayofweek": "dow", "weekday": "dow", "dayofyear": "doy", "dayofmonth": "day",
}

// isoYearWeek is the ISO 8601 year and week of a day: weeks start on
// Monday and week 1 holds the year's first Thursday.
func isoYearWeek(d int64) (year, week int64) {
	thursday := d - (floorMod(d+3, 7)) + 3 // the Thursday of d's week
	y, _, _ := civilFromDays(thursday)
	return y, (thursday-daysFromCivil(y, 1, 1))/7 + 1
}

func isoWeek(d, _ int64) int64 { _, w := isoYearWeek(d); return w }

// datePartFunc is date_part('field', date_or_timestamp) and extract.
func datePartFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	field, ok := literalString(args[0])
	if !ok {
		return nil, fmt.Errorf("field must be a string literal: %w", errs.ErrNotSupported)
	}
	field = strings.ToLower(field)
	if a, ok := datePartAliases[field]; ok {
		field = a
	}
	f, ok := datePartFields[field]
	if field == "epoch" {
		f, ok = func(d, us int64) int64 { return d*MicrosPerDay + us }, true
	}
	if !ok {
		return nil, fmt.Errorf("unknown field %q: %w", field, errs.ErrNotSupported)
	}
	src := args[1].DataType()
	if src.ID() == arrow.INTERVAL_MONTH_DAY_NANO {
		return intervalPart(name, field, args[1])
	}
	var unit arrow.TimeUnit
	switch src.ID() {
	case arrow.DATE32:
	case arrow.TIMESTAMP:
		unit = src.(*arrow.TimestampType).Unit
	default:
		return nil, fmt.Errorf("source must be a date or timestamp, got %s: %w", src, errs.ErrInvalidPlan)
	}
	typ := arrow.DataType(arrow.PrimitiveTypes.Int64)
	if field == "epoch" {
		// Seconds since 1970-01-01 00:00 with their fraction, a DOUBLE
		// (DuckDB): computed as microseconds, divided at the end.
		typ = arrow.PrimitiveTypes.Float64
	}
	return &kernelExpr{display: name + "[" + field + "]", args: args[1:], typ: typ,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (out arrow.Array, err error) {
			n := a[0].Len()
			bld := array.NewInt64Builder(mem)
			defer bld.Release()
			if field == "epoch" {
				defer func() { out, err = epochSeconds(mem, out, err) }()
			}
			bld.Reserve(n)
			switch in := a[0].(type) {
			case *array.Date32:
				for i := 0; i < n; i++ {
					if in.IsNull(i) {
						bld.UnsafeAppendBoolToBitmap(false)
					} else {
						bld.UnsafeAppend(f(int64(in.Value(i)), 0))
					}
				}
			case *array.Timestamp:
				per := int64(unit.Multiplier() / arrow.Microsecond.Multiplier())
				for i := 0; i < n; i++ {
					if in.IsNull(i) {
						bld.UnsafeAppendBoolToBitmap(false)
						continue
					}
					var us int64
					if unit == arrow.Nanosecond {
						us = floorDiv(int64(in.Value(i)), 1000)
					} else {
						us = int64(in.Value(i)) * max(per, 1)
					}
					bld.UnsafeAppend(f(floorDiv(us, MicrosPerDay), floorMod(us, MicrosPerDay)))
				}
			}
			return bld.NewArray(), nil
		}}, nil
}

// epochSeconds turns microseconds into seconds (a DOUBLE), releasing us.
func epochSeconds(mem memory.Allocator, us arrow.Array, err error) (arrow.Array, error) {
	if err != nil {
		return nil, err
	}
	defer us.Release()
	in := us.(*array.Int64)
	bld := array.NewFloat64Builder(mem)
	defer bld.Release()
	bld.Reserve(in.Len())
	for i := 0; i < in.Len(); i++ {
		if in.IsNull(i) {
			bld.UnsafeAppendBoolToBitmap(false)
			continue
		}
		bld.UnsafeAppend(float64(in.Value(i)) / 1e6)
	}
	return bld.NewArray(), nil
}

// dateArith binds date ± integer days and date − date (date ± interval is
// timeArith's).
// It returns nil when the operand types are not a date and an interval or
// integer, so the caller can try other rules.
func dateArith(l Expr, op kapotv1.BinaryOp, r Expr) (Expr, error) {
	if op != kapotv1.BinaryOp_BINARY_OP_ADD && op != kapotv1.BinaryOp_BINARY_OP_SUB {
		return nil, nil
	}
	lt, rt := l.DataType().ID(), r.DataType().ID()
	date, other := l, r
	if op == kapotv1.BinaryOp_BINARY_OP_ADD && lt != arrow.DATE32 && rt == arrow.DATE32 {
		date, other = r, l
	}
	if date.DataType().ID() != arrow.DATE32 {
		return nil, nil
	}
	if op == kapotv1.BinaryOp_BINARY_OP_SUB && rt == arrow.DATE32 {
		return dateDiff(l, r), nil
	}
	ot := other.DataType().ID()
	if !arrow.IsInteger(ot) { // date ± interval: timeArith
		return nil, nil
	}
	sign := int64(1)
	display := "+"
	if op == kapotv1.BinaryOp_BINARY_OP_SUB {
		sign, display = -1, "-"
	}
	args := []Expr{date, other}
	shown := []Expr{l, r}
	return &kernelExpr{display: display, infix: true, args: args, typ: arrow.FixedWidthTypes.Date32,
		fn: func(ctx context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			dates := a[0].(*array.Date32)
			n := dates.Len()
			bld := array.NewDate32Builder(mem)
			defer bld.Release()
			bld.Reserve(n)
			days, err := int64Values(ctx, mem, a[1])
			if err != nil {
				return nil, err
			}
			defer days.Release()
			for i := 0; i < n; i++ {
				if dates.IsNull(i) || days.IsNull(i) {
					bld.UnsafeAppendBoolToBitmap(false)
					continue
				}
				bld.UnsafeAppend(arrow.Date32(int64(dates.Value(i)) + sign*days.Value(i)))
			}
			return bld.NewArray(), nil
		}, shown: shown}, nil
}

// dateDiff is date - date: the number of days between them, an integer
// (as in PostgreSQL and DuckDB), which compares and averages like one.
func dateDiff(l, r Expr) Expr {
	return &kernelExpr{display: "-", infix: true, args: []Expr{l, r}, typ: arrow.PrimitiveTypes.Int64,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			x, y := a[0].(*array.Date32), a[1].(*array.Date32)
			n := x.Len()
			bld := array.NewInt64Builder(mem)
			defer bld.Release()
			bld.Reserve(n)
			for i := 0; i < n; i++ {
				if x.IsNull(i) || y.IsNull(i) {
					bld.UnsafeAppendBoolToBitmap(false)
					continue
				}
				bld.UnsafeAppend(int64(x.Value(i)) - int64(y.Value(i)))
			}
			return bld.NewArray(), nil
		}}
}

// intervalPart is date_part of an interval, as DuckDB gives it: epoch in
// seconds (a year of months 365.25 days, other months 30 days), hour as
// the hours of the time part, minute and below within the hour and
// minute, day as the days part, month and year from the months part.
func intervalPart(name, field string, arg Expr) (Expr, error) {
	typ := arrow.DataType(arrow.PrimitiveTypes.Int64)
	if field == "epoch" {
		typ = arrow.PrimitiveTypes.Float64
	}
	f, ok := map[string]func(m, d, us int64) any{
		"epoch": func(m, d, us int64) any {
			return float64(m/12)*365.25*86400 + float64(m%12*30*86400) + float64(d*86400) + float64(us)/1e6
		},
		"year":        func(m, _, _ int64) any { return m / 12 },
		"month":       func(m, _, _ int64) any { return m % 12 },
		"day":         func(_, d, _ int64) any { return d },
		"hour":        func(_, _, us int64) any { return us / 3_600_000_000 },
		"minute":      func(_, _, us int64) any { return us % 3_600_000_000 / 60_000_000 },
		"second":      func(_, _, us int64) any { return us % 60_000_000 / 1_000_000 },
		"millisecond": func(_, _, us int64) any { return us % 60_000_000 / 1000 },
		"microsecond": func(_, _, us int64) any { return us % 60_000_000 },
	}[field]
	if !ok {
		return nil, fmt.Errorf("field %q of an interval: %w", field, errs.ErrNotSupported)
	}
	return rowFunc(name+"["+field+"]", []Expr{arg}, []argKind{argInterval}, typ, func(v []any) (any, error) {
		x := v[0].(arrow.MonthDayNanoInterval)
		return f(int64(x.Months), int64(x.Days), x.Nanoseconds/1000), nil
	})
}
