package planner

import (
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The logical relations the binder builds and the lowering turns into a
// physical plan.

// rel is a node of the logical plan; output lists its columns.
type rel interface{ output() []colID }

type scanRel struct {
	table *Table
	cols  []colID // one per table column
	// split, when set, reads the table's files as key-range partitions.
	split *tableSplit
}

type filterRel struct {
	in   rel
	pred *expr
}

type projectRel struct {
	in    rel
	exprs []*expr
	out   []colID
}

type joinRel struct {
	left, right         rel
	jt                  kapotv1.JoinType
	leftKeys, rightKeys []*expr
	filter              *expr
}

type aggCall struct {
	fn       kapotv1.AggregateFunction
	arg      *expr // nil for count(*)
	distinct bool
	out      colID
	// arg2 is corr/covar's second argument; order string_agg's ORDER BY
	// or a percentile's WITHIN GROUP direction (its key is arg); param the
	// separator or fraction.
	arg2  *expr
	order []sortKey
	param *kapotv1.ScalarValue
}

type aggRel struct {
	in     rel
	groups []*expr
	gout   []colID
	aggs   []aggCall
}

type sortKey struct {
	e          *expr
	desc       bool
	nullsFirst bool
}

type sortRel struct {
	in    rel
	keys  []sortKey
	fetch int64 // -1: all
}

// valuesRel is literal rows (VALUES), each value a literal of its
// column's type; without columns it is the one empty row a SELECT without
// FROM reads.
type valuesRel struct {
	out  []colID
	rows [][]*expr
}

type limitRel struct {
	in          rel
	skip, fetch int64
}

func (r *valuesRel) output() []colID  { return r.out }
func (r *scanRel) output() []colID    { return r.cols }
func (r *filterRel) output() []colID  { return r.in.output() }
func (r *projectRel) output() []colID { return r.out }
func (r *joinRel) output() []colID {
	switch r.jt {
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return r.left.output()
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		return r.right.output()
	}
	return append(append([]colID{}, r.left.output()...), r.right.output()...)
}
func (r *aggRel) output() []colID {
	out := append([]colID{}, r.gout...)
	for _, a := range r.aggs {
		out = append(out, a.out)
	}
	return out
}
func (r *sortRel) output() []colID  { return r.in.output() }
func (r *limitRel) output() []colID { return r.in.output() }
