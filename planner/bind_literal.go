package planner

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
	physexpr "github.com/kapot-go/kapot/engine/expr"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Literals: numbers, decimals, dates and intervals.

func constant(c *pg.A_Const) (*expr, error) {
	lit := func(v *kapotv1.ScalarValue) (*expr, error) {
		t, err := wire.TypeFromProto(v.GetType())
		if err != nil {
			return nil, err
		}
		return &expr{kind: eLit, lit: v, typ: t}, nil
	}
	switch {
	case c.GetIsnull():
		return lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_NULL}})
	case c.GetIval() != nil:
		return lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}, Value: &kapotv1.ScalarValue_IntValue{IntValue: int64(c.GetIval().GetIval())}})
	case c.GetFval() != nil:
		return decimalLiteral(c.GetFval().GetFval(), c.GetLocation())
	case c.GetSval() != nil:
		return lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8}, Value: &kapotv1.ScalarValue_StringValue{StringValue: c.GetSval().GetSval()}})
	case c.GetBoolval() != nil:
		return lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_BOOL}, Value: &kapotv1.ScalarValue_BoolValue{BoolValue: c.GetBoolval().GetBoolval()}})
	}
	return nil, notSupported(c.GetLocation(), "this constant")
}

// decimalLiteral types a numeric literal like PostgreSQL: exact, with the
// precision and scale its digits have.
func decimalLiteral(text string, pos int32) (*expr, error) {
	if strings.ContainsAny(text, "eE") {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, errAt(pos, engine.ErrInvalidPlan, "bad number %q", text)
		}
		return &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_FLOAT64}, Value: &kapotv1.ScalarValue_FloatValue{FloatValue: f}}, typ: arrow.PrimitiveTypes.Float64}, nil
	}
	intPart, frac, _ := strings.Cut(text, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		digits = "0"
	}
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, errAt(pos, engine.ErrInvalidPlan, "bad number %q", text)
	}
	scale := int32(len(frac))
	prec := max(int32(len(strings.TrimLeft(intPart, "0")))+scale, 1)
	if prec > 38 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "number %q has more than 38 digits", text)
	}
	t := &arrow.Decimal128Type{Precision: prec, Scale: scale}
	return &expr{kind: eLit, typ: t, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: prec, Scale: scale},
		Value: &kapotv1.ScalarValue_DecimalUnscaled{DecimalUnscaled: n.String()}}}, nil
}

func dateLiteral(s string) (*expr, error) {
	d, err := time.Parse("2006-01-02", strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("invalid date %q: want YYYY-MM-DD", s)
	}
	days := d.Unix() / 86400
	return &expr{kind: eLit, typ: arrow.FixedWidthTypes.Date32,
		lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DATE32}, Value: &kapotv1.ScalarValue_IntValue{IntValue: days}}}, nil
}

// Interval field masks of PostgreSQL's typmod (INTERVAL_MASK of its
// MONTH, YEAR, DAY, HOUR, MINUTE and SECOND).
const (
	maskMonth  = 1 << 1
	maskYear   = 1 << 2
	maskDay    = 1 << 3
	maskHour   = 1 << 10
	maskMinute = 1 << 11
	maskSecond = 1 << 12
)

// intervalUnits are the units an interval's text may name, in
// microseconds (months apart).
var intervalUnits = map[string]int64{
	"microsecond": 1, "us": 1, "millisecond": 1000, "ms": 1000,
	"second": 1_000_000, "sec": 1_000_000, "s": 1_000_000,
	"minute": 60_000_000, "min": 60_000_000, "m": 60_000_000,
	"hour": 3_600_000_000, "hr": 3_600_000_000, "h": 3_600_000_000,
}

// intervalLiteral builds INTERVAL 'n' UNIT and INTERVAL 'text', where text
// is whole numbers with units (years, months/mons, weeks, days, hours,
// minutes, seconds, milliseconds, microseconds; singular or plural) and
// an optional [-]HH:MM[:SS[.fraction]], as PostgreSQL and DuckDB read it:
// an interval of months, days and microseconds. Fractions are read as
// fractionalUnit says.
func intervalLiteral(s string, mask int32, pos int32) (*expr, error) {
	var months, days, us int64
	refuse := func() (*expr, error) { return nil, notSupported(pos, fmt.Sprintf("interval %q", s)) }
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) == 0 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "empty interval")
	}
	if mask != 0 {
		unit := map[int32]string{maskYear: "year", maskMonth: "month", maskDay: "day", maskHour: "hour", maskMinute: "minute", maskSecond: "second"}[mask]
		if unit == "" || len(fields) != 1 {
			return refuse()
		}
		if unit != "second" && strings.Contains(fields[0], ".") {
			// DuckDB reads INTERVAL '1.5' DAY as whole days (toward zero);
			// only seconds keep their fraction.
			whole, _, _ := strings.Cut(fields[0], ".")
			if whole == "" || whole == "-" || whole == "+" {
				whole += "0"
			}
			fields[0] = whole
		}
		fields = append(fields, unit)
	}
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if strings.Contains(f, ":") {
			v, ok := clockMicros(f)
			if !ok {
				return refuse()
			}
			us += v
			continue
		}
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil || i+1 == len(fields) {
			if i+1 < len(fields) {
				if m, d, u, ok := fractionalUnit(f, fields[i+1]); ok {
					months, days, us = months+m, days+d, us+u
					i++
					continue
				}
			}
			return refuse()
		}
		i++
		unit := fields[i]
		if _, ok := intervalUnits[unit]; !ok {
			unit = strings.TrimSuffix(unit, "s")
		}
		switch unit {
		case "year", "yr", "y":
			months += n * 12
		case "month", "mon":
			months += n
		case "week", "w":
			days += n * 7
		case "day", "d":
			days += n
		default:
			per, ok := intervalUnits[unit]
			if !ok {
				return refuse()
			}
			us += n * per
		}
	}
	if months > math.MaxInt32 || months < math.MinInt32 || days > math.MaxInt32 || days < math.MinInt32 || us > math.MaxInt64/1000 || us < math.MinInt64/1000 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "interval %q out of range", s)
	}
	iv := &kapotv1.IntervalValue{Months: int32(months), Days: int32(days), Nanos: us * 1000}
	return &expr{kind: eLit, typ: arrow.FixedWidthTypes.MonthDayNanoInterval,
		lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INTERVAL_MONTH_DAY_NANO}, Value: &kapotv1.ScalarValue_IntervalValue{IntervalValue: iv}}}, nil
}

