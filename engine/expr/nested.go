package expr

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/errs"
)

// The functions of nested values (LIST, STRUCT, MAP), as DuckDB 1.5 has
// them: struct_extract(s, 'f') (s.f, s['f']), list_element(l, i) (l[i]:
// 1-based, negative from the end, NULL out of range), map_extract_value(m,
// k) (m[k]: the value, NULL when the key is absent), len(l), list_contains(l, x).

// addNestedFunctions registers the functions of nested values.
func addNestedFunctions(m map[string]scalarFunction) {
	m["struct_extract"] = structExtractFunc
	m["list_element"] = listElementFunc
	m["list_extract"] = listElementFunc
	m["map_extract_value"] = mapValueFunc
	m["len"] = listLengthFunc
	m["array_length"] = listLengthFunc
	m["list_contains"] = listContainsFunc
	m["list_has"] = listContainsFunc
	m["array_contains"] = listContainsFunc
	m["array_has"] = listContainsFunc
	m["length"] = listLengthFunc // of a string: lengthFunc
}

// IsNestedType reports whether t is a LIST, STRUCT or MAP (or another
// Arrow type with children), which the engine cannot compare, sort or hash.
func IsNestedType(t arrow.DataType) bool {
	_, ok := t.(arrow.NestedType)
	return ok
}

func structExtractFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	st, ok := args[0].DataType().(*arrow.StructType)
	if !ok {
		return nil, fmt.Errorf("the first argument must be a STRUCT, got %s: %w", args[0].DataType(), errs.ErrInvalidPlan)
	}
	f, ok := literalString(args[1])
	if !ok {
		return nil, fmt.Errorf("the field must be a constant string: %w", errs.ErrInvalidPlan)
	}
	idx := -1
	for i, fl := range st.Fields() {
		if fl.Name == f {
			idx = i
			break
		}
	}
	if idx < 0 {
		// DuckDB matches field names without regard to case.
		for i, fl := range st.Fields() {
			if equalFold(fl.Name, f) {
				if idx >= 0 {
					return nil, fmt.Errorf("field %q is ambiguous in %s: %w", f, st, errs.ErrInvalidPlan)
				}
				idx = i
			}
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("STRUCT %s has no field %q: %w", st, f, errs.ErrInvalidPlan)
	}
	return &kernelExpr{display: name, args: args, typ: st.Field(idx).Type,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			s := a[0].(*array.Struct)
			return withParentNulls(mem, s.Field(idx), s, nil), nil
		}}, nil
}

func equalFold(a, b string) bool { return len(a) == len(b) && lowerASCII(a) == lowerASCII(b) }

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// withParentNulls is child (of the same length as parent) with every row
// null where parent is null or keep (when not nil) is false: a field of a
// null struct is null, though Arrow stores the child as it likes there.
// The caller releases the result.
func withParentNulls(mem memory.Allocator, child arrow.Array, parent arrow.Array, keep []bool) arrow.Array {
	if parent.NullN() == 0 && keep == nil {
		child.Retain()
		return child
	}
	d := child.Data()
	off, n := d.Offset(), d.Len()
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(off + n))))
	bits := buf.Bytes()
	for i := range bits {
		bits[i] = 0
	}
	for i := 0; i < n; i++ {
		if child.IsValid(i) && parent.IsValid(i) && (keep == nil || keep[i]) {
			bitutil.SetBit(bits, off+i)
		}
	}
	bufs := append([]*memory.Buffer{buf}, d.Buffers()[1:]...)
	out := array.NewData(d.DataType(), n, bufs, d.Children(), array.UnknownNullCount, off)
	buf.Release()
	defer out.Release()
	return array.MakeFromData(out)
}

// gather is values at idx, null where ok is false. The caller releases it.
func gather(ctx context.Context, mem memory.Allocator, values arrow.Array, idx []int32, ok []bool, parent arrow.Array) (arrow.Array, error) {
	if values.Len() == 0 {
		return array.MakeArrayOfNull(mem, values.DataType(), len(idx)), nil
	}
	taken, err := kernel.Take(ctx, mem, values, idx)
	if err != nil {
		return nil, err
	}
	defer taken.Release()
	return withParentNulls(mem, taken, parent, ok), nil
}

func listElementFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	lt, ok := args[0].DataType().(*arrow.ListType)
	if !ok || args[0].DataType().ID() != arrow.LIST {
		return nil, fmt.Errorf("the first argument must be a LIST, got %s: %w", args[0].DataType(), errs.ErrInvalidPlan)
	}
	if !isInteger(args[1].DataType()) && args[1].DataType().ID() != arrow.NULL {
		return nil, fmt.Errorf("the index must be an integer, got %s: %w", args[1].DataType(), errs.ErrInvalidPlan)
	}
	return &kernelExpr{display: name, args: args, typ: lt.Elem(),
		fn: func(ctx context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			l := a[0].(*array.List)
			n := l.Len()
			idx, ok := make([]int32, n), make([]bool, n)
			if a[1].DataType().ID() != arrow.NULL {
				at, err := int64Values(ctx, mem, a[1])
				if err != nil {
					return nil, err
				}
				defer at.Release()
				for i := 0; i < n; i++ {
					if l.IsNull(i) || at.IsNull(i) {
						continue
					}
					lo, hi := l.ValueOffsets(i)
					k := at.Value(i)
					switch {
					case k > 0 && k <= hi-lo:
						idx[i], ok[i] = int32(lo+k-1), true
					case k < 0 && -k <= hi-lo:
						idx[i], ok[i] = int32(hi+k), true
					}
				}
			}
			return gather(ctx, mem, l.ListValues(), idx, ok, l)
		}}, nil
}

func listLengthFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 1, 1); err != nil {
		return nil, err
	}
	if args[0].DataType().ID() != arrow.LIST {
		if name == "length" {
			return lengthFunc(name, args)
		}
		return nil, fmt.Errorf("the argument must be a LIST, got %s: %w", args[0].DataType(), errs.ErrInvalidPlan)
	}
	return &kernelExpr{display: name, args: args, typ: arrow.PrimitiveTypes.Int64,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			l := a[0].(*array.List)
			bld := array.NewInt64Builder(mem)
			defer bld.Release()
			bld.Reserve(l.Len())
			for i := 0; i < l.Len(); i++ {
				if l.IsNull(i) {
					bld.UnsafeAppendBoolToBitmap(false)
					continue
				}
				lo, hi := l.ValueOffsets(i)
				bld.UnsafeAppend(hi - lo)
			}
			return bld.NewArray(), nil
		}}, nil
}

// valueKind is how two scalar values are compared for equality by the
// nested functions: as int64, float64, string, bool or date.
type valueKind int

const (
	kindNone valueKind = iota
	kindInt
	kindFloat
	kindString
	kindBool
	kindDate
)

func kindOf(t arrow.DataType) valueKind {
	switch {
	case t.ID() == arrow.UINT64:
		return kindNone // its values may not fit an int64
	case arrow.IsInteger(t.ID()):
		return kindInt
	case t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64:
		return kindFloat
	case isString(t):
		return kindString
	case t.ID() == arrow.BOOL:
		return kindBool
	case t.ID() == arrow.DATE32:
		return kindDate
	}
	return kindNone
}

// commonKind is the kind values of types a and b are compared as, or
// kindNone when the nested functions cannot compare them.
func commonKind(a, b arrow.DataType) valueKind {
	ka, kb := kindOf(a), kindOf(b)
	switch {
	case ka == kindNone || kb == kindNone:
		return kindNone
	case ka == kb:
		return ka
	case (ka == kindInt || ka == kindFloat) && (kb == kindInt || kb == kindFloat):
		return kindFloat
	}
	return kindNone
}

