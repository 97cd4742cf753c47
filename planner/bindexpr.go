package planner

import (
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Expressions: binding, operators, casts and type coercion.

var binOps = map[string]kapotv1.BinaryOp{
	"=": kapotv1.BinaryOp_BINARY_OP_EQ, "<>": kapotv1.BinaryOp_BINARY_OP_NEQ, "!=": kapotv1.BinaryOp_BINARY_OP_NEQ,
	"<": kapotv1.BinaryOp_BINARY_OP_LT, "<=": kapotv1.BinaryOp_BINARY_OP_LTE, ">": kapotv1.BinaryOp_BINARY_OP_GT,
	">=": kapotv1.BinaryOp_BINARY_OP_GTE, "+": kapotv1.BinaryOp_BINARY_OP_ADD, "-": kapotv1.BinaryOp_BINARY_OP_SUB,
	"*": kapotv1.BinaryOp_BINARY_OP_MUL, "/": kapotv1.BinaryOp_BINARY_OP_DIV, "%": kapotv1.BinaryOp_BINARY_OP_MOD,
}

// bindExpr binds n over sc. With ag set, the expression is above an
// aggregate: aggregate calls and group keys become its output columns.
func (b *binder) bindExpr(n *pg.Node, sc *scope, ag *aggBinder) (*expr, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if ag != nil {
		if fc := n.GetFuncCall(); fc != nil && fc.GetOver() == nil {
			if fn, ok := aggFuncs[funcName(fc)]; ok {
				return b.bindAgg(fc, fn, ag)
			}
		}
		// A whole expression that is a group key reads the key.
		if !containsAgg(n) && !containsWindow(n) && !containsSubLink(n) {
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

// refuseCallClauses refuses the clauses of a function call kapot does not
// run: OVER, WITHIN GROUP, ORDER BY inside the call, VARIADIC.
func refuseCallClauses(fc *pg.FuncCall) error {
	switch {
	case fc.GetOver() != nil:
		return notSupported(fc.GetLocation(), "window functions")
	case len(fc.GetAggOrder()) > 0 && fc.GetAggWithinGroup():
		return notSupported(fc.GetLocation(), "WITHIN GROUP")
	case len(fc.GetAggOrder()) > 0:
		return notSupported(fc.GetLocation(), "ORDER BY inside an aggregate call")
	case fc.GetFuncVariadic():
		return notSupported(fc.GetLocation(), "VARIADIC")
	}
	return nil
}

func (b *binder) bindAgg(fc *pg.FuncCall, fn kapotv1.AggregateFunction, ag *aggBinder) (*expr, error) {
	name, args, pos := funcName(fc), fc.GetArgs(), fc.GetLocation()
	percentile := name == "percentile_cont" || name == "percentile_disc"
	switch {
	case percentile && (!fc.GetAggWithinGroup() || len(fc.GetAggOrder()) != 1):
		return nil, errAt(pos, engine.ErrInvalidPlan, "%s needs WITHIN GROUP (ORDER BY one key)", name)
	case percentile:
	case fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG && !fc.GetAggWithinGroup() && fc.GetOver() == nil:
	default:
		if err := refuseCallClauses(fc); err != nil {
			return nil, err
		}
	}
	bindArg := func(n *pg.Node) (*expr, error) {
		if containsAgg(n) {
			return nil, errAt(pos, engine.ErrInvalidPlan, "aggregate calls cannot be nested")
		}
		return ag.bindArgExpr(n)
	}
	constant := func(n *pg.Node, what string) (*kapotv1.ScalarValue, arrow.DataType, error) {
		e, err := bindArg(n)
		if err != nil {
			return nil, nil, err
		}
		if err := b.resolve(e); err != nil || e.kind != eLit {
			return nil, nil, errAt(pos, engine.ErrInvalidPlan, "%s: the %s must be a constant", name, what)
		}
		return e.lit, e.typ, nil
	}
	fraction := func(n *pg.Node) (*kapotv1.ScalarValue, error) {
		v, t, err := constant(n, "fraction")
		if err != nil {
			return nil, err
		}
		if !arrow.IsInteger(t.ID()) && !arrow.IsFloating(t.ID()) && t.ID() != arrow.DECIMAL128 {
			return nil, errAt(pos, engine.ErrInvalidPlan, "%s: the fraction must be a number between 0 and 1, not %s", name, catalog.TypeName(t))
		}
		if f, ok := literalFloat(v); !ok || f < 0 || f > 1 {
			return nil, errAt(pos, engine.ErrInvalidPlan, "%s: the fraction must be between 0 and 1", name)
		}
		return v, nil
	}
	nargs := func(lo, hi int) error {
		if len(args) < lo || len(args) > hi {
			if lo == hi {
				return errAt(pos, engine.ErrInvalidPlan, "%s takes %d argument(s)", name, lo)
			}
			return errAt(pos, engine.ErrInvalidPlan, "%s takes %d to %d arguments", name, lo, hi)
		}
		return nil
	}
	call := aggCall{fn: fn, distinct: fc.GetAggDistinct()}
	var err error
	switch {
	case fc.GetAggStar():
		if fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT {
			return nil, errAt(pos, engine.ErrInvalidPlan, "%s(*) is not allowed", name)
		}
	case percentile:
		if err := nargs(1, 1); err != nil {
			return nil, err
		}
		if call.param, err = fraction(args[0]); err != nil {
			return nil, err
		}
		sb := fc.GetAggOrder()[0].GetSortBy()
		k, err := sortDirection(sb)
		if err != nil {
			return nil, err
		}
		if call.arg, err = bindArg(sb.GetNode()); err != nil {
			return nil, err
		}
		k.e = call.arg
		call.order = []sortKey{k}
	case name == "median" || name == "quantile_cont" || name == "quantile_disc" || name == "quantile":
		if name == "median" {
			err = nargs(1, 1)
		} else {
			err = nargs(2, 2)
		}
		if err != nil {
			return nil, err
		}
		if call.arg, err = bindArg(args[0]); err != nil {
			return nil, err
		}
		if len(args) == 2 {
			if call.param, err = fraction(args[1]); err != nil {
				return nil, err
			}
		}
		call.order = []sortKey{{e: call.arg}}
	case fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG:
		if err := nargs(1, 2); err != nil {
			return nil, err
		}
		if call.arg, err = bindArg(args[0]); err != nil {
			return nil, err
		}
		call.arg = b.coerce(call.arg, arrow.BinaryTypes.String)
		call.param = &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8}, Value: &kapotv1.ScalarValue_StringValue{StringValue: ","}}
		if len(args) == 2 {
			v, t, err := constant(args[1], "separator")
			if err != nil {
				return nil, err
			}
			if t.ID() != arrow.STRING {
				return nil, errAt(pos, engine.ErrInvalidPlan, "%s: the separator must be a string, not %s", name, catalog.TypeName(t))
			}
			call.param = v
		}
		for _, it := range fc.GetAggOrder() {
			sb := it.GetSortBy()
			k, err := sortDirection(sb)
			if err != nil {
				return nil, err
			}
			if k.e, err = bindArg(sb.GetNode()); err != nil {
				return nil, err
			}
			call.order = append(call.order, k)
		}
	case fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_CORR || fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COVAR_POP ||
		fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COVAR_SAMP:
		if err := nargs(2, 2); err != nil {
			return nil, err
		}
		if call.arg, err = bindArg(args[0]); err != nil {
			return nil, err
		}
		if call.arg2, err = bindArg(args[1]); err != nil {
			return nil, err
		}
		for _, e := range []*expr{call.arg, call.arg2} {
			if t := e.typ.ID(); !arrow.IsInteger(t) && !arrow.IsFloating(t) && t != arrow.DECIMAL128 && t != arrow.NULL {
				return nil, errAt(pos, engine.ErrInvalidPlan, "%s takes numbers, not %s", name, catalog.TypeName(e.typ))
			}
		}
	case len(args) == 1:
		if call.arg, err = bindArg(args[0]); err != nil {
			return nil, err
		}
	default:
		return nil, errAt(pos, engine.ErrInvalidPlan, "%s takes one argument", name)
	}
	arg := call.arg
	if f := fc.GetAggFilter(); f != nil {
		// agg(x) FILTER (WHERE p) is agg(CASE WHEN p THEN x END): every
		// aggregate kapot has skips nulls, and count(*) counts the rows
		// where p holds as count(CASE WHEN p THEN 1 END).
		if containsAgg(f) {
			return nil, errAt(location(f), engine.ErrInvalidPlan, "aggregate functions are not allowed in FILTER")
		}
		p, err := ag.bindArgExpr(f)
		if err != nil {
			return nil, err
		}
		if p.typ.ID() != arrow.BOOL && p.typ.ID() != arrow.NULL {
			return nil, errAt(location(f), engine.ErrInvalidPlan, "FILTER must be boolean, not %s", catalog.TypeName(p.typ))
		}
		if arg == nil {
			arg = &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64},
				Value: &kapotv1.ScalarValue_IntValue{IntValue: 1}}, typ: arrow.PrimitiveTypes.Int64}
		}
		c := &expr{kind: eCase, args: []*expr{p, arg}}
		if err := b.resolve(c); err != nil {
			return nil, errAt(location(f), err, "FILTER: %v", err)
		}
		arg = c
	}
	call.arg = arg
	e, err := ag.addCall(call, name)
	if err != nil {
		return nil, errAt(fc.GetLocation(), err, "%s: %v", funcName(fc), err)
	}
	return e, nil
}

