package planner

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	physexpr "github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Aggregate calls: their arguments, DISTINCT, FILTER, ORDER BY inside the
// call and WITHIN GROUP, bound to an aggregate's output column.

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

// aggClauses checks the clauses of aggregate call fc: WITHIN GROUP for
// the percentiles, ORDER BY inside string_agg and array_agg, neither for
// the others.
func aggClauses(fc *pg.FuncCall, fn kapotv1.AggregateFunction) error {
	name := funcName(fc)
	percentile := name == "percentile_cont" || name == "percentile_disc"
	switch {
	case percentile && (!fc.GetAggWithinGroup() || len(fc.GetAggOrder()) != 1):
		return errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s needs WITHIN GROUP (ORDER BY one key)", name)
	case percentile:
	case (fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG || fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG) &&
		!fc.GetAggWithinGroup() && fc.GetOver() == nil:
	default:
		return refuseCallClauses(fc)
	}
	return nil
}

func (b *binder) bindAgg(fc *pg.FuncCall, fn kapotv1.AggregateFunction, ag *aggBinder) (*expr, error) {
	name, args, pos := funcName(fc), fc.GetArgs(), fc.GetLocation()
	percentile := name == "percentile_cont" || name == "percentile_disc"
	if err := aggClauses(fc, fn); err != nil {
		return nil, err
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
		if call.order, err = aggOrder(fc.GetAggOrder(), bindArg, distinctArg(call)...); err != nil {
			return nil, err
		}
	case fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG:
		if err := nargs(1, 1); err != nil {
			return nil, err
		}
		if err := bindArrayAgg(fc, &call, bindArg); err != nil {
			return nil, err
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
	if f := fc.GetAggFilter(); f != nil {
		if call.arg, err = b.aggFilter(f, call.arg, ag); err != nil {
			return nil, err
		}
	}
	e, err := ag.addCall(call, name)
	if err != nil {
		return nil, errAt(fc.GetLocation(), err, "%s: %v", funcName(fc), err)
	}
	return e, nil
}

// bindArrayAgg binds array_agg's (list's) argument and ORDER BY. NULLs are
// kept (FILTER's CASE would add some) and DISTINCT is not there yet.
func bindArrayAgg(fc *pg.FuncCall, call *aggCall, bindArg func(*pg.Node) (*expr, error)) error {
	switch {
	case fc.GetAggDistinct():
		return notSupported(fc.GetLocation(), funcName(fc)+"(DISTINCT …)")
	case fc.GetAggFilter() != nil:
		return notSupported(fc.GetLocation(), funcName(fc)+"(…) FILTER (WHERE …)")
	}
	var err error
	if call.arg, err = bindArg(fc.GetArgs()[0]); err != nil {
		return err
	}
	call.order, err = aggOrder(fc.GetAggOrder(), bindArg)
	return err
}

// aggOrder binds the ORDER BY inside an aggregate call (string_agg's and
// array_agg's);
// with DISTINCT, each key must be the call's argument (distinct, see
// distinctOrder).
func aggOrder(items []*pg.Node, bindArg func(*pg.Node) (*expr, error), distinct ...*expr) ([]sortKey, error) {
	var out []sortKey
	for _, it := range items {
		sb := it.GetSortBy()
		k, err := sortDirection(sb)
		if err != nil {
			return nil, err
		}
		if k.e, err = bindArg(sb.GetNode()); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if len(distinct) == 1 {
		return out, distinctOrder(distinct[0], out)
	}
	return out, nil
}

// distinctArg is the argument of a call with DISTINCT, for aggOrder.
func distinctArg(call aggCall) []*expr {
	if !call.distinct {
		return nil
	}
	return []*expr{call.arg}
}

// distinctOrder applies PostgreSQL's rule to an aggregate call with
// DISTINCT and ORDER BY: each order key must be the argument arg (as the
// call reads it, or as written before its cast to text), else SQLSTATE
// 42P10.
func distinctOrder(arg *expr, order []sortKey) error {
	for _, k := range order {
		key := k.e.key()
		if key != arg.key() && (arg.kind != eCast || key != arg.args[0].key()) {
			return errAt(-1, errs.ErrInvalidColumnReference, "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list")
		}
	}
	return nil
}

// aggFilter is the argument of agg(arg) FILTER (WHERE f):
// agg(CASE WHEN f THEN arg END), since every aggregate kapot has skips
// nulls; count(*) (arg nil) counts the rows where f holds as
// count(CASE WHEN f THEN 1 END).
func (b *binder) aggFilter(f *pg.Node, arg *expr, ag *aggBinder) (*expr, error) {
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
	return c, nil
}

// literalFloat is a numeric literal's value.
func literalFloat(v *kapotv1.ScalarValue) (float64, bool) {
	s, err := physexpr.ScalarFromProto(v)
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
