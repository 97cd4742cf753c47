package planner

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/agg"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Aggregates: which calls are aggregates, grouping and aggregate binding.

var aggFuncs = map[string]kapotv1.AggregateFunction{
	"count": kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT,
	"sum":   kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM,
	"avg":   kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG,
	"min":   kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN,
	"max":   kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX,

	"stddev":      kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STDDEV_SAMP,
	"stddev_samp": kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STDDEV_SAMP,
	"stddev_pop":  kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STDDEV_POP,
	"variance":    kapotv1.AggregateFunction_AGGREGATE_FUNCTION_VAR_SAMP,
	"var_samp":    kapotv1.AggregateFunction_AGGREGATE_FUNCTION_VAR_SAMP,
	"var_pop":     kapotv1.AggregateFunction_AGGREGATE_FUNCTION_VAR_POP,
	"bool_and":    kapotv1.AggregateFunction_AGGREGATE_FUNCTION_BOOL_AND,
	"every":       kapotv1.AggregateFunction_AGGREGATE_FUNCTION_BOOL_AND,
	"bool_or":     kapotv1.AggregateFunction_AGGREGATE_FUNCTION_BOOL_OR,

	"string_agg":            kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG,
	"group_concat":          kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG,
	"listagg":               kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG,
	"percentile_cont":       kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_CONT,
	"percentile_disc":       kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_DISC,
	"median":                kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_CONT,
	"quantile_cont":         kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_CONT,
	"quantile_disc":         kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_DISC,
	"quantile":              kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_DISC,
	"approx_count_distinct": kapotv1.AggregateFunction_AGGREGATE_FUNCTION_APPROX_COUNT_DISTINCT,
	"corr":                  kapotv1.AggregateFunction_AGGREGATE_FUNCTION_CORR,
	"covar_pop":             kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COVAR_POP,
	"covar_samp":            kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COVAR_SAMP,
	"array_agg":             kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG,
	"list":                  kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG,
}

func funcName(fc *pg.FuncCall) string {
	f := fc.GetFuncname()
	return strings.ToLower(f[len(f)-1].GetString_().GetSval())
}

func containsAgg(n *pg.Node) bool {
	found := false
	var walk func(n *pg.Node)
	walk = func(n *pg.Node) {
		if n == nil || found {
			return
		}
		if n.GetGroupingFunc() != nil {
			found = true
			return
		}
		if fc := n.GetFuncCall(); fc != nil {
			if _, ok := aggFuncs[funcName(fc)]; ok && fc.GetOver() == nil {
				found = true
				return
			}
			for _, a := range fc.GetArgs() {
				walk(a)
			}
			// A window call is not an aggregate, but its window may
			// read one (rank() OVER (ORDER BY sum(x))).
			if w := fc.GetOver(); w != nil {
				for _, p := range w.GetPartitionClause() {
					walk(p)
				}
				for _, o := range w.GetOrderClause() {
					walk(o.GetSortBy().GetNode())
				}
			}
			return
		}
		for _, c := range children(n) {
			walk(c)
		}
	}
	walk(n)
	return found
}

// walkCalls visits the function calls of n outside its subqueries: visit
// gets each call's node, and its arguments are walked when it returns
// true (children lists no call's arguments).
func walkCalls(n *pg.Node, visit func(n *pg.Node, fc *pg.FuncCall) bool) {
	if n == nil {
		return
	}
	if fc := n.GetFuncCall(); fc != nil {
		if visit(n, fc) {
			for _, a := range fc.GetArgs() {
				walkCalls(a, visit)
			}
		}
		return
	}
	for _, c := range children(n) {
		walkCalls(c, visit)
	}
}

// outerAggCalls lists the aggregate calls of n outside its subqueries
// (not inside another aggregate's arguments, nor a window call).
func outerAggCalls(n *pg.Node) []*pg.Node {
	var out []*pg.Node
	walkCalls(n, func(n *pg.Node, fc *pg.FuncCall) bool {
		if fc.GetOver() != nil {
			return false
		}
		if _, ok := aggFuncs[funcName(fc)]; ok {
			out = append(out, n)
			return false
		}
		return true
	})
	return out
}

// children lists the sub-expressions of the expression nodes binding knows.
func children(n *pg.Node) []*pg.Node {
	switch {
	case n.GetAExpr() != nil:
		return []*pg.Node{n.GetAExpr().GetLexpr(), n.GetAExpr().GetRexpr()}
	case n.GetBoolExpr() != nil:
		return n.GetBoolExpr().GetArgs()
	case n.GetTypeCast() != nil:
		return []*pg.Node{n.GetTypeCast().GetArg()}
	case n.GetNullTest() != nil:
		return []*pg.Node{n.GetNullTest().GetArg()}
	case n.GetCaseExpr() != nil:
		c := n.GetCaseExpr()
		out := []*pg.Node{c.GetArg(), c.GetDefresult()}
		for _, w := range c.GetArgs() {
			out = append(out, w.GetCaseWhen().GetExpr(), w.GetCaseWhen().GetResult())
		}
		return out
	case n.GetList() != nil:
		return n.GetList().GetItems()
	case n.GetAArrayExpr() != nil:
		return n.GetAArrayExpr().GetElements()
	case n.GetCoalesceExpr() != nil:
		return n.GetCoalesceExpr().GetArgs()
	case n.GetMinMaxExpr() != nil:
		return n.GetMinMaxExpr().GetArgs()
	case n.GetBooleanTest() != nil:
		return []*pg.Node{n.GetBooleanTest().GetArg()}
	case n.GetSubLink() != nil:
		return []*pg.Node{n.GetSubLink().GetTestexpr()}
	}
	return nil
}