// literalFloat is a numeric literal's value.
func literalFloat(v *kapotv1.ScalarValue) (float64, bool) {
	s, err := engine.ScalarFromProto(v)
	if err != nil || !s.IsValid() {
		return 0, false
	}
	switch x := s.(type) {
	case *scalar.Decimal128:
		return x.Value.ToFloat64(x.Type.(*arrow.Decimal128Type).Scale), true
	case *scalar.Int64:
		return float64(x.Value), true
	case *scalar.Float64:
		return x.Value, true
	}
	return 0, false
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
	}
	return -1
}

func (b *binder) bindNode(n *pg.Node, sc *scope, ag *aggBinder) (*expr, error) {
	bind := func(m *pg.Node) (*expr, error) { return b.bindExpr(m, sc, ag) }
	if err := checkFields(nodeMessage(n), location(n)); err != nil {
		return nil, err
	}
	switch {
	case n.GetColumnRef() != nil:
		cr := n.GetColumnRef()
		f := cr.GetFields()
		if isStar(cr) {
			return nil, errAt(cr.GetLocation(), engine.ErrInvalidPlan, "* is not allowed here")
		}
		if len(f) > 2 {
			return nil, notSupported(cr.GetLocation(), "schema-qualified column names")
		}
		qual, name := "", f[len(f)-1].GetString_().GetSval()
		if len(f) == 2 {
			qual = f[0].GetString_().GetSval()
		}
		c, err := sc.find(qual, name, cr.GetLocation())
		if err != nil {
			return nil, err
		}
		e := &expr{kind: eCol, col: c.id, typ: c.typ}
		if ag != nil {
			return ag.wrapCol(e, cr.GetLocation())
		}
		return e, nil
	case n.GetAConst() != nil:
		return constant(n.GetAConst())
	case n.GetTypeCast() != nil:
		return b.bindCast(n.GetTypeCast(), sc, ag)
	case n.GetBoolExpr() != nil:
		be := n.GetBoolExpr()
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
		ce := n.GetCaseExpr()
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
	case n.GetFuncCall() != nil && n.GetFuncCall().GetOver() != nil:
		return b.bindWindow(n.GetFuncCall(), sc, ag)
	case n.GetFuncCall() != nil:
		fc := n.GetFuncCall()
		name := funcName(fc)
		if _, ok := aggFuncs[name]; ok {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "aggregate %s is not allowed here", name)
		}
		if err := refuseCallClauses(fc); err != nil {
			return nil, err
		}
		if fc.GetAggFilter() != nil || fc.GetAggDistinct() || fc.GetAggStar() {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "FILTER, DISTINCT or * given, but %s is not an aggregate function", name)
		}
		var args []*expr
		for _, a := range fc.GetArgs() {
			e, err := bind(a)
			if err != nil {
				return nil, err
			}
			args = append(args, e)
		}
		switch name {
		case "now", "transaction_timestamp", "get_current_timestamp":
			if len(args) != 0 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes no arguments", name)
			}
			return clockLiteral(b.clock(), wire.TimestampTZ), nil
		case "extract", "date_part":
			name = "date_part"
		case "substring", "substr":
			name = "substring"
		case "position":
			// POSITION(sub IN s) parses as position(s, sub).
			name = "strpos"
		case "concat_ws", "concat":
			// Arguments of other types are written as text, as DuckDB does.
			for i, a := range args {
				if i == 0 && name == "concat_ws" {
					continue
				}
				if err := b.resolve(a); err == nil && a.typ.ID() != arrow.STRING && a.typ.ID() != arrow.NULL {
					args[i] = b.coerce(a, arrow.BinaryTypes.String)
				}
			}
		case "year", "month", "day", "quarter", "week", "dayofweek", "dayofmonth", "dayofyear", "isodow", "hour", "minute", "second", "millisecond", "microsecond", "epoch":
			// DuckDB's part functions: date_part of that field.
			if len(args) != 1 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes one argument", name)
			}
			field := map[string]string{"dayofweek": "dow", "dayofmonth": "day", "dayofyear": "doy"}[name]
			if field == "" {
				field = name
			}
			lit := &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8},
				Value: &kapotv1.ScalarValue_StringValue{StringValue: field}}, typ: arrow.BinaryTypes.String}
			return &expr{kind: eFunc, fn: "date_part", args: []*expr{lit, args[0]}}, nil
		case "mod":
			if len(args) != 2 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "mod takes two arguments")
			}
			return &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_MOD, args: args}, nil
		case "typeof":
			// The argument's type, a constant of the plan.
			if len(args) != 1 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "typeof takes one argument")
			}
			if err := b.resolve(args[0]); err != nil {
				return nil, errAt(fc.GetLocation(), err, "typeof: %v", err)
			}
			t := catalog.TypeName(args[0].typ)
			if args[0].typ.ID() == arrow.NULL {
				t = `"NULL"` // DuckDB's name of the NULL type
			}
			return &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8},
				Value: &kapotv1.ScalarValue_StringValue{StringValue: t}}, typ: arrow.BinaryTypes.String}, nil
		}
		return &expr{kind: eFunc, fn: name, args: args}, nil
	case n.GetCoalesceExpr() != nil:
		// COALESCE(a, b, …): numbers of different types meet at their
		// common type.
		var args []*expr
		for _, a := range n.GetCoalesceExpr().GetArgs() {
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
	case n.GetMinMaxExpr() != nil:
		return b.bindGreatest(n.GetMinMaxExpr(), sc, ag)
	case n.GetBooleanTest() != nil:
		return b.bindBooleanTest(n.GetBooleanTest(), sc, ag)
	case n.GetGroupingFunc() != nil:
		return b.bindGrouping(n.GetGroupingFunc(), ag)
	case n.GetSqlvalueFunction() != nil:
		f := n.GetSqlvalueFunction()
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
	case n.GetSubLink() != nil:
		switch n.GetSubLink().GetSubLinkType() {
		case pg.SubLinkType_EXISTS_SUBLINK:
			return b.bindExistsValue(n.GetSubLink())
		case pg.SubLinkType_ANY_SUBLINK:
			return b.bindInValue(n.GetSubLink(), sc, ag)
		}
		return b.bindScalarSub(n.GetSubLink())
	}
	return nil, refuseNode("expression", n)
}

