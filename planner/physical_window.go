package planner

import (
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Lowering windows: a window partition's rows brought to one task,
// sorted, then the engine's Window.

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
	var order []*kapotv1.SortExprNode
	for _, k := range x.order {
		e, err := k.e.proto(pos)
		if err != nil {
			return lowered{}, err
		}
		order = append(order, &kapotv1.SortExprNode{Expr: e, Descending: k.desc, NullsFirst: k.nullsFirst})
	}
	if x.topN > 0 {
		// Only the first rows of each window partition matter: cut the
		// rest before they are moved and sorted.
		in.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_TopNRanking{TopNRanking: &kapotv1.TopNRankingNode{
			Input: in.node, PartitionBy: part, OrderBy: order, Function: x.calls[0].fn, Limit: x.topN}}}
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
	sortKeys = append(sortKeys, order...)
	wn.OrderBy = order
	input := in.node
	if len(sortKeys) > 0 {
		input = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Sort{Sort: &kapotv1.SortNode{Input: input, Exprs: sortKeys}}}
	}
	wn.Input = input
	cols := append([]colID{}, in.cols...)
	for _, c := range x.calls {
		f := &kapotv1.WindowFunctionNode{Fn: c.fn, Aggregate: c.agg, Offset: c.offset, DefaultValue: c.def, Frame: c.frame, Name: p.b.cols[c.out].name}
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
