package planner

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Type rules of the time types: which type a timestamp and a date, a
// string literal or a timestamp of another kind meet at, as in DuckDB.

// temporal reports whether t is a DATE or a timestamp.
func temporal(t arrow.DataType) bool {
	return t != nil && (t.ID() == arrow.DATE32 || t.ID() == arrow.TIMESTAMP)
}

// timeCommon is the type two temporal types meet at: a date and a
// timestamp at the timestamp; TIMESTAMP and TIMESTAMPTZ at TIMESTAMPTZ
// (the session's zone is UTC); TIMESTAMP_NS and TIMESTAMP at TIMESTAMP_NS.
func timeCommon(a, b arrow.DataType) arrow.DataType {
	switch {
	case arrow.TypeEqual(a, b):
		return a
	case a.ID() == arrow.DATE32:
		return b
	case b.ID() == arrow.DATE32:
		return a
	case a.(*arrow.TimestampType).TimeZone != "" || b.(*arrow.TimestampType).TimeZone != "":
		return wire.TimestampTZ
	}
	return wire.TimestampNanos
}

// timeCoerce brings l and r to one type when one is a timestamp and the
// other a date, a timestamp of another kind or a string literal (parsed
// as a timestamp of the other's type). ok is false for other pairs, and
// for a string literal that is not a timestamp (the comparison then
// fails as it would).
func timeCoerce(l, r *expr) (*expr, *expr, bool) {
	if l.typ == nil || r.typ == nil {
		return l, r, false
	}
	lt, rt := l.typ.ID(), r.typ.ID()
	if lt != arrow.TIMESTAMP && rt != arrow.TIMESTAMP {
		return l, r, false
	}
	if lt == arrow.TIMESTAMP && r.kind == eLit && rt == arrow.STRING {
		v, err := timestampLiteral(r.lit.GetStringValue(), l.typ.(*arrow.TimestampType), -1)
		return l, v, err == nil
	}
	if rt == arrow.TIMESTAMP && l.kind == eLit && lt == arrow.STRING {
		v, err := timestampLiteral(l.lit.GetStringValue(), r.typ.(*arrow.TimestampType), -1)
		return v, r, err == nil
	}
	if lt == arrow.DATE32 && midnight(r) {
		return l, dateOf(r), true
	}
	if rt == arrow.DATE32 && midnight(l) {
		return dateOf(l), r, true
	}
	if !temporal(l.typ) || !temporal(r.typ) || arrow.TypeEqual(l.typ, r.typ) {
		return l, r, false
	}
	t := timeCommon(l.typ, r.typ)
	return coerceTo(l, t), coerceTo(r, t), true
}

// midnight reports whether e is a timestamp constant at midnight (date '…'
// + interval '1' year is one): a date compares with it as with that day,
// so the date's column is compared as it is read (and Parquet row groups
// pruned by its statistics) instead of cast row by row.
func midnight(e *expr) bool {
	if e.kind != eLit || e.typ.ID() != arrow.TIMESTAMP || e.lit.GetValue() == nil {
		return false
	}
	return e.lit.GetIntValue()%perDay(e.typ) == 0
}

func perDay(t arrow.DataType) int64 {
	if t.(*arrow.TimestampType).Unit == arrow.Nanosecond {
		return 86_400_000_000_000
	}
	return 86_400_000_000
}

// dateOf is a midnight timestamp constant as a DATE constant.
func dateOf(e *expr) *expr {
	days := e.lit.GetIntValue() / perDay(e.typ)
	return &expr{kind: eLit, typ: arrow.FixedWidthTypes.Date32,
		lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DATE32}, Value: &kapotv1.ScalarValue_IntValue{IntValue: days}}}
}

// clockLiteral is the statement's clock as a constant of type t
// (microseconds; the session's zone is UTC).
func clockLiteral(now time.Time, t arrow.DataType) *expr {
	pt, _ := wire.TypeToProto(t)
	return &expr{kind: eLit, typ: t, lit: &kapotv1.ScalarValue{Type: pt, Value: &kapotv1.ScalarValue_IntValue{IntValue: now.UnixMicro()}}}
}
