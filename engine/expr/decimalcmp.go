package expr

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/alloc"

	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// decimalCompare binds a comparison of two decimals (or a decimal and an
// integer) of different scales that Arrow cannot do: it would widen both
// to one type of more than 38 digits (decimal(38, 2) against
// decimal(38, 3) needs 39; TPC-DS q58). It returns nil where Arrow's
// common type fits, so the caller binds Arrow's kernel.
//
// The side of smaller scale is rescaled, value by value, to the other's
// scale; a value that rescaling takes past 127 bits is larger in
// magnitude than any decimal of 38 digits, so its sign alone decides.
func decimalCompare(l Expr, op kapotv1.BinaryOp, r Expr) Expr {
	f, ok := binaryFuncs[op]
	if !ok || !isCompareOp(op) {
		return nil
	}
	if l.DataType().ID() != arrow.DECIMAL128 && r.DataType().ID() != arrow.DECIMAL128 {
		return nil
	}
	lt, ok1 := decimalOperand(l.DataType())
	rt, ok2 := decimalOperand(r.DataType())
	if !ok1 || !ok2 || lt.Scale == rt.Scale {
		return nil
	}
	if max(lt.Precision-lt.Scale, rt.Precision-rt.Scale)+max(lt.Scale, rt.Scale) <= maxDecimalPrecision {
		return nil
	}
	return &kernelExpr{display: f.display, infix: true, args: []Expr{l, r}, typ: arrow.FixedWidthTypes.Boolean,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			x, err := decimalValues(a[0])
			if err != nil {
				return nil, err
			}
			y, err := decimalValues(a[1])
			if err != nil {
				return nil, err
			}
			return boolKernel(mem, a[0].Len(), func(i int) (bool, bool) {
				if a[0].IsNull(i) || a[1].IsNull(i) {
					return false, false
				}
				return compareResult(op, compareScaled(x[i], lt.Scale, y[i], rt.Scale)), true
			}), nil
		}}
}

// isCompareOp reports whether op is one of the six comparisons.
func isCompareOp(op kapotv1.BinaryOp) bool {
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_EQ, kapotv1.BinaryOp_BINARY_OP_NEQ, kapotv1.BinaryOp_BINARY_OP_LT,
		kapotv1.BinaryOp_BINARY_OP_LTE, kapotv1.BinaryOp_BINARY_OP_GT, kapotv1.BinaryOp_BINARY_OP_GTE:
		return true
	}
	return false
}

// compareScaled compares x (of scale xs) with y (of scale ys): -1, 0 or 1.
func compareScaled(x decimal128.Num, xs int32, y decimal128.Num, ys int32) int {
	switch {
	case xs < ys:
		v, ok := mulChecked(x, pow10[ys-xs])
		if !ok {
			return x.Sign()
		}
		return v.Cmp(y)
	case xs > ys:
		v, ok := mulChecked(y, pow10[xs-ys])
		if !ok {
			return -y.Sign()
		}
		return x.Cmp(v)
	}
	return x.Cmp(y)
}

// compareResult is the comparison op's answer for an ordering c (-1, 0, 1).
func compareResult(op kapotv1.BinaryOp, c int) bool {
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_EQ:
		return c == 0
	case kapotv1.BinaryOp_BINARY_OP_NEQ:
		return c != 0
	case kapotv1.BinaryOp_BINARY_OP_LT:
		return c < 0
	case kapotv1.BinaryOp_BINARY_OP_LTE:
		return c <= 0
	case kapotv1.BinaryOp_BINARY_OP_GT:
		return c > 0
	}
	return c >= 0
}

// upscalesDecimal reports whether a cast from one type to another raises a
// decimal's scale: Arrow's kernel panics, on a goroutine of its own, for a
// value that the raise takes past 128 bits.
func upscalesDecimal(from, to arrow.DataType) bool {
	f, ok1 := from.(*arrow.Decimal128Type)
	t, ok2 := to.(*arrow.Decimal128Type)
	return ok1 && ok2 && t.Scale > f.Scale
}

