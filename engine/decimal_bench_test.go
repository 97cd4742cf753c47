package engine

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

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
