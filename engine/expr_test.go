package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func litNode(v *kapotv1.ScalarValue) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Literal{Literal: v}}
}

func strLit(s string) *kapotv1.PhysicalExprNode {
	return litNode(&kapotv1.ScalarValue{Type: strt, Value: &kapotv1.ScalarValue_StringValue{StringValue: s}})
}

func decLit(unscaled string, p, s int32) *kapotv1.PhysicalExprNode {
	return litNode(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: p, Scale: s},
		Value: &kapotv1.ScalarValue_DecimalUnscaled{DecimalUnscaled: unscaled}})
}

func intervalLit(months, days int32) *kapotv1.PhysicalExprNode {
	return litNode(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INTERVAL_MONTH_DAY_NANO},
		Value: &kapotv1.ScalarValue_IntervalValue{IntervalValue: &kapotv1.IntervalValue{Months: months, Days: days}}})
}

func nullLit(id kapotv1.TypeId) *kapotv1.PhysicalExprNode {
	return litNode(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: id}})
}

func fn(name string, args ...*kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Function{Function: &kapotv1.ScalarFunctionExpr{Name: name, Args: args}}}
}

func caseNode(operand, els *kapotv1.PhysicalExprNode, wt ...*kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
	c := &kapotv1.CaseExpr{Operand: operand, ElseExpr: els}
	for i := 0; i < len(wt); i += 2 {
		c.WhenThen = append(c.WhenThen, &kapotv1.WhenThen{When: wt[i], Then: wt[i+1]})
	}
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_CaseWhen{CaseWhen: c}}
}

func inList(e *kapotv1.PhysicalExprNode, negated bool, list ...*kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_InList{InList: &kapotv1.InListExpr{Expr: e, List: list, Negated: negated}}}
}

func like(e *kapotv1.PhysicalExprNode, pattern string, negated, fold bool) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Like{Like: &kapotv1.LikeExpr{Expr: e, Pattern: strLit(pattern), Negated: negated, CaseInsensitive: fold}}}
}

func castNode(e *kapotv1.PhysicalExprNode, t *kapotv1.DataType, safe bool) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Cast{Cast: &kapotv1.CastExpr{Expr: e, Type: t, Safe: safe}}}
}

