package planner

import (
	"fmt"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kapot-go/kapot/errs"
)

// Row values: (a, b) = (1, 2), (a, b) < (c, d), (a, b) IN ((1, 2), (3, 4)),
// (a, b) IS [NOT] DISTINCT FROM (c, d) and ROW(a, b) IS [NOT] NULL are
// rewritten in the parse tree, before binding, into the comparisons of
// their fields that PostgreSQL defines them by, so that three-valued logic
// is PostgreSQL's and a row equality in WHERE is a conjunction the joins
// use as keys:
//
//	(a, b) = (c, d)    a = c AND b = d
//	(a, b) <> (c, d)   a <> c OR b <> d
//	(a, b) < (c, d)    a < c OR (a = c AND b < d)   (<=, >, >= alike)
//	r IN (r1, r2)      r = r1 OR r = r2; NOT IN: NOT (r = r1 OR r = r2)
//
// (a, b) [NOT] IN (SELECT x, y …) is a subquery predicate (bind_rows_in.go).

// rewriteRows rewrites the row-value forms of s and of every query nested
// in it, once per statement (b.rowsDone remembers the queries done).
func (b *binder) rewriteRows(s *pg.SelectStmt) error {
	if b.rowsDone[s] {
		return nil
	}
	if b.rowsDone == nil {
		b.rowsDone = map[*pg.SelectStmt]bool{}
	}
	return walkNodes(s.ProtoReflect(), func(m protoreflect.Message) error {
		switch x := m.Interface().(type) {
		case *pg.SelectStmt:
			b.rowsDone[x] = true
		case *pg.Node:
			return expandRows(x)
		}
		return nil
	})
}

// walkNodes calls visit on m's messages, children before their parent.
func walkNodes(m protoreflect.Message, visit func(protoreflect.Message) error) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() != protoreflect.MessageKind || fd.IsMap():
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = walkNodes(l.Get(i).Message(), visit)
			}
		default:
			err = walkNodes(v.Message(), visit)
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	return visit(m)
}

// rowFields are the fields of a row constructor; nil for another node.
func rowFields(n *pg.Node) []*pg.Node {
	if r := n.GetRowExpr(); r != nil {
		return r.GetArgs()
	}
	return nil
}

// expandRows rewrites n in place when it is a row-value form.
func expandRows(n *pg.Node) error {
	var out *pg.Node
	var err error
	switch {
	case n.GetAExpr() != nil:
		out, err = expandRowAExpr(n.GetAExpr())
	case n.GetNullTest() != nil && n.GetNullTest().GetArg().GetRowExpr() != nil:
		out, err = expandRowNullTest(n.GetNullTest())
	}
	if err != nil || out == nil {
		return err
	}
	n.Node = out.Node
	return nil
}

// expandRowAExpr is the expansion of a comparison, IN list or IS DISTINCT
// FROM between rows; nil for other operators.
func expandRowAExpr(x *pg.A_Expr) (*pg.Node, error) {
	l, pos := x.GetLexpr(), x.GetLocation()
	if rowFields(l) == nil && rowFields(x.GetRexpr()) == nil {
		return nil, nil
	}
	op := ""
	if names := x.GetName(); len(names) > 0 {
		op = names[len(names)-1].GetString_().GetSval()
	}
	r := x.GetRexpr()
	if l.GetSubLink() != nil || r.GetSubLink() != nil {
		var err error
		if l, r, err = rowSubqueryFields(l, r, pos); err != nil {
			return nil, err
		}
	}
	switch x.GetKind() {
	case pg.A_Expr_Kind_AEXPR_OP:
		if rowFields(l) == nil || rowFields(r) == nil {
			return nil, notSupported(pos, "a row value compared with a value that is not a row constructor")
		}
		return rowCompare(op, l, r, pos)
	case pg.A_Expr_Kind_AEXPR_DISTINCT, pg.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		if rowFields(l) == nil || rowFields(r) == nil {
			return nil, notSupported(pos, "a row value compared with a value that is not a row constructor")
		}
		return rowDistinct(x.GetKind(), l, r, pos)
	case pg.A_Expr_Kind_AEXPR_IN:
		items := x.GetRexpr().GetList().GetItems()
		if rowFields(l) == nil || len(items) == 0 {
			return nil, nil // a row inside a plain IN list: refused where bound
		}
		var terms []*pg.Node
		for _, it := range items {
			if rowFields(it) == nil {
				return nil, notSupported(location(it), "a row value IN a list of items that are not row constructors")
			}
			t, err := rowCompare("=", l, it, pos)
			if err != nil {
				return nil, err
			}
			terms = append(terms, t)
		}
		in := boolNode(pg.BoolExprType_OR_EXPR, terms, pos)
		if op == "<>" {
			// NOT (r = r1 OR …), the same as r <> r1 AND … in three-valued
			// logic, and one condition of WHERE, not one per item.
			return pg.MakeBoolExprNode(pg.BoolExprType_NOT_EXPR, []*pg.Node{in}, pos), nil
		}
		return in, nil
	}
	return nil, notSupported(pos, "this operator over row values")
}

