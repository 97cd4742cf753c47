package expr

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// nestedCompare is l op r (=, <>, <, <=, >, >=) over two nested values
// in DuckDB's order (rowkey.CompareNested: lexicographic, a NULL inside
// after every value and equal to another NULL); NULL when either value
// is NULL. It returns nil, nil when neither operand is nested.
func nestedCompare(l Expr, op kapotv1.BinaryOp, r Expr) (Expr, error) {
	lt, rt := l.DataType(), r.DataType()
	if !IsNestedType(lt) && !IsNestedType(rt) {
		return nil, nil
	}
	test, ok := comparisonTest(op)
	if !ok || !IsNestedType(lt) || !IsNestedType(rt) {
		return nil, fmt.Errorf("comparison or arithmetic of %s and %s values: %w", lt, rt, errs.ErrNotSupported)
	}
	if !rowkey.SameOrderClass(lt, rt) {
		return nil, fmt.Errorf("comparison of %s with %s: %w", lt, rt, errs.ErrNotSupported)
	}
	probeL, probeR := array.MakeArrayOfNull(memory.DefaultAllocator, lt, 0), array.MakeArrayOfNull(memory.DefaultAllocator, rt, 0)
	_, ok = rowkey.CompareNested(probeL, probeR)
	probeL.Release()
	probeR.Release()
	if !ok {
		return nil, fmt.Errorf("comparison of %s values: %w", lt, errs.ErrNotSupported)
	}
	return &kernelExpr{display: binaryFuncs[op].display, infix: true, args: []Expr{l, r}, typ: arrow.FixedWidthTypes.Boolean,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			cmp, ok := rowkey.CompareNested(a[0], a[1])
			if !ok {
				return nil, fmt.Errorf("comparison of %s with %s: %w", a[0].DataType(), a[1].DataType(), errs.ErrNotSupported)
			}
			bld := array.NewBooleanBuilder(mem)
			defer bld.Release()
			bld.Reserve(a[0].Len())
			for i := 0; i < a[0].Len(); i++ {
				if a[0].IsNull(i) || a[1].IsNull(i) {
					bld.UnsafeAppendBoolToBitmap(false)
					continue
				}
				bld.UnsafeAppend(test(cmp(i, i)))
			}
			return bld.NewArray(), nil
		}}, nil
}
