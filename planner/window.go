package planner

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Window functions. A SELECT's window calls (in its select list and ORDER
// BY) are bound against its FROM clause, or against its aggregate when it
// groups (so sum(sum(x)) OVER () reads the aggregate's sum); calls that
// share a window (PARTITION BY and ORDER BY) become one windowRel above
// the aggregate and HAVING, below the projection. Distributed: a hash
// exchange on the PARTITION BY keys (one partition without them), a sort by
// the partition keys then the order keys, and the engine's Window.

// windowRel adds the columns of window calls that share one window.
type windowRel struct {
	in     rel
	partBy []*expr
	order  []sortKey
	calls  []windowCall
}

type windowCall struct {
	fn     kapotv1.WindowFunction
	agg    kapotv1.AggregateFunction
	arg    *expr
	offset int64
	def    *kapotv1.ScalarValue
	out    colID
}

func (r *windowRel) output() []colID {
	out := append([]colID{}, r.in.output()...)
	for _, c := range r.calls {
		out = append(out, c.out)
	}
	return out
}

// windowBinder collects a SELECT's window calls by window.
type windowBinder struct {
	specs []*windowRel
}

// Frame options of PostgreSQL's parse tree that mean the default frame
// (RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW, implied or written).
const (
	frameDefault         = 1058
	frameDefaultExplicit = 1075
)

var rankingFuncs = map[string]kapotv1.WindowFunction{
	"row_number":   kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER,
	"rank":         kapotv1.WindowFunction_WINDOW_FUNCTION_RANK,
	"dense_rank":   kapotv1.WindowFunction_WINDOW_FUNCTION_DENSE_RANK,
	"percent_rank": kapotv1.WindowFunction_WINDOW_FUNCTION_PERCENT_RANK,
	"cume_dist":    kapotv1.WindowFunction_WINDOW_FUNCTION_CUME_DIST,
	"ntile":        kapotv1.WindowFunction_WINDOW_FUNCTION_NTILE,
	"lag":          kapotv1.WindowFunction_WINDOW_FUNCTION_LAG,
	"lead":         kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD,
	"first_value":  kapotv1.WindowFunction_WINDOW_FUNCTION_FIRST_VALUE,
	"last_value":   kapotv1.WindowFunction_WINDOW_FUNCTION_LAST_VALUE,
}

