package expr

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
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func intervalLit(months, days int32) *kapotv1.PhysicalExprNode {
	return wiretest.Lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INTERVAL_MONTH_DAY_NANO},
		Value: &kapotv1.ScalarValue_IntervalValue{IntervalValue: &kapotv1.IntervalValue{Months: months, Days: days}}})
}

func nullLit(id kapotv1.TypeId) *kapotv1.PhysicalExprNode {
	return wiretest.Lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: id}})
}

func caseNode(operand, els *kapotv1.PhysicalExprNode, wt ...*kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
	c := &kapotv1.CaseExpr{Operand: operand, ElseExpr: els}
	for i := 0; i < len(wt); i += 2 {
		c.WhenThen = append(c.WhenThen, &kapotv1.WhenThen{When: wt[i], Then: wt[i+1]})
	}
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_CaseWhen{CaseWhen: c}}
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
	ex, err := FromProto(e, b.Schema())
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
		return wiretest.Bin(l, o, r)
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
		{"decimal add", op(wiretest.Col("d"), B, wiretest.Dec("1", 3, 2)), "decimal(16, 2)", []string{"12.35", "-0.04", "NULL", "100.01", "0.11"}},
		// Widening at the same scale re-types the values; other decimal
		// casts convert them.
		{"decimal widened", castNode(wiretest.Col("d"), &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: 26, Scale: 2}, false), "decimal(26, 2)", []string{"12.34", "-0.05", "NULL", "100.00", "0.10"}},
		{"decimal rescaled", castNode(wiretest.Col("d"), &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: 26, Scale: 3}, false), "decimal(26, 3)", []string{"12.340", "-0.050", "NULL", "100.000", "0.100"}},
		{"decimal minus int", op(wiretest.I64(1), S, wiretest.Col("d")), "decimal(22, 2)", []string{"-11.34", "1.05", "NULL", "-99.00", "0.90"}},
		{"decimal mul", op(wiretest.Col("d"), M, op(wiretest.Dec("100", 15, 2), S, wiretest.Col("d"))), "decimal(32, 4)", []string{"-139.9356", "-0.0525", "NULL", "-9900.0000", "0.0900"}},
		{"decimal div is float64", op(wiretest.Col("d"), D, wiretest.Dec("300", 15, 2)), "float64", []string{"4.113333333333333", "-0.016666666666666666", "NULL", "33.333333333333336", "0.03333333333333333"}},
		{"decimal x float", op(wiretest.Col("d"), M, wiretest.Col("f")), "float64", []string{"18.509999999999998", "-0.125", "NULL", "-50", "0.7000000000000001"}},
		{"int mod", op(wiretest.Col("i"), kapotv1.BinaryOp_BINARY_OP_MOD, wiretest.I64(2)), "int64", []string{"1", "NULL", "1", "0", "0"}},
		{"decimal mod", op(wiretest.Col("d"), kapotv1.BinaryOp_BINARY_OP_MOD, wiretest.Dec("300", 15, 2)), "decimal(15, 2)", []string{"0.34", "-0.05", "NULL", "1.00", "0.10"}},
		{"negate", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Negative{Negative: &kapotv1.NegativeExpr{Expr: wiretest.Col("d")}}}, "decimal(15, 2)", []string{"-12.34", "0.05", "NULL", "-100.00", "-0.10"}},
		// Dates.
		// date ± interval is a TIMESTAMP, as in DuckDB and PostgreSQL.
		{"date minus interval days", op(wiretest.Col("dt"), S, intervalLit(0, 90)), "timestamp[us]", []string{"1998-09-02 00:00:00", "2019-11-02 00:00:00", "NULL", "1999-12-01 00:00:00", "1969-10-03 00:00:00"}},
		{"date plus month clamps", op(wiretest.Col("dt"), B, intervalLit(1, 0)), "timestamp[us]", []string{"1999-01-01 00:00:00", "2020-02-29 00:00:00", "NULL", "2000-03-29 00:00:00", "1970-02-01 00:00:00"}},
		{"date plus year", op(wiretest.Col("dt"), B, intervalLit(12, 0)), "timestamp[us]", []string{"1999-12-01 00:00:00", "2021-01-31 00:00:00", "NULL", "2001-02-28 00:00:00", "1971-01-01 00:00:00"}},
		{"interval plus date", op(intervalLit(0, 1), B, wiretest.Col("dt")), "timestamp[us]", []string{"1998-12-02 00:00:00", "2020-02-01 00:00:00", "NULL", "2000-03-01 00:00:00", "1970-01-02 00:00:00"}},
		{"date plus int", op(wiretest.Col("dt"), B, wiretest.Col("n")), "date32", []string{"1998-12-08", "NULL", "NULL", "2000-02-29", "1969-12-29"}},
		{"year", wiretest.Fn("date_part", wiretest.Str("year"), wiretest.Col("dt")), "int64", []string{"1998", "2020", "NULL", "2000", "1970"}},
		{"month", wiretest.Fn("extract", wiretest.Str("MONTH"), wiretest.Col("dt")), "int64", []string{"12", "1", "NULL", "2", "1"}},
		{"day", wiretest.Fn("date_part", wiretest.Str("day"), wiretest.Col("dt")), "int64", []string{"1", "31", "NULL", "29", "1"}},
		{"quarter", wiretest.Fn("date_part", wiretest.Str("quarter"), wiretest.Col("dt")), "int64", []string{"4", "1", "NULL", "1", "1"}},
		{"dow", wiretest.Fn("date_part", wiretest.Str("dow"), wiretest.Col("dt")), "int64", []string{"2", "5", "NULL", "2", "4"}},
		{"doy", wiretest.Fn("date_part", wiretest.Str("doy"), wiretest.Col("dt")), "int64", []string{"335", "31", "NULL", "60", "1"}},
		// Strings.
		{"upper", wiretest.Fn("upper", wiretest.Col("s")), "utf8", []string{"HELLO", "WÖRLD", "NULL", "  PAD  ", "PROMO BRASS"}},
		{"lower", wiretest.Fn("LOWER", wiretest.Col("s")), "utf8", []string{"hello", "wörld", "NULL", "  pad  ", "promo brass"}},
		{"trim", wiretest.Fn("trim", wiretest.Col("s")), "utf8", []string{"Hello", "wörld", "NULL", "pad", "PROMO BRASS"}},
		{"rtrim chars", wiretest.Fn("rtrim", wiretest.Col("s"), wiretest.Str("olS ")), "utf8", []string{"He", "wörld", "NULL", "  pad", "PROMO BRA"}},
		{"length", wiretest.Fn("length", wiretest.Col("s")), "int64", []string{"5", "5", "NULL", "7", "11"}},
		{"substring", wiretest.Fn("substring", wiretest.Col("s"), wiretest.I64(2), wiretest.I64(3)), "utf8", []string{"ell", "örl", "NULL", " pa", "ROM"}},
		{"substring from 0", wiretest.Fn("substr", wiretest.Col("s"), wiretest.I64(0), wiretest.I64(2)), "utf8", []string{"H", "w", "NULL", " ", "P"}},
		{"substring no count", wiretest.Fn("substring", wiretest.Col("s"), wiretest.I64(4)), "utf8", []string{"lo", "ld", "NULL", "ad  ", "MO BRASS"}},
		// A prefix: ASCII bytes taken as they are, a multi-byte character counted once.
		{"substring prefix", wiretest.Fn("substring", wiretest.Col("s"), wiretest.I64(1), wiretest.I64(3)), "utf8", []string{"Hel", "wör", "NULL", "  p", "PRO"}},
		{"substring prefix past the end", wiretest.Fn("substring", wiretest.Col("s"), wiretest.I64(1), wiretest.I64(9)), "utf8", []string{"Hello", "wörld", "NULL", "  pad  ", "PROMO BRA"}},
		{"substring of none", wiretest.Fn("substring", wiretest.Col("s"), wiretest.I64(1), wiretest.I64(0)), "utf8", []string{"", "", "NULL", "", ""}},
		{"substring by a column", wiretest.Fn("substring", wiretest.Col("s"), wiretest.I64(1), wiretest.Fn("length", wiretest.Col("s"))), "utf8", []string{"Hello", "wörld", "NULL", "  pad  ", "PROMO BRASS"}},
		{"concat skips nulls", wiretest.Fn("concat", wiretest.Col("s"), wiretest.Str("!")), "utf8", []string{"Hello!", "wörld!", "!", "  pad  !", "PROMO BRASS!"}},
		{"like suffix", wiretest.Like(wiretest.Col("s"), "%BRASS", false, false), "bool", []string{"false", "false", "NULL", "false", "true"}},
		{"like prefix", wiretest.Like(wiretest.Col("s"), "PROMO%", false, false), "bool", []string{"false", "false", "NULL", "false", "true"}},
		{"like infix", wiretest.Like(wiretest.Col("s"), "%l%o%", false, false), "bool", []string{"true", "false", "NULL", "false", "false"}},
		{"not like", wiretest.Like(wiretest.Col("s"), "%l%o%", true, false), "bool", []string{"false", "true", "NULL", "true", "true"}},
		{"like underscore", wiretest.Like(wiretest.Col("s"), "w_rld", false, false), "bool", []string{"false", "true", "NULL", "false", "false"}},
		{"like exact", wiretest.Like(wiretest.Col("s"), "Hello", false, false), "bool", []string{"true", "false", "NULL", "false", "false"}},
		{"ilike", wiretest.Like(wiretest.Col("s"), "hel%", false, true), "bool", []string{"true", "false", "NULL", "false", "false"}},
		{"like escape", wiretest.Like(wiretest.Str("50%"), `50\%`, false, false), "bool", []string{"true", "true", "true", "true", "true"}},
		// Conditionals and null handling.
		{"case searched", caseNode(nil, wiretest.Str("other"), op(wiretest.Col("i"), GT, wiretest.I64(0)), wiretest.Str("pos"), op(wiretest.Col("i"), EQ, wiretest.I64(0)), wiretest.Str("zero")),
			"utf8", []string{"pos", "other", "pos", "other", "zero"}},
		{"case operand no else", caseNode(wiretest.Col("n"), nil, wiretest.I64(7), wiretest.Str("seven"), wiretest.I64(2), wiretest.Str("two")), "utf8", []string{"seven", "NULL", "two", "NULL", "NULL"}},
		{"case guards division", caseNode(nil, wiretest.I64(-1), op(wiretest.Col("n"), kapotv1.BinaryOp_BINARY_OP_NEQ, wiretest.I64(0)), op(wiretest.I64(100), D, wiretest.Col("n"))),
			"int64", []string{"14", "-1", "50", "-1", "-33"}},
		{"coalesce", wiretest.Fn("coalesce", wiretest.Col("i"), castNode(wiretest.Col("n"), wiretest.I64Type(), false), wiretest.I64(99)), "int64", []string{"1", "99", "3", "-4", "0"}},
		{"nullif", wiretest.Fn("nullif", wiretest.Col("i"), wiretest.I64(3)), "int64", []string{"1", "NULL", "NULL", "-4", "0"}},
		{"in list", wiretest.InList(wiretest.Col("i"), false, wiretest.I64(1), wiretest.I64(0)), "bool", []string{"true", "NULL", "false", "false", "true"}},
		{"in list with null", wiretest.InList(wiretest.Col("i"), false, wiretest.I64(1), nullLit(kapotv1.TypeId_TYPE_ID_INT64)), "bool", []string{"true", "NULL", "NULL", "NULL", "NULL"}},
		{"not in list", wiretest.InList(wiretest.Col("s"), true, wiretest.Str("Hello"), wiretest.Str("x")), "bool", []string{"false", "true", "NULL", "true", "true"}},
		{"decimal is null", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_IsNull{IsNull: &kapotv1.IsNullExpr{Expr: wiretest.Col("d")}}}, "bool", []string{"false", "false", "true", "false", "false"}},
		{"decimal is not null", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_IsNull{IsNull: &kapotv1.IsNullExpr{Expr: wiretest.Col("d"), Negated: true}}}, "bool", []string{"true", "true", "false", "true", "true"}},
		{"int32 in list", wiretest.InList(wiretest.Col("n"), false, wiretest.I64(7), wiretest.I64(-3)), "bool", []string{"true", "NULL", "false", "false", "true"}},
		{"int32 not in list", wiretest.InList(wiretest.Col("n"), true, wiretest.I64(0)), "bool", []string{"true", "NULL", "true", "false", "true"}},
		{"in list of columns", wiretest.InList(wiretest.Col("i"), false, castNode(wiretest.Col("n"), wiretest.I64Type(), false), wiretest.I64(3)), "bool", []string{"false", "NULL", "true", "false", "false"}},
		{"between", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Between{Between: &kapotv1.BetweenExpr{Expr: wiretest.Col("f"), Low: wiretest.Lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_FLOAT64}, Value: &kapotv1.ScalarValue_FloatValue{FloatValue: 1.5}}), High: wiretest.I64(2)}}},
			"bool", []string{"true", "false", "NULL", "false", "false"}},
		{"abs", wiretest.Fn("abs", wiretest.Col("i")), "int64", []string{"1", "NULL", "3", "4", "0"}},
		{"round decimal", wiretest.Fn("round", wiretest.Col("d"), wiretest.I64(1)), "decimal(15, 2)", []string{"12.30", "-0.10", "NULL", "100.00", "0.10"}},
		{"round float", wiretest.Fn("round", wiretest.Col("f")), "float64", []string{"2", "3", "NULL", "-1", "7"}},
		{"try_cast", castNode(wiretest.Col("s"), wiretest.I64Type(), true), "int64", []string{"NULL", "NULL", "NULL", "NULL", "NULL"}},
		{"try_cast ok", castNode(wiretest.Str("42"), wiretest.I64Type(), true), "int64", []string{"42", "42", "42", "42", "42"}},
		{"not", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Not{Not: &kapotv1.NotExpr{Expr: wiretest.Col("b")}}}, "bool", []string{"false", "true", "NULL", "false", "true"}},
		{"and kleene", op(wiretest.Col("b"), kapotv1.BinaryOp_BINARY_OP_AND, op(wiretest.Col("i"), GT, wiretest.I64(0))), "bool", []string{"true", "false", "NULL", "false", "false"}},
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
		{"unknown function", wiretest.Fn("frobnicate", wiretest.Col("i")), errs.ErrNotSupported, `function frobnicate does not exist`},
		{"upper of int", wiretest.Fn("upper", wiretest.Col("i")), errs.ErrInvalidPlan, "argument must be a string"},
		{"substring arity", wiretest.Fn("substring", wiretest.Col("s")), errs.ErrInvalidPlan, "takes 2 to 3 arguments"},
		{"like non-literal", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Like{Like: &kapotv1.LikeExpr{Expr: wiretest.Col("s"), Pattern: wiretest.Col("s")}}}, errs.ErrNotSupported, "string literal"},
		{"like of int", wiretest.Like(wiretest.Col("i"), "1%", false, false), errs.ErrInvalidPlan, "operand must be a string"},
		{"case non-bool when", caseNode(nil, nil, wiretest.Col("i"), wiretest.I64(1)), errs.ErrInvalidPlan, "not boolean"},
		{"case mixed types", caseNode(nil, wiretest.Str("x"), wiretest.Col("b"), wiretest.I64(1)), errs.ErrInvalidPlan, "one type"},
		{"date part field", wiretest.Fn("date_part", wiretest.Str("fortnight"), wiretest.Col("dt")), errs.ErrNotSupported, "unknown field"},
		{"and of ints", wiretest.Bin(wiretest.Col("i"), kapotv1.BinaryOp_BINARY_OP_AND, wiretest.Col("i")), errs.ErrInvalidPlan, "must be boolean"},
		{"add string", wiretest.Bin(wiretest.Col("s"), kapotv1.BinaryOp_BINARY_OP_ADD, wiretest.I64(1)), errs.ErrNotSupported, "s@1 + 1"},
		{"negate string", &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Negative{Negative: &kapotv1.NegativeExpr{Expr: wiretest.Col("s")}}}, errs.ErrInvalidPlan, "must be numeric"},
		{"empty in list", wiretest.InList(wiretest.Col("i"), false), errs.ErrInvalidPlan, "empty"},
		{"decimal literal too wide", wiretest.Dec("123456", 3, 0), errs.ErrInvalidPlan, "does not fit"},
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
		"int division by zero": wiretest.Bin(wiretest.I64(1), kapotv1.BinaryOp_BINARY_OP_DIV, wiretest.Col("n")),
		"mod by zero":          wiretest.Bin(wiretest.Col("i"), kapotv1.BinaryOp_BINARY_OP_MOD, wiretest.Col("n")),
		"decimal div by zero":  wiretest.Bin(wiretest.Col("d"), kapotv1.BinaryOp_BINARY_OP_DIV, wiretest.Bin(wiretest.Col("d"), kapotv1.BinaryOp_BINARY_OP_SUB, wiretest.Col("d"))),
		"bad cast":             castNode(wiretest.Col("s"), wiretest.I64Type(), false),
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
	hundred := wiretest.Lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}, Value: &kapotv1.ScalarValue_IntValue{IntValue: 100}})
	for _, e := range []*kapotv1.PhysicalExprNode{
		wiretest.Bin(wiretest.Fn("abs", wiretest.Col("i")), kapotv1.BinaryOp_BINARY_OP_MUL, hundred),
		wiretest.Bin(wiretest.Col("i"), kapotv1.BinaryOp_BINARY_OP_SUB, hundred),
	} {
		ex, err := FromProto(e, schema)
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
	falseLit := wiretest.Lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_BOOL}, Value: &kapotv1.ScalarValue_BoolValue{BoolValue: false}})
	for _, c := range []struct {
		e     *kapotv1.PhysicalExprNode
		batch arrow.RecordBatch
		want  string
	}{
		{wiretest.InList(wiretest.Col("m"), false, wiretest.Dec("0", 12, 2)), b, "[true false true false false]"},
		{wiretest.InList(wiretest.Col("m"), true, wiretest.Dec("0", 12, 2), wiretest.Dec("150", 12, 2)), b, "[false true false true false]"},
		{wiretest.InList(wiretest.Col("b"), false, falseLit), b, "[true false true false false]"},
		// is_in over booleans is wrong even unsliced.
		{wiretest.InList(wiretest.Col("b"), false, falseLit), whole, "[false true false true false false]"},
		{wiretest.InList(wiretest.Col("b"), true, falseLit), whole, "[true false true false true true]"},
	} {
		ex, err := FromProto(c.e, schema)
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
	ex, err := FromProto(&kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Not{Not: &kapotv1.NotExpr{Expr: wiretest.Col("b")}}}, schema)
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
