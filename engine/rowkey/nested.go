package rowkey

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/errs"
)

// Nested values (LIST, STRUCT, MAP) as keys, in DuckDB's order: lists
// element by element, a prefix first ([] < [1] < [1, 0]); structs field
// by field; maps as lists of (key, value); a NULL inside after every
// value and equal to another NULL ([1, NULL] = [1, NULL], [1, 2] <
// [1, NULL]). One byte encoding serves ordering (compared as bytes),
// grouping and hashing: a row's bytes are self-delimiting, so encodings
// of several columns concatenate.

// isNested reports whether arr is a LIST, MAP or STRUCT array.
func isNested(arr arrow.Array) bool {
	switch arr.(type) {
	case *array.List, *array.Map, *array.Struct:
		return true
	}
	return false
}

// nestedKey returns the encoder of any row of arr, NULL or not: 2 for a
// NULL, else 1 and the value (for a nested value, its parts; for a scalar,
// NewOrderedEncoder's ascending bytes).
func nestedKey(arr arrow.Array) (func(buf []byte, i int) []byte, error) {
	switch a := arr.(type) {
	case *array.Map:
		k, err := nestedKey(a.Keys())
		if err != nil {
			return nil, err
		}
		v, err := nestedKey(a.Items())
		if err != nil {
			return nil, err
		}
		return func(buf []byte, i int) []byte {
			if a.IsNull(i) {
				return append(buf, 2)
			}
			buf = append(buf, 1)
			lo, hi := a.ValueOffsets(i)
			for j := int(lo); j < int(hi); j++ {
				buf = v(k(append(buf, 1), j), j)
			}
			return append(buf, 0)
		}, nil
	case *array.List:
		e, err := nestedKey(a.ListValues())
		if err != nil {
			return nil, err
		}
		return func(buf []byte, i int) []byte {
			if a.IsNull(i) {
				return append(buf, 2)
			}
			buf = append(buf, 1)
			lo, hi := a.ValueOffsets(i)
			for j := int(lo); j < int(hi); j++ {
				buf = e(append(buf, 1), j)
			}
			return append(buf, 0)
		}, nil
	case *array.Struct:
		fields := make([]func([]byte, int) []byte, a.NumField())
		for f := range fields {
			var err error
			if fields[f], err = nestedKey(a.Field(f)); err != nil {
				return nil, err
			}
		}
		return func(buf []byte, i int) []byte {
			if a.IsNull(i) {
				return append(buf, 2)
			}
			buf = append(buf, 1)
			for _, f := range fields {
				buf = f(buf, i)
			}
			return buf
		}, nil
	}
	e, err := NewOrderedEncoder(arr, false, false)
	if err != nil {
		return nil, fmt.Errorf("a nested value holding %s: %w", arr.DataType(), errs.ErrNotSupported)
	}
	return e, nil
}

// nestedComparator compares row i of a with row j of b (nested arrays of
// one type) by their encodings, computed once for every row.
func nestedComparator(a, b arrow.Array) (func(i, j int) int, error) {
	encode := func(arr arrow.Array) ([][]byte, error) {
		k, err := nestedKey(arr)
		if err != nil {
			return nil, err
		}
		out := make([][]byte, arr.Len())
		for i := range out {
			out[i] = k(nil, i)
		}
		return out, nil
	}
	ka, err := encode(a)
	if err != nil {
		return nil, err
	}
	kb := ka
	if b != a {
		if kb, err = encode(b); err != nil {
			return nil, err
		}
	}
	return func(i, j int) int { return bytes.Compare(ka[i], kb[j]) }, nil
}

// CompareNested returns a function comparing row i of a with row j of b,
// nested arrays whose types differ at most in the width of signed
// integers, in DuckDB's order (NULL rows too: after every value); ok is
// false for other types.
func CompareNested(a, b arrow.Array) (cmp func(i, j int) int, ok bool) {
	if !isNested(a) || !isNested(b) || !SameOrderClass(a.DataType(), b.DataType()) {
		return nil, false
	}
	ka, err := nestedKey(a)
	if err != nil {
		return nil, false
	}
	kb, err := nestedKey(b)
	if err != nil {
		return nil, false
	}
	var bufA, bufB []byte
	return func(i, j int) int {
		bufA, bufB = ka(bufA[:0], i), kb(bufB[:0], j)
		return bytes.Compare(bufA, bufB)
	}, true
}

// SameOrderClass reports whether values of types x and y encode alike
// (equal types, or signed integers of any width, at every level), so that
// their nested keys compare.
func SameOrderClass(x, y arrow.DataType) bool {
	signed := func(t arrow.DataType) bool {
		switch t.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
			return true
		}
		return false
	}
	if signed(x) && signed(y) {
		return true
	}
	if x.ID() != y.ID() {
		return false
	}
	switch xt := x.(type) {
	case *arrow.ListType:
		return SameOrderClass(xt.Elem(), y.(*arrow.ListType).Elem())
	case *arrow.MapType:
		yt := y.(*arrow.MapType)
		return SameOrderClass(xt.KeyType(), yt.KeyType()) && SameOrderClass(xt.ItemType(), yt.ItemType())
	case *arrow.StructType:
		yt := y.(*arrow.StructType)
		if xt.NumFields() != yt.NumFields() {
			return false
		}
		for f := range xt.Fields() {
			if xt.Field(f).Name != yt.Field(f).Name || !SameOrderClass(xt.Field(f).Type, yt.Field(f).Type) {
				return false
			}
		}
		return true
	}
	return arrow.TypeEqual(x, y)
}