func (b *binder) bindAExpr(x *pg.A_Expr, sc *scope, ag *aggBinder) (*expr, error) {
	bind := func(m *pg.Node) (*expr, error) { return b.bindExpr(m, sc, ag) }
	opName := ""
	if len(x.GetName()) > 0 {
		opName = x.GetName()[len(x.GetName())-1].GetString_().GetSval()
	}
	switch x.GetKind() {
	case pg.A_Expr_Kind_AEXPR_OP:
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
	case pg.A_Expr_Kind_AEXPR_IN:
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
	case pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE:
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
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN:
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
	case pg.A_Expr_Kind_AEXPR_DISTINCT, pg.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		// a IS [NOT] DISTINCT FROM b: = with NULL equal to NULL and
		// unequal to any value; never NULL.
		l, r, err := b.bindOperands(x, sc, ag)
		if err != nil {
			return nil, err
		}
		isNullType := func(e *expr) bool { return e.typ != nil && e.typ.ID() == arrow.NULL }
		switch {
		case isNullType(l) && isNullType(r):
			return boolLit(x.GetKind() == pg.A_Expr_Kind_AEXPR_NOT_DISTINCT), nil
		case isNullType(l):
			l = b.coerce(l, r.typ)
		case isNullType(r):
			r = b.coerce(r, l.typ)
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
	case pg.A_Expr_Kind_AEXPR_NULLIF:
		// NULLIF(a, b): NULL where a = b, else a (in a's type, numbers
		// compared at their common type).
		l, r, err := b.bindOperands(x, sc, ag)
		if err != nil {
			return nil, err
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
	return nil, notSupported(x.GetLocation(), "this operator")
}

// coercePair casts a string literal compared with a date to a date (SQL
// lets '1995-01-01' stand for a date), and brings a timestamp and a date,
// string literal or timestamp of another kind to one type (timeCoerce).
func (b *binder) coercePair(l, r *expr) (*expr, *expr) {
	if l2, r2, ok := timeCoerce(l, r); ok {
		return l2, r2
	}
	return coerceDates(l, r)
}

// coerceDates casts a string literal beside a date to a date.
func coerceDates(l, r *expr) (*expr, *expr) {
	if l.typ != nil && r.typ != nil {
		if l.typ.ID() == arrow.DATE32 && r.kind == eLit && r.typ.ID() == arrow.STRING {
			if d, err := dateLiteral(r.lit.GetStringValue()); err == nil {
				return l, d
			}
		}
		if r.typ.ID() == arrow.DATE32 && l.kind == eLit && l.typ.ID() == arrow.STRING {
			if d, err := dateLiteral(l.lit.GetStringValue()); err == nil {
				return d, r
			}
		}
	}
	return l, r
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

// commonType is the type CASE results meet at: the one type they share, or
// float64 / the widest decimal when numeric types differ.
func commonType(es []*expr) arrow.DataType {
	var t arrow.DataType
	for _, e := range es {
		if e.typ == nil || e.typ.ID() == arrow.NULL {
			continue
		}
		if t == nil {
			t = e.typ
			continue
		}
		if arrow.TypeEqual(t, e.typ) {
			continue
		}
		switch {
		case temporal(t) && temporal(e.typ):
			t = timeCommon(t, e.typ)
		case arrow.IsFloating(t.ID()) || arrow.IsFloating(e.typ.ID()):
			t = arrow.PrimitiveTypes.Float64
		case t.ID() == arrow.DECIMAL128 || e.typ.ID() == arrow.DECIMAL128:
			t = widerDecimal(t, e.typ)
		case arrow.IsInteger(t.ID()) && arrow.IsInteger(e.typ.ID()):
			t = arrow.PrimitiveTypes.Int64
		}
	}
	return t
}

func widerDecimal(a, b arrow.DataType) arrow.DataType {
	dec := func(t arrow.DataType) (int32, int32) {
		if d, ok := t.(*arrow.Decimal128Type); ok {
			return d.Precision - d.Scale, d.Scale
		}
		return 19, 0
	}
	ai, as := dec(a)
	bi, bs := dec(b)
	s := max(as, bs)
	return &arrow.Decimal128Type{Precision: min(max(ai, bi)+s, 38), Scale: s}
}

// coerce casts e to t when its type differs.
// numeric reports whether t is an integer, floating point or decimal type.
func numeric(t arrow.DataType) bool {
	return arrow.IsInteger(t.ID()) || arrow.IsFloating(t.ID()) || t.ID() == arrow.DECIMAL128
}

// unify casts two numbers of different types (join keys) to their common
// type; other pairs are returned as they are.
func (b *binder) unify(l, r *expr) (*expr, *expr) {
	if l2, r2, ok := timeCoerce(l, r); ok {
		return l2, r2
	}
	if l.typ == nil || r.typ == nil || arrow.TypeEqual(l.typ, r.typ) || !numeric(l.typ) || !numeric(r.typ) {
		return l, r
	}
	t := commonType([]*expr{l, r})
	return b.coerce(l, t), b.coerce(r, t)
}

func (b *binder) coerce(e *expr, t arrow.DataType) *expr { return coerceTo(e, t) }

// coerceTo casts e to t when its type differs.
func coerceTo(e *expr, t arrow.DataType) *expr {
	if e.typ == nil || arrow.TypeEqual(e.typ, t) {
		return e
	}
	pt, err := wire.TypeToProto(t)
	if err != nil {
		return e
	}
	c := &expr{kind: eCast, args: []*expr{e}, to: pt, typ: t}
	return c
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

// typeNulls gives the untyped NULLs among es (NULL written as a constant)
// the type of the others, or BIGINT when all are NULL, so that NULL = NULL,
// NULL BETWEEN 1 AND NULL and NULL IN (1, 2) are NULL as in SQL rather
// than refused. It returns nil when no argument is an untyped NULL.
func (b *binder) typeNulls(es []*expr) []*expr {
	isNull := func(e *expr) bool { return e.typ != nil && e.typ.ID() == arrow.NULL }
	if !slices.ContainsFunc(es, isNull) {
		return nil
	}
	t := commonType(es)
	if t == nil {
		t = arrow.PrimitiveTypes.Int64
	}
	out := make([]*expr, len(es))
	for i, e := range es {
		out[i] = e
		if isNull(e) {
			out[i] = b.coerce(e, t)
		}
	}
	return out
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
