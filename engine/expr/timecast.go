package expr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/errs"
)

// Casts to and from the time types (TIMESTAMP, TIMESTAMP_NS, TIMESTAMPTZ;
// the session's time zone is always UTC): text in PostgreSQL's and
// DuckDB's forms, dates, and timestamps of another unit or zone.

// isTimeCast reports whether timeCast converts from to to.
func isTimeCast(from, to arrow.DataType) bool {
	_, fromTS := from.(*arrow.TimestampType)
	_, toTS := to.(*arrow.TimestampType)
	switch {
	case toTS:
		return fromTS || from.ID() == arrow.DATE32 || isString(from)
	case fromTS:
		return to.ID() == arrow.DATE32
	}
	return false
}

// microsOf converts a timestamp's value in unit u to microseconds.
func microsOf(v int64, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Nanosecond:
		return v / 1000 // toward zero, as DuckDB casts TIMESTAMP_NS
	case arrow.Millisecond:
		return v * 1000
	case arrow.Second:
		return v * 1_000_000
	}
	return v
}

// toUnit converts microseconds to unit u (u no coarser than microseconds).
func toUnit(us int64, u arrow.TimeUnit) int64 {
	if u == arrow.Nanosecond {
		return us * 1000
	}
	return us
}

// timeCast converts arr to type to (isTimeCast(arr's type, to)); text that
// is not a timestamp is an error, or NULL when safe (TRY_CAST).
func timeCast(mem memory.Allocator, arr arrow.Array, to arrow.DataType, safe bool) (arrow.Array, error) {
	n := arr.Len()
	if to.ID() == arrow.DATE32 {
		in := arr.(*array.Timestamp)
		unit := in.DataType().(*arrow.TimestampType).Unit
		bld := array.NewDate32Builder(mem)
		defer bld.Release()
		bld.Reserve(n)
		for i := 0; i < n; i++ {
			if in.IsNull(i) {
				bld.UnsafeAppendBoolToBitmap(false)
				continue
			}
			perDay := MicrosPerDay
			if unit == arrow.Nanosecond {
				perDay = nanosPerDay
			}
			bld.UnsafeAppend(arrow.Date32(floorDiv(int64(in.Value(i)), perDay)))
		}
		return bld.NewArray(), nil
	}
	tt := to.(*arrow.TimestampType)
	bld := array.NewTimestampBuilder(mem, tt)
	defer bld.Release()
	bld.Reserve(n)
	for i := 0; i < n; i++ {
		if arr.IsNull(i) {
			bld.UnsafeAppendBoolToBitmap(false)
			continue
		}
		switch a := arr.(type) {
		case *array.Date32:
			bld.UnsafeAppend(arrow.Timestamp(toUnit(int64(a.Value(i))*MicrosPerDay, tt.Unit)))
		case *array.Timestamp:
			from := a.DataType().(*arrow.TimestampType).Unit
			v := int64(a.Value(i))
			if from != tt.Unit {
				v = toUnit(microsOf(v, from), tt.Unit)
			}
			bld.UnsafeAppend(arrow.Timestamp(v))
		default:
			var s string
			if x, ok := arr.(*array.String); ok {
				s = x.Value(i)
			} else {
				s = arr.(*array.LargeString).Value(i)
			}
			v, err := ParseTimestamp(s, tt)
			if err != nil {
				if safe {
					bld.UnsafeAppendBoolToBitmap(false)
					continue
				}
				return nil, err
			}
			bld.UnsafeAppend(v)
		}
	}
	return bld.NewArray(), nil
}

// ParseTimestamp reads text as a timestamp of type t, as PostgreSQL and
// DuckDB do: "YYYY-MM-DD", then optionally a space or T and
// "HH:MM[:SS[.fraction]]", then, for a TIMESTAMPTZ only, an offset ("Z",
// "UTC", "+HH[:MM]", "-HH[:MM]"); white space around it is ignored.
func ParseTimestamp(text string, t *arrow.TimestampType) (arrow.Timestamp, error) {
	bad := func() (arrow.Timestamp, error) {
		return 0, fmt.Errorf("invalid timestamp %q: want YYYY-MM-DD[ HH:MM:SS[.fraction]]%s: %w", text,
			map[bool]string{true: "[+HH[:MM]]", false: ""}[t.TimeZone != ""], errs.ErrInvalidPlan)
	}
	s := strings.TrimFunc(text, isSQLSpace)
	num := func(digits int) (int64, bool) {
		if len(s) < digits {
			return 0, false
		}
		v, err := strconv.ParseUint(s[:digits], 10, 32)
		if err != nil {
			return 0, false
		}
		s = s[digits:]
		return int64(v), true
	}
	sep := func(c byte) bool {
		if len(s) > 0 && s[0] == c {
			s = s[1:]
			return true
		}
		return false
	}
	neg := sep('-')
	// The year has four digits or more.
	yl := strings.IndexByte(s, '-')
	if yl < 4 {
		return bad()
	}
	y, ok1 := num(yl)
	if neg {
		y = -y
	}
	if !ok1 || !sep('-') {
		return bad()
	}
	m, ok2 := num(2)
	if !ok2 || !sep('-') {
		return bad()
	}
	d, ok3 := num(2)
	if !ok3 || m < 1 || m > 12 || d < 1 || d > int64(daysInMonth(y, int(m))) {
		return bad()
	}
	var us int64
	if sep(' ') || sep('T') {
		hh, ok1 := num(2)
		if !ok1 || !sep(':') {
			return bad()
		}
		mm, ok2 := num(2)
		if !ok2 || hh > 24 || mm > 59 {
			return bad()
		}
		var ss int64
		if sep(':') {
			v, ok := num(2)
			if !ok || v > 59 {
				return bad()
			}
			ss = v
		}
		var frac int64
		if sep('.') {
			digits := 0
			for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
				digits++
			}
			if digits == 0 || digits > 9 {
				return bad()
			}
			f, _ := num(digits)
			for ; digits < 9; digits++ {
				f *= 10
			}
			frac = f
		}
		if hh == 24 && (mm != 0 || ss != 0 || frac != 0) {
			return bad()
		}
		us = (hh*3600+mm*60+ss)*1_000_000 + frac/1000
		if t.Unit == arrow.Nanosecond {
			us = us*1000 + frac%1000 // nanoseconds
		}
	}
	s = strings.TrimLeft(s, " ")
	var offset int64 // seconds east of UTC
	if s != "" {
		if t.TimeZone == "" {
			return 0, fmt.Errorf("timestamp %q with a time zone offset as a TIMESTAMP (without time zone): %w", text, errs.ErrNotSupported)
		}
		switch {
		case s == "Z" || strings.EqualFold(s, "UTC"):
		case s[0] == '+' || s[0] == '-':
			sign := int64(1)
			if s[0] == '-' {
				sign = -1
			}
			s = s[1:]
			oh, ok := num(2)
			if !ok {
				return bad()
			}
			var om int64
			if sep(':') || len(s) == 2 {
				if om, ok = num(2); !ok {
					return bad()
				}
			}
			if s != "" || oh > 15 || om > 59 {
				return bad()
			}
			offset = sign * (oh*3600 + om*60)
		default:
			return bad()
		}
	}
	perSec := int64(1_000_000)
	if t.Unit == arrow.Nanosecond {
		perSec = 1_000_000_000
	}
	return arrow.Timestamp((daysFromCivil(y, int(m), int(d))*86400-offset)*perSec + us), nil
}
