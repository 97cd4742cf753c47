package expr

import (
	"fmt"
	"math"
	"strings"
	"time"
	// The IANA zones of AT TIME ZONE and timezone(), whatever the host has.
	_ "time/tzdata"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/errs"
)

// Functions of timestamps, as DuckDB answers them: age, date_diff of
// every part, make_timestamp, to_timestamp, epoch_ms/us/ns, strftime and
// strptime, last_day/dayname/monthname, and timezone() (AT TIME ZONE).
// Values are read as microseconds since the epoch (UTC: the session's
// zone).

// addTimeFunctions adds the timestamp functions to the registry functions
// (after the date family, whose date-only versions they replace).
func addTimeFunctions(functions map[string]scalarFunction) {
	functions["age"] = ageFunc
	functions["date_diff"] = dateDiffFunc
	functions["datediff"] = dateDiffFunc
	functions["make_timestamp"] = makeTimestampFunc
	functions["to_timestamp"] = toTimestampFunc
	functions["epoch_ms"] = epochUnitFunc(1000)
	functions["epoch_us"] = epochUnitFunc(1)
	functions["epoch_ns"] = epochUnitFunc(-1000)
	functions["strftime"] = strftimeFunc
	functions["strptime"] = strptimeFunc(false)
	functions["try_strptime"] = strptimeFunc(true)
	functions["timezone"] = timezoneFunc
	functions["last_day"] = timeDateFunc(arrow.FixedWidthTypes.Date32, func(t time.Time) any {
		first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return arrow.Date32FromTime(first.AddDate(0, 1, -1))
	})
	functions["dayname"] = timeDateFunc(arrow.BinaryTypes.String, func(t time.Time) any { return t.Weekday().String() })
	functions["monthname"] = timeDateFunc(arrow.BinaryTypes.String, func(t time.Time) any { return t.Month().String() })
}

// utcTime is microseconds since the epoch as a time.Time in UTC.
func utcTime(us int64) time.Time { return time.UnixMicro(us).UTC() }

// timeDateFunc is a function of one DATE or TIMESTAMP.
func timeDateFunc(out arrow.DataType, f func(time.Time) any) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 1, 1); err != nil {
			return nil, err
		}
		return rowFunc(name, args, []argKind{argTime}, out, func(v []any) (any, error) {
			return f(utcTime(v[0].(int64))), nil
		})
	}
}

// ageFunc is age(end, start): the difference in years, months, days and
// time of day, borrowing a month's days from start's month (end's when
// end < start), as DuckDB's Interval::GetAge does.
func ageFunc(name string, args []Expr) (Expr, error) {
	if len(args) == 1 {
		return nil, fmt.Errorf("age of one timestamp (from today): %w", errs.ErrNotSupported)
	}
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	return rowFunc(name, args, []argKind{argTime}, arrow.FixedWidthTypes.MonthDayNanoInterval, func(v []any) (any, error) {
		return age(v[0].(int64), v[1].(int64)), nil
	})
}

func age(us1, us2 int64) arrow.MonthDayNanoInterval {
	d1, t1 := floorDiv(us1, MicrosPerDay), floorMod(us1, MicrosPerDay)
	d2, t2 := floorDiv(us2, MicrosPerDay), floorMod(us2, MicrosPerDay)
	y1, m1, dd1 := civilFromDays(d1)
	y2, m2, dd2 := civilFromDays(d2)
	years, months, days := y1-y2, int64(m1-m2), int64(dd1-dd2)
	split := func(t int64) (h, mi, s, us int64) {
		return t / 3_600_000_000, t / 60_000_000 % 60, t / 1_000_000 % 60, t % 1_000_000
	}
	h1, mi1, s1, u1 := split(t1)
	h2, mi2, s2, u2 := split(t2)
	hours, mins, secs, micros := h1-h2, mi1-mi2, s1-s2, u1-u2
	flip := us1 < us2
	if flip {
		years, months, days, hours, mins, secs, micros = -years, -months, -days, -hours, -mins, -secs, -micros
	}
	for micros < 0 {
		micros += 1_000_000
		secs--
	}
	for secs < 0 {
		secs += 60
		mins--
	}
	for mins < 0 {
		mins += 60
		hours--
	}
	for hours < 0 {
		hours += 24
		days--
	}
	for days < 0 {
		if flip {
			days += int64(daysInMonth(y1, m1))
		} else {
			days += int64(daysInMonth(y2, m2))
		}
		months--
	}
	for months < 0 {
		months += 12
		years--
	}
	if flip {
		years, months, days, hours, mins, secs, micros = -years, -months, -days, -hours, -mins, -secs, -micros
	}
	us := ((hours*60+mins)*60+secs)*1_000_000 + micros
	return arrow.MonthDayNanoInterval{Months: int32(years*12 + months), Days: int32(days), Nanoseconds: us * 1000}
}

