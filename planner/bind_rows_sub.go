package planner

import (
	"fmt"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/engine"
)

// A row compared with a subquery of one row, (a, b) = (SELECT x, y …):
// the subquery becomes one scalar subquery per column, (SELECT x …) and
// (SELECT y …), each of one row at most, so the comparison is the
// comparison of their row, NULL fields when the subquery returns no row,
// and an error when it returns several (as in PostgreSQL). A subquery
// whose rows are not the same when it selects one column (DISTINCT, a set
// operation, VALUES, *, an aggregate without GROUP BY beside a column that
// does not aggregate, LIMIT) or whose ORDER BY names its select list by
// position or alias is refused.

// rowSubqueryFields replaces the subquery side of a row comparison (l or
// r) by a row of per-column scalar subqueries.
func rowSubqueryFields(l, r *pg.Node, pos int32) (*pg.Node, *pg.Node, error) {
	row, sl, left := r, l.GetSubLink(), true
	if sl == nil {
		row, sl, left = l, r.GetSubLink(), false
	}
	fields := rowFields(row)
	if fields == nil || sl.GetSubLinkType() != pg.SubLinkType_EXPR_SUBLINK {
		return nil, nil, notSupported(pos, "a row value compared with (SELECT …) other than a row constructor with a scalar subquery")
	}
	sub := sl.GetSubselect().GetSelectStmt()
	if err := splittable(sub, pos); err != nil {
		return nil, nil, err
	}
	if n := len(sub.GetTargetList()); n != len(fields) {
		more := "many"
		if n < len(fields) {
			more = "few"
		}
		return nil, nil, errAt(pos, engine.ErrInvalidPlan, "subquery has too %s columns (%d for a row of %d)", more, n, len(fields))
	}
	var cols []*pg.Node
	for _, t := range sub.GetTargetList() {
		one := proto.Clone(sub).(*pg.SelectStmt)
		one.TargetList = []*pg.Node{proto.Clone(t).(*pg.Node)}
		cols = append(cols, &pg.Node{Node: &pg.Node_SubLink{SubLink: &pg.SubLink{SubLinkType: pg.SubLinkType_EXPR_SUBLINK,
			Subselect: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: one}}, Location: sl.GetLocation()}}})
	}
	split := &pg.Node{Node: &pg.Node_RowExpr{RowExpr: &pg.RowExpr{Args: cols, Location: sl.GetLocation()}}}
	if left {
		return split, r, nil
	}
	return l, split, nil
}

// splittable refuses a subquery whose rows change when it selects one of
// its columns.
func splittable(sub *pg.SelectStmt, pos int32) error {
	what := ""
	switch {
	case sub == nil || sub.GetOp() != pg.SetOperation_SET_OPERATION_UNDEFINED && sub.GetOp() != pg.SetOperation_SETOP_NONE:
		what = "a set operation"
	case len(sub.GetValuesLists()) > 0:
		what = "VALUES"
	case len(sub.GetDistinctClause()) > 0:
		what = "DISTINCT"
	}
	aliases := map[string]bool{}
	aggs := 0
	for _, t := range sub.GetTargetList() {
		rt := t.GetResTarget()
		if containsAgg(rt.GetVal()) {
			aggs++
		}
		if cr := rt.GetVal().GetColumnRef(); cr != nil && isStar(cr) {
			what = "*"
		}
		if rt.GetName() != "" {
			aliases[rt.GetName()] = true
		}
	}
	if len(sub.GetGroupClause()) == 0 && (aggs > 0 || sub.GetHavingClause() != nil) && aggs < len(sub.GetTargetList()) {
		// SELECT count(*), 3 …: one row; SELECT 3 … alone, one per row.
		what = "an aggregate without GROUP BY and columns that do not aggregate"
	}
	for _, it := range sub.GetSortClause() {
		n := it.GetSortBy().GetNode()
		if c := n.GetAConst(); c != nil && c.GetIval() != nil {
			what = "ORDER BY a position"
		}
		if cr := n.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 && aliases[cr.GetFields()[0].GetString_().GetSval()] {
			what = "ORDER BY an output name"
		}
	}
	if sub.GetLimitCount() != nil || sub.GetLimitOffset() != nil {
		// Each column's subquery could take its row among ties of the
		// ORDER BY from another row.
		what = "LIMIT or OFFSET"
	}
	if what != "" {
		return notSupported(pos, fmt.Sprintf("a row value compared with (SELECT …) over %s", what))
	}
	return nil
}
