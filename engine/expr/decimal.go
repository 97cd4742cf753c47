package expr

import (
	"fmt"
	"math/big"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// maxDecimalPrecision is the widest decimal128.
const maxDecimalPrecision = 38

// decimalOperand returns the decimal type an arithmetic operand takes: a
// decimal is itself, an integer becomes decimal(digits, 0).
func decimalOperand(t arrow.DataType) (*arrow.Decimal128Type, bool) {
	switch t.ID() {
	case arrow.DECIMAL128:
		return t.(*arrow.Decimal128Type), true
	case arrow.INT8, arrow.UINT8:
		return &arrow.Decimal128Type{Precision: 3}, true
	case arrow.INT16, arrow.UINT16:
		return &arrow.Decimal128Type{Precision: 5}, true
	case arrow.INT32, arrow.UINT32:
		return &arrow.Decimal128Type{Precision: 10}, true
	case arrow.INT64:
		return &arrow.Decimal128Type{Precision: 19}, true
	case arrow.UINT64:
		return &arrow.Decimal128Type{Precision: 20}, true
	}
	return nil, false
}

// decimalResultType is the type of l op r over decimals, following the rules
// SQL engines share (Spark, DataFusion, DuckDB): sums keep the larger scale
// and grow by one digit, products add scales; precision is capped at 38.
// Quotients are not decimals: like DuckDB, division of decimals is done in
// float64 (see newBinaryExpr), so a ratio of two large sums keeps all its
// significant digits.
func decimalResultType(op kapotv1.BinaryOp, l, r *arrow.Decimal128Type) (*arrow.Decimal128Type, error) {
	p1, s1, p2, s2 := l.Precision, l.Scale, r.Precision, r.Scale
	var p, s int32
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_ADD, kapotv1.BinaryOp_BINARY_OP_SUB:
		s = max(s1, s2)
		p = max(p1-s1, p2-s2) + s + 1
	case kapotv1.BinaryOp_BINARY_OP_MUL:
		s = s1 + s2
		p = p1 + p2 + 1
	default:
		return nil, fmt.Errorf("decimal %v: %w", op, errs.ErrNotSupported)
	}
	if s > maxDecimalPrecision {
		return nil, fmt.Errorf("decimal(%d,%d) %v decimal(%d,%d): result scale %d exceeds 38: %w", p1, s1, op, p2, s2, s, errs.ErrNotSupported)
	}
	return &arrow.Decimal128Type{Precision: min(p, maxDecimalPrecision), Scale: s}, nil
}

// Pow10 is 10^k as a decimal128, for 0 <= k <= 38.
func Pow10(k int32) decimal128.Num { return pow10[k] }

var pow10 = func() [39]decimal128.Num {
	var out [39]decimal128.Num
	v := new(big.Int).SetInt64(1)
	for i := range out {
		out[i] = decimal128.FromBigInt(v)
		v.Mul(v, big.NewInt(10))
	}
	return out
}()

// DecimalOf is decimal128.FromI64 without its branches on the sign: the
// high word is the low word's sign bit spread (twice as fast in a loop,
// where the branches cost more than the arithmetic).
func DecimalOf(v int64) decimal128.Num { return decimal128.New(v>>63, uint64(v)) }

// decimalValues reads arr (a decimal or an integer array) as unscaled
// decimal128 values at arr's own scale.
func decimalValues(arr arrow.Array) ([]decimal128.Num, error) {
	n := arr.Len()
	out := make([]decimal128.Num, n)
	switch a := arr.(type) {
	case *array.Decimal128:
		for i := 0; i < n; i++ {
			out[i] = a.Value(i)
		}
	case *array.Int8:
		for i, v := range a.Int8Values() {
			out[i] = DecimalOf(int64(v))
		}
	case *array.Int16:
		for i, v := range a.Int16Values() {
			out[i] = DecimalOf(int64(v))
		}
	case *array.Int32:
		for i, v := range a.Int32Values() {
			out[i] = DecimalOf(int64(v))
		}
	case *array.Int64:
		for i, v := range a.Int64Values() {
			out[i] = DecimalOf(v)
		}
	case *array.Uint8:
		for i, v := range a.Uint8Values() {
			out[i] = decimal128.FromU64(uint64(v))
		}
	case *array.Uint16:
		for i, v := range a.Uint16Values() {
			out[i] = decimal128.FromU64(uint64(v))
		}
	case *array.Uint32:
		for i, v := range a.Uint32Values() {
			out[i] = decimal128.FromU64(uint64(v))
		}
	case *array.Uint64:
		for i, v := range a.Uint64Values() {
			out[i] = decimal128.FromU64(v)
		}
	default:
		return nil, fmt.Errorf("decimal operand %s: %w", arr.DataType(), errs.ErrNotSupported)
	}
	return out, nil
}

