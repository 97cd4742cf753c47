package expr

import (
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestImpliedColumnTerms derives, from an OR of conjunctions, one
// predicate per column every disjunct tests alone, and nothing from an
// expression that is not an OR or whose disjuncts share no such column.
func TestImpliedColumnTerms(t *testing.T) {
	m := &columnExpr{index: 0, name: "m", typ: arrow.BinaryTypes.String}
	e := &columnExpr{index: 1, name: "e", typ: arrow.BinaryTypes.String}
	p := &columnExpr{index: 2, name: "p", typ: arrow.PrimitiveTypes.Int64}
	bin := func(l Expr, op kapotv1.BinaryOp, r Expr) Expr {
		x, err := newBinaryExpr(l, op, r)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	str := func(s string) Expr { return &literalExpr{value: scalar.NewStringScalar(s)} }
	num := func(v int64) Expr { return &literalExpr{value: scalar.NewInt64Scalar(v)} }
	eq, and, or := kapotv1.BinaryOp_BINARY_OP_EQ, kapotv1.BinaryOp_BINARY_OP_AND, kapotv1.BinaryOp_BINARY_OP_OR
	disjunct := func(ms, es string, lo int64) Expr {
		return bin(bin(bin(m, eq, str(ms)), and, bin(e, eq, str(es))), and, bin(p, kapotv1.BinaryOp_BINARY_OP_GT, num(lo)))
	}
	whole := bin(bin(disjunct("M", "Advanced", 1), or, disjunct("S", "College", 2)), or, bin(m, eq, str("W")))
	var got []string
	for _, x := range ImpliedColumnTerms(whole) {
		got = append(got, x.String())
	}
	want := []string{"m@0 = 'M' OR m@0 = 'S' OR m@0 = 'W'"}
	if !slices.Equal(got, want) {
		t.Errorf("implied %q, want %q", got, want)
	}
	got = got[:0]
	for _, x := range ImpliedColumnTerms(bin(disjunct("M", "Advanced", 1), or, disjunct("S", "College", 2))) {
		got = append(got, x.String())
	}
	want = []string{"m@0 = 'M' OR m@0 = 'S'", "e@1 = 'Advanced' OR e@1 = 'College'", "p@2 > 1 OR p@2 > 2"}
	if !slices.Equal(got, want) {
		t.Errorf("implied %q, want %q", got, want)
	}
	for _, x := range []Expr{disjunct("M", "A", 1), bin(bin(m, eq, str("M")), or, bin(e, eq, str("A"))), bin(bin(m, eq, e), or, bin(m, eq, str("A")))} {
		if imp := ImpliedColumnTerms(x); imp != nil {
			t.Errorf("%s implies %v, want nothing", x, imp)
		}
	}
}