// diffParts are date_diff's parts by every name DuckDB gives them.
var diffParts = map[string]string{
	"microsecond": "microsecond", "microseconds": "microsecond", "us": "microsecond", "usec": "microsecond", "usecs": "microsecond",
	"millisecond": "millisecond", "milliseconds": "millisecond", "ms": "millisecond", "msec": "millisecond", "msecs": "millisecond",
	"second": "second", "seconds": "second", "s": "second", "sec": "second", "secs": "second",
	"minute": "minute", "minutes": "minute", "m": "minute", "min": "minute", "mins": "minute",
	"hour": "hour", "hours": "hour", "h": "hour", "hr": "hour", "hrs": "hour",
	"day": "day", "days": "day", "d": "day",
	"week": "week", "weeks": "week", "w": "week",
	"month": "month", "months": "month", "mon": "month", "mons": "month",
	"quarter": "quarter", "quarters": "quarter",
	"year": "year", "years": "year", "y": "year", "yr": "year", "yrs": "year",
	"decade": "decade", "decades": "decade",
	"century": "century", "centuries": "century",
	"millennium": "millennium", "millennia": "millennium",
}

// dateDiffFunc is date_diff(part, start, end) over dates and timestamps:
// the number of part boundaries from start to end, as DuckDB counts them
// (weeks: whole weeks between the two dates).
func dateDiffFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 3, 3); err != nil {
		return nil, err
	}
	p, ok := literalString(args[0])
	if !ok {
		return nil, fmt.Errorf("the date part must be a string literal: %w", errs.ErrNotSupported)
	}
	part, ok := diffParts[strings.ToLower(p)]
	if !ok {
		return nil, fmt.Errorf("date_diff part %q: %w", p, errs.ErrNotSupported)
	}
	return rowFunc(name+"["+part+"]", args[1:], []argKind{argTime}, arrow.PrimitiveTypes.Int64, func(v []any) (any, error) {
		return dateDiffPart(part, v[0].(int64), v[1].(int64)), nil
	})
}

func dateDiffPart(part string, s, e int64) int64 {
	per := map[string]int64{"microsecond": 1, "millisecond": 1000, "second": 1_000_000, "minute": 60_000_000, "hour": 3_600_000_000, "day": MicrosPerDay}[part]
	if per != 0 {
		return floorDiv(e, per) - floorDiv(s, per)
	}
	ds, de := floorDiv(s, MicrosPerDay), floorDiv(e, MicrosPerDay)
	if part == "week" {
		return (de - ds) / 7
	}
	y1, m1, _ := civilFromDays(ds)
	y2, m2, _ := civilFromDays(de)
	switch part {
	case "month":
		return (y2*12 + int64(m2)) - (y1*12 + int64(m1))
	case "quarter":
		return (y2*4 + int64(m2-1)/3) - (y1*4 + int64(m1-1)/3)
	case "year":
		return y2 - y1
	case "decade":
		return y2/10 - y1/10
	case "century":
		return y2/100 - y1/100
	}
	return y2/1000 - y1/1000 // millennium
}

// makeTimestampFunc is make_timestamp(year, month, day, hour, minute,
// seconds) and make_timestamp(microseconds since the epoch): a TIMESTAMP.
func makeTimestampFunc(name string, args []Expr) (Expr, error) {
	if len(args) == 1 {
		args = wholeDecimalAsInt(args)
		return rowFunc(name, args, []argKind{argInt}, timestampType, func(v []any) (any, error) {
			return arrow.Timestamp(v[0].(int64)), nil
		})
	}
	if err := wantArgs(args, 6, 6); err != nil {
		return nil, err
	}
	return rowFunc(name, args, []argKind{argInt, argInt, argInt, argInt, argInt, argFloat}, timestampType, func(v []any) (any, error) {
		y, m, d, h, mi, s := v[0].(int64), v[1].(int64), v[2].(int64), v[3].(int64), v[4].(int64), v[5].(float64)
		if m < 1 || m > 12 || d < 1 || y < -290000 || y > 290000 || d > int64(daysInMonth(y, int(m))) {
			return nil, fmt.Errorf("date out of range: %d-%d-%d", y, m, d)
		}
		if h < 0 || h > 24 || mi < 0 || mi > 59 || !(s >= 0 && s <= 60) || (h == 24 && (mi != 0 || s != 0)) {
			return nil, fmt.Errorf("time out of range: %d:%d:%g", h, mi, s)
		}
		us := (h*3600+mi*60)*1_000_000 + int64(math.Round(s*1e6))
		return arrow.Timestamp(daysFromCivil(y, int(m), int(d))*MicrosPerDay + us), nil
	})
}

// toTimestampFunc is to_timestamp(seconds since the epoch): a
// TIMESTAMPTZ, rounded to the microsecond (halves to even, as DuckDB).
func toTimestampFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 1, 1); err != nil {
		return nil, err
	}
	return rowFunc(name, args, []argKind{argFloat}, arrow.FixedWidthTypes.Timestamp_us, func(v []any) (any, error) {
		us := math.RoundToEven(v[0].(float64) * 1e6)
		if !(us > -9.2e18 && us < 9.2e18) {
			return nil, fmt.Errorf("epoch seconds out of range for TIMESTAMP WITH TIME ZONE")
		}
		return arrow.Timestamp(int64(us)), nil
	})
}