// scaleUp multiplies v by 10^k in place; k is at most 38.
func scaleUp(v []decimal128.Num, k int32) {
	if k == 0 {
		return
	}
	m := pow10[k]
	for i := range v {
		v[i] = v[i].Mul(m)
	}
}

// decimalArith computes l op r elementwise into a decimal array of type rt.
// Operands are decimals or integers with the types lt and rtIn describe.
// Decimal operands that need no rescaling are read in place, and results
// are written straight into the output buffer.
func decimalArith(mem memory.Allocator, op kapotv1.BinaryOp, l, r arrow.Array, lt, rtIn, rt *arrow.Decimal128Type) (arrow.Array, error) {
	ka, kb := arithScales(op, lt, rtIn, rt)
	a, err := decimalOperandValues(l, ka)
	if err != nil {
		return nil, err
	}
	b, err := decimalOperandValues(r, kb)
	if err != nil {
		return nil, err
	}
	return decimalCompute(mem, op, decimalSide{l, a}, decimalSide{r, b}, l.Len(), lt, rtIn, rt)
}

// arithScales is how many decimal digits each operand of op is scaled up
// by to line up with the result type rt.
func arithScales(op kapotv1.BinaryOp, lt, rtIn, rt *arrow.Decimal128Type) (int32, int32) {
	if op == kapotv1.BinaryOp_BINARY_OP_ADD || op == kapotv1.BinaryOp_BINARY_OP_SUB {
		return rt.Scale - lt.Scale, rt.Scale - rtIn.Scale
	}
	return 0, 0
}

// decimalSide is one operand of decimal arithmetic: an array's values
// (scaled), or a constant (arr nil, one value) that is never materialized.
type decimalSide struct {
	arr  arrow.Array
	vals []decimal128.Num
}

func (s decimalSide) nullable() bool   { return s.arr != nil && s.arr.NullN() > 0 }
func (s decimalSide) valid(i int) bool { return s.arr == nil || s.arr.IsValid(i) }

// stride is the mask that maps row i to its value: i for an array, 0 for
// a constant.
func (s decimalSide) stride() int {
	if s.arr == nil {
		return 0
	}
	return -1
}

// decimalCompute computes n results of l op r (see decimalArith).
func decimalCompute(mem memory.Allocator, op kapotv1.BinaryOp, l, r decimalSide, n int, lt, rtIn, rt *arrow.Decimal128Type) (arrow.Array, error) {
	a, b := l.vals, r.vals
	ma, mb := l.stride(), r.stride()
	// Every branch below writes every row.
	buf := alloc.NewUninitBuffer(mem, n*arrow.Decimal128SizeBytes)
	defer buf.Release()
	out := arrow.Decimal128Traits.CastFromBytes(buf.Bytes())[:n]
	nullable := l.nullable() || r.nullable()
	valid := func(i int) bool { return !nullable || (l.valid(i) && r.valid(i)) }
	fast := false // every product's operands fit in int64
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_ADD:
		for i := range out {
			out[i] = a[i&ma].Add(b[i&mb])
		}
	case kapotv1.BinaryOp_BINARY_OP_SUB:
		for i := range out {
			out[i] = a[i&ma].Sub(b[i&mb])
		}
	case kapotv1.BinaryOp_BINARY_OP_MUL:
		// Operands that fit in int64 take one 64x64 -> 128-bit multiply,
		// which cannot overflow 127 bits; a wide type's values are checked
		// for fitting in the same pass (its products are most often of
		// prices and discounts that do), and the pass is redone checked
		// when one does not.
		var bad int64
		if lt.Precision > 18 || rtIn.Precision > 18 {
			for i := range out {
				x, y := a[i&ma], b[i&mb]
				bad |= (x.HighBits() ^ int64(x.LowBits())>>63) | (y.HighBits() ^ int64(y.LowBits())>>63)
				out[i] = mulInt64(x, y)
			}
		} else {
			for i := range out {
				out[i] = mulInt64(a[i&ma], b[i&mb])
			}
		}
		if bad == 0 {
			fast = true
			break
		}
		for i := range out {
			v, ok := mulChecked(a[i&ma], b[i&mb])
			if !ok && valid(i) {
				return nil, fmt.Errorf("decimal overflow in %s * %s", a[i&ma].ToString(lt.Scale), b[i&mb].ToString(rtIn.Scale))
			}
			out[i] = v
		}
	default:
		return nil, fmt.Errorf("decimal %v: %w", op, errs.ErrNotSupported)
	}
	// A product of two int64 values is at most 2^126 < 10^38: it fits
	// any result of precision 38.
	if !resultAlwaysFits(op, lt, rtIn, rt) && !(fast && rt.Precision >= 38) {
		// A value that fits in int64 has at most 19 digits: only wider
		// ones are compared with the precision's bound.
		small := rt.Precision >= 19
		for i, v := range out {
			if small && fitsInt64(v) {
				continue
			}
			if !v.FitsInPrecision(rt.Precision) && valid(i) {
				return nil, fmt.Errorf("decimal overflow: result does not fit %s", rt)
			}
		}
	}
	var nullBuf *memory.Buffer
	nulls := 0
	if nullable {
		nullBuf = memory.NewResizableBuffer(mem)
		defer nullBuf.Release()
		nullBuf.Resize(int(bitutil.BytesForBits(int64(n))))
		bitmap := nullBuf.Bytes()
		for i := 0; i < n; i++ {
			if valid(i) {
				bitutil.SetBit(bitmap, i)
			} else {
				out[i] = decimal128.Num{}
				nulls++
			}
		}
	}
	data := array.NewData(rt, n, []*memory.Buffer{nullBuf, buf}, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}

