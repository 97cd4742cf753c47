package planner

import (
	"github.com/apache/arrow-go/v18/arrow"

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
	if !temporal(l.typ) || !temporal(r.typ) || arrow.TypeEqual(l.typ, r.typ) {
		return l, r, false
	}
	t := timeCommon(l.typ, r.typ)
	return coerceTo(l, t), coerceTo(r, t), true
}
