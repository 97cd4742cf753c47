package planner

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
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

// Interval field masks of PostgreSQL's typmod.
const (
	maskMonth = 1 << 1
	maskYear  = 1 << 2
	maskDay   = 1 << 3
)

// intervalLiteral builds INTERVAL 'n' unit (also 'n unit' with no mask).
func intervalLiteral(s string, mask int32, pos int32) (*expr, error) {
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) == 0 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "empty interval")
	}
	n, err := strconv.ParseInt(fields[0], 10, 32)
	if err != nil {
		return nil, notSupported(pos, fmt.Sprintf("interval %q", s))
	}
	unit := ""
	if len(fields) > 1 {
		unit = strings.TrimSuffix(fields[1], "s")
	}
	iv := &kapotv1.IntervalValue{}
	switch {
	case mask == maskYear || unit == "year":
		iv.Months = int32(n) * 12
	case mask == maskMonth || unit == "month":
		iv.Months = int32(n)
	case mask == maskDay || unit == "day":
		iv.Days = int32(n)
	default:
		return nil, notSupported(pos, fmt.Sprintf("interval %q", s))
	}
	return &expr{kind: eLit, typ: arrow.FixedWidthTypes.MonthDayNanoInterval,
		lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INTERVAL_MONTH_DAY_NANO}, Value: &kapotv1.ScalarValue_IntervalValue{IntervalValue: iv}}}, nil
}

// timestampLiteral builds TIMESTAMP '…' (TIMESTAMPTZ, TIMESTAMP_NS) from
// its text.
func timestampLiteral(s string, t *arrow.TimestampType, pos int32) (*expr, error) {
	v, err := engine.ParseTimestamp(s, t)
	if err != nil {
		return nil, errAt(pos, err, "%v", err)
	}
	pt, err := wire.TypeToProto(t)
	if err != nil {
		return nil, errAt(pos, err, "%v", err)
	}
	return &expr{kind: eLit, typ: t, lit: &kapotv1.ScalarValue{Type: pt, Value: &kapotv1.ScalarValue_IntValue{IntValue: int64(v)}}}, nil
}
