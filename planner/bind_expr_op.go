package planner

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Operators: comparisons, arithmetic, LIKE, IN, BETWEEN, IS DISTINCT FROM,
// string concatenation and the other A_Expr kinds.

var binOps = map[string]kapotv1.BinaryOp{
	"=": kapotv1.BinaryOp_BINARY_OP_EQ, "<>": kapotv1.BinaryOp_BINARY_OP_NEQ, "!=": kapotv1.BinaryOp_BINARY_OP_NEQ,
	"<": kapotv1.BinaryOp_BINARY_OP_LT, "<=": kapotv1.BinaryOp_BINARY_OP_LTE, ">": kapotv1.BinaryOp_BINARY_OP_GT,
	">=": kapotv1.BinaryOp_BINARY_OP_GTE, "+": kapotv1.BinaryOp_BINARY_OP_ADD, "-": kapotv1.BinaryOp_BINARY_OP_SUB,
	"*": kapotv1.BinaryOp_BINARY_OP_MUL, "/": kapotv1.BinaryOp_BINARY_OP_DIV, "%": kapotv1.BinaryOp_BINARY_OP_MOD,
}

func (b *binder) bindAExpr(x *pg.A_Expr, sc *scope, ag *aggBinder) (*expr, error) {
	bind := func(m *pg.Node) (*expr, error) { return b.bindExpr(m, sc, ag) }
	opName := ""
	if len(x.GetName()) > 0 {
		opName = x.GetName()[len(x.GetName())-1].GetString_().GetSval()
	}
	switch x.GetKind() {
	case pg.A_Expr_Kind_AEXPR_OP:
		return b.bindOperator(x, opName, sc, ag)
	case pg.A_Expr_Kind_AEXPR_IN:
		return b.bindInList(x, opName, bind)
	case pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE:
		return b.bindLike(x, opName, bind)
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		return b.bindBetween(x, bind)
	case pg.A_Expr_Kind_AEXPR_DISTINCT, pg.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		return b.bindDistinct(x, sc, ag)
	case pg.A_Expr_Kind_AEXPR_NULLIF:
		return b.bindNullIf(x, sc, ag)
	}
	return nil, notSupported(x.GetLocation(), "this operator")
}

// bindOperator binds a unary or binary operator (opName): arithmetic,
// comparisons, ||, ^.
func (b *binder) bindOperator(x *pg.A_Expr, opName string, sc *scope, ag *aggBinder) (*expr, error) {
	bind := func(m *pg.Node) (*expr, error) { return b.bindExpr(m, sc, ag) }
	if x.GetLexpr() == nil { // unary
		r, err := bind(x.GetRexpr())
		if err != nil {
			return nil, err
		}
		if opName == "-" {
			return &expr{kind: eNeg, args: []*expr{r}}, nil
		}
		if opName == "+" {
			return r, nil
		}
		return nil, notSupported(x.GetLocation(), "unary operator "+opName)
	}
	if opName == "||" {
		return b.bindConcat(x, sc, ag)
	}
	if opName == "^" {
		// Exponentiation: power(x, y), a DOUBLE.
		l, err := bind(x.GetLexpr())
		if err != nil {
			return nil, err
		}
		r, err := bind(x.GetRexpr())
		if err != nil {
			return nil, err
		}
		return &expr{kind: eFunc, fn: "power", args: []*expr{l, r}}, nil
	}
	if opName == "->" || opName == "->>" {
		// DuckDB's JSON operators: json_extract and json_extract_string.
		l, r, err := b.bindOperands(x, sc, ag)
		if err != nil {
			return nil, err
		}
		fn := map[string]string{"->": "json_extract", "->>": "json_extract_string"}[opName]
		return b.nestedCall(fn, x.GetLocation(), l, r)
	}
	op, ok := binOps[opName]
	if !ok {
		return nil, notSupported(x.GetLocation(), "operator "+opName)
	}
	l, err := bind(x.GetLexpr())
	if err != nil {
		return nil, err
	}
	r, err := bind(x.GetRexpr())
	if err != nil {
		return nil, err
	}
	what := "arithmetic"
	if comparison(op) {
		what = "comparison"
	}
	// Two nested values compare as DuckDB compares them (the engine's
	// nestedCompare); any other operator of a nested value is refused.
	nestedOrNull := func(e *expr) bool { return nestedKind(e.typ) != "" || e.typ != nil && e.typ.ID() == arrow.NULL }
	if !comparison(op) || !nestedOrNull(l) || !nestedOrNull(r) {
		if err := refuseNestedOperands(x.GetLocation(), what, l, r); err != nil {
			return nil, err
		}
	}
	if comparison(op) {
		l, r = b.coercePair(l, r)
	} else {
		l, r = coerceDates(l, r)
	}
	if args := b.typeNulls([]*expr{l, r}); args != nil {
		l, r = args[0], args[1]
	}
	e := &expr{kind: eBinary, op: op, args: []*expr{l, r}}
	if err := b.resolve(e); err != nil {
		return nil, errAt(x.GetLocation(), err, "operator %s cannot be applied to %s and %s", opName, catalog.TypeName(l.typ), catalog.TypeName(r.typ))
	}
	return e, nil
}

