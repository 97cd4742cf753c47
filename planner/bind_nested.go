package planner

import (
	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Access into nested values: s.f, (s).f and s['f'] on a STRUCT (the
// engine's struct_extract), l[i] on a LIST (list_element: 1-based,
// negative from the end, NULL out of range) and m[k] on a MAP
// (map_extract_value: the value, NULL when k is absent), as DuckDB 1.5
// reads them.

// nestedFuncsNotYet are DuckDB's functions that make, unnest or reshape
// nested values, which kapot does not have yet: refused by name.
var nestedFuncsNotYet = map[string]bool{
	"list_agg": true, "list_slice": true,
	"array_slice": true, "array_value": true, "struct_pack": true, "row": true,
	"map": true, "map_keys": true, "map_values": true, "map_entries": true, "map_extract": true, "element_at": true,
	"list_aggregate": true, "list_distinct": true, "list_unique": true, "flatten": true, "list_concat": true,
	"array_concat": true, "list_transform": true, "list_filter": true, "list_position": true, "array_position": true,
	"generate_subscripts": true, "array_to_string": true, "list_cat": true, "array_append": true, "list_append": true,
}

// bindIndirection binds x[i], x['f'] and (x).f, one step after another.
func (b *binder) bindIndirection(ind *pg.A_Indirection, sc *scope, ag *aggBinder) (*expr, error) {
	e, err := b.bindExpr(ind.GetArg(), sc, ag)
	if err != nil {
		return nil, err
	}
	pos := location(ind.GetArg())
	for _, step := range ind.GetIndirection() {
		switch {
		case step.GetString_() != nil:
			e, err = b.fieldOf(e, step.GetString_().GetSval(), pos)
		case step.GetAIndices() != nil:
			e, err = b.subscript(e, step.GetAIndices(), sc, ag, pos)
		case step.GetAStar() != nil:
			return nil, notSupported(pos, "x.* of a STRUCT")
		default:
			return nil, refuseNode("subscript", step)
		}
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

// subscript binds e[i]: an element of a LIST, a value of a MAP, a field
// of a STRUCT (by a constant name).
func (b *binder) subscript(e *expr, ix *pg.A_Indices, sc *scope, ag *aggBinder, pos int32) (*expr, error) {
	if ix.GetIsSlice() || ix.GetLidx() != nil {
		return nil, notSupported(pos, "list slices l[a:b]")
	}
	i, err := b.bindExpr(ix.GetUidx(), sc, ag)
	if err != nil {
		return nil, err
	}
	if err := b.typed(e); err != nil {
		return nil, errAt(pos, err, "%v", err)
	}
	switch e.typ.ID() {
	case arrow.LIST:
		return b.nestedCall("list_element", pos, e, i)
	case arrow.MAP:
		return b.nestedCall("map_extract_value", pos, e, i)
	case arrow.STRUCT:
		if i.kind != eLit || i.lit.GetStringValue() == "" {
			return nil, notSupported(pos, "a STRUCT subscript that is not a constant field name")
		}
		return b.fieldOf(e, i.lit.GetStringValue(), pos)
	}
	return nil, errAt(pos, engine.ErrInvalidPlan, "cannot subscript a value of type %s", e.typ)
}

// fieldOf binds e.f on a STRUCT e.
func (b *binder) fieldOf(e *expr, f string, pos int32) (*expr, error) {
	if err := b.typed(e); err != nil {
		return nil, errAt(pos, err, "%v", err)
	}
	if e.typ.ID() != arrow.STRUCT {
		return nil, errAt(pos, engine.ErrInvalidPlan, "cannot take field %q of a value of type %s", f, e.typ)
	}
	name := &expr{kind: eLit, typ: arrow.BinaryTypes.String, lit: &kapotv1.ScalarValue{
		Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8}, Value: &kapotv1.ScalarValue_StringValue{StringValue: f}}}
	return b.nestedCall("struct_extract", pos, e, name)
}

// nestedCall is fn(args…), typed (the next step of an access needs it).
func (b *binder) nestedCall(fn string, pos int32, args ...*expr) (*expr, error) {
	e := &expr{kind: eFunc, fn: fn, args: args}
	if err := b.resolve(e); err != nil {
		return nil, errAt(pos, err, "%v", err)
	}
	return e, nil
}

// typed resolves e's type when it has none yet.
func (b *binder) typed(e *expr) error {
	if e.typ != nil {
		return nil
	}
	return b.resolve(e)
}

// structColumnRef binds a.b[.c…] that names no table's column as field
// access into a STRUCT column: t.s.f, or s.f, s.f.g. ok is false when the
// first names do not name a STRUCT column either.
func (b *binder) structColumnRef(cr *pg.ColumnRef, sc *scope, ag *aggBinder) (e *expr, ok bool, err error) {
	f := cr.GetFields()
	names := make([]string, len(f))
	for i, n := range f {
		if n.GetString_() == nil {
			return nil, false, nil
		}
		names[i] = n.GetString_().GetSval()
	}
	for _, split := range []int{2, 1} { // t.s.f… first, then s.f…
		if len(names) <= split {
			continue
		}
		qual := ""
		if split == 2 {
			qual = names[0]
		}
		c, err := sc.find(qual, names[split-1], cr.GetLocation())
		if err != nil || c.typ.ID() != arrow.STRUCT {
			continue
		}
		e := &expr{kind: eCol, col: c.id, typ: c.typ}
		if ag != nil {
			if e, err = ag.wrapCol(e, cr.GetLocation()); err != nil {
				return nil, true, err
			}
		}
		for _, field := range names[split:] {
			if e, err = b.fieldOf(e, field, cr.GetLocation()); err != nil {
				return nil, true, err
			}
		}
		return e, true, nil
	}
	return nil, false, nil
}

// bindArray binds ARRAY[a, b, …] (DuckDB's [a, b, …], which the parser
// does not read) as list_value(a, b, …), the elements cast to their
// common type.
func (b *binder) bindArray(ae *pg.A_ArrayExpr, sc *scope, ag *aggBinder) (*expr, error) {
	var args []*expr
	for _, n := range ae.GetElements() {
		e, err := b.bindExpr(n, sc, ag)
		if err != nil {
			return nil, err
		}
		args = append(args, e)
	}
	if len(args) == 0 {
		return nil, notSupported(ae.GetLocation(), "an empty ARRAY[] (its type is unknown)")
	}
	return b.nestedCall("list_value", ae.GetLocation(), b.listElements(args)...)
}

// listElements casts list_value's arguments to their common type: numbers
// to the widest, NULLs and times to the others'.
func (b *binder) listElements(args []*expr) []*expr {
	t := commonType(args)
	if t == nil {
		return args
	}
	out := make([]*expr, len(args))
	for i, a := range args {
		out[i] = a
		// A NULL beside nested values stays untyped: list_value takes it
		// (a cast of NULL to a nested type is not there).
		isNull := a.typ != nil && a.typ.ID() == arrow.NULL
		if a.typ != nil && (numeric(t) && numeric(a.typ) || isNull && nestedKind(t) == "" || temporal(t) && temporal(a.typ)) {
			out[i] = b.coerce(a, t)
		}
	}
	return out
}