// bindWindow binds a call with OVER and returns its output column.
func (b *binder) bindWindow(fc *pg.FuncCall, sc *scope, ag *aggBinder) (*expr, error) {
	if b.win == nil {
		return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "window functions are not allowed here (only in the select list and ORDER BY)")
	}
	over := fc.GetOver()
	if err := checkFields(over, fc.GetLocation()); err != nil {
		return nil, err
	}
	if over.GetRefname() != "" || over.GetName() != "" {
		return nil, notSupported(fc.GetLocation(), "named windows")
	}
	if fo := over.GetFrameOptions(); fo != frameDefault && fo != frameDefaultExplicit {
		return nil, notSupported(fc.GetLocation(), "window frames other than the default (ROWS, RANGE with offsets, … FOLLOWING)")
	}
	if fc.GetAggFilter() != nil || fc.GetAggDistinct() || len(fc.GetAggOrder()) > 0 {
		return nil, notSupported(fc.GetLocation(), "FILTER, DISTINCT or ORDER BY in a window function call")
	}
	bind := func(n *pg.Node) (*expr, error) {
		if containsWindow(n) {
			return nil, errAt(location(n), engine.ErrInvalidPlan, "window function calls cannot be nested")
		}
		return b.bindExpr(n, sc, ag)
	}
	spec := &windowRel{}
	for _, p := range over.GetPartitionClause() {
		e, err := bind(p)
		if err != nil {
			return nil, err
		}
		spec.partBy = append(spec.partBy, e)
	}
	for _, it := range over.GetOrderClause() {
		sb := it.GetSortBy()
		if err := checkFields(sb, sb.GetLocation()); err != nil {
			return nil, err
		}
		e, err := bind(sb.GetNode())
		if err != nil {
			return nil, err
		}
		k := sortKey{e: e, desc: sb.GetSortbyDir() == pg.SortByDir_SORTBY_DESC}
		k.nullsFirst = k.desc
		switch sb.GetSortbyNulls() {
		case pg.SortByNulls_SORTBY_NULLS_FIRST:
			k.nullsFirst = true
		case pg.SortByNulls_SORTBY_NULLS_LAST:
			k.nullsFirst = false
		}
		spec.order = append(spec.order, k)
	}
	name := funcName(fc)
	args := fc.GetArgs()
	call := windowCall{offset: 1}
	var typ arrow.DataType
	if fn, ok := rankingFuncs[name]; ok {
		call.fn = fn
		switch fn {
		case kapotv1.WindowFunction_WINDOW_FUNCTION_NTILE:
			if len(args) != 1 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "ntile takes one argument")
			}
			n, err := constInt(args[0])
			if err != nil || n < 1 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "ntile needs a positive integer constant")
			}
			call.offset = n
			typ = arrow.PrimitiveTypes.Int64
		case kapotv1.WindowFunction_WINDOW_FUNCTION_LAG, kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD,
			kapotv1.WindowFunction_WINDOW_FUNCTION_FIRST_VALUE, kapotv1.WindowFunction_WINDOW_FUNCTION_LAST_VALUE:
			maxArgs := 1
			if fn == kapotv1.WindowFunction_WINDOW_FUNCTION_LAG || fn == kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD {
				maxArgs = 3
			}
			if len(args) < 1 || len(args) > maxArgs {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes 1 to %d arguments", name, maxArgs)
			}
			arg, err := bind(args[0])
			if err != nil {
				return nil, err
			}
			call.arg, typ = arg, arg.typ
			if len(args) >= 2 {
				n, err := constInt(args[1])
				if err != nil || n < 0 {
					return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s needs a non-negative integer constant offset", name)
				}
				call.offset = n
			}
			if len(args) == 3 {
				d, err := bind(args[2])
				if err != nil {
					return nil, err
				}
				if typ.ID() == arrow.NULL {
					typ = d.typ
					call.arg = b.coerce(call.arg, typ)
				}
				d = b.coerce(d, typ)
				if err := b.resolve(d); err != nil || d.kind != eLit {
					return nil, notSupported(fc.GetLocation(), name+" defaults other than constants")
				}
				call.def = d.lit
			}
		default:
			if len(args) != 0 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes no arguments", name)
			}
			typ = arrow.PrimitiveTypes.Int64
			if fn == kapotv1.WindowFunction_WINDOW_FUNCTION_PERCENT_RANK || fn == kapotv1.WindowFunction_WINDOW_FUNCTION_CUME_DIST {
				typ = arrow.PrimitiveTypes.Float64
			}
		}
	} else if fn, ok := aggFuncs[name]; ok {
		call.fn, call.agg = kapotv1.WindowFunction_WINDOW_FUNCTION_AGGREGATE, fn
		in := arrow.DataType(arrow.Null)
		switch {
		case fc.GetAggStar():
			if fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s(*) is not allowed", name)
			}
		case len(args) == 1:
			arg, err := bind(args[0])
			if err != nil {
				return nil, err
			}
			call.arg, in = arg, arg.typ
		default:
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes one argument", name)
		}
		if err := engine.WindowAggregate(fn, in, len(spec.order) > 0); err != nil {
			return nil, notSupported(fc.GetLocation(), name+" over a window with ORDER BY")
		}
		t, err := engine.AggregateResultType(fn, in, false)
		if err != nil {
			return nil, errAt(fc.GetLocation(), err, "%s: %v", name, err)
		}
		typ = t
	} else {
		return nil, notSupported(fc.GetLocation(), "window function "+name)
	}
	// Calls over the same window share one windowRel.
	key := windowKey(spec)
	var into *windowRel
	for _, s := range b.win.specs {
		if windowKey(s) == key {
			into = s
			break
		}
	}
	if into == nil {
		into = spec
		b.win.specs = append(b.win.specs, spec)
	}
	call.out = b.newCol("", name, typ)
	into.calls = append(into.calls, call)
	return &expr{kind: eCol, col: call.out, typ: typ}, nil
}

