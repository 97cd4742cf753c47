package planner

import (
	"regexp"
	"strings"
)

// Checks of a decorrelated LATERAL subquery: a query nested in it (a
// derived table, a JOIN condition, a subquery predicate) that reads the
// columns of the FROM item before the LATERAL is not decorrelated by it,
// and is refused rather than planned with a column its input lacks.

// danglingRef reports whether an expression of r, or of a relation under
// it, reads a column its inputs do not produce.
func danglingRef(r rel) bool {
	seen := map[rel]bool{}
	var walk func(r rel) bool
	walk = func(r rel) bool {
		if seen[r] {
			return false
		}
		seen[r] = true
		for _, in := range inputs(r) {
			if walk(in) {
				return true
			}
		}
		var avail []colID
		for _, in := range inputs(r) {
			avail = append(avail, in.output()...)
		}
		have := idSet(avail)
		reads := func(es ...*expr) bool {
			for _, e := range es {
				if e != nil && !coveredBy(e, have) {
					return true
				}
			}
			return false
		}
		switch x := r.(type) {
		case *filterRel:
			return reads(x.pred)
		case *projectRel:
			return reads(x.exprs...)
		case *joinRel:
			return reads(x.filter) || reads(x.leftKeys...) || reads(x.rightKeys...)
		case *joinGraphRel:
			return reads(x.preds...)
		case *aggRel:
			if reads(x.groups...) {
				return true
			}
			for _, c := range x.aggs {
				if reads(c.arg, c.arg2) || reads(sortExprs(c.order)...) {
					return true
				}
			}
		case *windowRel:
			if reads(x.partBy...) || reads(sortExprs(x.order)...) {
				return true
			}
			for _, c := range x.calls {
				if reads(c.arg) {
					return true
				}
			}
		case *sortRel:
			return reads(sortExprs(x.keys)...)
		}
		return false
	}
	return walk(r)
}

func sortExprs(keys []sortKey) []*expr {
	out := make([]*expr, len(keys))
	for i, k := range keys {
		out[i] = k.e
	}
	return out
}

var missingColumn = regexp.MustCompile(`column "([^"]+)" does not exist`)

// readsLeft reports whether err is a column that does not exist where a
// query nested in a LATERAL subquery looked for it, but is one of the
// columns of left (sc), which only the LATERAL's own level reads.
func readsLeft(err error, sc *scope) bool {
	m := missingColumn.FindStringSubmatch(err.Error())
	if m == nil {
		return false
	}
	qual, name := "", m[1]
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		qual, name = name[:i], name[i+1:]
	}
	_, ferr := sc.find(qual, name, -1)
	return ferr == nil
}
