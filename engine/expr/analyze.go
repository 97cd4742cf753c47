package expr

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// CannotFail reports whether evaluating e raises no error on any row: it
// only compares, tests membership or patterns, and combines booleans.
func CannotFail(e Expr) bool {
	args := func(es []Expr) bool {
		for _, a := range es {
			if !CannotFail(a) {
				return false
			}
		}
		return true
	}
	switch x := e.(type) {
	case *columnExpr, *literalExpr:
		return true
	case *castExpr:
		_, lit := x.in.(*literalExpr)
		return lit
	case *inListExpr:
		return CannotFail(x.in)
	case *funcExpr:
		switch x.name {
		case "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
			"and_kleene", "or_kleene", "and", "or", "not", "is_null", "is_valid":
			return args(x.args)
		}
	case *kernelExpr:
		if x.typ.ID() != arrow.BOOL {
			return false
		}
		switch x.display {
		case "=", "<>", "!=", "<", "<=", ">", ">=", "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE":
			return args(x.args)
		}
	}
	return false
}

// AndTerms splits e at its top-level ANDs.
func AndTerms(e Expr) []Expr {
	if f, ok := e.(*funcExpr); ok && (f.name == "and_kleene" || f.name == "and") && len(f.args) == 2 {
		return append(AndTerms(f.args[0]), AndTerms(f.args[1])...)
	}
	return []Expr{e}
}

// NewColumn is the expression that reads column index (named name, of
// type t) of its batch.
func NewColumn(index int, name string, t arrow.DataType) Expr {
	return &columnExpr{index: index, name: name, typ: t}
}

// ColumnName is the name of the column e reads, when e is a column.
func ColumnName(e Expr) (string, bool) {
	if c, ok := e.(*columnExpr); ok {
		return c.name, true
	}
	return "", false
}

// ColumnIndex returns the input column e is, when e is a plain column.
func ColumnIndex(e Expr) (int, bool) {
	if c, ok := e.(*columnExpr); ok {
		return c.index, true
	}
	return 0, false
}

// OnlyColumn returns the one column e reads, when e reads exactly one
// through comparisons, membership tests and function calls (and no column
// more).
func OnlyColumn(e Expr) (int, bool) {
	col := -1
	var walk func(e Expr) bool
	walk = func(e Expr) bool {
		var args []Expr
		switch x := e.(type) {
		case *columnExpr:
			if col >= 0 && col != x.index {
				return false
			}
			col = x.index
		case *inListExpr:
			args = []Expr{x.in}
		case *funcExpr:
			args = x.args
		case *kernelExpr:
			args = x.args
		}
		for _, a := range args {
			if !walk(a) {
				return false
			}
		}
		return true
	}
	if !walk(e) || col < 0 {
		return 0, false
	}
	return col, true
}
