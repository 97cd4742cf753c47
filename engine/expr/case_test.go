package expr

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// CASE WHEN cond THEN column [ELSE NULL] END (masked: the column's buffers with a new
// validity) is the column where cond is true and NULL where it is false or
// NULL, for columns with and without nulls, strings, sliced batches.
func TestMaskedCase(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	whole, sliced := caseBatch(mem, 70, 13, 61, func(i int) int {
		switch i % 5 {
		case 0:
			return -1
		case 1, 3:
			return 1
		}
		return 0
	}, func(i int) bool { return i%7 == 2 }, func(i int) string { return string(rune('a' + i%26)) })
	defer whole.Release()
	defer sliced.Release()
	schema := whole.Schema()
	cond := &columnExpr{index: 0, name: "c", typ: arrow.FixedWidthTypes.Boolean}
	for _, b := range []arrow.RecordBatch{whole, sliced} {
		for k := 1; k <= 2; k++ {
			x := &columnExpr{index: k, name: schema.Field(k).Name, typ: schema.Field(k).Type}
			for _, els := range []Expr{nil, &literalExpr{value: scalar.MakeNullScalar(x.typ)}, &castExpr{in: &literalExpr{value: scalar.MakeNullScalar(arrow.Null)}, to: x.typ}} {
				e := &caseExpr{whens: []Expr{cond}, thens: []Expr{x}, els: els, typ: x.typ}
				got, err := e.Eval(context.Background(), mem, b)
				if err != nil {
					t.Fatal(err)
				}
				c, v := b.Column(0).(*array.Boolean), b.Column(k)
				for i := range int(b.NumRows()) {
					take := c.IsValid(i) && c.Value(i) && v.IsValid(i)
					if got.IsValid(i) != take || take && got.ValueStr(i) != v.ValueStr(i) {
						t.Fatalf("%s row %d: %s (valid %v), want %s (valid %v)", schema.Field(k).Name, i, got.ValueStr(i), got.IsValid(i), v.ValueStr(i), take)
					}
				}
				if got.Len() != int(b.NumRows()) {
					t.Fatalf("%d rows, want %d", got.Len(), b.NumRows())
				}
				got.Release()
			}
		}
	}
}

// A CASE whose later conditions and branches run over some rows only
// (gathering just the columns they read, the others standing as null
// columns) answers as evaluated row by row: integer and string results,
// constant and column branches, nulls, whole and sliced batches.
func TestCaseOverRowsOfBranches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	whole, sliced := caseBatch(mem, 90, 11, 83, func(i int) int {
		if i%4 == 0 {
			return -1
		}
		if i%3 == 0 {
			return 1
		}
		return 0
	}, func(i int) bool { return i%7 == 2 }, func(i int) string { return string(rune('a'+i%26)) + "-name" })
	defer whole.Release()
	defer sliced.Release()
	c := &columnExpr{index: 0, name: "c", typ: arrow.FixedWidthTypes.Boolean}
	i := &columnExpr{index: 1, name: "i", typ: arrow.PrimitiveTypes.Int64}
	s := &columnExpr{index: 2, name: "s", typ: arrow.BinaryTypes.String}
	over30, err := newBinaryExpr(i, kapotv1.BinaryOp_BINARY_OP_GT, &literalExpr{value: scalar.NewInt64Scalar(30)})
	if err != nil {
		t.Fatal(err)
	}
	ints := &caseExpr{whens: []Expr{c, over30}, thens: []Expr{&literalExpr{value: scalar.NewInt64Scalar(1)}, i},
		els: &literalExpr{value: scalar.NewInt64Scalar(0)}, typ: arrow.PrimitiveTypes.Int64}
	strs := &caseExpr{whens: []Expr{over30, c}, thens: []Expr{s, &literalExpr{value: scalar.NewStringScalar("yes")}},
		typ: arrow.BinaryTypes.String}
	for _, b := range []arrow.RecordBatch{whole, sliced} {
		cv, iv, sv := b.Column(0).(*array.Boolean), b.Column(1).(*array.Int64), b.Column(2).(*array.String)
		isTrue := func(r int) bool { return cv.IsValid(r) && cv.Value(r) }
		over := func(r int) bool { return iv.IsValid(r) && iv.Value(r) > 30 }
		for _, e := range []*caseExpr{ints, strs} {
			got, err := e.Eval(context.Background(), mem, b)
			if err != nil {
				t.Fatal(err)
			}
			for r := range int(b.NumRows()) {
				want := "(null)"
				switch {
				case e == ints && isTrue(r):
					want = "1"
				case e == ints && over(r):
					want = iv.ValueStr(r)
				case e == ints:
					want = "0"
				case over(r):
					want = sv.Value(r)
				case isTrue(r):
					want = "yes"
				}
				if got.ValueStr(r) != want {
					t.Fatalf("%s row %d: %s, want %s", e, r, got.ValueStr(r), want)
				}
			}
			got.Release()
		}
	}
}

