package planner

import (
	"slices"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// semiJoinReduction is how much smaller (in estimated rows) than the
// distinct group keys a filtered relation must be before an aggregate
// joined with it is reduced by it first.
const semiJoinReduction = 4

// reduceAggregate applies a semi-join (magic-set) reduction to an inner join
// of an aggregate with a selective relation, the shape a decorrelated
// subquery takes (TPC-H Q2, Q17, Q20: a per-key aggregate of a big table
// joined back to a few filtered keys). Rows of the aggregate's input whose
// group key the other side can never hold are dropped before they are
// aggregated, by a semi join with the small, cheap relation that the other
// side's key values come from:
//
//	Y ⋈[y = g] γ[g](R)  =  Y ⋈[y = g] γ[g](S ⋉[s = g] R)   when π[y](Y) ⊆ π[s](S)
//
// Whole groups are kept or dropped, so the aggregates of the groups that
// join are unchanged. S is a filtered scan that y flows from through
// filters, projections, inner and semi joins (on y or on a key y equals),
// small enough to broadcast or split into files alike with R.
// It returns j unchanged when there is no such S.
func (p costModel) reduceAggregate(j *joinRel) *joinRel {
	if j.jt != kapotv1.JoinType_JOIN_TYPE_INNER || p.broadcast < 0 {
		return j
	}
	for side := 0; side < 2; side++ {
		aggSide, other, aKeys, oKeys := j.left, j.right, j.leftKeys, j.rightKeys
		if side == 1 {
			aggSide, other, aKeys, oKeys = j.right, j.left, j.rightKeys, j.leftKeys
		}
		var best *origin
		var bestKey *expr
		var agg *aggRel
		for i := range aKeys {
			if aKeys[i].kind != eCol || oKeys[i].kind != eCol {
				continue
			}
			a, g := groupOf(aggSide, aKeys[i].col)
			// The reduction is a broadcast or co-partitioned semi join:
			// the aggregate's input must be the big side.
			if a == nil || !typesEqual(a.groups[g], oKeys[i]) || p.broadcastable(a.in, nil) {
				continue
			}
			ndv := columnNDV(a.in, a.groups[g])
			if ndv <= 0 {
				continue
			}
			for _, o := range origins(other, oKeys[i].col, nil) {
				if !scanChain(o.r) || estimate(o.r)*semiJoinReduction > ndv {
					continue
				}
				// Built whole in every task, computed once and read
				// whole by every task (a filter over a table too big to
				// scan in each: TPC-H Q2's 4 000 brass parts of 2 M at
				// SF 10), or file by file when both sides' files split
				// the key alike (part and partsupp).
				semi := &joinRel{left: o.r, right: a.in, jt: kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI,
					leftKeys: []*expr{{kind: eCol, col: o.col, typ: a.groups[g].typ}}, rightKeys: []*expr{a.groups[g]}}
				if !p.broadcastable(o.r, a.in) && !p.broadcastOnce(o.r, a.in) && !relCoPartitioned(semi, relRanged(o.r), relRanged(a.in)) {
					continue
				}
				if best == nil || estimate(o.r) < estimate(best.r) {
					best, bestKey, agg = &o, a.groups[g], a
				}
			}
		}
		if best == nil {
			continue
		}
		key := &expr{kind: eCol, col: best.col, typ: bestKey.typ}
		var in rel = &joinRel{left: best.r, right: agg.in, jt: kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI,
			leftKeys: []*expr{key}, rightKeys: []*expr{bestKey}}
		if bestKey.kind == eCol && p.broadcastable(best.r, agg.in) {
			in = semiBelow(best.r, key, agg.in, bestKey)
		}
		reduced := &aggRel{in: in, groups: agg.groups, gout: agg.gout, aggs: agg.aggs}
		out := *j
		if side == 0 {
			out.left = replaceAgg(aggSide, agg, reduced)
		} else {
			out.right = replaceAgg(aggSide, agg, reduced)
		}
		return &out
	}
	return j
}

// semiBelow returns r ⋉ s (a RIGHT_SEMI join keeping the rows of r whose
// column rKey equals some sKey of s), pushed down r's filters, projections
// and inner joins to the side rKey comes from: the semi join then shrinks
// that side before the join, and a small side's dynamic filters shrink the
// other's scan. TPC-DS q02's weeks of one year, above the join of every
// web and catalog sale with its date, dropped the other years' sales only
// after joining them all; pushed onto date_dim, they keep 371 of its 73 049
// dates, and the sales scans skip the other years' row groups.
//
// It goes into the smaller side of a join only (into the larger it would
// only reorder two reductions of one scan), and not under filters, which
// stay on the scans they were pushed to.
func semiBelow(s rel, sKey *expr, r rel, rKey *expr) rel {
	switch x := r.(type) {
	case *projectRel:
		if k := slices.Index(x.out, rKey.col); k >= 0 && x.exprs[k].kind == eCol && typesEqual(x.exprs[k], rKey) {
			return &projectRel{in: semiBelow(s, sKey, x.in, x.exprs[k]), exprs: x.exprs, out: x.out}
		}
	case *joinRel:
		if x.jt != kapotv1.JoinType_JOIN_TYPE_INNER || x.reduced != nil {
			break
		}
		j := *x
		l, r := estimate(x.left), estimate(x.right)
		switch {
		case l < r && slices.Contains(x.left.output(), rKey.col):
			j.left = semiBelow(s, sKey, x.left, rKey)
			return &j
		case r < l && slices.Contains(x.right.output(), rKey.col):
			j.right = semiBelow(s, sKey, x.right, rKey)
			return &j
		}
	}
	return &joinRel{left: s, right: r, jt: kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, leftKeys: []*expr{sKey}, rightKeys: []*expr{rKey}}
}

// groupOf finds the aggregate under r (through projections) whose group
// expression number g column id is, or nil.
func groupOf(r rel, id colID) (*aggRel, int) {
	switch x := r.(type) {
	case *aggRel:
		if g := slices.Index(x.gout, id); g >= 0 {
			return x, g
		}
	case *projectRel:
		if k := slices.Index(x.out, id); k >= 0 && x.exprs[k].kind == eCol {
			return groupOf(x.in, x.exprs[k].col)
		}
	case *sharedRel:
		return groupOf(x.in, id)
	}
	return nil, 0
}

// replaceAgg copies the projections from r down to old with old replaced.
func replaceAgg(r rel, old, repl *aggRel) rel {
	switch x := r.(type) {
	case *aggRel:
		if x == old {
			return repl
		}
	case *projectRel:
		c := *x
		c.in = replaceAgg(x.in, old, repl)
		return &c
	case *sharedRel:
		// The other readers keep the shared relation; this one reads a
		// copy of the path down to the aggregate.
		if c := replaceAgg(x.in, old, repl); c != x.in {
			return c
		}
	}
	return r
}

// origin is a relation whose column col holds every value some column of
// a larger relation holds.
type origin struct {
	r   rel
	col colID
}

// origins lists the relations under r whose column holds every value
// column id of r holds: filters and projections pass values through, an
// inner or semi join passes a side's key values, and equally the other
// side's key values it equals.
func origins(r rel, id colID, out []origin) []origin {
	return originsSeen(r, id, out, map[origin]bool{})
}

// originsSeen is origins, each relation and column looked at once (a
// WITH query joined with itself is reached along several paths).
func originsSeen(r rel, id colID, out []origin, seen map[origin]bool) []origin {
	if seen[origin{r, id}] {
		return out
	}
	seen[origin{r, id}] = true
	origins := func(r rel, id colID, out []origin) []origin { return originsSeen(r, id, out, seen) }
	switch x := r.(type) {
	case *scanRel:
		return append(out, origin{x, id})
	case *filterRel:
		return origins(x.in, id, append(out, origin{x, id}))
	case *projectRel:
		if k := slices.Index(x.out, id); k >= 0 && x.exprs[k].kind == eCol {
			return origins(x.in, x.exprs[k].col, append(out, origin{x, id}))
		}
	case *sharedRel:
		return origins(x.in, id, out)
	case *joinRel:
		switch x.jt {
		case kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI:
		default:
			return out
		}
		side, otherSide, keys, otherKeys := x.left, x.right, x.leftKeys, x.rightKeys
		if !slices.Contains(x.left.output(), id) {
			side, otherSide, keys, otherKeys = x.right, x.left, x.rightKeys, x.leftKeys
			if !slices.Contains(side.output(), id) {
				return out
			}
		}
		out = origins(side, id, out)
		for i, k := range keys {
			if k.kind == eCol && k.col == id && otherKeys[i].kind == eCol {
				out = origins(otherSide, otherKeys[i].col, out)
			}
		}
	}
	return out
}

// scanChain reports whether r is filters and projections over one scan:
// cheap to compute again.
func scanChain(r rel) bool {
	switch x := r.(type) {
	case *scanRel:
		return true
	case *filterRel:
		return scanChain(x.in)
	case *projectRel:
		return scanChain(x.in)
	case *sharedRel:
		return scanChain(x.in)
	}
	return false
}
