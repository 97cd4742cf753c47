package expr

import (
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// BenchmarkDecimalArith: price * (1 - discount) over 1 Mi rows of
// decimal(15,2), as TPC-H Q1 computes it.
func BenchmarkDecimalArith(b *testing.B) {
	mem := memory.NewGoAllocator()
	t152 := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	n := 1 << 20
	price, disc := array.NewDecimal128Builder(mem, t152), array.NewDecimal128Builder(mem, t152)
	for i := 0; i < n; i++ {
		price.Append(decimal128.FromI64(int64(90000 + i%1000000)))
		disc.Append(decimal128.FromI64(int64(i % 11)))
	}
	p, d := price.NewArray(), disc.NewArray()
	defer p.Release()
	defer d.Release()
	one := array.NewDecimal128Builder(mem, t152)
	for i := 0; i < n; i++ {
		one.Append(decimal128.FromI64(100))
	}
	o := one.NewArray()
	defer o.Release()
	t162 := &arrow.Decimal128Type{Precision: 16, Scale: 2}
	t324 := &arrow.Decimal128Type{Precision: 32, Scale: 4}
	b.SetBytes(int64(n) * 32)
	for b.Loop() {
		sub, err := decimalArith(mem, kapotv1.BinaryOp_BINARY_OP_SUB, o, d, t152, t152, t162)
		if err != nil {
			b.Fatal(err)
		}
		mul, err := decimalArith(mem, kapotv1.BinaryOp_BINARY_OP_MUL, p, sub, t152, t162, t324)
		if err != nil {
			b.Fatal(err)
		}
		sub.Release()
		mul.Release()
	}
}

// TestMulInt64MatchesChecked compares the int64 fast path of decimal
// multiplication with the general one over values of up to 18 digits,
// both signs, and zero.
func TestMulInt64MatchesChecked(t *testing.T) {
	vals := []int64{0, 1, -1, 7, -7, 999_999_999_999_999_999, -999_999_999_999_999_999, 123_456_789_012, -98_765_432_101, 100, -100, math.MaxInt64, -math.MaxInt64, math.MinInt64}
	for _, x := range vals {
		for _, y := range vals {
			a, b := decimal128.FromI64(x), decimal128.FromI64(y)
			want, ok := mulChecked(a, b)
			if !ok {
				t.Fatalf("%d * %d overflows the general path", x, y)
			}
			if got := mulInt64(a, b); got != want {
				t.Errorf("%d * %d: fast path %s, want %s", x, y, got.BigInt(), want.BigInt())
			}
		}
	}
}

func TestResultAlwaysFits(t *testing.T) {
	d := func(p, s int32) *arrow.Decimal128Type { return &arrow.Decimal128Type{Precision: p, Scale: s} }
	M, A := kapotv1.BinaryOp_BINARY_OP_MUL, kapotv1.BinaryOp_BINARY_OP_ADD
	cases := []struct {
		op         kapotv1.BinaryOp
		l, r, out  *arrow.Decimal128Type
		alwaysFits bool
	}{
		{M, d(15, 2), d(16, 2), d(32, 4), true},  // Q1: price * (1 - discount)
		{M, d(20, 2), d(20, 2), d(38, 4), false}, // 40 digits capped at 38
		{A, d(15, 2), d(15, 2), d(16, 2), true},
		{A, d(15, 2), d(15, 2), d(15, 2), false}, // 999...9.99 + 999...9.99 needs 16
		{A, d(15, 2), d(10, 4), d(18, 4), true},
		{A, d(38, 2), d(38, 2), d(38, 2), false},
	}
	for _, c := range cases {
		if got := resultAlwaysFits(c.op, c.l, c.r, c.out); got != c.alwaysFits {
			t.Errorf("%v %s %s -> %s: %v, want %v", c.op, c.l, c.r, c.out, got, c.alwaysFits)
		}
	}
}

func TestDecimalConstant(t *testing.T) {
	d := func(v int64, p, s int32) scalar.Scalar {
		return scalar.NewDecimal128Scalar(decimal128.FromI64(v), &arrow.Decimal128Type{Precision: p, Scale: s})
	}
	max38, _ := decimal128.FromString("99999999999999999999999999999999999999", 38, 0)
	cases := []struct {
		name string
		sc   scalar.Scalar
		k    int32
		want decimal128.Num
		ok   bool
	}{
		{"int 1 scaled to 2 digits", scalar.NewInt64Scalar(1), 2, decimal128.FromI64(100), true},
		{"int32 -7", scalar.NewInt32Scalar(-7), 0, decimal128.FromI64(-7), true},
		{"decimal 1.50 scaled by 1", d(150, 15, 2), 1, decimal128.FromI64(1500), true},
		{"null", scalar.MakeNullScalar(arrow.PrimitiveTypes.Int64), 0, decimal128.Num{}, false},
		{"float", scalar.NewFloat64Scalar(1.5), 0, decimal128.Num{}, false},
		{"scaling overflows", scalar.NewDecimal128Scalar(max38, &arrow.Decimal128Type{Precision: 38, Scale: 0}), 1, decimal128.Num{}, false},
	}
	for _, c := range cases {
		got, ok := decimalConstant(c.sc, c.k)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: %v, %v; want %v, %v", c.name, got.BigInt(), ok, c.want.BigInt(), c.ok)
		}
	}
}

// TestDecimalMulWideValues multiplies a wide decimal type whose values fit
// in int64 (the fast path) and whose values do not (the checked path),
// with a null under which the fast-path check must not matter, the wide
// operand on either side.
func TestDecimalMulWideValues(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	t324, t162, t38 := &arrow.Decimal128Type{Precision: 32, Scale: 4}, &arrow.Decimal128Type{Precision: 16, Scale: 2}, &arrow.Decimal128Type{Precision: 38, Scale: 6}
	big := decimal128.FromI64(math.MaxInt64).Mul(decimal128.FromI64(10))
	cases := []struct {
		name string
		l    []decimal128.Num
		want []string
	}{
		{"small values", []decimal128.Num{decimal128.FromI64(12345), decimal128.FromI64(-7), decimal128.FromI64(0)},
			[]string{"3.703500", "0.000014", "NULL"}},
		{"a value past int64", []decimal128.Num{decimal128.FromI64(12345), big, decimal128.FromI64(1)},
			[]string{"3.703500", "-184467440737095.516140", "NULL"}},
	}
	for _, c := range cases {
		lb, rb := array.NewDecimal128Builder(mem, t324), array.NewDecimal128Builder(mem, t162)
		lb.AppendValues(c.l, nil)
		rb.AppendValues([]decimal128.Num{decimal128.FromI64(300), decimal128.FromI64(-2)}, nil)
		rb.AppendNull()
		l, r := lb.NewArray(), rb.NewArray()
		lb.Release()
		rb.Release()
		out, err := decimalArith(mem, kapotv1.BinaryOp_BINARY_OP_MUL, l, r, t324, t162, t38)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		// The wide operand on the right checks as on the left.
		swapped, err := decimalArith(mem, kapotv1.BinaryOp_BINARY_OP_MUL, r, l, t162, t324, t38)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, o := range []arrow.Array{out, swapped} {
			for i, w := range c.want {
				got := "NULL"
				if o.IsValid(i) {
					got = o.(*array.Decimal128).Value(i).ToString(6)
				}
				if got != w {
					t.Errorf("%s: row %d = %s, want %s", c.name, i, got, w)
				}
			}
		}
		swapped.Release()
		out.Release()
		l.Release()
		r.Release()
	}
}
