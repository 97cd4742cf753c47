package expr

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
)

// The functions that make lists, as DuckDB 1.5 has them: list_value(a, b,
// …) (ARRAY[a, b, …]), list_sort / array_sort / list_reverse_sort (by
// the elements' order, NULLs last unless told), string_split /
// string_to_array / str_split (VARCHAR to VARCHAR[]).

// addListMakers registers the functions that make lists.
func addListMakers(m map[string]scalarFunction) {
	m["list_value"] = listValueFunc
	m["list_pack"] = listValueFunc
	m["list_sort"] = listSortFunc
	m["array_sort"] = listSortFunc
	m["list_reverse_sort"] = listSortFunc
	m["array_reverse_sort"] = listSortFunc
	m["string_split"] = stringSplitFunc
	m["string_to_array"] = stringSplitFunc
	m["str_split"] = stringSplitFunc
}

// listValueFunc is list_value(a, b, …): one LIST per row of its arguments'
// values, which must have one type (the planner casts them to it) but for
// untyped NULLs.
func listValueFunc(name string, args []Expr) (Expr, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("an empty list needs a type (cast it): %w", errs.ErrNotSupported)
	}
	elem := arrow.DataType(arrow.Null)
	for _, a := range args {
		switch t := a.DataType(); {
		case t.ID() == arrow.NULL:
		case elem.ID() == arrow.NULL:
			elem = t
		case !arrow.TypeEqual(t, elem):
			return nil, fmt.Errorf("list elements of types %s and %s: %w", elem, t, errs.ErrInvalidPlan)
		}
	}
	if elem.ID() == arrow.NULL {
		return nil, fmt.Errorf("a list of only NULLs (cast them): %w", errs.ErrNotSupported)
	}
	null := array.MakeArrayOfNull(memory.DefaultAllocator, elem, 1)
	b := array.NewBuilder(memory.DefaultAllocator, elem)
	err := rowkey.AppendFrom(b, null, 0)
	b.Release()
	null.Release()
	if err != nil {
		return nil, fmt.Errorf("a list of %s: %w", elem, errs.ErrNotSupported)
	}
	return &kernelExpr{display: name, args: args, typ: arrow.ListOf(elem),
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			lb := array.NewListBuilder(mem, elem)
			defer lb.Release()
			n := a[0].Len()
			for i := 0; i < n; i++ {
				lb.Append(true)
				for _, col := range a {
					if err := rowkey.AppendFrom(lb.ValueBuilder(), col, i); err != nil {
						return nil, err
					}
				}
			}
			return lb.NewArray(), nil
		}}, nil
}

// sortOption reads list_sort's constant order argument k ("ASC", "DESC",
// "NULLS FIRST", "NULLS LAST", in any case).
func sortOption(arg Expr, k int) (string, error) {
	s, ok := literalString(arg)
	if !ok {
		return "", fmt.Errorf("argument %d of list_sort must be a constant string: %w", k+1, errs.ErrNotSupported)
	}
	s = strings.ToUpper(strings.Join(strings.Fields(s), " "))
	want := []string{"ASC", "DESC"}
	if k == 2 {
		want = []string{"NULLS FIRST", "NULLS LAST"}
	}
	if !slices.Contains(want, s) {
		return "", fmt.Errorf("list_sort: %q is not one of %s: %w", s, strings.Join(want, ", "), errs.ErrInvalidPlan)
	}
	return s, nil
}

// listSortFunc is list_sort(l [, 'ASC'|'DESC' [, 'NULLS FIRST'|'NULLS
// LAST']]): l's elements in order, NULLs last unless told;
// list_reverse_sort(l [, 'NULLS FIRST'|'NULLS LAST']) sorts descending. Elements that do not sort (nested values)
// are refused.
func listSortFunc(name string, args []Expr) (Expr, error) {
	reverse := strings.Contains(name, "reverse")
	hi := 3
	if reverse {
		hi = 2 // the order is given: the argument is the NULLs' place
	}
	if err := wantArgs(args, 1, hi); err != nil {
		return nil, err
	}
	lt, ok := args[0].DataType().(*arrow.ListType)
	if !ok || args[0].DataType().ID() != arrow.LIST {
		return nil, fmt.Errorf("the first argument must be a LIST, got %s: %w", args[0].DataType(), errs.ErrInvalidPlan)
	}
	desc, nullsFirst := reverse, false
	for k, a := range args[1:] {
		if reverse {
			k++
		}
		s, err := sortOption(a, k+1)
		if err != nil {
			return nil, err
		}
		switch s {
		case "DESC":
			desc = true
		case "NULLS FIRST":
			nullsFirst = true
		}
	}
	probe := array.MakeArrayOfNull(memory.DefaultAllocator, lt.Elem(), 0)
	_, err := rowkey.NewComparator(probe, desc, nullsFirst)
	probe.Release()
	if err != nil {
		return nil, fmt.Errorf("%s of a list of %s: %w", name, lt.Elem(), errs.ErrNotSupported)
	}
	return &kernelExpr{display: name, args: args, typ: lt,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			l := a[0].(*array.List)
			vals := l.ListValues()
			cmp, err := rowkey.NewComparator(vals, desc, nullsFirst)
			if err != nil {
				return nil, err
			}
			lb := array.NewListBuilder(mem, lt.Elem())
			defer lb.Release()
			var idx []int
			for i := 0; i < l.Len(); i++ {
				if l.IsNull(i) {
					lb.AppendNull()
					continue
				}
				lo, hi := l.ValueOffsets(i)
				idx = idx[:0]
				for j := lo; j < hi; j++ {
					idx = append(idx, int(j))
				}
				slices.SortStableFunc(idx, cmp)
				lb.Append(true)
				for _, j := range idx {
					if err := rowkey.AppendFrom(lb.ValueBuilder(), vals, j); err != nil {
						return nil, err
					}
				}
			}
			return lb.NewArray(), nil
		}}, nil
}

// stringSplitFunc is string_split(s, sep): s's pieces between the
// separators as a VARCHAR[] (” gives [”]); an empty separator splits
// into characters, a NULL one leaves s whole ([s]), as DuckDB does.
func stringSplitFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	for _, a := range args {
		if t := a.DataType().ID(); t != arrow.STRING && t != arrow.NULL {
			return nil, fmt.Errorf("%s takes VARCHAR arguments, not %s: %w", name, a.DataType(), errs.ErrInvalidPlan)
		}
	}
	return &kernelExpr{display: name, args: args, typ: arrow.ListOf(arrow.BinaryTypes.String),
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			lb := array.NewListBuilder(mem, arrow.BinaryTypes.String)
			defer lb.Release()
			vb := lb.ValueBuilder().(*array.StringBuilder)
			s, _ := a[0].(*array.String)
			sep, _ := a[1].(*array.String)
			for i := 0; i < a[0].Len(); i++ {
				if s == nil || s.IsNull(i) {
					lb.AppendNull()
					continue
				}
				lb.Append(true)
				v := s.Value(i)
				switch {
				case sep == nil || sep.IsNull(i):
					vb.Append(v)
				case sep.Value(i) == "":
					if v == "" {
						vb.Append("")
					}
					for len(v) > 0 {
						_, n := utf8.DecodeRuneInString(v)
						vb.Append(v[:n])
						v = v[n:]
					}
				default:
					for _, p := range strings.Split(v, sep.Value(i)) {
						vb.Append(p)
					}
				}
			}
			return lb.NewArray(), nil
		}}, nil
}
