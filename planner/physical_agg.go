package planner

import (
	"fmt"
	"slices"
	"strings"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Lowering aggregates: partial aggregates in each partition, an exchange
// on the group keys, and final aggregates.

func (p *lowerer) lowerAgg(a *aggRel) (lowered, error) {
	need := addRefs(map[colID]bool{}, a.groups...)
	for _, c := range a.aggs {
		need = addRefs(need, c.arg, c.arg2)
		for _, k := range c.order {
			need = addRefs(need, k.e)
		}
	}
	in, err := p.lower(a.in, need)
	if err != nil {
		return lowered{}, err
	}
	groups, err := p.exprs(a.groups, in)
	if err != nil {
		return lowered{}, err
	}
	names := make([]string, len(a.gout))
	for i, id := range a.gout {
		names[i] = p.b.cols[id].name
	}
	var aggs []*kapotv1.AggregateExprNode
	for i, c := range a.aggs {
		// Named by position, not by the binder's column id: a WITH query
		// bound twice then lowers to equal plans, whose exchanges the
		// scheduler runs once (parents refer to the outputs by index).
		ae := &kapotv1.AggregateExprNode{Func: c.fn, Distinct: c.distinct, Name: fmt.Sprintf("%s_%d", strings.ToLower(strings.TrimPrefix(c.fn.String(), "AGGREGATE_FUNCTION_")), i)}
		if c.arg != nil {
			if ae.Expr, err = c.arg.proto(in.pos()); err != nil {
				return lowered{}, err
			}
		}
		if c.arg2 != nil {
			if ae.Expr2, err = c.arg2.proto(in.pos()); err != nil {
				return lowered{}, err
			}
		}
		for _, k := range c.order {
			ke, err := k.e.proto(in.pos())
			if err != nil {
				return lowered{}, err
			}
			ae.OrderBy = append(ae.OrderBy, &kapotv1.SortExprNode{Expr: ke, Descending: k.desc, NullsFirst: k.nullsFirst})
		}
		ae.Param = c.param
		aggs = append(aggs, ae)
	}
	if a.local {
		// An early aggregate: what each task holds, merged above.
		partial := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
			Input: in.node, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, GroupExprs: groups, GroupNames: names, Aggregates: aggs}}}
		out := lowered{node: partial, cols: a.output(), parts: in.parts}
		for _, h := range in.hashed {
			if !slices.ContainsFunc(h, func(id colID) bool { return !slices.Contains(a.gout, id) }) {
				out.hashed = append(out.hashed, h)
			}
		}
		return out, nil
	}
	if pos, ok := in.hashedOn(a.groups, p.parts); ok && len(a.groups) > 0 {
		// The input is already partitioned by some of the group keys, so
		// each group lives in one partition: aggregate in one step.
		single := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
			Input: in.node, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, GroupExprs: groups, GroupNames: names, Aggregates: aggs}}}
		h := make([]colID, len(pos))
		for i, k := range pos {
			h[i] = a.gout[k]
		}
		return lowered{node: single, cols: a.output(), parts: in.parts, hashed: [][]colID{h}}, nil
	}
	if in.parts >= p.parts {
		for k, g := range a.groups {
			if g.kind != eCol {
				continue
			}
			if bounds, ok := in.rangedBy(g.col); ok {
				// The input is split by value ranges of a group key: each
				// group lives in one partition.
				single := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
					Input: in.node, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, GroupExprs: groups, GroupNames: names, Aggregates: aggs}}}
				return lowered{node: single, cols: a.output(), parts: in.parts, ranged: []rangedCol{{col: a.gout[k], bounds: bounds}}}, nil
			}
		}
	}
	partial := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: in.node, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, GroupExprs: groups, GroupNames: names, Aggregates: aggs}}}
	parts := 1
	var ex *kapotv1.PhysicalPlanNode
	if len(groups) == 0 {
		ex = exchange(partial, single)
	} else {
		keys := make([]*kapotv1.PhysicalExprNode, len(groups))
		for i := range groups {
			keys[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(i)}}}
		}
		ex, parts = exchange(partial, hashPart(keys, p.parts)), p.parts
	}
	finalGroups := make([]*kapotv1.PhysicalExprNode, len(groups))
	for i := range finalGroups {
		finalGroups[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(i)}}}
	}
	final := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: ex, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_FINAL, GroupExprs: finalGroups, GroupNames: names, Aggregates: aggs}}}
	out := lowered{node: final, cols: a.output(), parts: parts}
	if len(groups) > 0 {
		out.hashed = [][]colID{slices.Clone(a.gout)}
	}
	return out, nil
}
