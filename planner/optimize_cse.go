package planner

import (
	"slices"

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

// shareAggregateArgs moves the largest subexpression that a's arguments
// hold twice or more, and evaluate on every row at least once, into a
// projection below a, again until none is left.
func shareAggregateArgs(a *aggRel, b *binder) {
	var shared []*expr
	var ids []colID
	for range maxSharedExprs {
		found := map[string]*sharedCandidate{}
		for _, c := range a.aggs {
			for _, arg := range []*expr{c.arg, c.arg2} {
				if arg != nil {
					collectShared(arg, true, found)
				}
			}
		}
		var best *sharedCandidate
		bestKey := ""
		for k, c := range found {
			if c.n < 2 || !c.always || !computes(c.e) {
				continue
			}
			// The largest (its text the longest) first: it holds the
			// smaller ones; ties by text, for one plan every time.
			if best == nil || len(k) > len(bestKey) || len(k) == len(bestKey) && k < bestKey {
				best, bestKey = c, k
			}
		}
		if best == nil {
			break
		}
		id := b.newCol("", "shared", best.e.typ)
		ref := &expr{kind: eCol, col: id, typ: best.e.typ}
		for i := range a.aggs {
			a.aggs[i].arg = replaceShared(a.aggs[i].arg, bestKey, ref)
			a.aggs[i].arg2 = replaceShared(a.aggs[i].arg2, bestKey, ref)
		}
		shared, ids = append(shared, best.e), append(ids, id)
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

// computes reports whether e does arithmetic, calls a function, casts,
// matches a pattern or chooses by CASE: a comparison or a boolean of
// columns costs less than the column a projection would fill with it
// (q66's d_moy = 1 … 12, each in two sums).
func computes(e *expr) bool {
	switch e.kind {
	case eCol, eLit:
		return false
	case eFunc, eCase, eLike:
		return true
	case eCast:
		if !arrow.TypeEqual(e.typ, e.args[0].typ) {
			return true // a cast to its own type is none (q21's d_date)
		}
	case eBinary:
		if e.op < kapotv1.BinaryOp_BINARY_OP_EQ || e.op > kapotv1.BinaryOp_BINARY_OP_OR {
			return true
		}
	}
	for _, a := range e.args {
		if computes(a) {
			return true
		}
	}
	return false
}

// collectShared counts the computed subexpressions of e that read a
// column into found; always says every row evaluates e.
func collectShared(e *expr, always bool, found map[string]*sharedCandidate) {
	if e.kind == eCol || e.kind == eLit || !e.readsColumns() {
		return
	}
	k := e.key()
	c := found[k]
	if c == nil {
		c = &sharedCandidate{e: e}
		found[k] = c
	}
	c.n++
	c.always = c.always || always
	for i, arg := range e.args {
		// A CASE evaluates its first WHEN on every row it is evaluated
		// on, the rest on the rows that reach them.
		collectShared(arg, always && (e.kind != eCase || i == 0), found)
	}
}

// replaceShared returns e with every subexpression whose key is k
// replaced by ref (a copy of each node on the way; e itself is left as
// it is, as other plans may hold it).
func replaceShared(e *expr, k string, ref *expr) *expr {
	if e == nil || e.kind == eCol || e.kind == eLit || !e.readsColumns() {
		return e
	}
	if e.key() == k {
		return ref
	}
	var args []*expr
	for i, arg := range e.args {
		r := replaceShared(arg, k, ref)
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
