package expr

import (
	"slices"

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

// orTerms splits e at its top-level ORs.
func orTerms(e Expr) []Expr {
	if f, ok := e.(*funcExpr); ok && (f.name == "or_kleene" || f.name == "or") && len(f.args) == 2 {
		return append(orTerms(f.args[0]), orTerms(f.args[1])...)
	}
	return []Expr{e}
}

// ImpliedColumnTerms derives, from an OR of conjunctions, a predicate on
// one column for each column every disjunct tests on its own: the OR over
// the disjuncts of the AND of their conjuncts that read only that column
// and cannot fail. e implies each (a row for which e is true passes it),
// so a scan may drop the rows failing one before e is evaluated: TPC-DS
// q85's (cd_marital_status = 'M' AND cd_education_status = 'Advanced
// Degree') OR (… = 'S' AND … = 'College') OR … gives cd_marital_status
// = 'M' OR … = 'S' OR … and the like on cd_education_status, tested once
// per dictionary value. Columns come in increasing order; nil when e is
// not an OR or no column qualifies.
func ImpliedColumnTerms(e Expr) []Expr {
	ors := orTerms(e)
	if len(ors) < 2 {
		return nil
	}
	per := make([]map[int][]Expr, len(ors))
	for i, d := range ors {
		per[i] = map[int][]Expr{}
		for _, t := range AndTerms(d) {
			if !CannotFail(t) {
				continue
			}
			if c, ok := OnlyColumn(t); ok {
				per[i][c] = append(per[i][c], t)
			}
		}
	}
	var cols []int
	for c := range per[0] {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	var out []Expr
next:
	for _, c := range cols {
		var implied Expr
		for _, terms := range per {
			if len(terms[c]) == 0 {
				continue next
			}
			conj := terms[c][0]
			for _, t := range terms[c][1:] {
				conj = &funcExpr{name: "and_kleene", display: "AND", args: []Expr{conj, t}, typ: arrow.FixedWidthTypes.Boolean}
			}
			if implied == nil {
				implied = conj
			} else {
				implied = &funcExpr{name: "or_kleene", display: "OR", args: []Expr{implied, conj}, typ: arrow.FixedWidthTypes.Boolean}
			}
		}
		out = append(out, implied)
	}
	return out
}