func windowKey(w *windowRel) string {
	var sb strings.Builder
	for _, e := range w.partBy {
		sb.WriteString(e.key())
		sb.WriteByte(';')
	}
	sb.WriteByte('|')
	for _, k := range w.order {
		fmt.Fprintf(&sb, "%s %v %v;", k.e.key(), k.desc, k.nullsFirst)
	}
	return sb.String()
}

// containsWindow reports whether n has a call with OVER.
func containsWindow(n *pg.Node) bool {
	found := false
	var walk func(n *pg.Node)
	walk = func(n *pg.Node) {
		if n == nil || found {
			return
		}
		if fc := n.GetFuncCall(); fc != nil {
			if fc.GetOver() != nil {
				found = true
				return
			}
			for _, a := range fc.GetArgs() {
				walk(a)
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

// applyWindows puts the collected windows on top of r.
func (b *binder) applyWindows(r rel) rel {
	if b.win == nil {
		return r
	}
	for _, w := range b.win.specs {
		w.in = r
		r = w
	}
	return r
}

// lowerWindow lowers a windowRel: every row of a window partition brought
// to one task (hash exchange on the partition keys, or one partition),
// sorted by the partition then the order keys, then the engine's Window.
func (p *lowerer) lowerWindow(x *windowRel, need map[colID]bool) (lowered, error) {
	// The input columns the parent reads, and those the windows read.
	inNeed := map[colID]bool{}
	for _, id := range x.in.output() {
		if need == nil || need[id] {
			inNeed[id] = true
		}
	}
	for _, e := range x.partBy {
		inNeed = addRefs(inNeed, e)
	}
	for _, k := range x.order {
		inNeed = addRefs(inNeed, k.e)
	}
	for _, c := range x.calls {
		if c.arg != nil {
			inNeed = addRefs(inNeed, c.arg)
		}
	}
	in, err := p.lower(x.in, inNeed)
	if err != nil {
		return lowered{}, err
	}
	pos := in.pos()
	protos := func(es []*expr) ([]*kapotv1.PhysicalExprNode, error) {
		out := make([]*kapotv1.PhysicalExprNode, len(es))
		for i, e := range es {
			pe, err := e.proto(pos)
			if err != nil {
				return nil, err
			}
			out[i] = pe
		}
		return out, nil
	}
	part, err := protos(x.partBy)
	if err != nil {
		return lowered{}, err
	}
	switch {
	case in.parts <= 1:
	case len(x.partBy) == 0:
		in.node, in.parts, in.hashed, in.ranged = exchange(in.node, single), 1, nil, nil
	default:
		if _, ok := in.hashedOn(x.partBy, p.parts); !ok {
			in.node, in.parts, in.hashed, in.ranged = exchange(in.node, hashPart(part, p.parts)), p.parts, nil, nil
		}
	}
	wn := &kapotv1.WindowNode{PartitionBy: part}
	var sortKeys []*kapotv1.SortExprNode
	for _, pe := range part {
		sortKeys = append(sortKeys, &kapotv1.SortExprNode{Expr: pe})
	}
	for _, k := range x.order {
		e, err := k.e.proto(pos)
		if err != nil {
			return lowered{}, err
		}
		s := &kapotv1.SortExprNode{Expr: e, Descending: k.desc, NullsFirst: k.nullsFirst}
		sortKeys = append(sortKeys, s)
		wn.OrderBy = append(wn.OrderBy, s)
	}
	input := in.node
	if len(sortKeys) > 0 {
		input = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Sort{Sort: &kapotv1.SortNode{Input: input, Exprs: sortKeys}}}
	}
	wn.Input = input
	cols := append([]colID{}, in.cols...)
	for _, c := range x.calls {
		f := &kapotv1.WindowFunctionNode{Fn: c.fn, Aggregate: c.agg, Offset: c.offset, DefaultValue: c.def, Name: p.b.cols[c.out].name}
		if c.arg != nil {
			if f.Arg, err = c.arg.proto(pos); err != nil {
				return lowered{}, err
			}
		}
		wn.Functions = append(wn.Functions, f)
		cols = append(cols, c.out)
	}
	return lowered{node: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Window{Window: wn}}, cols: cols, parts: in.parts, hashed: in.hashed}, nil
}
