package planner

import (
	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Explicit JOIN trees of a FROM clause: their inner joins become join
// graphs (ordered by the optimiser), and WHERE conjuncts move into them
// as far as their outer joins allow.

// isJoinTree reports whether r is an explicit JOIN of the FROM clause
// (inner, left or right), maybe under a filter of its ON condition.
func isJoinTree(r rel) bool {
	if f, ok := r.(*filterRel); ok {
		r = f.in
	}
	j, ok := r.(*joinRel)
	return ok && (j.jt == kapotv1.JoinType_JOIN_TYPE_INNER || j.jt == kapotv1.JoinType_JOIN_TYPE_LEFT || j.jt == kapotv1.JoinType_JOIN_TYPE_RIGHT)
}

// isInnerJoinTree reports whether r is an explicit inner JOIN, maybe
// under a filter of its ON condition.
func isInnerJoinTree(r rel) bool {
	if f, ok := r.(*filterRel); ok {
		r = f.in
	}
	j, ok := r.(*joinRel)
	return ok && j.jt == kapotv1.JoinType_JOIN_TYPE_INNER
}

// pushInto applies preds (WHERE conjuncts over r's columns) to the
// explicit join tree r as deep as they may go, and turns its inner joins
// into join graphs the optimiser orders like a FROM list's: a tree of
// inner joins becomes one graph of its relations over its ON conditions
// and preds; a predicate over the preserved side of a LEFT (RIGHT) join
// moves into that side, since WHERE keeps only rows it holds for, and a
// preserved row's values are the same before and after the join (TPC-DS
// q72's filters on the dimensions then run before catalog_sales meets
// inventory, not above the two LEFT joins on top). Predicates over the
// padded side stay above the join.
func (b *binder) pushInto(r rel, preds []*expr) rel {
	j, _ := r.(*joinRel)
	if f, ok := r.(*filterRel); ok {
		j, _ = f.in.(*joinRel)
	}
	switch {
	case j != nil && j.jt == kapotv1.JoinType_JOIN_TYPE_INNER:
		leaves, conds := b.flattenInner(r, nil, nil)
		return b.joinGraphOf(leaves, append(conds, preds...))
	case j == r && (j.jt == kapotv1.JoinType_JOIN_TYPE_LEFT || j.jt == kapotv1.JoinType_JOIN_TYPE_RIGHT):
		kept := &j.left
		if j.jt == kapotv1.JoinType_JOIN_TYPE_RIGHT {
			kept = &j.right
		}
		cols := idSet((*kept).output())
		var down, up []*expr
		for _, p := range preds {
			if coveredBy(p, cols) {
				down = append(down, p)
			} else {
				up = append(up, p)
			}
		}
		// A WHERE test of a kept-side key holds for the other side's
		// rows that can match, whose key equals it: those that fail it
		// are dropped before the join (TPC-DS q78's ss_sold_year = 2000
		// filters ws and cs by their sold year too).
		other := &j.right
		keys, otherKeys := j.leftKeys, j.rightKeys
		if j.jt == kapotv1.JoinType_JOIN_TYPE_RIGHT {
			other, keys, otherKeys = &j.left, j.rightKeys, j.leftKeys
		}
		for _, p := range down {
			if d := keyTestFor(p, keys, otherKeys); d != nil {
				if isJoinTree(*other) {
					*other = b.pushInto(*other, []*expr{d})
				} else {
					*other = &filterRel{in: *other, pred: d}
				}
			}
		}
		if isJoinTree(*kept) {
			*kept = b.pushInto(*kept, down)
		} else {
			for _, p := range down {
				*kept = &filterRel{in: *kept, pred: p}
			}
		}
		preds = up
	}
	for _, p := range preds {
		r = &filterRel{in: r, pred: p}
	}
	return r
}

// keyTestFor returns p, a comparison of one column with constants, as a
// test of the key of otherKeys paired with that column in keys, when both
// are columns of one type whose equal values are the same value (integers,
// dates, strings); nil otherwise.
func keyTestFor(p *expr, keys, otherKeys []*expr) *expr {
	var col *expr
	switch p.kind {
	case eBinary:
		if !comparison(p.op) {
			return nil
		}
		switch {
		case p.args[0].kind == eCol && p.args[1].kind == eLit:
			col = p.args[0]
		case p.args[1].kind == eCol && p.args[0].kind == eLit:
			col = p.args[1]
		}
	case eInList, eBetween:
		if p.args[0].kind != eCol {
			return nil
		}
		col = p.args[0]
		for _, a := range p.args[1:] {
			if a.kind != eLit {
				return nil
			}
		}
	}
	if col == nil {
		return nil
	}
	for i, k := range keys {
		o := otherKeys[i]
		if k.kind != eCol || k.col != col.col || o.kind != eCol || !arrow.TypeEqual(k.typ, o.typ) {
			continue
		}
		switch {
		case arrow.IsInteger(k.typ.ID()), k.typ.ID() == arrow.DATE32, k.typ.ID() == arrow.STRING:
			return substCols(p, map[colID]*expr{col.col: o})
		}
	}
	return nil
}

// flattenInner appends the relations of the tree of inner joins r to
// leaves and its conditions to conds: each join's key equalities, its
// other ON conditions, and the filters above a join.
func (b *binder) flattenInner(r rel, leaves []rel, conds []*expr) ([]rel, []*expr) {
	if f, ok := r.(*filterRel); ok {
		if j, ok := f.in.(*joinRel); ok && j.jt == kapotv1.JoinType_JOIN_TYPE_INNER {
			leaves, conds = b.flattenInner(j, leaves, conds)
			return leaves, append(conds, splitAnd(f.pred)...)
		}
	}
	j, ok := r.(*joinRel)
	if !ok || j.jt != kapotv1.JoinType_JOIN_TYPE_INNER {
		if isJoinTree(r) {
			// An outer join inside: ordered on its own.
			r = b.pushInto(r, nil)
		}
		return append(leaves, r), conds
	}
	leaves, conds = b.flattenInner(j.left, leaves, conds)
	leaves, conds = b.flattenInner(j.right, leaves, conds)
	for i := range j.leftKeys {
		conds = append(conds, &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{j.leftKeys[i], j.rightKeys[i]}, typ: arrow.FixedWidthTypes.Boolean})
	}
	if j.filter != nil {
		conds = append(conds, splitAnd(j.filter)...)
	}
	return leaves, conds
}

// joinGraphOf is the join graph of rels over preds, each predicate over
// one relation applied to it first (and what a disjunction over several
// implies for one, as in bindFrom).
func (b *binder) joinGraphOf(rels []rel, preds []*expr) rel {
	items := make([]fromItem, len(rels))
	for i, r := range rels {
		items[i] = fromItem{r: r, cols: idSet(r.output())}
	}
	var rest []*expr
	for _, c := range preds {
		placed := false
		for i := range items {
			if coveredBy(c, items[i].cols) {
				items[i].r = &filterRel{in: items[i].r, pred: c}
				placed = true
				break
			}
		}
		if !placed {
			rest = append(rest, c)
		}
	}
	for _, c := range rest {
		for i := range items {
			if p := impliedFor(c, items[i].cols); p != nil {
				items[i].r = &filterRel{in: items[i].r, pred: p}
			}
		}
	}
	return newJoinGraph(items, rest)
}
