package planner

import (
	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// SELECT DISTINCT ON (k1, k2, …): the first row of each group of rows
// equal on the keys, first by the ORDER BY (PostgreSQL's rule; without an
// ORDER BY any row of the group). It is planned as row_number() OVER
// (PARTITION BY the keys ORDER BY the ORDER BY keys) = 1 below the sort.

// isDistinctOn reports whether s is SELECT DISTINCT ON (…).
func isDistinctOn(s *pg.SelectStmt) bool {
	d := s.GetDistinctClause()
	return len(d) > 0 && d[0].GetNode() != nil
}

// isPlainDistinct reports whether s is SELECT DISTINCT (without ON).
func isPlainDistinct(s *pg.SelectStmt) bool {
	return len(s.GetDistinctClause()) > 0 && !isDistinctOn(s)
}

// bindDistinctOn binds the expressions of DISTINCT ON as ORDER BY items
// are bound: output ordinals, output names or expressions over the FROM
// clause (through the aggregate when there is one). nil without ON.
func (b *binder) bindDistinctOn(q *selectQuery, ag *aggBinder, sel []*expr) ([]*expr, error) {
	if !isDistinctOn(q.s) {
		return nil, nil
	}
	items := make([]*pg.Node, len(q.s.GetDistinctClause()))
	for i, n := range q.s.GetDistinctClause() {
		items[i] = &pg.Node{Node: &pg.Node_SortBy{SortBy: &pg.SortBy{Node: n, Location: -1}}}
	}
	keys, err := b.bindOrder(items, q.sc, ag, q.refs, sel, q.aliases)
	if err != nil {
		return nil, err
	}
	out := make([]*expr, len(keys))
	for i, k := range keys {
		out[i] = k.e
	}
	return out, nil
}

// checkDistinctOn applies PostgreSQL's rule: the ORDER BY must start with
// the DISTINCT ON expressions (in any order among themselves); once an
// ORDER BY item that is not one of them is passed, no DISTINCT ON
// expression may follow or be missing (SQLSTATE 42P10).
func checkDistinctOn(on []*expr, order []sortKey) error {
	inOn := map[string]bool{}
	for _, e := range on {
		inOn[e.key()] = true
	}
	inOrder := map[string]bool{}
	skipped := false
	for _, k := range order {
		key := k.e.key()
		inOrder[key] = true
		if !inOn[key] {
			skipped = true
			continue
		}
		if skipped {
			return errDistinctOn()
		}
	}
	for _, e := range on {
		if skipped && !inOrder[e.key()] {
			return errDistinctOn()
		}
	}
	return nil
}

func errDistinctOn() error {
	return errAt(-1, errs.ErrInvalidColumnReference, "SELECT DISTINCT ON expressions must match initial ORDER BY expressions")
}

// distinctOnRel keeps, of proj's rows, the first of each group equal on
// the DISTINCT ON expressions by the sort keys order (columns of proj).
// An expression that is not one of proj's is projected there, hidden.
func (b *binder) distinctOnRel(proj *projectRel, on []*expr, order []sortKey) rel {
	var part []*expr
	for _, e := range on {
		id := colID(-1)
		for i, pe := range proj.exprs {
			if pe.key() == e.key() {
				id = proj.out[i]
				break
			}
		}
		if id < 0 {
			id = b.newCol("", "distinct_on", e.typ)
			proj.exprs = append(proj.exprs, e)
			proj.out = append(proj.out, id)
		}
		part = append(part, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
	}
	rn := b.newCol("", "row_number", arrow.PrimitiveTypes.Int64)
	w := &windowRel{in: proj, partBy: part, order: order,
		calls: []windowCall{{fn: kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER, offset: 1, out: rn}}}
	one := &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64},
		Value: &kapotv1.ScalarValue_IntValue{IntValue: 1}}, typ: arrow.PrimitiveTypes.Int64}
	pred := &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, typ: arrow.FixedWidthTypes.Boolean,
		args: []*expr{{kind: eCol, col: rn, typ: arrow.PrimitiveTypes.Int64}, one}}
	return &filterRel{in: w, pred: pred}
}
