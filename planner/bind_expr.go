package planner

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Expressions: a parse node bound to an expression, casts, GREATEST and
// LEAST, boolean tests (operators in bind_expr_op.go, aggregate calls in
// bind_expr_agg.go, types in bind_expr_coerce.go).

// bindExpr binds n over sc. With ag set, the expression is above an
// aggregate: aggregate calls and group keys become its output columns.
func (b *binder) bindExpr(n *pg.Node, sc *scope, ag *aggBinder) (*expr, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if ag != nil {
		if fc := n.GetFuncCall(); fc != nil && fc.GetOver() == nil {
			if fn, ok := aggFuncs[funcName(fc)]; ok {
				// No unnest inside an aggregate's arguments (DuckDB has
				// none either).
				savedUnnest := b.unnest
				b.unnest = nil
				defer func() { b.unnest = savedUnnest }()
				return b.bindAgg(fc, fn, ag)
			}
		}
		// A whole expression that is a group key reads the key.
		if !containsAgg(n) && !containsWindow(n) && !containsSubLink(n) && !containsUnnest(n) {
			e, err := b.bindExpr(n, sc, nil)
			if err != nil {
				return nil, err
			}
			if len(e.refs(nil)) == 0 {
				return e, nil
			}
			w, err := ag.wrapCol(e, location(n))
			if err != nil || w != nil {
				return w, err
			}
			// Not a key as a whole: bind its parts against the aggregate.
		}
	}
	e, err := b.bindNode(n, sc, ag)
	if err != nil {
		return nil, err
	}
	if e.typ == nil {
		if err := b.resolve(e); err != nil {
			return nil, errAt(location(n), err, "%v", err)
		}
	}
	return e, nil
}

func location(n *pg.Node) int32 {
	switch {
	case n.GetColumnRef() != nil:
		return n.GetColumnRef().GetLocation()
	case n.GetAExpr() != nil:
		return n.GetAExpr().GetLocation()
	case n.GetFuncCall() != nil:
		return n.GetFuncCall().GetLocation()
	case n.GetAConst() != nil:
		return n.GetAConst().GetLocation()
	case n.GetTypeCast() != nil:
		return n.GetTypeCast().GetLocation()
	case n.GetBoolExpr() != nil:
		return n.GetBoolExpr().GetLocation()
	case n.GetCaseExpr() != nil:
		return n.GetCaseExpr().GetLocation()
	case n.GetSubLink() != nil:
		return n.GetSubLink().GetLocation()
	case n.GetAArrayExpr() != nil:
		return n.GetAArrayExpr().GetLocation()
	}
	return -1
}

// bindNode binds one parse node (bindExpr's work once aggregates and group
// keys are handled).
func (b *binder) bindNode(n *pg.Node, sc *scope, ag *aggBinder) (*expr, error) {
	bind := func(m *pg.Node) (*expr, error) { return b.bindExpr(m, sc, ag) }
	if err := checkFields(nodeMessage(n), location(n)); err != nil {
		return nil, err
	}
	if err := refuseArrowOperand(n); err != nil {
		return nil, err
	}
	switch {
	case n.GetColumnRef() != nil:
		return b.bindColumnRef(n.GetColumnRef(), sc, ag)
	case n.GetAConst() != nil:
		return constant(n.GetAConst())
	case n.GetTypeCast() != nil:
		return b.bindCast(n.GetTypeCast(), sc, ag)
	case n.GetBoolExpr() != nil:
		return b.bindBoolExpr(n.GetBoolExpr(), bind)
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		a, err := bind(nt.GetArg())
		if err != nil {
			return nil, err
		}
		return &expr{kind: eIsNull, args: []*expr{a}, negated: nt.GetNulltesttype() == pg.NullTestType_IS_NOT_NULL}, nil
	case n.GetAExpr() != nil:
		return b.bindAExpr(n.GetAExpr(), sc, ag)
	case n.GetCaseExpr() != nil:
		return b.bindCase(n.GetCaseExpr(), bind)
	case n.GetFuncCall() != nil && n.GetFuncCall().GetOver() != nil:
		savedUnnest := b.unnest
		b.unnest = nil // no unnest inside a window call
		defer func() { b.unnest = savedUnnest }()
		return b.bindWindow(n.GetFuncCall(), sc, ag)
	case n.GetFuncCall() != nil:
		return b.bindFuncCall(n.GetFuncCall(), bind)
	case n.GetCoalesceExpr() != nil:
		return b.bindCoalesce(n.GetCoalesceExpr(), bind)
	case n.GetMinMaxExpr() != nil:
		return b.bindGreatest(n.GetMinMaxExpr(), sc, ag)
	case n.GetBooleanTest() != nil:
		return b.bindBooleanTest(n.GetBooleanTest(), sc, ag)
	case n.GetGroupingFunc() != nil:
		return b.bindGrouping(n.GetGroupingFunc(), ag)
	case n.GetSqlvalueFunction() != nil:
		return b.bindClockValue(n.GetSqlvalueFunction())
	case n.GetAIndirection() != nil:
		return b.bindIndirection(n.GetAIndirection(), sc, ag)
	case n.GetAArrayExpr() != nil:
		return b.bindArray(n.GetAArrayExpr(), sc, ag)
	case n.GetSubLink() != nil:
		switch n.GetSubLink().GetSubLinkType() {
		case pg.SubLinkType_EXISTS_SUBLINK:
			return b.bindExistsValue(n.GetSubLink())
		case pg.SubLinkType_ANY_SUBLINK:
			return b.bindInValue(n.GetSubLink(), sc, ag)
		case pg.SubLinkType_ROWCOMPARE_SUBLINK:
			return nil, notSupported(n.GetSubLink().GetLocation(), "a row value compared with (SELECT …)")
		}
		return b.bindScalarSub(n.GetSubLink())
	}
	return nil, refuseNode("expression", n)
}

