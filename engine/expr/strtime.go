package expr

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/errs"
)

// strftime and strptime with C's format specifiers, as DuckDB reads them.

// strftimeFunc is strftime(date_or_timestamp, format) (or the format
// first, as DuckDB also takes it): the value as text.
func strftimeFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	if isString(args[0].DataType()) && !isString(args[1].DataType()) {
		args = []Expr{args[1], args[0]}
	}
	if f, ok := literalString(args[1]); ok {
		if _, err := strftime(time.Unix(0, 0).UTC(), f); err != nil {
			return nil, err
		}
	}
	return rowFunc(name, args, []argKind{argTime, argText}, arrow.BinaryTypes.String, func(v []any) (any, error) {
		return strftime(utcTime(v[0].(int64)), v[1].(string))
	})
}

// strftime formats t (UTC) with C's strftime specifiers as DuckDB does.
func strftime(t time.Time, f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		i++
		if i >= len(f) {
			return "", fmt.Errorf("strftime: format %q ends with %%: %w", f, errs.ErrInvalidPlan)
		}
		c, pad := f[i], true
		if c == '-' && i+1 < len(f) {
			i++
			c, pad = f[i], false
		}
		num := func(v, width int) {
			if pad {
				fmt.Fprintf(&b, "%0*d", width, v)
			} else {
				fmt.Fprintf(&b, "%d", v)
			}
		}
		hour12 := t.Hour() % 12
		if hour12 == 0 {
			hour12 = 12
		}
		yday := t.YearDay() - 1
		wday := int(t.Weekday())
		switch c {
		case 'Y':
			if pad {
				fmt.Fprintf(&b, "%04d", t.Year())
			} else {
				fmt.Fprintf(&b, "%d", t.Year())
			}
		case 'y':
			num(t.Year()%100, 2)
		case 'm':
			num(int(t.Month()), 2)
		case 'd':
			num(t.Day(), 2)
		case 'j':
			num(t.YearDay(), 3)
		case 'H':
			num(t.Hour(), 2)
		case 'I':
			num(hour12, 2)
		case 'M':
			num(t.Minute(), 2)
		case 'S':
			num(t.Second(), 2)
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'g':
			fmt.Fprintf(&b, "%03d", t.Nanosecond()/1_000_000)
		case 'n':
			fmt.Fprintf(&b, "%09d", t.Nanosecond())
		case 'p':
			b.WriteString(map[bool]string{true: "PM", false: "AM"}[t.Hour() >= 12])
		case 'B':
			b.WriteString(t.Month().String())
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'w':
			fmt.Fprintf(&b, "%d", wday)
		case 'u':
			fmt.Fprintf(&b, "%d", (wday+6)%7+1)
		case 'U':
			num((yday+7-wday)/7, 2)
		case 'W':
			num((yday+7-(wday+6)%7)/7, 2)
		case 'V':
			_, w := t.ISOWeek()
			num(w, 2)
		case 'G':
			y, _ := t.ISOWeek()
			fmt.Fprintf(&b, "%d", y)
		case 'c':
			b.WriteString(t.Format("2006-01-02 15:04:05"))
		case 'x':
			b.WriteString(t.Format("2006-01-02"))
		case 'X':
			b.WriteString(t.Format("15:04:05"))
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("strftime specifier %%%c: %w", c, errs.ErrNotSupported)
		}
	}
	return b.String(), nil
}