// valuesOf reads arr's values as kind (arr's kind or, for integers, float):
// row i's value as a Go value comparable with ==.
func valuesOf(arr arrow.Array, kind valueKind) func(i int) any {
	switch a := arr.(type) {
	case *array.String:
		return func(i int) any { return a.Value(i) }
	case *array.LargeString:
		return func(i int) any { return a.Value(i) }
	case *array.Boolean:
		return func(i int) any { return a.Value(i) }
	case *array.Date32:
		return func(i int) any { return a.Value(i) }
	case *array.Float64:
		return func(i int) any { return a.Value(i) }
	case *array.Float32:
		return func(i int) any { return float64(a.Value(i)) }
	}
	get := intGetter(arr)
	if kind == kindFloat {
		return func(i int) any { return float64(get(i)) }
	}
	return func(i int) any { return get(i) }
}

// intGetter reads an integer array of any type but uint64 (see kindOf)
// as int64.
func intGetter(arr arrow.Array) func(i int) int64 {
	switch a := arr.(type) {
	case *array.Int8:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int16:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int32:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int64:
		return a.Value
	case *array.Uint8:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Uint16:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Uint32:
		return func(i int) int64 { return int64(a.Value(i)) }
	}
	return nil
}

func listContainsFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	lt, ok := args[0].DataType().(*arrow.ListType)
	if !ok || args[0].DataType().ID() != arrow.LIST {
		return nil, fmt.Errorf("the first argument must be a LIST, got %s: %w", args[0].DataType(), errs.ErrInvalidPlan)
	}
	if args[1].DataType().ID() == arrow.NULL {
		// list_contains(l, NULL) is NULL, as in DuckDB.
		return &kernelExpr{display: name, args: args, typ: arrow.FixedWidthTypes.Boolean,
			fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				return array.MakeArrayOfNull(mem, arrow.FixedWidthTypes.Boolean, a[0].Len()), nil
			}}, nil
	}
	kind := commonKind(lt.Elem(), args[1].DataType())
	if kind == kindNone {
		return nil, fmt.Errorf("%s of a list of %s and %s: %w", name, lt.Elem(), args[1].DataType(), errs.ErrNotSupported)
	}
	return &kernelExpr{display: name, args: args, typ: arrow.FixedWidthTypes.Boolean,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			l, x := a[0].(*array.List), a[1]
			vals := l.ListValues()
			elem, needle := valuesOf(vals, kind), valuesOf(x, kind)
			bld := array.NewBooleanBuilder(mem)
			defer bld.Release()
			bld.Reserve(l.Len())
			for i := 0; i < l.Len(); i++ {
				if l.IsNull(i) || x.IsNull(i) {
					bld.UnsafeAppendBoolToBitmap(false)
					continue
				}
				lo, hi := l.ValueOffsets(i)
				want, found := needle(i), false
				for j := int(lo); j < int(hi) && !found; j++ {
					found = vals.IsValid(j) && elem(j) == want
				}
				bld.UnsafeAppend(found)
			}
			return bld.NewArray(), nil
		}}, nil
}

func mapValueFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	mt, ok := args[0].DataType().(*arrow.MapType)
	if !ok {
		return nil, fmt.Errorf("the first argument must be a MAP, got %s: %w", args[0].DataType(), errs.ErrInvalidPlan)
	}
	kind := commonKind(mt.KeyType(), args[1].DataType())
	if kind == kindNone {
		return nil, fmt.Errorf("%s of a map with %s keys by %s: %w", name, mt.KeyType(), args[1].DataType(), errs.ErrNotSupported)
	}
	return &kernelExpr{display: name, args: args, typ: mt.ItemType(),
		fn: func(ctx context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			m, x := a[0].(*array.Map), a[1]
			keys := valuesOf(m.Keys(), kind)
			needle := valuesOf(x, kind)
			n := m.Len()
			idx, ok := make([]int32, n), make([]bool, n)
			for i := 0; i < n; i++ {
				if m.IsNull(i) || x.IsNull(i) {
					continue
				}
				lo, hi := m.ValueOffsets(i)
				want := needle(i)
				for j := int(lo); j < int(hi); j++ {
					if keys(j) == want {
						idx[i], ok[i] = int32(j), true
						break
					}
				}
			}
			return gather(ctx, mem, m.Items(), idx, ok, m)
		}}, nil
}
