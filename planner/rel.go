package planner

import (
	"math"

	"github.com/kapot-go/kapot/catalog"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The logical relations the binder builds and the lowering turns into a
// physical plan.

// rel is a node of the logical plan; output lists its columns.
type rel interface{ output() []colID }

type scanRel struct {
	table *catalog.Table
	cols  []colID // one per table column
	// split, when set, reads the table's files as key-range partitions.
	split *tableSplit
	// per, when over 1, reads the table's files per consecutive of them
	// in one partition (see filesPerPartition).
	per int
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
	// reduced, set by the optimiser, is the join with an aggregate side
	// reduced by a semi join (optimize_reduce.go): what lowering reads. Estimates
	// read the join as it is.
	reduced *joinRel
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
	// local marks an early aggregate (optimize_eager.go): a partial
	// aggregate in each task, no exchange, whose groups the aggregate
	// above merges. Its group outputs are its input's columns.
	local bool
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

// sharedRel is a WITH query or a view bound once and read wherever the
// statement names it: each reference is a projection over the same
// sharedRel, so a query naming it twice, and a WITH query naming the
// previous one twice (c1 from c0 x, c0 y; c2 from c1 x, c1 y; …), bind
// in time linear in their text, not exponential. Once bound, in does not
// change: what the planner derives from it (estimates, its lowered plan
// for a set of needed columns) is computed once and kept here.
type sharedRel struct {
	in rel
	// size is the number of relations under it (relSize); 0 until
	// computed.
	size int64
	// Derived once (see cost.go, bind_subquery.go, physical.go); ranged is
	// reset by useSplits, which changes how scans are split.
	est, scanned float64
	haveEst      bool
	haveScanned  bool
	ranged       []rangedCol
	haveRanged   bool
	counts       int8 // hasCount: 0 unknown, 1 no, 2 yes
	// lowered is in lowered for each set of needed columns (needKey).
	lowered map[string]lowered
	// once: computed once for all its readers, whatever its size (a
	// ROLLUP's aggregate by all keys, see expandSets).
	once bool
}

func (r *sharedRel) output() []colID { return r.in.output() }

// unshared is the relation a shared relation r stands for, else r.
func unshared(r rel) rel {
	for {
		s, ok := r.(*sharedRel)
		if !ok {
			return r
		}
		r = s.in
	}
}

// inputs lists r's input relations.
func inputs(r rel) []rel {
	switch x := r.(type) {
	case *filterRel:
		return []rel{x.in}
	case *projectRel:
		return []rel{x.in}
	case *joinRel:
		return []rel{x.left, x.right}
	case *aggRel:
		return []rel{x.in}
	case *sortRel:
		return []rel{x.in}
	case *limitRel:
		return []rel{x.in}
	case *unionRel:
		return x.inputs
	case *windowRel:
		return []rel{x.in}
	case *unnestRel:
		return []rel{x.in}
	case *sharedRel:
		return []rel{x.in}
	case *joinGraphRel:
		out := make([]rel, len(x.items))
		for i, it := range x.items {
			out[i] = it.r
		}
		return out
	}
	return nil
}

// setInputs replaces each input of r by f of it, in place.
func setInputs(r rel, f func(rel) rel) {
	switch x := r.(type) {
	case *filterRel:
		x.in = f(x.in)
	case *projectRel:
		x.in = f(x.in)
	case *joinRel:
		x.left, x.right = f(x.left), f(x.right)
	case *aggRel:
		x.in = f(x.in)
	case *sortRel:
		x.in = f(x.in)
	case *limitRel:
		x.in = f(x.in)
	case *unionRel:
		for i := range x.inputs {
			x.inputs[i] = f(x.inputs[i])
		}
	case *windowRel:
		x.in = f(x.in)
	case *unnestRel:
		x.in = f(x.in)
	case *sharedRel:
		x.in = f(x.in)
	case *joinGraphRel:
		for i := range x.items {
			x.items[i].r = f(x.items[i].r)
		}
	}
}

// relSize is the number of nodes of r as the lowering walks it, a shared
// relation once for each path that reaches it; past limit it stops
// counting and returns more than limit.
func relSize(r rel, limit int64) int64 {
	if s, ok := r.(*sharedRel); ok {
		if s.size == 0 {
			// Not an operator itself: its readers are.
			s.size = relSize(s.in, limit)
		}
		return s.size
	}
	n := int64(1)
	for _, in := range inputs(r) {
		if n > limit {
			break
		}
		n = satAdd(n, relSize(in, limit-n))
	}
	return n
}

// satAdd is a+b for non-negative a and b, at most math.MaxInt64/2.
func satAdd(a, b int64) int64 {
	const top = math.MaxInt64 / 2
	if a >= top-b {
		return top
	}
	return a + b
}