// bindColumnRef binds a column name (above an aggregate, a group key).
func (b *binder) bindColumnRef(cr *pg.ColumnRef, sc *scope, ag *aggBinder) (*expr, error) {
	f := cr.GetFields()
	if isStar(cr) {
		if len(f) == 2 && f[0].GetString_() != nil {
			if c, err := sc.find("", f[0].GetString_().GetSval(), cr.GetLocation()); err == nil && nestedKind(c.typ) == "STRUCT" {
				return nil, notSupported(cr.GetLocation(), "x.* of a STRUCT")
			}
		}
		return nil, errAt(cr.GetLocation(), engine.ErrInvalidPlan, "* is not allowed here")
	}
	if len(f) > 2 {
		if e, ok, err := b.structColumnRef(cr, sc, ag); ok {
			return e, err
		}
		return nil, notSupported(cr.GetLocation(), "schema-qualified column names")
	}
	qual, name := "", f[len(f)-1].GetString_().GetSval()
	if len(f) == 2 {
		qual = f[0].GetString_().GetSval()
	}
	c, err := sc.find(qual, name, cr.GetLocation())
	if err != nil {
		if e, ok, serr := b.structColumnRef(cr, sc, ag); ok {
			return e, serr
		}
		return nil, err
	}
	e := &expr{kind: eCol, col: c.id, typ: c.typ}
	if ag != nil {
		return ag.wrapCol(e, cr.GetLocation())
	}
	return e, nil
}

// bindBoolExpr binds AND, OR and NOT.
func (b *binder) bindBoolExpr(be *pg.BoolExpr, bind func(*pg.Node) (*expr, error)) (*expr, error) {
	args := make([]*expr, len(be.GetArgs()))
	for i, a := range be.GetArgs() {
		e, err := bind(a)
		if err != nil {
			return nil, err
		}
		args[i] = e
	}
	switch be.GetBoolop() {
	case pg.BoolExprType_AND_EXPR, pg.BoolExprType_OR_EXPR:
		op := kapotv1.BinaryOp_BINARY_OP_AND
		if be.GetBoolop() == pg.BoolExprType_OR_EXPR {
			op = kapotv1.BinaryOp_BINARY_OP_OR
		}
		e := args[0]
		for _, a := range args[1:] {
			e = &expr{kind: eBinary, op: op, args: []*expr{e, a}}
			if err := b.resolve(e); err != nil {
				return nil, errAt(be.GetLocation(), err, "%v", err)
			}
		}
		return e, nil
	default:
		return &expr{kind: eNot, args: args}, nil
	}
}