// strptimeFunc is strptime(text, format) (try_strptime: NULL where the
// text does not match): a TIMESTAMP, or a TIMESTAMPTZ when the format
// reads an offset (%z). The format must be a constant.
func strptimeFunc(try bool) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 2, 2); err != nil {
			return nil, err
		}
		f, ok := literalString(args[1])
		if !ok {
			return nil, fmt.Errorf("%s with a format other than a string constant: %w", name, errs.ErrNotSupported)
		}
		for i := 0; i+1 < len(f); i++ {
			if f[i] == '%' {
				i++
				if f[i] == '-' && i+1 < len(f) {
					i++
				}
				if !strings.ContainsRune("YymdjHIMSfgnpbhBaAz%", rune(f[i])) {
					return nil, fmt.Errorf("strptime specifier %%%c: %w", f[i], errs.ErrNotSupported)
				}
			}
		}
		out := arrow.DataType(timestampType)
		if strings.Contains(f, "%z") {
			out = arrow.FixedWidthTypes.Timestamp_us
		}
		return rowFunc(name, args[:1], []argKind{argText}, out, func(v []any) (any, error) {
			us, _, err := strptime(v[0].(string), f)
			if err != nil {
				if try {
					return nil, nil
				}
				return nil, err
			}
			return arrow.Timestamp(us), nil
		})
	}
}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
var dayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// strptime reads s by format f: microseconds since the epoch (UTC, the
// offset of %z applied), and whether f had an offset.
func strptime(s, f string) (int64, bool, error) {
	bad := func(why string) (int64, bool, error) {
		return 0, false, fmt.Errorf("could not parse string %q according to format specifier %q: %s: %w", s, f, why, errs.ErrInvalidPlan)
	}
	y, mon, d, h, mi, sec, us, yday := int64(1900), int64(1), int64(1), int64(0), int64(0), int64(0), int64(0), int64(-1)
	pm, has12, tz := -1, false, false
	var off int64
	in := s
	number := func(maxDigits int) (int64, int, bool) {
		in = strings.TrimLeft(in, " ")
		n := 0
		for n < len(in) && n < maxDigits && in[n] >= '0' && in[n] <= '9' {
			n++
		}
		if n == 0 {
			return 0, 0, false
		}
		v, _ := strconv.ParseInt(in[:n], 10, 64)
		in = in[n:]
		return v, n, true
	}
	name := func(names []string) (int, bool) {
		low := strings.ToLower(in)
		for i, n := range names {
			if strings.HasPrefix(low, n) {
				in = in[len(n):]
				return i, true
			}
		}
		for i, n := range names {
			if strings.HasPrefix(low, n[:3]) {
				in = in[3:]
				return i, true
			}
		}
		return 0, false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c == ' ' {
			in = strings.TrimLeft(in, " \t\n")
			continue
		}
		if c != '%' {
			if in == "" || in[0] != c {
				return bad("literal does not match")
			}
			in = in[1:]
			continue
		}
		i++
		if i >= len(f) {
			return 0, false, fmt.Errorf("strptime: format %q ends with %%: %w", f, errs.ErrInvalidPlan)
		}
		c = f[i]
		if c == '-' && i+1 < len(f) {
			i++
			c = f[i]
		}
		var ok bool
		var v int64
		switch c {
		case 'Y':
			v, _, ok = number(6)
			y = v
		case 'y':
			v, _, ok = number(2)
			if v >= 69 {
				y = 1900 + v
			} else {
				y = 2000 + v
			}
		case 'm':
			mon, _, ok = number(2)
		case 'd':
			d, _, ok = number(2)
		case 'j':
			yday, _, ok = number(3)
		case 'H':
			h, _, ok = number(2)
		case 'I':
			h, _, ok = number(2)
			has12 = true
		case 'M':
			mi, _, ok = number(2)
		case 'S':
			sec, _, ok = number(2)
		case 'f', 'g', 'n':
			var n int
			width := map[byte]int{'f': 6, 'g': 3, 'n': 9}[c]
			v, n, ok = number(width)
			if ok && n != width {
				return bad(fmt.Sprintf("%%%c wants %d digits", c, width))
			}
			us = v * map[byte]int64{'f': 1, 'g': 1000, 'n': 1}[c]
			if c == 'n' {
				us = v / 1000
			}
		case 'p':
			low := strings.ToLower(in)
			switch {
			case strings.HasPrefix(low, "am"):
				pm = 0
			case strings.HasPrefix(low, "pm"):
				pm = 1
			default:
				return bad("expected AM or PM")
			}
			in, ok = in[2:], true
		case 'b', 'h', 'B':
			var m int
			m, ok = name(monthNames)
			mon = int64(m + 1)
		case 'a', 'A':
			_, ok = name(dayNames)
		case 'z':
			tz = true
			var why string
			if in, off, ok, why = zoneOffset(in); why != "" {
				return bad(why)
			}
		case '%':
			ok = strings.HasPrefix(in, "%")
			if ok {
				in = in[1:]
			}
		default:
			return 0, false, fmt.Errorf("strptime specifier %%%c: %w", c, errs.ErrNotSupported)
		}
		if !ok {
			return bad(fmt.Sprintf("expected %%%c", c))
		}
	}
	if strings.TrimRight(in, " ") != "" {
		return bad("trailing characters")
	}
	v, why := parsedTime(y, mon, d, h, mi, sec, us, yday, pm, has12)
	if why != "" {
		return bad(why)
	}
	return v - off, tz, nil
}

// parsedTime is the instant (microseconds since the epoch, in UTC) of the
// fields strptime read: hour h on a 12-hour clock when has12, pm 1 after
// noon (-1: not given), yday the day of the year (-1: not given); why
// says what is out of range.
func parsedTime(y, mon, d, h, mi, sec, us, yday int64, pm int, has12 bool) (int64, string) {
	if has12 {
		if h < 1 || h > 12 {
			return 0, "hour out of range"
		}
		h %= 12
		if pm == 1 {
			h += 12
		}
	} else if pm == 1 && h < 12 {
		h += 12
	}
	if mon < 1 || mon > 12 || d < 1 || d > int64(daysInMonth(y, int(mon))) || h > 23 || mi > 59 || sec > 60 {
		return 0, "field out of range"
	}
	days := daysFromCivil(y, int(mon), int(d))
	if yday >= 0 {
		if yday < 1 || yday > 366 {
			return 0, "day of year out of range"
		}
		days = daysFromCivil(y, 1, 1) + yday - 1
	}
	return days*MicrosPerDay + (h*3600+mi*60+sec)*1_000_000 + us, ""
}

// zoneOffset reads %z at the start of in: Z, or +HH[[:]MM] / -HH[[:]MM];
// it returns the rest, the offset in microseconds, whether it read one,
// and why not when in holds no offset at all.
func zoneOffset(in string) (string, int64, bool, string) {
	in = strings.TrimLeft(in, " ")
	if strings.HasPrefix(in, "Z") {
		return in[1:], 0, true, ""
	}
	if in == "" || (in[0] != '+' && in[0] != '-') {
		return in, 0, false, "expected a time zone offset"
	}
	sign := int64(1)
	if in[0] == '-' {
		sign = -1
	}
	in = in[1:]
	digits := func() (int64, bool) {
		in = strings.TrimLeft(in, " ")
		n := 0
		for n < len(in) && n < 2 && in[n] >= '0' && in[n] <= '9' {
			n++
		}
		if n == 0 {
			return 0, false
		}
		v, _ := strconv.ParseInt(in[:n], 10, 64)
		in = in[n:]
		return v, true
	}
	hh, ok := digits()
	if !ok {
		return in, 0, false, ""
	}
	var mm int64
	in = strings.TrimPrefix(in, ":")
	if len(in) > 0 && in[0] >= '0' && in[0] <= '9' {
		if mm, ok = digits(); !ok {
			return in, 0, false, ""
		}
	}
	return in, sign * (hh*3600 + mm*60) * 1_000_000, true, ""
}
