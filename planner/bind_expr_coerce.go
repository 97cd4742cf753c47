package planner

import (
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/wire"
)

// Types: the common type of operands, and the casts that bring
// expressions to it.

// coercePair casts a string literal compared with a date to a date (SQL
// lets '1995-01-01' stand for a date), and brings a timestamp and a date,
// string literal or timestamp of another kind to one type (timeCoerce).
func (b *binder) coercePair(l, r *expr) (*expr, *expr) {
	if l2, r2, ok := timeCoerce(l, r); ok {
		return l2, r2
	}
	return coerceDates(l, r)
}

// coerceDates casts a string literal beside a date to a date.
func coerceDates(l, r *expr) (*expr, *expr) {
	if l.typ != nil && r.typ != nil {
		if l.typ.ID() == arrow.DATE32 && r.kind == eLit && r.typ.ID() == arrow.STRING {
			if d, err := dateLiteral(r.lit.GetStringValue()); err == nil {
				return l, d
			}
		}
		if r.typ.ID() == arrow.DATE32 && l.kind == eLit && l.typ.ID() == arrow.STRING {
			if d, err := dateLiteral(l.lit.GetStringValue()); err == nil {
				return d, r
			}
		}
	}
	return l, r
}

// commonType is the type CASE results meet at: the one type they share, or
// float64 / the widest decimal when numeric types differ.
func commonType(es []*expr) arrow.DataType {
	var t arrow.DataType
	for _, e := range es {
		if e.typ == nil || e.typ.ID() == arrow.NULL {
			continue
		}
		if t == nil {
			t = e.typ
			continue
		}
		if arrow.TypeEqual(t, e.typ) {
			continue
		}
		switch {
		case temporal(t) && temporal(e.typ):
			t = timeCommon(t, e.typ)
		case arrow.IsFloating(t.ID()) || arrow.IsFloating(e.typ.ID()):
			t = arrow.PrimitiveTypes.Float64
		case t.ID() == arrow.DECIMAL128 || e.typ.ID() == arrow.DECIMAL128:
			t = widerDecimal(t, e.typ)
		case arrow.IsInteger(t.ID()) && arrow.IsInteger(e.typ.ID()):
			t = arrow.PrimitiveTypes.Int64
		}
	}
	return t
}

func widerDecimal(a, b arrow.DataType) arrow.DataType {
	dec := func(t arrow.DataType) (int32, int32) {
		if d, ok := t.(*arrow.Decimal128Type); ok {
			return d.Precision - d.Scale, d.Scale
		}
		return 19, 0
	}
	ai, as := dec(a)
	bi, bs := dec(b)
	s := max(as, bs)
	return &arrow.Decimal128Type{Precision: min(max(ai, bi)+s, 38), Scale: s}
}

// coerce casts e to t when its type differs.
// numeric reports whether t is an integer, floating point or decimal type.
func numeric(t arrow.DataType) bool {
	return arrow.IsInteger(t.ID()) || arrow.IsFloating(t.ID()) || t.ID() == arrow.DECIMAL128
}

// unify casts two numbers of different types (join keys) to their common
// type; other pairs are returned as they are.
func (b *binder) unify(l, r *expr) (*expr, *expr) {
	if l2, r2, ok := timeCoerce(l, r); ok {
		return l2, r2
	}
	if l.typ == nil || r.typ == nil || arrow.TypeEqual(l.typ, r.typ) || !numeric(l.typ) || !numeric(r.typ) {
		return l, r
	}
	t := commonType([]*expr{l, r})
	return b.coerce(l, t), b.coerce(r, t)
}

func (b *binder) coerce(e *expr, t arrow.DataType) *expr { return coerceTo(e, t) }

// coerceTo casts e to t when its type differs.
func coerceTo(e *expr, t arrow.DataType) *expr {
	if e.typ == nil || arrow.TypeEqual(e.typ, t) {
		return e
	}
	pt, err := wire.TypeToProto(t)
	if err != nil {
		return e
	}
	c := &expr{kind: eCast, args: []*expr{e}, to: pt, typ: t}
	return c
}

// typeNulls gives the untyped NULLs among es (NULL written as a constant)
// the type of the others, or BIGINT when all are NULL, so that NULL = NULL,
// NULL BETWEEN 1 AND NULL and NULL IN (1, 2) are NULL as in SQL rather
// than refused. It returns nil when no argument is an untyped NULL.
func (b *binder) typeNulls(es []*expr) []*expr {
	isNull := func(e *expr) bool { return e.typ != nil && e.typ.ID() == arrow.NULL }
	if !slices.ContainsFunc(es, isNull) {
		return nil
	}
	t := commonType(es)
	if t == nil {
		t = arrow.PrimitiveTypes.Int64
	}
	out := make([]*expr, len(es))
	for i, e := range es {
		out[i] = e
		if isNull(e) {
			out[i] = b.coerce(e, t)
		}
	}
	return out
}
