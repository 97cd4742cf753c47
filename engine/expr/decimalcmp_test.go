package expr

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

func dec(t *testing.T, s string, scale int32) decimal128.Num {
	t.Helper()
	n, err := decimal128.FromString(s, 38, scale)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Decimals of different scales compare exactly, also where rescaling the
// smaller scale passes 128 bits (PostgreSQL answers these; DuckDB fails
// "value is out of range").
func TestCompareScaled(t *testing.T) {
	max38 := "999999999999999999999999999999999999.99" // decimal(38,2)'s largest
	for _, c := range []struct {
		x    string
		xs   int32
		y    string
		ys   int32
		want int
	}{
		{"1.50", 2, "1.500", 3, 0},
		{"1.50", 2, "1.501", 3, -1},
		{"-0.01", 2, "-0.011", 3, 1},
		{max38, 2, "99999999999999999999999999999999999.999", 3, 1},
		{"-" + max38, 2, "-99999999999999999999999999999999999.999", 3, -1},
		{"0.001", 3, max38, 2, -1},
		{"0.001", 3, "-" + max38, 2, 1},
	} {
		if got := compareScaled(dec(t, c.x, c.xs), c.xs, dec(t, c.y, c.ys), c.ys); got != c.want {
			t.Errorf("compare %s with %s: %d, want %d", c.x, c.y, got, c.want)
		}
	}
}

// floor, ceil and trunc of decimals near zero step as PostgreSQL's do.
func TestWholeDecimal(t *testing.T) {
	for _, c := range []struct {
		v                  string
		floor, ceil, trunc string
	}{
		{"-0.500", "-1", "0", "0"}, {"0.125", "0", "1", "0"}, {"-1.000", "-1", "-1", "-1"}, {"2.500", "2", "3", "2"},
		{"-99999999999999999999999999999999999.999", "-100000000000000000000000000000000000", "-99999999999999999999999999999999999", "-99999999999999999999999999999999999"},
	} {
		v := dec(t, c.v, 3)
		for mode, want := range map[compute.RoundMode]string{compute.RoundDown: c.floor, compute.RoundUp: c.ceil, compute.RoundTowardsZero: c.trunc} {
			if got := wholeDecimal(v, 3, mode).ToString(0); got != want {
				t.Errorf("%s rounded %v: %s, want %s", c.v, mode, got, want)
			}
		}
	}
}

// Raising a decimal's scale past what the type holds is an error (NULL
// for TRY_CAST), not Arrow's panic.
func TestRescaleDecimalOverflow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 38, Scale: 2})
	b.Append(dec(t, "1.25", 2))
	b.Append(dec(t, "999999999999999999999999999999999999.99", 2))
	arr := b.NewArray()
	b.Release()
	defer arr.Release()
	to := &arrow.Decimal128Type{Precision: 38, Scale: 3}
	if _, err := rescaleDecimal(mem, arr, to, false); err == nil {
		t.Fatal("no error for a value decimal(38,3) cannot hold")
	}
	out, err := rescaleDecimal(mem, arr, to, true)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got := FormatValue(out, 0) + "," + FormatValue(out, 1); got != "1.250,NULL" {
		t.Fatalf("TRY_CAST: %s", got)
	}
}

// Comparisons of decimals with a constant of the same scale (evaluated in
// one pass, compareConst) answer as Arrow's kernel does, for every
// comparison, constants on either side, nulls, negative values, values
// past 64 bits and sliced input.
func TestDecimalConstCompare(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	typ := &arrow.Decimal128Type{Precision: 38, Scale: 2}
	bld := array.NewDecimal128Builder(mem, typ)
	vals := []string{"0", "1.00", "-1.00", "12.34", "12.35", "12.33", "-12.34", "184467440737095516.16", "-184467440737095516.16", "99999999999999999999.99", "150.00", "100.00", "49.99"}
	for i := range 37 {
		if i%7 == 3 {
			bld.AppendNull()
			continue
		}
		bld.Append(dec(t, vals[i%len(vals)], 2))
	}
	whole := bld.NewArray()
	bld.Release()
	defer whole.Release()
	sliced := array.NewSlice(whole, 5, 30)
	defer sliced.Release()
	for _, arr := range []arrow.Array{whole, sliced} {
		schema := arrow.NewSchema([]arrow.Field{{Name: "p", Type: typ, Nullable: true}}, nil)
		batch := array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
		col := &columnExpr{index: 0, name: "p", typ: typ}
		for _, k := range []string{"12.34", "0", "-1.00", "184467440737095516.16", "-99999999999999999999.99", "100.00"} {
			lit := &literalExpr{value: scalar.NewDecimal128Scalar(dec(t, k, 2), &arrow.Decimal128Type{Precision: 5, Scale: 2})}
			for name := range cmpMasks {
				for _, flip := range []bool{false, true} {
					args := []Expr{col, lit}
					if flip {
						args = []Expr{lit, col}
					}
					e := &funcExpr{name: name, args: args, typ: arrow.FixedWidthTypes.Boolean}
					sameAsArrow(t, mem, e, batch, arr, lit.value, flip, k)
				}
			}
		}
		batch.Release()
	}
}