// rowCompare expands l op r, both row constructors of as many fields.
func rowCompare(op string, l, r *pg.Node, pos int32) (*pg.Node, error) {
	lf, rf := rowFields(l), rowFields(r)
	if len(lf) != len(rf) {
		return nil, errAt(pos, errs.ErrSyntax, "unequal number of entries in row expressions")
	}
	// A field that is a row compares as a record in PostgreSQL (NULL
	// fields as values), not as a row constructor: refused.
	field := func(op string, i int) (*pg.Node, error) {
		if rowFields(lf[i]) != nil || rowFields(rf[i]) != nil {
			return nil, notSupported(pos, "a row value with a field that is a row")
		}
		return opNode(op, lf[i], rf[i], pos), nil
	}
	var terms []*pg.Node
	switch op {
	case "=", "<>", "!=":
		join := pg.BoolExprType_AND_EXPR
		if op != "=" {
			join = pg.BoolExprType_OR_EXPR
		}
		for i := range lf {
			t, err := field(op, i)
			if err != nil {
				return nil, err
			}
			terms = append(terms, t)
		}
		return boolNode(join, terms, pos), nil
	case "<", "<=", ">", ">=":
		// The first pair of fields not equal decides; the last pair
		// decides with op itself.
		e, err := field(op, len(lf)-1)
		if err != nil {
			return nil, err
		}
		for i := len(lf) - 2; i >= 0; i-- {
			strict, err := field(op[:1], i)
			if err != nil {
				return nil, err
			}
			eq, err := field("=", i)
			if err != nil {
				return nil, err
			}
			e = boolNode(pg.BoolExprType_OR_EXPR, []*pg.Node{strict, boolNode(pg.BoolExprType_AND_EXPR, []*pg.Node{eq, e}, pos)}, pos)
		}
		return e, nil
	}
	return nil, notSupported(pos, fmt.Sprintf("operator %s over row values", op))
}

// rowDistinct expands l IS [NOT] DISTINCT FROM r over the rows' fields:
// distinct when any pair is, not distinct when no pair is.
func rowDistinct(kind pg.A_Expr_Kind, l, r *pg.Node, pos int32) (*pg.Node, error) {
	lf, rf := rowFields(l), rowFields(r)
	if len(lf) != len(rf) {
		return nil, errAt(pos, errs.ErrSyntax, "unequal number of entries in row expressions")
	}
	join := pg.BoolExprType_OR_EXPR
	if kind == pg.A_Expr_Kind_AEXPR_NOT_DISTINCT {
		join = pg.BoolExprType_AND_EXPR
	}
	var terms []*pg.Node
	for i := range lf {
		if rowFields(lf[i]) != nil || rowFields(rf[i]) != nil {
			return nil, notSupported(pos, "a row value with a field that is a row")
		}
		terms = append(terms, pg.MakeAExprNode(kind, []*pg.Node{pg.MakeStrNode("=")}, lf[i], rf[i], pos))
	}
	return boolNode(join, terms, pos), nil
}

// expandRowNullTest expands ROW(a, b) IS [NOT] NULL: every field NULL (IS
// NULL), every field not NULL (IS NOT NULL), as in PostgreSQL.
func expandRowNullTest(nt *pg.NullTest) (*pg.Node, error) {
	var terms []*pg.Node
	for _, f := range rowFields(nt.GetArg()) {
		if rowFields(f) != nil {
			return nil, notSupported(nt.GetLocation(), "IS NULL over a row with a row field")
		}
		terms = append(terms, &pg.Node{Node: &pg.Node_NullTest{NullTest: &pg.NullTest{Arg: f, Nulltesttype: nt.GetNulltesttype(), Location: nt.GetLocation()}}})
	}
	if len(terms) == 0 {
		return nil, notSupported(nt.GetLocation(), "IS NULL over an empty row")
	}
	return boolNode(pg.BoolExprType_AND_EXPR, terms, nt.GetLocation()), nil
}

func opNode(op string, l, r *pg.Node, pos int32) *pg.Node {
	return pg.MakeAExprNode(pg.A_Expr_Kind_AEXPR_OP, []*pg.Node{pg.MakeStrNode(op)}, l, r, pos)
}

// boolNode joins terms by AND or OR (one term is itself).
func boolNode(op pg.BoolExprType, terms []*pg.Node, pos int32) *pg.Node {
	if len(terms) == 1 {
		return terms[0]
	}
	return pg.MakeBoolExprNode(op, terms, pos)
}
