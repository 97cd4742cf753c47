package engine

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Date functions beyond date_part (datetime.go), on DATE values.

// addDateFunctions adds the date functions to the registry functions.
func addDateFunctions(functions map[string]scalarFunction) {
	functions["date_trunc"] = dateTruncFunc
	functions["date_diff"] = dateDiffFunc
	functions["datediff"] = dateDiffFunc
	functions["make_date"] = makeDateFunc
}

// dateField reads a function's literal date-part argument.
func dateField(e Expr, allowed ...string) (string, error) {
	field, ok := literalString(e)
	if !ok {
		return "", fmt.Errorf("the date part must be a string literal: %w", ErrNotSupported)
	}
	field = strings.ToLower(field)
	for _, a := range allowed {
		if field == a {
			return field, nil
		}
	}
	return "", fmt.Errorf("date part %q (have %s): %w", field, strings.Join(allowed, ", "), ErrNotSupported)
}

// dateTruncFunc is date_trunc('year'|'quarter'|'month'|'week'|'day',
// date): the first day of the period (weeks start on Monday), a DATE.
func dateTruncFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	field, err := dateField(args[0], "year", "quarter", "month", "week", "day")
	if err != nil {
		return nil, err
	}
	if args[1].DataType().ID() != arrow.DATE32 {
		return nil, fmt.Errorf("date_trunc of %s: %w", args[1].DataType(), ErrNotSupported)
	}
	return dateRowFunc(name+"["+field+"]", args[1:], arrow.FixedWidthTypes.Date32, func(d []int64) (any, error) {
		y, m, dd := civilFromDays(d[0])
		switch field {
		case "year":
			m, dd = 1, 1
		case "quarter":
			m, dd = (m-1)/3*3+1, 1
		case "month":
			dd = 1
		case "week":
			return arrow.Date32(d[0] - floorMod(d[0]+3, 7)), nil // 1970-01-01 was a Thursday
		}
		return arrow.Date32(daysFromCivil(y, m, dd)), nil
	})
}

// dateDiffFunc is date_diff(part, start, end): the number of part
// boundaries from start to end ('day': days; 'month', 'quarter', 'year':
// calendar boundaries crossed), as DuckDB counts them.
func dateDiffFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 3, 3); err != nil {
		return nil, err
	}
	field, err := dateField(args[0], "day", "month", "quarter", "year")
	if err != nil {
		return nil, err
	}
	return dateRowFunc(name+"["+field+"]", args[1:], arrow.PrimitiveTypes.Int64, func(d []int64) (any, error) {
		y1, m1, _ := civilFromDays(d[0])
		y2, m2, _ := civilFromDays(d[1])
		switch field {
		case "year":
			return y2 - y1, nil
		case "quarter":
			return (y2*4 + int64(m2-1)/3) - (y1*4 + int64(m1-1)/3), nil
		case "month":
			return (y2*12 + int64(m2)) - (y1*12 + int64(m1)), nil
		}
		return d[1] - d[0], nil
	})
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

// dateRowFunc is a row function of DATE arguments, read as days since
// the epoch.
func dateRowFunc(display string, args []Expr, out arrow.DataType, f func(days []int64) (any, error)) (Expr, error) {
	for i, a := range args {
		if t := a.DataType().ID(); t != arrow.DATE32 && t != arrow.NULL {
			return nil, fmt.Errorf("argument %d must be a date, not %s: %w", i+2, a.DataType(), ErrInvalidPlan)
		}
	}
	return rowFunc(display, args, []argKind{argDate}, out, func(v []any) (any, error) {
		var buf [2]int64
		days := buf[:len(v)]
		for i, x := range v {
			days[i] = int64(x.(arrow.Date32))
		}
		return f(days)
	})
}