// Comparisons of decimals with an integer constant or a decimal constant
// of a smaller scale (rescaled exactly, then compared in one pass) answer
// as Arrow's kernel does with the constant at the column's scale.
func TestDecimalConstCompareRescaled(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	typ := &arrow.Decimal128Type{Precision: 7, Scale: 2}
	bld := array.NewDecimal128Builder(mem, typ)
	for i, v := range []string{"0", "-0.01", "0.01", "12.00", "12.01", "11.99", "-12.00", "2000.00", "1999.99", "150.00"} {
		if i == 4 {
			bld.AppendNull()
		}
		bld.Append(dec(t, v, 2))
	}
	arr := bld.NewArray()
	bld.Release()
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "p", Type: typ, Nullable: true}}, nil)
	batch := array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
	defer batch.Release()
	col := &columnExpr{index: 0, name: "p", typ: typ}
	lits := map[string]scalar.Scalar{
		"0":       scalar.NewInt64Scalar(0),
		"12.00":   scalar.NewInt32Scalar(12),
		"-12.00":  scalar.NewInt8Scalar(-12),
		"2000.00": scalar.NewInt16Scalar(2000),
		"150.00":  scalar.NewDecimal128Scalar(dec(t, "150", 0), &arrow.Decimal128Type{Precision: 3, Scale: 0}),
		"0.10":    scalar.NewDecimal128Scalar(dec(t, "0.1", 1), &arrow.Decimal128Type{Precision: 2, Scale: 1}),
	}
	for at, k := range lits {
		for name := range cmpMasks {
			e := &funcExpr{name: name, args: []Expr{col, &literalExpr{value: k}}, typ: arrow.FixedWidthTypes.Boolean}
			sameAsArrow(t, mem, e, batch, arr, scalar.NewDecimal128Scalar(dec(t, at, 2), typ), false, fmt.Sprintf("%s (%s)", k, at))
		}
	}
	// A constant of a larger scale is compared by Arrow, exactly.
	e := &funcExpr{name: "less", args: []Expr{col, &literalExpr{value: scalar.NewDecimal128Scalar(dec(t, "0.005", 3), &arrow.Decimal128Type{Precision: 4, Scale: 3})}}, typ: arrow.FixedWidthTypes.Boolean}
	if _, ok, _ := e.constCompare(context.Background(), batch); ok {
		t.Error("a constant of scale 3 was rounded to scale 2")
	}
}

// String equality with a constant, in one pass, answers as Arrow's kernel
// does: nulls, empty strings, prefixes, sliced input.
func TestStringConstCompare(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	bld := array.NewStringBuilder(mem)
	for i, v := range []string{"M", "", "MM", "S", "M", "m", "Advanced Degree", "Advanced", "M", "W", "D", "", "College"} {
		if i%5 == 2 {
			bld.AppendNull()
		}
		bld.Append(v)
	}
	whole := bld.NewArray()
	bld.Release()
	defer whole.Release()
	sliced := array.NewSlice(whole, 3, 14)
	defer sliced.Release()
	for _, arr := range []arrow.Array{whole, sliced} {
		schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
		batch := array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
		col := &columnExpr{index: 0, name: "s", typ: arrow.BinaryTypes.String}
		for _, k := range []string{"M", "", "Advanced Degree", "Advanced", "zzz"} {
			for _, name := range []string{"equal", "not_equal"} {
				lit := &literalExpr{value: scalar.NewStringScalar(k)}
				for _, flip := range []bool{false, true} {
					args := []Expr{col, lit}
					if flip {
						args = []Expr{lit, col}
					}
					e := &funcExpr{name: name, args: args, typ: arrow.FixedWidthTypes.Boolean}
					sameAsArrow(t, mem, e, batch, arr, lit.value, flip, fmt.Sprintf("%q", k))
				}
			}
		}
		batch.Release()
	}
}

// sameAsArrow checks e, the comparison of column arr of batch with the
// constant k (k first when flip), against Arrow's kernel of the same name
// over arr and k broadcast to an array; what names k in failures.
func sameAsArrow(t *testing.T, mem memory.Allocator, e *funcExpr, batch arrow.RecordBatch, arr arrow.Array, k scalar.Scalar, flip bool, what string) {
	t.Helper()
	got, err := e.Eval(context.Background(), mem, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	ka, err := scalar.MakeArrayFromScalar(k, arr.Len(), mem)
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Release()
	cargs := []compute.Datum{compute.NewDatum(arr), compute.NewDatum(ka)}
	defer func() {
		for _, c := range cargs {
			c.Release()
		}
	}()
	if flip {
		cargs[0], cargs[1] = cargs[1], cargs[0]
	}
	want, err := compute.CallFunction(context.Background(), e.name, nil, cargs...)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Release()
	wa := want.(*compute.ArrayDatum).MakeArray()
	defer wa.Release()
	if !array.Equal(got, wa) {
		t.Errorf("%v %s %s (flipped %v):\n got %v\nwant %v", arr, e.name, what, flip, got, wa)
	}
}