// exprBatch is the input of the expression tests.
func exprBatch(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}, Nullable: true},
		{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	b, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(`[
		{"i": 1,    "s": "Hello",       "d": "12.34",  "dt": "1998-12-01", "f": 1.5,  "b": true,  "n": 7},
		{"i": null, "s": "wörld",       "d": "-0.05",  "dt": "2020-01-31", "f": 2.5,  "b": false, "n": null},
		{"i": 3,    "s": null,          "d": null,     "dt": null,         "f": null, "b": null,  "n": 2},
		{"i": -4,   "s": "  pad  ",     "d": "100.00", "dt": "2000-02-29", "f": -0.5, "b": true,  "n": 0},
		{"i": 0,    "s": "PROMO BRASS", "d": "0.10",   "dt": "1970-01-01", "f": 7,    "b": false, "n": -3}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// evalProto binds e over the test batch and evaluates it.
func evalProto(t *testing.T, e *kapotv1.PhysicalExprNode) (string, []string, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := exprBatch(t, mem)
	defer b.Release()
	ex, err := ExprFromProto(e, b.Schema())
	if err != nil {
		return "", nil, err
	}
	out, err := ex.Eval(context.Background(), alloc.NewPoisoningAllocator(mem), b)
	if err != nil {
		return "", nil, err
	}
	defer out.Release()
	if out.Len() != int(b.NumRows()) {
		t.Fatalf("%s: %d rows, want %d", ex, out.Len(), b.NumRows())
	}
	if !arrow.TypeEqual(out.DataType(), ex.DataType()) {
		t.Fatalf("%s: evaluated to %s, declared %s", ex, out.DataType(), ex.DataType())
	}
	vals := make([]string, out.Len())
	for i := range vals {
		vals[i] = FormatValue(out, i)
	}
	return out.DataType().String(), vals, nil
}

func TestExpressions(t *testing.T) {
	op := func(l *kapotv1.PhysicalExprNode, o kapotv1.BinaryOp, r *kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
		return bin(l, o, r)
	}
	B := kapotv1.BinaryOp_BINARY_OP_ADD
	S := kapotv1.BinaryOp_BINARY_OP_SUB
	M := kapotv1.BinaryOp_BINARY_OP_MUL
	D := kapotv1.BinaryOp_BINARY_OP_DIV
	GT := kapotv1.BinaryOp_BINARY_OP_GT
	EQ := kapotv1.BinaryOp_BINARY_OP_EQ
	tests := []struct {
		name     string
		expr     *kapotv1.PhysicalExprNode
		wantType string
		want     []string
	}{
		// Decimal arithmetic follows SQL precision/scale rules.
		{"decimal add", op(col("d"), B, decLit("1", 3, 2)), "decimal(16, 2)", []string{"12.35", "-0.04", "NULL", "100.01", "0.11"}},
		// Widening at the same scale re-types the values; other decimal
		// casts convert them.
		{"decimal widened", castNode(col("d"), &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: 26, Scale: 2}, false), "decimal(26, 2)", []string{"12.34", "-0.05", "NULL", "100.00", "0.10"}},
		{"decimal rescaled", castNode(col("d"), &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: 26, Scale: 3}, false), "decimal(26, 3)", []string{"12.340", "-0.050", "NULL", "100.000", "0.100"}},
		{"decimal minus int", op(i64(1), S, col("d")), "decimal(22, 2)", []string{"-11.34", "1.05", "NULL", "-99.00", "0.90"}},
		{"decimal mul", op(col("d"), M, op(decLit("100", 15, 2), S, col("d"))), "decimal(32, 4)", []string{"-139.9356", "-0.0525", "NULL", "-9900.0000", "0.0900"}},
		{"decimal div is float64", op(col("d"), D, decLit("300", 15, 2)), "float64", []string{"4.113333333333333", "-0.016666666666666666", "NULL", "33.333333333333336", "0.03333333333333333"}},
		{"decimal x float", op(col("d"), M, col("f")), "float64", []string{"18.509999999999998", "-0.125", "NULL", "-50", "0.7000000000000001"}},
		{"int mod", op(col("i"), kapotv1.BinaryOp_BINARY_OP_MOD, i64(2)), "int64", []string{"1", "NULL", "1", "0", "0"}},
		{"decimal mod", op(col("d"), kapotv1.BinaryOp_BINARY_OP_MOD, decLit("300", 15, 2)), "decimal(15, 2)", []string{"0.34", "-0.05", "NULL", "1.00", "0.10"}},
		{"negate", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Negative{Negative: &kapotv1.NegativeExpr{Expr: col("d")}}}, "decimal(15, 2)", []string{"-12.34", "0.05", "NULL", "-100.00", "-0.10"}},
		// Dates.
		// date ± interval is a TIMESTAMP, as in DuckDB and PostgreSQL.
		{"date minus interval days", op(col("dt"), S, intervalLit(0, 90)), "timestamp[us]", []string{"1998-09-02 00:00:00", "2019-11-02 00:00:00", "NULL", "1999-12-01 00:00:00", "1969-10-03 00:00:00"}},
		{"date plus month clamps", op(col("dt"), B, intervalLit(1, 0)), "timestamp[us]", []string{"1999-01-01 00:00:00", "2020-02-29 00:00:00", "NULL", "2000-03-29 00:00:00", "1970-02-01 00:00:00"}},
		{"date plus year", op(col("dt"), B, intervalLit(12, 0)), "timestamp[us]", []string{"1999-12-01 00:00:00", "2021-01-31 00:00:00", "NULL", "2001-02-28 00:00:00", "1971-01-01 00:00:00"}},
		{"interval plus date", op(intervalLit(0, 1), B, col("dt")), "timestamp[us]", []string{"1998-12-02 00:00:00", "2020-02-01 00:00:00", "NULL", "2000-03-01 00:00:00", "1970-01-02 00:00:00"}},
		{"date plus int", op(col("dt"), B, col("n")), "date32", []string{"1998-12-08", "NULL", "NULL", "2000-02-29", "1969-12-29"}},
		{"year", fn("date_part", strLit("year"), col("dt")), "int64", []string{"1998", "2020", "NULL", "2000", "1970"}},
		{"month", fn("extract", strLit("MONTH"), col("dt")), "int64", []string{"12", "1", "NULL", "2", "1"}},
		{"day", fn("date_part", strLit("day"), col("dt")), "int64", []string{"1", "31", "NULL", "29", "1"}},
		{"quarter", fn("date_part", strLit("quarter"), col("dt")), "int64", []string{"4", "1", "NULL", "1", "1"}},
		{"dow", fn("date_part", strLit("dow"), col("dt")), "int64", []string{"2", "5", "NULL", "2", "4"}},
		{"doy", fn("date_part", strLit("doy"), col("dt")), "int64", []string{"335", "31", "NULL", "60", "1"}},
		// Strings.
		{"upper", fn("upper", col("s")), "utf8", []string{"HELLO", "WÖRLD", "NULL", "  PAD  ", "PROMO BRASS"}},
		{"lower", fn("LOWER", col("s")), "utf8", []string{"hello", "wörld", "NULL", "  pad  ", "promo brass"}},
		{"trim", fn("trim", col("s")), "utf8", []string{"Hello", "wörld", "NULL", "pad", "PROMO BRASS"}},
		{"rtrim chars", fn("rtrim", col("s"), strLit("olS ")), "utf8", []string{"He", "wörld", "NULL", "  pad", "PROMO BRA"}},
		{"length", fn("length", col("s")), "int64", []string{"5", "5", "NULL", "7", "11"}},
		{"substring", fn("substring", col("s"), i64(2), i64(3)), "utf8", []string{"ell", "örl", "NULL", " pa", "ROM"}},
		{"substring from 0", fn("substr", col("s"), i64(0), i64(2)), "utf8", []string{"H", "w", "NULL", " ", "P"}},
		{"substring no count", fn("substring", col("s"), i64(4)), "utf8", []string{"lo", "ld", "NULL", "ad  ", "MO BRASS"}},
		{"concat skips nulls", fn("concat", col("s"), strLit("!")), "utf8", []string{"Hello!", "wörld!", "!", "  pad  !", "PROMO BRASS!"}},
		{"like suffix", like(col("s"), "%BRASS", false, false), "bool", []string{"false", "false", "NULL", "false", "true"}},
		{"like prefix", like(col("s"), "PROMO%", false, false), "bool", []string{"false", "false", "NULL", "false", "true"}},
		{"like infix", like(col("s"), "%l%o%", false, false), "bool", []string{"true", "false", "NULL", "false", "false"}},
		{"not like", like(col("s"), "%l%o%", true, false), "bool", []string{"false", "true", "NULL", "true", "true"}},
		{"like underscore", like(col("s"), "w_rld", false, false), "bool", []string{"false", "true", "NULL", "false", "false"}},
		{"like exact", like(col("s"), "Hello", false, false), "bool", []string{"true", "false", "NULL", "false", "false"}},
		{"ilike", like(col("s"), "hel%", false, true), "bool", []string{"true", "false", "NULL", "false", "false"}},
		{"like escape", like(strLit("50%"), `50\%`, false, false), "bool", []string{"true", "true", "true", "true", "true"}},
		// Conditionals and null handling.
		{"case searched", caseNode(nil, strLit("other"), op(col("i"), GT, i64(0)), strLit("pos"), op(col("i"), EQ, i64(0)), strLit("zero")),
			"utf8", []string{"pos", "other", "pos", "other", "zero"}},
		{"case operand no else", caseNode(col("n"), nil, i64(7), strLit("seven"), i64(2), strLit("two")), "utf8", []string{"seven", "NULL", "two", "NULL", "NULL"}},
		{"case guards division", caseNode(nil, i64(-1), op(col("n"), kapotv1.BinaryOp_BINARY_OP_NEQ, i64(0)), op(i64(100), D, col("n"))),
			"int64", []string{"14", "-1", "50", "-1", "-33"}},
		{"coalesce", fn("coalesce", col("i"), castNode(col("n"), i64t, false), i64(99)), "int64", []string{"1", "99", "3", "-4", "0"}},
		{"nullif", fn("nullif", col("i"), i64(3)), "int64", []string{"1", "NULL", "NULL", "-4", "0"}},
		{"in list", inList(col("i"), false, i64(1), i64(0)), "bool", []string{"true", "NULL", "false", "false", "true"}},
		{"in list with null", inList(col("i"), false, i64(1), nullLit(kapotv1.TypeId_TYPE_ID_INT64)), "bool", []string{"true", "NULL", "NULL", "NULL", "NULL"}},
		{"not in list", inList(col("s"), true, strLit("Hello"), strLit("x")), "bool", []string{"false", "true", "NULL", "true", "true"}},
		{"decimal is null", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_IsNull{IsNull: &kapotv1.IsNullExpr{Expr: col("d")}}}, "bool", []string{"false", "false", "true", "false", "false"}},
		{"decimal is not null", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_IsNull{IsNull: &kapotv1.IsNullExpr{Expr: col("d"), Negated: true}}}, "bool", []string{"true", "true", "false", "true", "true"}},
		{"int32 in list", inList(col("n"), false, i64(7), i64(-3)), "bool", []string{"true", "NULL", "false", "false", "true"}},
		{"int32 not in list", inList(col("n"), true, i64(0)), "bool", []string{"true", "NULL", "true", "false", "true"}},
		{"in list of columns", inList(col("i"), false, castNode(col("n"), i64t, false), i64(3)), "bool", []string{"false", "NULL", "true", "false", "false"}},
		{"between", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Between{Between: &kapotv1.BetweenExpr{Expr: col("f"), Low: litNode(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_FLOAT64}, Value: &kapotv1.ScalarValue_FloatValue{FloatValue: 1.5}}), High: i64(2)}}},
			"bool", []string{"true", "false", "NULL", "false", "false"}},
		{"abs", fn("abs", col("i")), "int64", []string{"1", "NULL", "3", "4", "0"}},
		{"round decimal", fn("round", col("d"), i64(1)), "decimal(15, 2)", []string{"12.30", "-0.10", "NULL", "100.00", "0.10"}},
		{"round float", fn("round", col("f")), "float64", []string{"2", "3", "NULL", "-1", "7"}},
		{"try_cast", castNode(col("s"), i64t, true), "int64", []string{"NULL", "NULL", "NULL", "NULL", "NULL"}},
		{"try_cast ok", castNode(strLit("42"), i64t, true), "int64", []string{"42", "42", "42", "42", "42"}},
		{"not", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Not{Not: &kapotv1.NotExpr{Expr: col("b")}}}, "bool", []string{"false", "true", "NULL", "false", "true"}},
		{"and kleene", op(col("b"), kapotv1.BinaryOp_BINARY_OP_AND, op(col("i"), GT, i64(0))), "bool", []string{"true", "false", "NULL", "false", "false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, got, err := evalProto(t, tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if typ != tt.wantType || !slices.Equal(got, tt.want) {
				t.Fatalf("got %s %q\nwant %s %q", typ, got, tt.wantType, tt.want)
			}
		})
	}
}

func TestExpressionErrors(t *testing.T) {
	tests := []struct {
		name    string
		expr    *kapotv1.PhysicalExprNode
		want    error
		message string
	}{
		{"unknown function", fn("frobnicate", col("i")), ErrNotSupported, `function frobnicate does not exist`},
		{"upper of int", fn("upper", col("i")), ErrInvalidPlan, "argument must be a string"},
		{"substring arity", fn("substring", col("s")), ErrInvalidPlan, "takes 2 to 3 arguments"},
		{"like non-literal", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Like{Like: &kapotv1.LikeExpr{Expr: col("s"), Pattern: col("s")}}}, ErrNotSupported, "string literal"},
		{"like of int", like(col("i"), "1%", false, false), ErrInvalidPlan, "operand must be a string"},
		{"case non-bool when", caseNode(nil, nil, col("i"), i64(1)), ErrInvalidPlan, "not boolean"},
		{"case mixed types", caseNode(nil, strLit("x"), col("b"), i64(1)), ErrInvalidPlan, "one type"},
		{"date part field", fn("date_part", strLit("fortnight"), col("dt")), ErrNotSupported, "unknown field"},
		{"and of ints", bin(col("i"), kapotv1.BinaryOp_BINARY_OP_AND, col("i")), ErrInvalidPlan, "must be boolean"},
		{"add string", bin(col("s"), kapotv1.BinaryOp_BINARY_OP_ADD, i64(1)), ErrNotSupported, "s@1 + 1"},
		{"negate string", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Negative{Negative: &kapotv1.NegativeExpr{Expr: col("s")}}}, ErrInvalidPlan, "must be numeric"},
		{"empty in list", inList(col("i"), false), ErrInvalidPlan, "empty"},
		{"decimal literal too wide", decLit("123456", 3, 0), ErrInvalidPlan, "does not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := evalProto(t, tt.expr)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("got %v, want %v containing %q", err, tt.want, tt.message)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	for name, e := range map[string]*kapotv1.PhysicalExprNode{
		"int division by zero": bin(i64(1), kapotv1.BinaryOp_BINARY_OP_DIV, col("n")),
		"mod by zero":          bin(col("i"), kapotv1.BinaryOp_BINARY_OP_MOD, col("n")),
		"decimal div by zero":  bin(col("d"), kapotv1.BinaryOp_BINARY_OP_DIV, bin(col("d"), kapotv1.BinaryOp_BINARY_OP_SUB, col("d"))),
		"bad cast":             castNode(col("s"), i64t, false),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := evalProto(t, e); err == nil {
				t.Fatal("evaluated without error")
			}
		})
	}
}

// TestArithmeticIgnoresGarbageUnderNulls: Arrow's overflow-checked
// arithmetic checks every slot, and a null slot holds whatever its
// recycled buffer held; abs(x) * 100 over a NULL whose slot holds
// MinInt64 must give NULL, not "overflow".
func TestArithmeticIgnoresGarbageUnderNulls(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	vals := memory.NewResizableBuffer(mem)
	vals.Resize(3 * 8)
	v := arrow.Int64Traits.CastFromBytes(vals.Bytes())
	v[0], v[1], v[2] = 2, math.MinInt64, -3
	valid := memory.NewResizableBuffer(mem)
	valid.Resize(1)
	valid.Bytes()[0] = 0b101
	data := array.NewData(arrow.PrimitiveTypes.Int64, 3, []*memory.Buffer{valid, vals}, nil, 1, 0)
	vals.Release()
	valid.Release()
	arr := array.MakeFromData(data)
	data.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	b := array.NewRecordBatch(schema, []arrow.Array{arr}, 3)
	arr.Release()
	defer b.Release()
	hundred := litNode(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}, Value: &kapotv1.ScalarValue_IntValue{IntValue: 100}})
	for _, e := range []*kapotv1.PhysicalExprNode{
		bin(fn("abs", col("i")), kapotv1.BinaryOp_BINARY_OP_MUL, hundred),
		bin(col("i"), kapotv1.BinaryOp_BINARY_OP_SUB, hundred),
	} {
		ex, err := ExprFromProto(e, schema)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ex.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
		if out.IsValid(1) || !out.IsValid(0) || !out.IsValid(2) {
			t.Errorf("%s: validity %v", ex, out)
		}
		out.Release()
	}
}

// TestInListOverSlicedArrays: Arrow's is_in answers for the wrong rows of a
// sliced decimal or boolean array (it ignores the offset); a hash join's
// output is sliced, so `x.m IN (0.00)` above a join kept rows whose m was
// not 0 (found by the differential fuzzer).
func TestInListOverSlicedArrays(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dec := &arrow.Decimal128Type{Precision: 12, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{{Name: "m", Type: dec}, {Name: "b", Type: arrow.FixedWidthTypes.Boolean}}, nil)
	m, _, err := array.FromJSON(mem, dec, strings.NewReader(`["0.05", "0", "0.07", "0", "0.09", "1.5"]`))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	bl, _, err := array.FromJSON(mem, arrow.FixedWidthTypes.Boolean, strings.NewReader(`[true, false, true, false, true, true]`))
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Release()
	whole := array.NewRecordBatch(schema, []arrow.Array{m, bl}, 6)
	defer whole.Release()
	b := whole.NewSlice(1, 6) // m: 0, 0.07, 0, 0.09, 1.5; b: false, true, false, true, true
	defer b.Release()
	falseLit := litNode(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_BOOL}, Value: &kapotv1.ScalarValue_BoolValue{BoolValue: false}})
	for _, c := range []struct {
		e     *kapotv1.PhysicalExprNode
		batch arrow.RecordBatch
		want  string
	}{
		{inList(col("m"), false, decLit("0", 12, 2)), b, "[true false true false false]"},
		{inList(col("m"), true, decLit("0", 12, 2), decLit("150", 12, 2)), b, "[false true false true false]"},
		{inList(col("b"), false, falseLit), b, "[true false true false false]"},
		// is_in over booleans is wrong even unsliced.
		{inList(col("b"), false, falseLit), whole, "[false true false true false false]"},
		{inList(col("b"), true, falseLit), whole, "[true false true false true true]"},
	} {
		ex, err := ExprFromProto(c.e, schema)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ex.Eval(context.Background(), alloc.NewPoisoningAllocator(mem), c.batch)
		if err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
		if got := fmt.Sprint(out); got != c.want {
			t.Errorf("%s over a slice = %s, want %s", ex, got, c.want)
		}
		out.Release()
	}
}

// TestNotOverSlicedBooleans: Arrow's not answers for the wrong rows of a
// sliced boolean array; NOT over a column of a join's (sliced) output must
// still be right.
func TestNotOverSlicedBooleans(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true}}, nil)
	bl, _, err := array.FromJSON(mem, arrow.FixedWidthTypes.Boolean, strings.NewReader(`[true, false, true, null, true, false]`))
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Release()
	whole := array.NewRecordBatch(schema, []arrow.Array{bl}, 6)
	defer whole.Release()
	b := whole.NewSlice(2, 6) // true, null, true, false
	defer b.Release()
	ex, err := ExprFromProto(&kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Not{Not: &kapotv1.NotExpr{Expr: col("b")}}}, schema)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ex.Eval(context.Background(), alloc.NewPoisoningAllocator(mem), b)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got, want := fmt.Sprint(out), "[false (null) false true]"; got != want {
		t.Errorf("%s over a slice = %s, want %s", ex, got, want)
	}
}
