package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Common subexpressions of an aggregate's arguments. TPC-DS q99 and q62
// sum five CASEs over the days between a sale and its shipping
// (cs_ship_date_sk - cs_sold_date_sk), nine subtractions a row; a
// projection below the aggregate now computes each such expression once
// and the arguments read it as a column.
//
// Only expressions the aggregate evaluates on every row anyway are
// shared: a CASE evaluates a THEN, ELSE or later WHEN on the rows that
// reach it, and an expression seen only there (a division its WHEN guards
// against zero) could fail on rows the query never evaluates it on.

// maxSharedExprs bounds the expressions shared per aggregate.
const maxSharedExprs = 16

// shareSubexpressions gives every aggregate under r a projection of the
// expressions its arguments repeat (see above).
func shareSubexpressions(r rel, b *binder) {
	done := map[rel]bool{}
	var walk func(rel) rel
	walk = func(r rel) rel {
		if done[r] {
			return r
		}
		done[r] = true
		setInputs(r, walk)
		if a, ok := r.(*aggRel); ok {
			shareAggregateArgs(a, b)
		}
		return r
	}
	walk(r)
}

// sharedCandidate is a subexpression of an aggregate's arguments: how
// often it appears and whether once where every row evaluates it.
type sharedCandidate struct {
	e      *expr
	n      int
	always bool
}

// subexprs numbers the subexpressions of some expressions so that equal
// ones (by structure) get one id, in one pass over them: each node's id
// comes from its own fields and its arguments' ids, so that long
// expressions cost their size, not its square (a 38 KB chain of additions
// repeated in three sums planned in 3.6 s when every node printed its
// whole subtree as its key).
type subexprs struct {
	ids      map[*expr]int
	interned map[string]int
	info     []subexprInfo // by id
}

// subexprInfo is what subexprs knows of the expressions of one id.
type subexprInfo struct {
	size     int  // nodes
	reads    bool // reads a column
	computes bool // see computes
}

func newSubexprs() *subexprs {
	return &subexprs{ids: map[*expr]int{}, interned: map[string]int{}}
}

// id returns e's id, numbering e and its subexpressions first.
func (s *subexprs) id(e *expr) int {
	if id, ok := s.ids[e]; ok {
		return id
	}
	info := subexprInfo{size: 1, reads: e.kind == eCol, computes: computesHere(e)}
	local := *e
	local.args = make([]*expr, len(e.args))
	var sig strings.Builder
	for i, a := range e.args {
		aid := s.id(a)
		ai := s.info[aid]
		info.size += ai.size
		info.reads = info.reads || ai.reads
		info.computes = info.computes || ai.computes
		// The argument as a placeholder of its type: the node's own
		// fields print as they lower, the argument by its id.
		local.args[i] = &expr{kind: eCol, col: colID(-1 - i), typ: a.typ}
		fmt.Fprintf(&sig, "%d,", aid)
	}
	sig.WriteString("|")
	if p, err := local.protoOf(func(id colID) (int, bool) { return int(id), true }, true); err == nil {
		sig.WriteString(p.String())
	} else {
		fmt.Fprintf(&sig, "unlowered %p", e) // equal to nothing else
	}
	id, ok := s.interned[sig.String()]
	if !ok {
		id = len(s.info)
		s.interned[sig.String()] = id
		s.info = append(s.info, info)
	}
	s.ids[e] = id
	return id
}

// shareAggregateArgs moves the largest subexpression that a's arguments
// hold twice or more, and evaluate on every row at least once, into a
// projection below a, again until none is left.
func shareAggregateArgs(a *aggRel, b *binder) {
	var shared []*expr
	var ids []colID
	for range maxSharedExprs {
		subs := newSubexprs()
		found := map[int]*sharedCandidate{}
		for _, c := range a.aggs {
			for _, arg := range []*expr{c.arg, c.arg2} {
				if arg != nil {
					subs.collect(arg, true, found)
				}
			}
		}
		best := -1
		for id, c := range found {
			info := subs.info[id]
			if c.n < 2 || !c.always || !info.computes {
				continue
			}
			// The largest first: it holds the smaller ones; ties by id
			// (the order met), for one plan every time.
			if best < 0 || info.size > subs.info[best].size || info.size == subs.info[best].size && id < best {
				best = id
			}
		}
		if best < 0 {
			break
		}
		e := found[best].e
		col := b.newCol("", "shared", e.typ)
		ref := &expr{kind: eCol, col: col, typ: e.typ}
		for i := range a.aggs {
			a.aggs[i].arg = subs.replace(a.aggs[i].arg, best, ref)
			a.aggs[i].arg2 = subs.replace(a.aggs[i].arg2, best, ref)
		}
		shared, ids = append(shared, e), append(ids, col)
	}
	if len(shared) == 0 {
		return
	}
	in := a.in.output()
	exprs := make([]*expr, 0, len(in)+len(shared))
	for _, id := range in {
		exprs = append(exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
	}
	a.in = &projectRel{in: a.in, exprs: append(exprs, shared...), out: append(slices.Clone(in), ids...)}
}

// computesHere reports whether e itself does arithmetic, calls a
// function, casts, matches a pattern or chooses by CASE (subexprs adds its
// arguments'): a comparison or a boolean of columns costs less than the
// column a projection would fill with it (q66's d_moy = 1 … 12, each in
// two sums).
func computesHere(e *expr) bool {
	switch e.kind {
	case eFunc, eCase, eLike:
		return true
	case eCast:
		return !arrow.TypeEqual(e.typ, e.args[0].typ) // a cast to its own type is none (q21's d_date)
	case eBinary:
		return e.op < kapotv1.BinaryOp_BINARY_OP_EQ || e.op > kapotv1.BinaryOp_BINARY_OP_OR
	}
	return false
}

// collect counts the computed subexpressions of e that read a column
// into found, by id; always says every row evaluates e.
func (s *subexprs) collect(e *expr, always bool, found map[int]*sharedCandidate) {
	id := s.id(e)
	if e.kind == eCol || e.kind == eLit || !s.info[id].reads {
		return
	}
	c := found[id]
	if c == nil {
		c = &sharedCandidate{e: e}
		found[id] = c
	}
	c.n++
	c.always = c.always || always
	for i, arg := range e.args {
		// A CASE evaluates its first WHEN on every row it is evaluated
		// on, the rest on the rows that reach them.
		s.collect(arg, always && (e.kind != eCase || i == 0), found)
	}
}

// replace returns e with every subexpression of id target replaced by ref
// (a copy of each node on the way; e itself is left as it is, as other
// plans may hold it). e was numbered by collect.
func (s *subexprs) replace(e *expr, target int, ref *expr) *expr {
	if e == nil {
		return nil
	}
	id, ok := s.ids[e]
	if !ok || e.kind == eCol || e.kind == eLit || !s.info[id].reads {
		return e
	}
	if id == target {
		return ref
	}
	var args []*expr
	for i, arg := range e.args {
		r := s.replace(arg, target, ref)
		if r != arg && args == nil {
			args = slices.Clone(e.args)
		}
		if args != nil {
			args[i] = r
		}
	}
	if args == nil {
		return e
	}
	c := *e
	c.args = args
	return &c
}
