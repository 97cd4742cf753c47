package expr

import (
	"context"
	"fmt"
	"math/big"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// literalExpr is a constant.
type literalExpr struct{ value scalar.Scalar }

func (l *literalExpr) DataType() arrow.DataType { return l.value.DataType() }

func (l *literalExpr) String() string { return literalText(l.value) }

// literalText prints a constant as SQL: strings quoted, dates and
// timestamps as typed literals, NULL as NULL.
func literalText(v scalar.Scalar) string {
	if !v.IsValid() {
		return "NULL"
	}
	switch v.DataType().ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return "'" + strings.ReplaceAll(v.String(), "'", "''") + "'"
	case arrow.DATE32, arrow.DATE64:
		return "DATE '" + v.String() + "'"
	case arrow.TIMESTAMP:
		t := v.DataType().(*arrow.TimestampType)
		text := timestampText(v.(*scalar.Timestamp).Value, t.Unit)
		switch {
		case t.TimeZone != "":
			return "TIMESTAMPTZ '" + text + "+00'"
		case t.Unit == arrow.Nanosecond:
			return "TIMESTAMP_NS '" + text + "'"
		}
		return "TIMESTAMP '" + text + "'"
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return "INTERVAL '" + intervalText(v.(*scalar.MonthDayNanoInterval).Value) + "'"
	}
	return v.String()
}

func (l *literalExpr) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	return scalar.MakeArrayFromScalar(l.value, int(b.NumRows()), mem)
}

func (l *literalExpr) evalDatum(context.Context, arrow.RecordBatch) (compute.Datum, error) {
	return compute.NewDatum(l.value), nil
}

// ScalarFromProto converts a wire literal to an Arrow scalar.
func ScalarFromProto(v *kapotv1.ScalarValue) (scalar.Scalar, error) {
	if v == nil {
		return nil, fmt.Errorf("literal missing: %w", errs.ErrInvalidPlan)
	}
	t, err := wire.TypeFromProto(v.GetType())
	if err != nil {
		return nil, err
	}
	if v.GetValue() == nil {
		return scalar.MakeNullScalar(t), nil
	}
	bad := func() (scalar.Scalar, error) {
		return nil, fmt.Errorf("literal %v does not fit type %s: %w", v.GetValue(), t, errs.ErrInvalidPlan)
	}
	switch x := v.GetValue().(type) {
	case *kapotv1.ScalarValue_BoolValue:
		if t.ID() != arrow.BOOL {
			return bad()
		}
		return scalar.NewBooleanScalar(x.BoolValue), nil
	case *kapotv1.ScalarValue_IntValue:
		switch t.ID() {
		case arrow.DATE32:
			return scalar.NewDate32Scalar(arrow.Date32(x.IntValue)), nil
		case arrow.TIMESTAMP:
			return scalar.NewTimestampScalar(arrow.Timestamp(x.IntValue), t), nil
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64:
			s, err := scalar.NewInt64Scalar(x.IntValue).CastTo(t)
			if err != nil {
				return bad()
			}
			return s, nil
		}
		return bad()
	case *kapotv1.ScalarValue_UintValue:
		s, err := scalar.NewUint64Scalar(x.UintValue).CastTo(t)
		if err != nil {
			return bad()
		}
		return s, nil
	case *kapotv1.ScalarValue_FloatValue:
		s, err := scalar.NewFloat64Scalar(x.FloatValue).CastTo(t)
		if err != nil || !arrow.IsFloating(t.ID()) {
			return bad()
		}
		return s, nil
	case *kapotv1.ScalarValue_StringValue:
		if t.ID() != arrow.STRING && t.ID() != arrow.LARGE_STRING {
			return bad()
		}
		return scalar.MakeScalarParam(x.StringValue, t)
	case *kapotv1.ScalarValue_IntervalValue:
		if t.ID() != arrow.INTERVAL_MONTH_DAY_NANO {
			return bad()
		}
		iv := x.IntervalValue
		return scalar.NewMonthDayNanoIntervalScalar(arrow.MonthDayNanoInterval{Months: iv.GetMonths(), Days: iv.GetDays(), Nanoseconds: iv.GetNanos()}), nil
	case *kapotv1.ScalarValue_DecimalUnscaled:
		dt, ok := t.(*arrow.Decimal128Type)
		if !ok {
			return bad()
		}
		n, ok := new(big.Int).SetString(x.DecimalUnscaled, 10)
		if !ok {
			return bad()
		}
		d := decimal128.FromBigInt(n)
		if !d.FitsInPrecision(dt.Precision) {
			return bad()
		}
		return scalar.NewDecimal128Scalar(d, dt), nil
	}
	return bad()
}
