package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/errs"
)

// FormatValue renders row i of arr as text (a copy: it outlives arr): NULL for nulls, dates as
// YYYY-MM-DD, timestamps as YYYY-MM-DD hh:mm:ss[.ffffff] (see timestampText; a TIMESTAMPTZ
// with "+00"), intervals as DuckDB writes them (see intervalText), decimals at
// their scale, floats in shortest round-trip form.
func FormatValue(arr arrow.Array, i int) string {
	if arr.DataType().ID() == arrow.NULL || arr.IsNull(i) {
		return "NULL"
	}
	switch a := arr.(type) {
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Date32:
		return a.Value(i).FormattedString()
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		if t.TimeZone != "" {
			// TIMESTAMPTZ, in the session's zone (always UTC) with its
			// offset, as PostgreSQL and DuckDB write it.
			return timestampText(a.Value(i), t.Unit) + "+00"
		}
		return timestampText(a.Value(i), t.Unit)
	case *array.MonthDayNanoInterval:
		return intervalText(a.Value(i))
	case *array.String:
		return strings.Clone(a.Value(i))
	case *array.LargeString:
		return strings.Clone(a.Value(i))
	case *array.List, *array.Map, *array.Struct:
		return nestedText(arr, i)
	}
	// ValueStr of some types aliases the array's buffers: copy, the text
	// outlives the batch.
	return strings.Clone(arr.ValueStr(i))
}

// castToText is CAST(x AS VARCHAR) for non-text x: numbers, dates,
// timestamps and booleans as DuckDB writes them (a double keeps a ".0"
// when whole). Arrow's own cast to string leaks its buffers (arrow-go
// v18.8) and has no decimal kernel.
func castToText(mem memory.Allocator, arr arrow.Array) (arrow.Array, error) {
	bld := array.NewStringBuilder(mem)
	defer bld.Release()
	bld.Reserve(arr.Len())
	for i := 0; i < arr.Len(); i++ {
		if arr.DataType().ID() == arrow.NULL || arr.IsNull(i) {
			bld.AppendNull()
			continue
		}
		switch a := arr.(type) {
		case *array.Float64:
			bld.Append(doubleText(a.Value(i)))
		case *array.Float32:
			bld.Append(doubleText(float64(a.Value(i))))
		case *array.Boolean:
			bld.Append(strconv.FormatBool(a.Value(i)))
		case *array.List, *array.Map, *array.Struct:
			bld.Append(nestedText(arr, i))
		default:
			if !arrow.IsInteger(arr.DataType().ID()) && !arrow.IsDecimal(arr.DataType().ID()) &&
				arr.DataType().ID() != arrow.DATE32 && arr.DataType().ID() != arrow.TIMESTAMP && arr.DataType().ID() != arrow.BINARY &&
				arr.DataType().ID() != arrow.INTERVAL_MONTH_DAY_NANO {
				return nil, fmt.Errorf("cast of %s to VARCHAR: %w", arr.DataType(), errs.ErrNotSupported)
			}
			bld.Append(FormatValue(arr, i))
		}
	}
	return bld.NewArray(), nil
}

// doubleText writes a double as DuckDB does: shortest round-trip digits,
// positional between 1e-5 and 1e15 with ".0" when whole, else exponent.
func doubleText(v float64) string {
	a := math.Abs(v)
	if a != 0 && (a < 1e-5 || a >= 1e15) || math.IsInf(v, 0) || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// timestampText writes a timestamp as PostgreSQL and DuckDB write a
// TIMESTAMP: "2024-02-07 02:11:59", a fraction of a second after a dot
// without trailing zeros ("…:59.12"; nine digits at most, for
// TIMESTAMP_NS), in UTC and without an offset.
func timestampText(v arrow.Timestamp, unit arrow.TimeUnit) string {
	t := v.ToTime(unit).UTC()
	s := t.Format("2006-01-02 15:04:05")
	if ns := t.Nanosecond(); ns != 0 {
		f := strings.TrimRight(fmt.Sprintf("%09d", ns), "0")
		s += "." + f
	}
	return s
}

// intervalText writes an interval as DuckDB does: "1 year 2 months
// 3 days 04:05:06.5", each part only when not zero ("00:00:00" for none),
// the time part with its own sign.
func intervalText(v arrow.MonthDayNanoInterval) string {
	var parts []string
	plural := func(n int64, unit string) {
		if n == 0 {
			return
		}
		if n != 1 && n != -1 {
			unit += "s"
		}
		parts = append(parts, strconv.FormatInt(n, 10)+" "+unit)
	}
	plural(int64(v.Months/12), "year")
	plural(int64(v.Months%12), "month")
	plural(int64(v.Days), "day")
	if us := v.Nanoseconds / 1000; us != 0 || len(parts) == 0 {
		sign := ""
		if us < 0 {
			sign, us = "-", -us
		}
		s := fmt.Sprintf("%s%02d:%02d:%02d", sign, us/3_600_000_000, us/60_000_000%60, us/1_000_000%60)
		if f := us % 1_000_000; f != 0 {
			s += "." + strings.TrimRight(fmt.Sprintf("%06d", f), "0")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}