// bindCase binds CASE, its results brought to their common type.
func (b *binder) bindCase(ce *pg.CaseExpr, bind func(*pg.Node) (*expr, error)) (*expr, error) {
	var operand *expr
	if ce.GetArg() != nil {
		o, err := bind(ce.GetArg())
		if err != nil {
			return nil, err
		}
		operand = o
	}
	e := &expr{kind: eCase}
	var results []*expr
	for _, w := range ce.GetArgs() {
		cw := w.GetCaseWhen()
		if err := checkFields(cw, cw.GetLocation()); err != nil {
			return nil, err
		}
		cond, err := bind(cw.GetExpr())
		if err != nil {
			return nil, err
		}
		if operand != nil {
			cond = &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{operand, cond}}
			if err := b.resolve(cond); err != nil {
				return nil, errAt(ce.GetLocation(), err, "%v", err)
			}
		}
		res, err := bind(cw.GetResult())
		if err != nil {
			return nil, err
		}
		e.args = append(e.args, cond, res)
		results = append(results, res)
	}
	if ce.GetDefresult() != nil {
		d, err := bind(ce.GetDefresult())
		if err != nil {
			return nil, err
		}
		e.args = append(e.args, d)
		e.hasElse = true
		results = append(results, d)
	}
	// Results of different numeric types meet at the widest.
	if t := commonType(results); t != nil {
		for i := 1; i < len(e.args); i += 2 {
			e.args[i] = b.coerce(e.args[i], t)
		}
		if e.hasElse {
			e.args[len(e.args)-1] = b.coerce(e.args[len(e.args)-1], t)
		}
	}
	return e, nil
}

// bindCoalesce binds COALESCE(a, b, …): numbers of different types meet at
// their common type.
func (b *binder) bindCoalesce(ce *pg.CoalesceExpr, bind func(*pg.Node) (*expr, error)) (*expr, error) {
	var args []*expr
	for _, a := range ce.GetArgs() {
		e, err := bind(a)
		if err != nil {
			return nil, err
		}
		args = append(args, e)
	}
	if t := commonType(args); t != nil {
		for i, a := range args {
			if a.typ != nil && (numeric(t) && numeric(a.typ) || a.typ.ID() == arrow.NULL || temporal(t) && temporal(a.typ)) {
				args[i] = b.coerce(a, t)
			}
		}
	}
	return &expr{kind: eFunc, fn: "coalesce", args: args}, nil
}

// bindClockValue binds CURRENT_DATE, CURRENT_TIMESTAMP and LOCALTIMESTAMP:
// constants of the statement's start, the same in every task.
func (b *binder) bindClockValue(f *pg.SQLValueFunction) (*expr, error) {
	switch f.GetOp() {
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		// A constant of the statement's start, the same in every task.
		return dateLiteral(b.clock().Format("2006-01-02"))
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP:
		return clockLiteral(b.clock(), wire.TimestampTZ), nil
	case pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP:
		return clockLiteral(b.clock(), wire.Timestamp), nil
	}
	return nil, notSupported(f.GetLocation(), "CURRENT_TIME, LOCALTIME, CURRENT_TIMESTAMP(p) and other clock values but CURRENT_DATE, CURRENT_TIMESTAMP and LOCALTIMESTAMP")
}

func (b *binder) bindCast(tc *pg.TypeCast, sc *scope, ag *aggBinder) (*expr, error) {
	if err := checkFields(tc.GetTypeName(), tc.GetLocation()); err != nil {
		return nil, err
	}
	names := tc.GetTypeName().GetNames()
	tname := strings.ToLower(names[len(names)-1].GetString_().GetSval())
	mods := tc.GetTypeName().GetTypmods()
	if tname == "interval" {
		c := tc.GetArg().GetAConst()
		if c == nil || c.GetSval() == nil {
			return nil, notSupported(tc.GetLocation(), "interval from a non-literal")
		}
		mask := int32(0)
		if len(mods) > 0 && mods[0].GetAConst() != nil {
			mask = mods[0].GetAConst().GetIval().GetIval()
		}
		return intervalLiteral(c.GetSval().GetSval(), mask, tc.GetLocation())
	}
	arg, err := b.bindExpr(tc.GetArg(), sc, ag)
	if err != nil {
		return nil, err
	}
	if tname == "date" && arg.kind == eLit && arg.typ.ID() == arrow.STRING {
		d, err := dateLiteral(arg.lit.GetStringValue())
		if err != nil {
			return nil, errAt(tc.GetLocation(), engine.ErrInvalidPlan, "%v", err)
		}
		return d, nil
	}
	t, err := sqlType(tc.GetTypeName(), tc.GetLocation())
	if err != nil {
		return nil, err
	}
	if arg.kind == eLit && arg.typ.ID() == arrow.STRING {
		if at, _ := wire.TypeFromProto(t); at != nil && at.ID() == arrow.TIMESTAMP {
			// TIMESTAMP '…': parsed now, so that a bad one fails the plan.
			return timestampLiteral(arg.lit.GetStringValue(), at.(*arrow.TimestampType), tc.GetLocation())
		}
	}
	return &expr{kind: eCast, args: []*expr{arg}, to: t}, nil
}