// bindInList binds x IN (list) and x NOT IN (list) (opName "<>"): a long
// list of constants as a set, numbers at their common type.
func (b *binder) bindInList(x *pg.A_Expr, opName string, bind func(*pg.Node) (*expr, error)) (*expr, error) {
	l, err := bind(x.GetLexpr())
	if err != nil {
		return nil, err
	}
	items := x.GetRexpr().GetList().GetItems()
	if list := b.longListOf(items); list != nil {
		if e := inSet(l, list, opName == "<>"); e != nil {
			return e, nil
		}
		items = list.nodes()
	}
	e := &expr{kind: eInList, args: []*expr{l}, negated: opName == "<>"}
	for _, it := range items {
		v, err := bind(it)
		if err != nil {
			return nil, err
		}
		_, v = b.coercePair(l, v)
		e.args = append(e.args, v)
	}
	if args := b.typeNulls(e.args); args != nil {
		e.args = args
	}
	// Numbers of different types meet at their common type (the
	// engine would otherwise cast each value to the tested type,
	// and 1.5 does not fit an integer or decimal(2, 2)).
	if t := commonType(e.args); t != nil && numeric(t) {
		for i, a := range e.args {
			if a.typ != nil && numeric(a.typ) && !arrow.TypeEqual(a.typ, t) {
				c := b.coerce(a, t)
				if a.kind == eLit {
					// A constant is cast once, here (IN lists of
					// constants test membership in a set).
					c.typ = nil
					if err := b.resolve(c); err != nil {
						return nil, errAt(x.GetLocation(), err, "IN list: %v", err)
					}
				}
				e.args[i] = c
			}
		}
	}
	return e, nil
}

// bindLike binds [NOT] LIKE and ILIKE, with an ESCAPE character.
func (b *binder) bindLike(x *pg.A_Expr, opName string, bind func(*pg.Node) (*expr, error)) (*expr, error) {
	l, err := bind(x.GetLexpr())
	if err != nil {
		return nil, err
	}
	// x LIKE p ESCAPE e arrives as x LIKE like_escape(p, e).
	pat, escape := x.GetRexpr(), ""
	if fc := pat.GetFuncCall(); fc != nil && funcName(fc) == "like_escape" && len(fc.GetArgs()) == 2 {
		c := fc.GetArgs()[1].GetAConst()
		if c == nil || c.GetSval() == nil || len([]rune(c.GetSval().GetSval())) != 1 {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "ESCAPE must be a one-character string constant")
		}
		pat, escape = fc.GetArgs()[0], c.GetSval().GetSval()
	}
	r, err := bind(pat)
	if err != nil {
		return nil, err
	}
	return &expr{kind: eLike, args: []*expr{l, r}, negated: strings.HasPrefix(opName, "!"), fold: x.GetKind() == pg.A_Expr_Kind_AEXPR_ILIKE, escape: escape}, nil
}

// bindBetween binds [NOT] BETWEEN, its bounds at the tested value's type.
func (b *binder) bindBetween(x *pg.A_Expr, bind func(*pg.Node) (*expr, error)) (*expr, error) {
	v, err := bind(x.GetLexpr())
	if err != nil {
		return nil, err
	}
	items := x.GetRexpr().GetList().GetItems()
	lo, err := bind(items[0])
	if err != nil {
		return nil, err
	}
	hi, err := bind(items[1])
	if err != nil {
		return nil, err
	}
	_, lo = b.coercePair(v, lo)
	_, hi = b.coercePair(v, hi)
	if all := []*expr{v, lo, hi}; temporal(v.typ) && temporal(lo.typ) && temporal(hi.typ) {
		// A date between timestamps (or the other way round): all
		// three at their common type.
		t := commonType(all)
		v, lo, hi = coerceTo(v, t), coerceTo(lo, t), coerceTo(hi, t)
	}
	if args := b.typeNulls([]*expr{v, lo, hi}); args != nil {
		v, lo, hi = args[0], args[1], args[2]
	}
	return &expr{kind: eBetween, args: []*expr{v, lo, hi}, negated: x.GetKind() == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN}, nil
}