// epochUnitFunc is epoch_ms (per 1000), epoch_us (1) and epoch_ns (-1000:
// a multiple): a timestamp's epoch in that unit (toward zero), and, for
// epoch_ms of an integer, the TIMESTAMP that many milliseconds after
// the epoch.
func epochUnitFunc(per int64) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 1, 1); err != nil {
			return nil, err
		}
		args = wholeDecimalAsInt(args)
		t := args[0].DataType()
		if per == 1000 && isInteger(t) {
			return rowFunc(name, args, []argKind{argInt}, timestampType, func(v []any) (any, error) {
				ms := v[0].(int64)
				if ms > math.MaxInt64/1000 || ms < math.MinInt64/1000 {
					return nil, fmt.Errorf("timestamp out of range")
				}
				return arrow.Timestamp(ms * 1000), nil
			})
		}
		if tt, ok := t.(*arrow.TimestampType); ok && tt.Unit == arrow.Nanosecond {
			return nil, fmt.Errorf("%s of a TIMESTAMP_NS: %w", name, errs.ErrNotSupported)
		}
		return rowFunc(name, args, []argKind{argTime}, arrow.PrimitiveTypes.Int64, func(v []any) (any, error) {
			us := v[0].(int64)
			if per < 0 {
				return us * -per, nil
			}
			return us / per, nil
		})
	}
}

// timezoneFunc is timezone(zone, ts), which ts AT TIME ZONE zone becomes:
// a TIMESTAMP read as wall time in zone gives the TIMESTAMPTZ of that
// instant (a wall time a change of offset skips or repeats is read with
// the offset before the change, or as the later instant, as ICU does in
// DuckDB); a TIMESTAMPTZ gives the wall time in zone, a TIMESTAMP.
func timezoneFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	zone, ok := literalString(args[0])
	if !ok {
		return nil, fmt.Errorf("a time zone other than a string constant: %w", errs.ErrNotSupported)
	}
	loc, err := loadZone(zone)
	if err != nil {
		return nil, err
	}
	tt, ok := args[1].DataType().(*arrow.TimestampType)
	if !ok {
		if args[1].DataType().ID() != arrow.DATE32 {
			return nil, fmt.Errorf("AT TIME ZONE of %s: %w", args[1].DataType(), errs.ErrInvalidPlan)
		}
		tt = timestampType
	}
	if tt.TimeZone != "" {
		return rowFunc(name, args[1:], []argKind{argTime}, timestampType, func(v []any) (any, error) {
			us := v[0].(int64)
			_, off := time.UnixMicro(us).In(loc).Zone()
			return arrow.Timestamp(us + int64(off)*1_000_000), nil
		})
	}
	return rowFunc(name, args[1:], []argKind{argTime}, arrow.FixedWidthTypes.Timestamp_us, func(v []any) (any, error) {
		return arrow.Timestamp(wallToInstant(v[0].(int64), loc)), nil
	})
}

// loadZone reads an IANA zone name (or UTC).
func loadZone(zone string) (*time.Location, error) {
	if strings.EqualFold(zone, "utc") || strings.EqualFold(zone, "gmt") {
		return time.UTC, nil
	}
	if zone == "" || strings.HasPrefix(zone, "+") || strings.HasPrefix(zone, "-") || strings.EqualFold(zone, "local") {
		return nil, fmt.Errorf("unknown time zone %q: %w", zone, errs.ErrInvalidPlan)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: %w", zone, errs.ErrInvalidPlan)
	}
	return loc, nil
}

// wallToInstant is the instant (microseconds) at which loc's clocks show
// wall (microseconds, as if UTC).
func wallToInstant(wall int64, loc *time.Location) int64 {
	offAt := func(us int64) int64 {
		_, off := time.UnixMicro(us).In(loc).Zone()
		return int64(off) * 1_000_000
	}
	before, after := offAt(wall-MicrosPerDay), offAt(wall+MicrosPerDay)
	t1, t2 := wall-before, wall-after
	ok1, ok2 := offAt(t1) == before, offAt(t2) == after
	switch {
	case ok1 && ok2:
		return max(t1, t2)
	case ok2:
		return t2
	}
	return t1
}

// wholeDecimalAsInt casts arguments that are decimals of scale 0 (integer
// literals too long for an INTEGER) to BIGINT.
func wholeDecimalAsInt(args []Expr) []Expr {
	out := make([]Expr, len(args))
	for i, a := range args {
		out[i] = a
		if d, ok := a.DataType().(*arrow.Decimal128Type); ok && d.Scale == 0 && d.Precision <= 18 {
			out[i] = &castExpr{in: a, to: arrow.PrimitiveTypes.Int64}
		}
	}
	return out
}