// aggBinder collects the group keys and aggregate calls of a query and
// rewrites expressions above the aggregate to read its outputs.
type aggBinder struct {
	b      *binder
	sc     *scope
	groups []*expr
	gout   []colID
	aggs   []aggCall
	keys   map[string]colID // expression key -> output column
	// itemKeys are the keys of the GROUP BY items in clause order; sets
	// the grouping sets (group output columns; nil: one plain grouping);
	// groupings the GROUPING() calls.
	itemKeys  []string
	sets      [][]colID
	groupings []groupingCall
	// lazyKeys are columns that become group keys when read outside an
	// aggregate (the outer columns of a decorrelated subquery).
	lazyKeys map[colID]bool
	// argSubs are the subqueries inside aggregate arguments and FILTER:
	// joined to the FROM rows, below the aggregate.
	argSubs *scalarSubs
}

// bindArgExpr binds an aggregate's argument or FILTER over the FROM
// rows: its subqueries join those rows, not the aggregate's output.
func (a *aggBinder) bindArgExpr(n *pg.Node) (*expr, error) {
	b := a.b
	saved := b.subs
	b.subs = a.argSubs
	defer func() { b.subs = saved }()
	return b.bindExpr(n, a.sc, nil)
}

func (a *aggBinder) addGroup(e *expr) {
	if a.keys == nil {
		a.keys = map[string]colID{}
	}
	k := e.key()
	if _, ok := a.keys[k]; ok {
		return
	}
	name := "group"
	if e.kind == eCol {
		name = a.b.cols[e.col].name
	}
	id := a.b.newCol("", name, e.typ)
	if e.kind == eCol {
		a.b.cols[id].qual = a.b.cols[e.col].qual
		a.b.cols[id].nullable = a.b.cols[e.col].nullable
	}
	a.keys[k] = id
	a.groups = append(a.groups, e)
	a.gout = append(a.gout, id)
}

// wrapCol maps a bound expression over the input to the aggregate's output
// when it is a group key; a bare column that is not is an error.
func (a *aggBinder) wrapCol(e *expr, pos int32) (*expr, error) {
	if e.kind == eCol && a.lazyKeys[e.col] {
		a.addGroup(e)
	}
	if id, ok := a.keys[e.key()]; ok {
		return &expr{kind: eCol, col: id, typ: e.typ}, nil
	}
	if e.kind == eCol {
		c := a.b.cols[e.col]
		return nil, errAt(pos, engine.ErrInvalidPlan, "column %q must appear in the GROUP BY clause or be used in an aggregate function", c.name)
	}
	return nil, nil
}

// addCall adds an aggregate call (or finds the same one) and returns the
// expression that reads its result.
func (a *aggBinder) addCall(c aggCall, name string) (*expr, error) {
	if a.keys == nil {
		a.keys = map[string]colID{}
	}
	k := fmt.Sprintf("agg:%v:%v:", c.fn, c.distinct)
	for _, e := range []*expr{c.arg, c.arg2} {
		if e != nil {
			k += e.key()
		}
		k += ";"
	}
	for _, o := range c.order {
		k += fmt.Sprintf("%s %v %v;", o.e.key(), o.desc, o.nullsFirst)
	}
	if c.param != nil {
		k += c.param.String()
	}
	if id, ok := a.keys[k]; ok {
		return &expr{kind: eCol, col: id, typ: a.b.cols[id].typ}, nil
	}
	t, err := aggType(c.fn, c.arg, c.distinct)
	if err != nil {
		return nil, err
	}
	c.out = a.b.newCol("", name, t)
	a.keys[k] = c.out
	a.aggs = append(a.aggs, c)
	return &expr{kind: eCol, col: c.out, typ: t}, nil
}

// aggType asks the engine for the result type of an aggregate.
func aggType(fn kapotv1.AggregateFunction, arg *expr, distinct bool) (arrow.DataType, error) {
	in := arrow.DataType(arrow.Null)
	if arg != nil {
		in = arg.typ
	}
	return agg.ResultType(fn, in, distinct)
}

func (a *aggBinder) build(in rel) rel {
	if a.argSubs != nil && len(a.argSubs.joins) > 0 {
		in = a.b.joinScalarSubs(in, a.argSubs)
	}
	if a.sets != nil || len(a.groupings) > 0 {
		return a.buildSets(in)
	}
	return &aggRel{in: in, groups: a.groups, gout: a.gout, aggs: a.aggs}
}