// bindDistinct binds a IS [NOT] DISTINCT FROM b: = with NULL equal to NULL
// and unequal to any value; never NULL.
func (b *binder) bindDistinct(x *pg.A_Expr, sc *scope, ag *aggBinder) (*expr, error) {
	l, r, err := b.bindOperands(x, sc, ag)
	if err != nil {
		return nil, err
	}
	isNullType := func(e *expr) bool { return e.typ != nil && e.typ.ID() == arrow.NULL }
	switch {
	case isNullType(l) && isNullType(r):
		return boolLit(x.GetKind() == pg.A_Expr_Kind_AEXPR_NOT_DISTINCT), nil
	case (isNullType(l) || isNullType(r)) && (nestedKind(l.typ) != "" || nestedKind(r.typ) != ""):
		// x IS [NOT] DISTINCT FROM NULL is x IS [NOT] NULL (no NULL of a
		// nested type to compare with).
		v := l
		if isNullType(l) {
			v = r
		}
		return &expr{kind: eIsNull, args: []*expr{v}, negated: x.GetKind() != pg.A_Expr_Kind_AEXPR_NOT_DISTINCT}, nil
	case isNullType(l):
		l = b.coerce(l, r.typ)
	case isNullType(r):
		r = b.coerce(r, l.typ)
	}
	// Two nested values: their = is the engine's nestedCompare.
	if nestedKind(l.typ) == "" || nestedKind(r.typ) == "" {
		if err := refuseNestedOperands(x.GetLocation(), "comparison", l, r); err != nil {
			return nil, err
		}
	}
	l, r = b.coercePair(l, r)
	bothDecimal := l.typ != nil && r.typ != nil && l.typ.ID() == arrow.DECIMAL128 && r.typ.ID() == arrow.DECIMAL128
	if !bothDecimal && l.typ != nil && r.typ != nil && numeric(l.typ) && numeric(r.typ) && !arrow.TypeEqual(l.typ, r.typ) {
		// (Two decimals compare exactly as they are, whatever their
		// scales.)
		t := commonType([]*expr{l, r})
		l, r = b.coerce(l, t), b.coerce(r, t)
	}
	eq := &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{l, r}}
	if err := b.resolve(eq); err != nil {
		return nil, errAt(x.GetLocation(), err, "IS DISTINCT FROM cannot compare %s and %s", catalog.TypeName(l.typ), catalog.TypeName(r.typ))
	}
	boolT := arrow.FixedWidthTypes.Boolean
	isNull := func(e *expr) *expr { return &expr{kind: eIsNull, args: []*expr{e}, typ: boolT} }
	same := &expr{kind: eCase, hasElse: true, typ: boolT, args: []*expr{isNull(l), isNull(r), isNull(r), boolLit(false), eq}}
	if x.GetKind() == pg.A_Expr_Kind_AEXPR_DISTINCT {
		return &expr{kind: eNot, args: []*expr{same}, typ: boolT}, nil
	}
	return same, nil
}

// bindNullIf binds NULLIF(a, b): NULL where a = b, else a (in a's type,
// numbers compared at their common type).
func (b *binder) bindNullIf(x *pg.A_Expr, sc *scope, ag *aggBinder) (*expr, error) {
	l, r, err := b.bindOperands(x, sc, ag)
	if err != nil {
		return nil, err
	}
	if nestedKind(l.typ) == "" || nestedKind(r.typ) == "" {
		if err := refuseNestedOperands(x.GetLocation(), "NULLIF (a comparison)", l, r); err != nil {
			return nil, err
		}
	}
	l, r = b.coercePair(l, r)
	if l.typ != nil && r.typ != nil && !arrow.TypeEqual(l.typ, r.typ) {
		if r.typ.ID() == arrow.NULL {
			r = b.coerce(r, l.typ)
		} else if numeric(l.typ) && numeric(r.typ) {
			t := commonType([]*expr{l, r})
			l, r = b.coerce(l, t), b.coerce(r, t)
		}
	}
	return &expr{kind: eFunc, fn: "nullif", args: []*expr{l, r}}, nil
}