// A CASE whose branches are all constants (a cast one, a NULL ELSE, none)
// answers by branch as evaluated row by row, over whole and sliced
// batches; a constant that fails to cast fails only when a row takes its
// branch.
func TestCaseConstantBranches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ib := array.NewInt64Builder(mem)
	for i := range 50 {
		if i%6 == 0 {
			ib.AppendNull()
		} else {
			ib.Append(int64(i))
		}
	}
	col := ib.NewArray()
	ib.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	whole := array.NewRecordBatch(schema, []arrow.Array{col}, 50)
	col.Release()
	defer whole.Release()
	sliced := whole.NewSlice(7, 45)
	defer sliced.Release()
	i := &columnExpr{index: 0, name: "i", typ: arrow.PrimitiveTypes.Int64}
	cmp := func(op kapotv1.BinaryOp, v int64) Expr {
		e, err := newBinaryExpr(i, op, &literalExpr{value: scalar.NewInt64Scalar(v)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	str := func(s string) Expr { return &literalExpr{value: scalar.NewStringScalar(s)} }
	under10, under30 := cmp(kapotv1.BinaryOp_BINARY_OP_LT, 10), cmp(kapotv1.BinaryOp_BINARY_OP_LT, 30)
	badCast := &castExpr{in: str("x"), to: arrow.PrimitiveTypes.Int64}
	for _, c := range []struct {
		e    *caseExpr
		want func(v int64, valid bool) string
	}{
		{&caseExpr{whens: []Expr{under10, under30}, thens: []Expr{str("low"), str("mid")}, els: str("high"), typ: arrow.BinaryTypes.String},
			func(v int64, ok bool) string {
				switch {
				case ok && v < 10:
					return "low"
				case ok && v < 30:
					return "mid"
				}
				return "high"
			}},
		{&caseExpr{whens: []Expr{under10}, thens: []Expr{&castExpr{in: &literalExpr{value: scalar.NewInt32Scalar(1)}, to: arrow.PrimitiveTypes.Int64}},
			typ: arrow.PrimitiveTypes.Int64},
			func(v int64, ok bool) string {
				if ok && v < 10 {
					return "1"
				}
				return "(null)"
			}},
		{&caseExpr{whens: []Expr{cmp(kapotv1.BinaryOp_BINARY_OP_GT, 1000)}, thens: []Expr{badCast}, els: &literalExpr{value: scalar.NewInt64Scalar(0)},
			typ: arrow.PrimitiveTypes.Int64}, func(int64, bool) string { return "0" }},
	} {
		for _, b := range []arrow.RecordBatch{whole, sliced} {
			got, err := c.e.Eval(context.Background(), mem, b)
			if err != nil {
				t.Fatalf("%s: %v", c.e, err)
			}
			iv := b.Column(0).(*array.Int64)
			for r := range int(b.NumRows()) {
				if w := c.want(iv.Value(r), iv.IsValid(r)); got.ValueStr(r) != w {
					t.Fatalf("%s row %d: %s, want %s", c.e, r, got.ValueStr(r), w)
				}
			}
			got.Release()
		}
	}
	fails := &caseExpr{whens: []Expr{under10}, thens: []Expr{badCast}, els: &literalExpr{value: scalar.NewInt64Scalar(0)}, typ: arrow.PrimitiveTypes.Int64}
	if got, err := fails.Eval(context.Background(), mem, whole); err == nil {
		got.Release()
		t.Errorf("%s: no error, want the cast's", fails)
	}
}

// caseBatch builds n rows of c (boolean: cond(i) -1 NULL, 0 false, 1
// true), i (int64 i, NULL where null(i)) and s (str(i)), and its slice
// [lo, hi).
func caseBatch(mem memory.Allocator, n, lo, hi int, cond func(int) int, null func(int) bool, str func(int) string) (whole, sliced arrow.RecordBatch) {
	cb := array.NewBooleanBuilder(mem)
	ib := array.NewInt64Builder(mem)
	sb := array.NewStringBuilder(mem)
	for i := range n {
		if v := cond(i); v < 0 {
			cb.AppendNull()
		} else {
			cb.Append(v == 1)
		}
		if null(i) {
			ib.AppendNull()
		} else {
			ib.Append(int64(i))
		}
		sb.Append(str(i))
	}
	cols := []arrow.Array{cb.NewArray(), ib.NewArray(), sb.NewArray()}
	cb.Release()
	ib.Release()
	sb.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	whole = array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return whole, whole.NewSlice(int64(lo), int64(hi))
}
