package wiretest

import kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"

// I64Type is the wire type int64.
func I64Type() *kapotv1.DataType { return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64} }

// StrType is the wire type utf8.
func StrType() *kapotv1.DataType { return &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8} }

// Col is a reference to the column named name.
func Col(name string) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Name: name}}}
}

// Lit is the literal v.
func Lit(v *kapotv1.ScalarValue) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Literal{Literal: v}}
}

// I64 is the int64 literal v.
func I64(v int64) *kapotv1.PhysicalExprNode {
	return Lit(&kapotv1.ScalarValue{Type: I64Type(), Value: &kapotv1.ScalarValue_IntValue{IntValue: v}})
}

// Str is the string literal s.
func Str(s string) *kapotv1.PhysicalExprNode {
	return Lit(&kapotv1.ScalarValue{Type: StrType(), Value: &kapotv1.ScalarValue_StringValue{StringValue: s}})
}

// Dec is the decimal(p, s) literal of the unscaled value unscaled.
func Dec(unscaled string, p, s int32) *kapotv1.PhysicalExprNode {
	return Lit(&kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_DECIMAL128, Precision: p, Scale: s},
		Value: &kapotv1.ScalarValue_DecimalUnscaled{DecimalUnscaled: unscaled}})
}

// Bin is l op r.
func Bin(l *kapotv1.PhysicalExprNode, op kapotv1.BinaryOp, r *kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Binary{Binary: &kapotv1.BinaryExpr{Left: l, Op: op, Right: r}}}
}

// Fn is a call of the scalar function name.
func Fn(name string, args ...*kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Function{Function: &kapotv1.ScalarFunctionExpr{Name: name, Args: args}}}
}

// InList is e [NOT] IN (list...).
func InList(e *kapotv1.PhysicalExprNode, negated bool, list ...*kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_InList{InList: &kapotv1.InListExpr{Expr: e, List: list, Negated: negated}}}
}

// InSet is e [NOT] IN a set sent as values (ints or strs).
func InSet(e *kapotv1.PhysicalExprNode, negated bool, ints []int64, strs []string) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_InList{InList: &kapotv1.InListExpr{Expr: e, Negated: negated, IntSet: ints, StringSet: strs}}}
}

// Like is e [NOT] [I]LIKE pattern.
func Like(e *kapotv1.PhysicalExprNode, pattern string, negated, fold bool) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Like{Like: &kapotv1.LikeExpr{Expr: e, Pattern: Str(pattern), Negated: negated, CaseInsensitive: fold}}}
}

// ColAt is a reference to the column at index.
func ColAt(index uint32) *kapotv1.PhysicalExprNode {
	return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: index}}}
}
