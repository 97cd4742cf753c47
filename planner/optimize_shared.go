package planner

import (
	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Filters into shared relations (a WITH query or view read in several
// places, bound once): when every place that reads one filters what it
// reads, the shared relation needs only the rows some place keeps, the
// disjunction of their filters. That disjunction is pushed into its
// definition as far as it can go: through projections and UNION ALL
// (substituted by what they compute, so a branch's constant column meets
// the constant it is compared with), below an aggregate as what it says
// about the grouping keys, into a join graph's relations. TPC-DS q04
// reads year_total six times, each for one channel and year: the store
// branch's aggregate then reads the store sales of 2001 and 2002 instead
// of all of them. Each place keeps its own filters, so its rows are the
// same. A WITH query read once is filtered the same way (q78's ss, read
// once with ss_sold_year = 2000: its aggregate groups 2000's sales, not
// every year's).

// pushIntoShared pushes the filters of every shared relation under r's
// readers into its definition (see above).
func pushIntoShared(r rel) {
	refs := map[*sharedRel]*sharedReaders{}
	seen := map[rel]bool{}
	// inner are the filters and projection below the top of a read
	// already counted: their inputs are the same read.
	inner := map[rel]bool{}
	var walk func(rel)
	walk = func(r rel) {
		if seen[r] {
			return
		}
		seen[r] = true
		for _, in := range inputs(r) {
			if inner[r] {
				walk(in)
				continue
			}
			if s, preds, ok := filteredRead(in); ok {
				for c := in; c != rel(s); c = inputs(c)[0] {
					inner[c] = true
				}
				rd := refs[s]
				if rd == nil {
					rd = &sharedReaders{}
					refs[s] = rd
				}
				rd.reads++
				if len(preds) == 0 {
					rd.unfiltered = true
				} else {
					rd.filters = append(rd.filters, preds)
				}
			}
			walk(in)
		}
	}
	walk(r)
	for s, rd := range refs {
		if rd.unfiltered || len(rd.filters) == 0 || len(rd.filters) != rd.reads {
			continue
		}
		var any *expr
		for _, preds := range rd.filters {
			var all *expr
			for _, p := range preds {
				all = andExpr(all, p)
			}
			any = orExpr(any, all)
		}
		s.in = pushFilter(s.in, any)
		// Estimates read the definition as it is now.
		s.haveEst, s.haveScanned, s.haveRanged, s.counts = false, false, false, 0
	}
}

// sharedReaders is how a shared relation is read: reads places, filters
// the conjuncts each filtered place applies (over the shared relation's
// columns), unfiltered whether some place reads it whole.
type sharedReaders struct {
	reads      int
	filters    [][]*expr
	unfiltered bool
}

// filteredRead reports whether r reads a shared relation: directly, or
// through a projection of its columns (the relabelling of a WITH query's
// name), under filters; preds are the filters over the shared
// relation's columns (none for a read without a filter).
func filteredRead(r rel) (*sharedRel, []*expr, bool) {
	var preds []*expr
	for {
		f, ok := r.(*filterRel)
		if !ok {
			break
		}
		preds = append(preds, f.pred)
		r = f.in
	}
	if s, ok := r.(*sharedRel); ok {
		return s, preds, true
	}
	p, ok := r.(*projectRel)
	if !ok {
		return nil, nil, false
	}
	s, ok := p.in.(*sharedRel)
	if !ok {
		return nil, nil, false
	}
	m := map[colID]*expr{}
	for i, e := range p.exprs {
		if e.kind != eCol {
			// Not a relabelling: a filter over a computed column is not
			// mapped; the place counts as reading the whole relation.
			return s, nil, true
		}
		m[p.out[i]] = e
	}
	for i, pr := range preds {
		preds[i] = substCols(pr, m)
	}
	return s, preds, true
}

// pushFilter returns r filtered by pred, the filter as deep in r as it
// can go without changing r's rows (a weaker form of it below an
// aggregate, the whole filter above).
func pushFilter(r rel, pred *expr) rel {
	switch x := r.(type) {
	case *filterRel:
		x.in = pushFilter(x.in, pred)
		return x
	case *projectRel:
		m := map[colID]*expr{}
		for i, e := range x.exprs {
			m[x.out[i]] = e
		}
		x.in = pushFilter(x.in, substCols(pred, m))
		return x
	case *unionRel:
		for i, in := range x.inputs {
			m := map[colID]*expr{}
			for j, id := range in.output() {
				m[x.out[j]] = &expr{kind: eCol, col: id, typ: colType(pred, x.out[j])}
			}
			x.inputs[i] = pushFilter(in, substCols(pred, m))
		}
		return x
	case *aggRel:
		// Below an aggregate with groups, what pred says of the group keys
		// alone keeps the same groups; an aggregate without groups gives a
		// row even over no input, so nothing goes below it.
		if len(x.groups) > 0 {
			keys := map[colID]bool{}
			m := map[colID]*expr{}
			for i, id := range x.gout {
				keys[id] = true
				m[id] = x.groups[i]
			}
			if p := impliedOver(pred, keys); p != nil {
				x.in = pushFilter(x.in, substCols(p, m))
			}
		}
		return &filterRel{in: x, pred: pred}
	case *joinRel:
		return pushIntoJoin(x, pred)
	case *joinGraphRel:
		for i := range x.items {
			if coveredBy(pred, x.items[i].cols) && len(pred.refs(nil)) > 0 {
				x.items[i].r = pushFilter(x.items[i].r, pred)
				return x
			}
		}
		for i := range x.items {
			if p := impliedOver(pred, x.items[i].cols); p != nil && len(p.refs(nil)) > 0 {
				x.items[i].r = pushFilter(x.items[i].r, p)
			}
		}
		x.preds = append(x.preds, pred)
		return x
	}
	return &filterRel{in: r, pred: pred}
}

// pushIntoJoin returns j filtered by pred: each conjunct over one side's
// columns goes into that side when the join keeps all of that side's
// rows that match (an inner join's either side, an outer join's
// preserved side, a semi or anti join's output side), the rest stays
// above. TPC-DS q78's year (d_year = 2000, from the WITH query's reader)
// reached the top of store_sales ⋈ date_dim ⟕ store_returns and stayed
// there: the joins read every year's 2.9 M sales instead of 2000's.
func pushIntoJoin(j *joinRel, pred *expr) rel {
	if j.reduced != nil {
		return &filterRel{in: j, pred: pred}
	}
	into := func(side rel) bool {
		switch j.jt {
		case kapotv1.JoinType_JOIN_TYPE_INNER:
			return true
		case kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
			return side == j.left
		case kapotv1.JoinType_JOIN_TYPE_RIGHT, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
			return side == j.right
		}
		return false
	}
	lcols, rcols := idSet(j.left.output()), idSet(j.right.output())
	var rest *expr
	for _, c := range splitAnd(pred) {
		switch {
		case len(c.refs(nil)) == 0:
			rest = andExpr(rest, c)
		case coveredBy(c, lcols) && into(j.left):
			j.left = pushFilter(j.left, c)
		case coveredBy(c, rcols) && into(j.right):
			j.right = pushFilter(j.right, c)
		default:
			rest = andExpr(rest, c)
		}
	}
	if rest == nil {
		return j
	}
	return &filterRel{in: j, pred: rest}
}

// impliedOver is what e says about the columns cols alone: the conjuncts
// of e over them, or for a disjunction the disjunction of each branch's
// (impliedFor); nil when it says nothing.
func impliedOver(e *expr, cols map[colID]bool) *expr {
	if len(splitOr(e)) > 1 {
		return impliedFor(e, cols)
	}
	var and *expr
	for _, c := range splitAnd(e) {
		if coveredBy(c, cols) {
			and = andExpr(and, c)
		}
	}
	return and
}

// substCols is e with every column of m replaced by its expression (a
// copy; e is not changed).
func substCols(e *expr, m map[colID]*expr) *expr {
	if e.kind == eCol {
		if r, ok := m[e.col]; ok {
			return r
		}
		return e
	}
	if len(e.args) == 0 {
		return e
	}
	c := *e
	c.args = make([]*expr, len(e.args))
	for i, a := range e.args {
		c.args[i] = substCols(a, m)
	}
	return &c
}

// colType is the type of column id where e reads it (nil when it does
// not).
func colType(e *expr, id colID) arrow.DataType {
	if e.kind == eCol && e.col == id {
		return e.typ
	}
	for _, a := range e.args {
		if t := colType(a, id); t != nil {
			return t
		}
	}
	return nil
}

// orExpr is a OR b (b when a is nil).
func orExpr(a, b *expr) *expr {
	if a == nil {
		return b
	}
	return &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_OR, args: []*expr{a, b}, typ: arrow.FixedWidthTypes.Boolean}
}