// decimalConstant converts a literal decimal or integer operand to its
// decimal value scaled up by 10^k; ok is false for anything else (a null,
// another type) or when scaling overflows.
func decimalConstant(sc scalar.Scalar, k int32) (decimal128.Num, bool) {
	if !sc.IsValid() {
		return decimal128.Num{}, false
	}
	var v decimal128.Num
	switch x := sc.(type) {
	case *scalar.Decimal128:
		v = x.Value
	case *scalar.Int64:
		v = decimal128.FromI64(x.Value)
	case *scalar.Int32:
		v = decimal128.FromI64(int64(x.Value))
	case *scalar.Int16:
		v = decimal128.FromI64(int64(x.Value))
	case *scalar.Int8:
		v = decimal128.FromI64(int64(x.Value))
	default:
		return decimal128.Num{}, false
	}
	if k > 0 {
		if !v.Abs().Less(decimal128.GetMaxValue(38 - k)) {
			return decimal128.Num{}, false
		}
		v = v.Mul(pow10[k])
	}
	return v, true
}

// decimalOperandValues returns arr's values as decimals scaled up by 10^k:
// a decimal array that needs no scaling in place (read only), anything
// else as a copy.
func decimalOperandValues(arr arrow.Array, k int32) ([]decimal128.Num, error) {
	if d, ok := arr.(*array.Decimal128); ok && k == 0 && len(d.Values()) == d.Len() {
		return d.Values(), nil
	}
	v, err := decimalValues(arr)
	if err != nil {
		return nil, err
	}
	scaleUp(v, k)
	return v, nil
}

// resultAlwaysFits reports whether every result of l op r fits rt's
// precision, whatever the values of types lt and rtIn: then nothing needs
// checking.
func resultAlwaysFits(op kapotv1.BinaryOp, lt, rtIn, rt *arrow.Decimal128Type) bool {
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_MUL:
		return lt.Precision+rtIn.Precision <= rt.Precision && lt.Scale+rtIn.Scale == rt.Scale
	case kapotv1.BinaryOp_BINARY_OP_ADD, kapotv1.BinaryOp_BINARY_OP_SUB:
		whole := max(lt.Precision-lt.Scale, rtIn.Precision-rtIn.Scale) + 1
		return rt.Scale >= lt.Scale && rt.Scale >= rtIn.Scale && whole+rt.Scale <= rt.Precision
	}
	return false
}

// mulInt64 multiplies two decimals whose values fit in int64.
func mulInt64(a, b decimal128.Num) decimal128.Num {
	x, y := int64(a.LowBits()), int64(b.LowBits())
	// The signed 128-bit product from the unsigned one, without a branch:
	// a negative operand read as unsigned is 2^64 too large, which adds
	// the other operand times 2^64 to the high word.
	hi, lo := bits.Mul64(uint64(x), uint64(y))
	hi -= uint64(x>>63)&uint64(y) + uint64(y>>63)&uint64(x)
	return decimal128.New(int64(hi), lo)
}

// mulChecked multiplies two decimals, reporting whether the product fits in
// 127 bits.
func mulChecked(a, b decimal128.Num) (decimal128.Num, bool) {
	neg := (a.Sign() < 0) != (b.Sign() < 0)
	ua, ub := a.Abs(), b.Abs()
	if ua.HighBits() == 0 && ub.HighBits() == 0 {
		hi, lo := bits.Mul64(ua.LowBits(), ub.LowBits())
		if hi>>63 != 0 {
			return decimal128.Num{}, false
		}
		v := decimal128.New(int64(hi), lo)
		if neg {
			v = v.Negate()
		}
		return v, true
	}
	p := new(big.Int).Mul(a.BigInt(), b.BigInt())
	if p.BitLen() > 127 {
		return decimal128.Num{}, false
	}
	return decimal128.FromBigInt(p), true
}

func fitsInt64(v decimal128.Num) bool {
	return (v.HighBits() == 0 && v.LowBits()>>63 == 0) || (v.HighBits() == -1 && v.LowBits()>>63 == 1)
}
