package planner

// The optimiser: passes over the bound logical plan, in order, before it
// is lowered. Reduction of aggregates by semi joins (reduce.go) and the
// choice of broadcast or repartitioned joins depend on the physical
// layout and are made by the lowering.

// optimise rewrites the logical plan in place: the join graphs the binder
// left become trees of joins (joinorder.go), then the scans of sorted
// files keep the key-range splits their joins and groupings can use
// (split.go).
func optimise(lp *logicalPlan) {
	lp.root = orderJoins(lp.root)
	useSplits(lp.root)
}

// orderJoins replaces every join graph under r by its best order.
func orderJoins(r rel) rel {
	done := map[rel]bool{}
	var walk func(rel) rel
	walk = func(r rel) rel {
		if g, ok := r.(*joinGraphRel); ok {
			r = g.best()
		}
		if done[r] {
			return r
		}
		done[r] = true
		setInputs(r, walk)
		return r
	}
	return walk(r)
}