// rescaleDecimal casts decimals of type from to type to, of a larger
// scale: a value that to cannot hold is an error (NULL for TRY_CAST).
func rescaleDecimal(mem memory.Allocator, arr arrow.Array, to *arrow.Decimal128Type, safe bool) (arrow.Array, error) {
	in := arr.(*array.Decimal128)
	from := in.DataType().(*arrow.Decimal128Type)
	m := pow10[to.Scale-from.Scale]
	return mapDecimals(mem, in, to, func(x decimal128.Num) (decimal128.Num, bool, error) {
		v, ok := mulChecked(x, m)
		if ok && v.FitsInPrecision(to.Precision) {
			return v, true, nil
		}
		if safe {
			return v, false, nil
		}
		return v, false, fmt.Errorf("%s does not fit %s: %w", x.ToString(from.Scale), to, errs.ErrInvalidPlan)
	})
}

// mapDecimals builds a decimal array of type to from f of each value of
// in: nulls stay null, and so does a value f reports not ok.
func mapDecimals(mem memory.Allocator, in *array.Decimal128, to *arrow.Decimal128Type, f func(decimal128.Num) (decimal128.Num, bool, error)) (arrow.Array, error) {
	b := array.NewDecimal128Builder(mem, to)
	defer b.Release()
	b.Reserve(in.Len())
	for i := 0; i < in.Len(); i++ {
		if in.IsNull(i) {
			b.UnsafeAppendBoolToBitmap(false)
			continue
		}
		v, ok, err := f(in.Value(i))
		if err != nil {
			return nil, err
		}
		if !ok {
			b.UnsafeAppendBoolToBitmap(false)
			continue
		}
		b.UnsafeAppend(v)
	}
	return b.NewArray(), nil
}

// cmpMasks holds, per comparison, the orderings (bit 0: less, bit 1:
// equal, bit 2: greater) for which it holds.
var cmpMasks = map[string]uint8{"less": 0b001, "less_equal": 0b011, "equal": 0b010, "not_equal": 0b101, "greater": 0b100, "greater_equal": 0b110}

// flippedCmp is the comparison with its operands swapped.
var flippedCmp = map[string]string{"less": "greater", "less_equal": "greater_equal", "equal": "equal", "not_equal": "not_equal", "greater": "less", "greater_equal": "less_equal"}

// constCompare evaluates f when it compares a decimal with a constant
// exactly representable at its scale (prices BETWEEN two constants:
// TPC-DS q13, q28, q48), or tests a string for (in)equality with a
// constant, in one pass over the values: Arrow's kernel broadcasts the
// constant and compares through a function call a row. ok is false for
// other comparisons, which Arrow evaluates.
func (f *funcExpr) constCompare(ctx context.Context, b arrow.RecordBatch) (d compute.Datum, ok bool, err error) {
	mask, isCmp := cmpMasks[f.name]
	if !isCmp || len(f.args) != 2 {
		return nil, false, nil
	}
	in, c := f.args[0], f.args[1]
	lit, isLit := c.(*literalExpr)
	if !isLit {
		in, c = c, in
		if lit, isLit = c.(*literalExpr); !isLit {
			return nil, false, nil
		}
		mask = cmpMasks[flippedCmp[f.name]]
	}
	if !lit.value.IsValid() {
		return nil, false, nil
	}
	if in.DataType().ID() == arrow.STRING && lit.DataType().ID() == arrow.STRING && (f.name == "equal" || f.name == "not_equal") {
		return stringConstCompare(ctx, in, b, lit.value.(*scalar.String).Value.Bytes(), f.name == "equal")
	}
	it, ok := in.DataType().(*arrow.Decimal128Type)
	if !ok {
		return nil, false, nil
	}
	k, ok := decimalConstAt(lit.value, it.Scale)
	if !ok {
		return nil, false, nil
	}
	mem := exec.GetAllocator(ctx)
	a, err := evalArg(ctx, in, mem, b)
	if err != nil {
		return nil, true, err
	}
	defer a.Release()
	dec, isDec := a.(*array.Decimal128)
	if !isDec {
		return nil, false, nil
	}
	return compute.NewDatumWithoutOwning(compareConst(mem, dec, k, mask)), true, nil
}