// comparison reports whether op compares its operands.
func comparison(op kapotv1.BinaryOp) bool {
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_EQ, kapotv1.BinaryOp_BINARY_OP_NEQ, kapotv1.BinaryOp_BINARY_OP_LT,
		kapotv1.BinaryOp_BINARY_OP_LTE, kapotv1.BinaryOp_BINARY_OP_GT, kapotv1.BinaryOp_BINARY_OP_GTE:
		return true
	}
	return false
}

// bindConcat binds a || b: text concatenation, NULL when either side is;
// a side of another type is cast to text first (PostgreSQL's anynonarray
// || text).
func (b *binder) bindConcat(x *pg.A_Expr, sc *scope, ag *aggBinder) (*expr, error) {
	var args []*expr
	for _, n := range []*pg.Node{x.GetLexpr(), x.GetRexpr()} {
		e, err := b.bindExpr(n, sc, ag)
		if err != nil {
			return nil, err
		}
		if err := b.resolve(e); err != nil {
			return nil, err
		}
		if e.typ != nil && e.typ.ID() != arrow.STRING && e.typ.ID() != arrow.LARGE_STRING && e.typ.ID() != arrow.NULL {
			e = b.coerce(e, arrow.BinaryTypes.String)
		}
		args = append(args, e)
	}
	return &expr{kind: eFunc, fn: "textcat", args: args}, nil
}

// bindOperands binds and types the two sides of a binary A_Expr.
func (b *binder) bindOperands(x *pg.A_Expr, sc *scope, ag *aggBinder) (*expr, *expr, error) {
	var out [2]*expr
	for i, n := range []*pg.Node{x.GetLexpr(), x.GetRexpr()} {
		e, err := b.bindExpr(n, sc, ag)
		if err != nil {
			return nil, nil, err
		}
		if err := b.resolve(e); err != nil {
			return nil, nil, err
		}
		out[i] = e
	}
	return out[0], out[1], nil
}

// isArrow reports whether n is j -> p or j ->> p.
func isArrow(n *pg.Node) bool {
	x := n.GetAExpr()
	if x == nil || x.GetKind() != pg.A_Expr_Kind_AEXPR_OP || len(x.GetName()) == 0 {
		return false
	}
	op := x.GetName()[len(x.GetName())-1].GetString_().GetSval()
	return op == "->" || op == "->>"
}

// isOperator reports whether n is an operator, predicate or boolean
// expression (something whose precedence decides how it parses).
func isOperator(n *pg.Node) bool {
	return n.GetAExpr() != nil || n.GetBoolExpr() != nil || n.GetNullTest() != nil || n.GetBooleanTest() != nil
}

// refuseArrowOperand refuses -> and ->> beside other operators: DuckDB's
// parser gives them other precedences than PostgreSQL's, whose tree kapot
// reads ('1' = j ->> 'a' is ('1' = j) ->> 'a' in DuckDB, NOT j ->> 'a' is
// (NOT j) ->> 'a'), and the tree does not keep parentheses. A chain j -> 'a'
// -> 'b' parses alike in both; json_extract and json_extract_string take
// any operands.
func refuseArrowOperand(n *pg.Node) error {
	var operands []*pg.Node
	switch {
	case isArrow(n):
		x := n.GetAExpr()
		if l := x.GetLexpr(); l != nil && isOperator(l) && !isArrow(l) || x.GetRexpr() != nil && isOperator(x.GetRexpr()) {
			return notSupported(x.GetLocation(), "-> or ->> over an operator (DuckDB parses it otherwise; use json_extract or json_extract_string)")
		}
		return nil
	case n.GetAExpr() != nil:
		x := n.GetAExpr()
		operands = []*pg.Node{x.GetLexpr(), x.GetRexpr()}
		if l := x.GetRexpr().GetList(); l != nil {
			operands = append(operands, l.GetItems()...)
		}
	case n.GetBoolExpr() != nil:
		operands = n.GetBoolExpr().GetArgs()
	case n.GetNullTest() != nil:
		operands = []*pg.Node{n.GetNullTest().GetArg()}
	case n.GetBooleanTest() != nil:
		operands = []*pg.Node{n.GetBooleanTest().GetArg()}
	}
	for _, o := range operands {
		if o != nil && isArrow(o) {
			return notSupported(location(o), "-> or ->> as an operand of another operator (DuckDB parses it otherwise; use json_extract or json_extract_string)")
		}
	}
	return nil
}