// fractionalUnit reads a number with a fraction and its unit as DuckDB
// does: a year's fraction as months, a month's as days (30 each), a
// week's and a day's as days and time, smaller units as microseconds; a
// fraction's digits past the sixth are dropped.
// ok is false where the fraction does not end in whole parts (those are
// refused).
func fractionalUnit(num, unit string) (months, days, us int64, ok bool) {
	if whole, frac, found := strings.Cut(num, "."); found && len(frac) > 6 {
		num = whole + "." + frac[:6] // DuckDB keeps millionths of a unit
	}
	r, good := new(big.Rat).SetString(num)
	if !good || strings.ContainsAny(num, "eE/") {
		return 0, 0, 0, false
	}
	if _, known := intervalUnits[unit]; !known {
		unit = strings.TrimSuffix(unit, "s")
	}
	whole := func(x *big.Rat) (int64, bool) {
		if !x.IsInt() || !x.Num().IsInt64() {
			return 0, false
		}
		return x.Num().Int64(), true
	}
	mul := func(x *big.Rat, k int64) *big.Rat { return new(big.Rat).Mul(x, new(big.Rat).SetInt64(k)) }
	// split is x's whole part (toward zero) and the rest.
	split := func(x *big.Rat) (int64, *big.Rat) {
		q := new(big.Int).Quo(x.Num(), x.Denom())
		return q.Int64(), new(big.Rat).Sub(x, new(big.Rat).SetInt(q))
	}
	switch unit {
	case "year", "yr", "y":
		months, ok = whole(mul(r, 12))
		return months, 0, 0, ok
	case "month", "mon":
		m, rest := split(r)
		days, ok = whole(mul(rest, 30))
		return m, days, 0, ok
	case "week", "w":
		r = mul(r, 7)
		fallthrough
	case "day", "d":
		d, rest := split(r)
		us, ok = whole(mul(rest, 86_400_000_000))
		return 0, d, us, ok
	}
	per, known := intervalUnits[unit]
	if !known {
		return 0, 0, 0, false
	}
	us, ok = whole(mul(r, per))
	return 0, 0, us, ok
}

// clockMicros reads [-]H:MM[:SS[.fraction]] as microseconds.
func clockMicros(f string) (int64, bool) {
	neg := strings.HasPrefix(f, "-")
	f = strings.TrimLeft(f, "+-")
	parts := strings.Split(f, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	h, err1 := strconv.ParseInt(parts[0], 10, 32)
	m, err2 := strconv.ParseInt(parts[1], 10, 32)
	if err1 != nil || err2 != nil || m > 59 || m < 0 || h < 0 {
		return 0, false
	}
	us := (h*3600 + m*60) * 1_000_000
	if len(parts) == 3 {
		sec, frac, _ := strings.Cut(parts[2], ".")
		sv, err := strconv.ParseInt(sec, 10, 32)
		if err != nil || sv < 0 || sv > 59 || len(frac) > 6 {
			return 0, false
		}
		fv := int64(0)
		if frac != "" {
			if fv, err = strconv.ParseInt((frac + "000000")[:6], 10, 64); err != nil {
				return 0, false
			}
		}
		us += sv*1_000_000 + fv
	}
	if neg {
		us = -us
	}
	return us, true
}

// timestampLiteral builds TIMESTAMP '…' (TIMESTAMPTZ, TIMESTAMP_NS) from
// its text.
func timestampLiteral(s string, t *arrow.TimestampType, pos int32) (*expr, error) {
	v, err := physexpr.ParseTimestamp(s, t)
	if err != nil {
		return nil, errAt(pos, err, "%v", err)
	}
	pt, err := wire.TypeToProto(t)
	if err != nil {
		return nil, errAt(pos, err, "%v", err)
	}
	return &expr{kind: eLit, typ: t, lit: &kapotv1.ScalarValue{Type: pt, Value: &kapotv1.ScalarValue_IntValue{IntValue: int64(v)}}}, nil
}