// decimalConstAt is the constant v (a decimal or an integer) as a decimal
// of the given scale, when that is exact: a decimal of a smaller scale or
// an integer scaled up (ss_net_profit >= 0, q48), never rounded.
func decimalConstAt(v scalar.Scalar, scale int32) (decimal128.Num, bool) {
	switch x := v.(type) {
	case *scalar.Decimal128:
		kt := x.Type.(*arrow.Decimal128Type)
		if kt.Scale == scale {
			return x.Value, true
		}
		if kt.Scale > scale || kt.Precision+scale-kt.Scale > 38 {
			return decimal128.Num{}, false
		}
		return x.Value.IncreaseScaleBy(scale - kt.Scale), true
	case *scalar.Int64, *scalar.Int32, *scalar.Int16, *scalar.Int8:
		if scale < 0 || scale > 18 {
			return decimal128.Num{}, false
		}
		var n int64
		switch y := x.(type) {
		case *scalar.Int64:
			n = y.Value
		case *scalar.Int32:
			n = int64(y.Value)
		case *scalar.Int16:
			n = int64(y.Value)
		case *scalar.Int8:
			n = int64(y.Value)
		}
		// |n| < 2^63 and 10^18 < 2^60: the product fits 127 bits.
		return decimal128.FromI64(n).IncreaseScaleBy(scale), true
	}
	return decimal128.Num{}, false
}

// stringConstCompare is in = k (eq) or in <> k over b in one pass over
// the offsets, comparing lengths first: Arrow's kernel iterates the
// strings through a function call a row (cd_marital_status = 'M').
func stringConstCompare(ctx context.Context, in Expr, b arrow.RecordBatch, k []byte, eq bool) (compute.Datum, bool, error) {
	mem := exec.GetAllocator(ctx)
	a, err := evalArg(ctx, in, mem, b)
	if err != nil {
		return nil, true, err
	}
	defer a.Release()
	s, ok := a.(*array.String)
	if !ok {
		return nil, false, nil
	}
	n := s.Len()
	offs := s.ValueOffsets()
	data := s.ValueBytes()
	base := int32(0)
	if len(offs) > 0 {
		base = offs[0]
	}
	values := alloc.NewUninitBuffer(mem, int(bitutil.BytesForBits(int64(n))))
	bits := values.Bytes()
	kl := int32(len(k))
	for i := 0; i < n; i += 8 {
		var out uint8
		for j := range min(8, n-i) {
			lo, hi := offs[i+j]-base, offs[i+j+1]-base
			hit := hi-lo == kl && string(data[lo:hi]) == string(k)
			if hit == eq {
				out |= 1 << j
			}
		}
		bits[i>>3] = out
	}
	return compute.NewDatumWithoutOwning(boolsLike(mem, values, s)), true, nil
}

// compareConst tests every value of a against k: a value's ordering
// against k (less, equal, greater) selects a bit of mask. Null rows stay
// null.
func compareConst(mem memory.Allocator, a *array.Decimal128, k decimal128.Num, mask uint8) arrow.Array {
	n := a.Len()
	vals := a.Values()
	kh, kl := k.HighBits(), k.LowBits()
	values := alloc.NewUninitBuffer(mem, int(bitutil.BytesForBits(int64(n))))
	bits := values.Bytes()
	for i := 0; i < n; i += 8 {
		var out uint8
		for j, v := range vals[i:min(i+8, n)] {
			// ord: 0 less, 1 equal, 2 greater.
			h, l := v.HighBits(), v.LowBits()
			ord := 1
			switch {
			case h < kh || h == kh && l < kl:
				ord = 0
			case h > kh || h == kh && l > kl:
				ord = 2
			}
			out |= (mask >> ord & 1) << j
		}
		bits[i>>3] = out
	}
	return boolsLike(mem, values, a)
}
