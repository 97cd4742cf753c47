package planner

// The optimiser: passes over the bound logical plan, in order, before it
// is lowered. The choice of broadcast or repartitioned joins depends on
// what lowering learns of its inputs (their partitioning) and is made
// there.

// optimise rewrites the logical plan in place: filters of the places that
// read a shared relation go into its definition (optimize_shared.go),
// correlated MIN/MAX subqueries over a part of their outer join become
// windows over it (optimize_subwindow.go), the join graphs the binder
// left become trees of joins (optimize_joins.go), the scans of sorted files
// keep the key-range splits their joins and groupings can use (optimize_splits.go),
// and joins with an aggregate on one side are marked for reduction by a
// semi join (optimize_reduce.go), under the cost model of o; windows
// whose ranking a filter bounds learn the bound (optimize_topn.go), and
// aggregates over a join aggregate its fact side first where that pays
// (optimize_eager.go), and what an aggregate's arguments compute twice is
// computed once below it (optimize_cse.go).
func optimise(lp *logicalPlan, o Options) {
	pushIntoShared(lp.root)
	windowSubqueries(lp.root, lp.b)
	lp.root = orderJoins(lp.root)
	useSplits(lp.root)
	reduceAggregates(lp.root, o.costModel())
	limitRankings(lp.root)
	aggregateEarly(lp.root, lp.b, o.costModel())
	shareSubexpressions(lp.root, lp.b)
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

// reduceAggregates marks each inner join under r whose aggregate side the
// cost model reduces (optimize_reduce.go) with its reduced form, walking joins
// before their inputs, and the reduced form's inputs rather than the
// join's. The tree itself is left as it is: estimates of the joins above
// read it unreduced.
func reduceAggregates(r rel, c costModel) {
	done := map[rel]bool{}
	var walk func(rel)
	walk = func(r rel) {
		if done[r] {
			return
		}
		done[r] = true
		if j, ok := r.(*joinRel); ok {
			if red := c.reduceAggregate(j); red != j {
				j.reduced = red
				r = red
			}
		}
		for _, in := range inputs(r) {
			walk(in)
		}
	}
	walk(r)
}