// bindGreatest binds GREATEST(a, b, …) and LEAST(…): the largest (least)
// argument, NULLs ignored (NULL only when all are), arguments meeting at
// their common type. It becomes a chain of CASEs: x = a; for each next b,
// x = CASE WHEN x IS NULL THEN b WHEN b IS NULL THEN x WHEN b > x THEN b
// ELSE x END (< for LEAST).
func (b *binder) bindGreatest(m *pg.MinMaxExpr, sc *scope, ag *aggBinder) (*expr, error) {
	op := kapotv1.BinaryOp_BINARY_OP_GT
	if m.GetOp() == pg.MinMaxOp_IS_LEAST {
		op = kapotv1.BinaryOp_BINARY_OP_LT
	}
	var args []*expr
	for _, a := range m.GetArgs() {
		e, err := b.bindExpr(a, sc, ag)
		if err != nil {
			return nil, err
		}
		if err := b.resolve(e); err != nil {
			return nil, err
		}
		args = append(args, e)
	}
	if len(args) == 0 {
		return nil, errAt(m.GetLocation(), engine.ErrInvalidPlan, "GREATEST/LEAST needs arguments")
	}
	t := commonType(args)
	if t == nil {
		return args[0], nil // all NULL
	}
	for i, a := range args {
		if a.typ != nil && (numeric(t) && numeric(a.typ) || a.typ.ID() == arrow.NULL || temporal(t) && temporal(a.typ)) {
			args[i] = b.coerce(a, t)
		}
	}
	boolT := arrow.FixedWidthTypes.Boolean
	isNull := func(e *expr) *expr { return &expr{kind: eIsNull, args: []*expr{e}, typ: boolT} }
	x := args[0]
	for _, y := range args[1:] {
		x = &expr{kind: eCase, hasElse: true, args: []*expr{
			isNull(x), y,
			isNull(y), x,
			{kind: eBinary, op: op, args: []*expr{y, x}}, y,
			x,
		}}
		if err := b.resolve(x); err != nil {
			return nil, errAt(m.GetLocation(), err, "GREATEST/LEAST arguments of types that do not compare")
		}
	}
	return x, nil
}

// bindBooleanTest binds x IS [NOT] TRUE / FALSE / UNKNOWN, which are never
// NULL: IS TRUE is coalesce(x, false), IS FALSE coalesce(NOT x, false),
// IS UNKNOWN x IS NULL.
func (b *binder) bindBooleanTest(t *pg.BooleanTest, sc *scope, ag *aggBinder) (*expr, error) {
	x, err := b.bindExpr(t.GetArg(), sc, ag)
	if err != nil {
		return nil, err
	}
	if err := b.resolve(x); err != nil {
		return nil, err
	}
	boolT := arrow.FixedWidthTypes.Boolean
	if x.typ != nil && x.typ.ID() != arrow.BOOL && x.typ.ID() != arrow.NULL {
		return nil, errAt(t.GetLocation(), engine.ErrInvalidPlan, "IS TRUE/FALSE/UNKNOWN needs a boolean, not %s", catalog.TypeName(x.typ))
	}
	x = b.coerce(x, boolT)
	not := func(e *expr) *expr { return &expr{kind: eNot, args: []*expr{e}, typ: boolT} }
	orFalse := func(e *expr) *expr { return &expr{kind: eFunc, fn: "coalesce", args: []*expr{e, boolLit(false)}} }
	switch t.GetBooltesttype() {
	case pg.BoolTestType_IS_TRUE:
		return orFalse(x), nil
	case pg.BoolTestType_IS_NOT_TRUE:
		return not(orFalse(x)), nil
	case pg.BoolTestType_IS_FALSE:
		return orFalse(not(x)), nil
	case pg.BoolTestType_IS_NOT_FALSE:
		return not(orFalse(not(x))), nil
	case pg.BoolTestType_IS_UNKNOWN:
		return &expr{kind: eIsNull, args: []*expr{x}, typ: boolT}, nil
	case pg.BoolTestType_IS_NOT_UNKNOWN:
		return &expr{kind: eIsNull, args: []*expr{x}, negated: true, typ: boolT}, nil
	}
	return nil, notSupported(t.GetLocation(), "this boolean test")
}

func boolLit(v bool) *expr {
	return &expr{kind: eLit, typ: arrow.FixedWidthTypes.Boolean,
		lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_BOOL}, Value: &kapotv1.ScalarValue_BoolValue{BoolValue: v}}}
}
