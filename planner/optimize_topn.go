package planner

import (
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Top-N rankings: a filter that keeps the rows whose row_number(), rank()
// or dense_rank() is at most N (TPC-DS q67's "rk <= 100", q44's
// "rnk < 11") lets the window's input be cut to those rows of each window
// partition before the window's exchange and sort (the engine's
// TopNRanking), as Spark's WindowGroupLimit and Trino's TopNRanking do.

// maxTopNRanking is the largest N a ranking filter is pushed down for
// (Spark's spark.sql.optimizer.windowGroupLimitThreshold): past it, the
// rows kept per window partition are too many for the cut to pay.
const maxTopNRanking = 1000

// limitRankings marks every window under r whose one function is a
// ranking that a filter right above it (through projections that pass the
// ranking on) bounds by a constant, with that bound. The filter stays: the
// cut keeps a superset of the rows it passes.
func limitRankings(r rel) {
	refs := relRefs(r)
	for x := range refs {
		f, ok := x.(*filterRel)
		if !ok {
			continue
		}
		for _, c := range splitAnd(f.pred) {
			col, n, ok := rankBound(c)
			if !ok {
				continue
			}
			if w := rankingWindow(f.in, col, refs); w != nil && n >= 1 && n <= maxTopNRanking && (w.topN == 0 || n < w.topN) {
				w.topN = n
			}
		}
	}
}

// rankBound reads c as "column <= n" (or <, =, >=, > with the column on
// either side) for an integer constant n: the column and the largest
// value it keeps.
func rankBound(c *expr) (colID, int64, bool) {
	if c.kind != eBinary || len(c.args) != 2 {
		return 0, 0, false
	}
	a, b, op := c.args[0], c.args[1], c.op
	if a.kind == eLit {
		a, b = b, a
		switch op {
		case kapotv1.BinaryOp_BINARY_OP_GT:
			op = kapotv1.BinaryOp_BINARY_OP_LT
		case kapotv1.BinaryOp_BINARY_OP_GTE:
			op = kapotv1.BinaryOp_BINARY_OP_LTE
		case kapotv1.BinaryOp_BINARY_OP_EQ:
		default:
			return 0, 0, false
		}
	}
	iv, ok := b.lit.GetValue().(*kapotv1.ScalarValue_IntValue)
	if a.kind != eCol || b.kind != eLit || !ok {
		return 0, 0, false
	}
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_LTE, kapotv1.BinaryOp_BINARY_OP_EQ:
		return a.col, iv.IntValue, true
	case kapotv1.BinaryOp_BINARY_OP_LT:
		return a.col, iv.IntValue - 1, true
	}
	return 0, 0, false
}

// rankingWindow follows column col down from r through projections that
// pass it on unchanged to the window that computes it, and returns that
// window if its one function is a ranking by an ORDER BY and no relation
// on the way (the window included) has another reader.
func rankingWindow(r rel, col colID, refs map[rel]int) *windowRel {
	for refs[r] == 1 {
		switch x := r.(type) {
		case *projectRel:
			i := -1
			for k, out := range x.out {
				if out == col {
					i = k
				}
			}
			if i < 0 || x.exprs[i].kind != eCol {
				return nil
			}
			col, r = x.exprs[i].col, x.in
		case *windowRel:
			if len(x.calls) != 1 || x.calls[0].out != col || len(x.order) == 0 {
				return nil
			}
			switch x.calls[0].fn {
			case kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER, kapotv1.WindowFunction_WINDOW_FUNCTION_RANK,
				kapotv1.WindowFunction_WINDOW_FUNCTION_DENSE_RANK:
				return x
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}

// relRefs counts, for every relation under r (r included), the relations
// that read it (r itself once): a relation read once can be rewritten for
// its reader.
func relRefs(r rel) map[rel]int {
	refs := map[rel]int{}
	var count func(rel)
	count = func(r rel) {
		if refs[r]++; refs[r] > 1 {
			return
		}
		for _, in := range inputs(r) {
			count(in)
		}
	}
	count(r)
	return refs
}
