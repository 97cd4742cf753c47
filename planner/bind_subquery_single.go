package planner

import (
	pg "github.com/pganalyze/pg_query_go/v6"

	physexpr "github.com/kapot-go/kapot/engine/expr"
)

// oneRowShape reports whether sub returns one row by its shape: one
// aggregate, no GROUP BY, HAVING, LIMIT, OFFSET, set operation or VALUES.
func oneRowShape(sub *pg.SelectStmt) bool {
	return (sub.GetOp() == pg.SetOperation_SET_OPERATION_UNDEFINED || sub.GetOp() == pg.SetOperation_SETOP_NONE) &&
		len(sub.GetGroupClause()) == 0 && sub.GetHavingClause() == nil && sub.GetLimitOffset() == nil && sub.GetLimitCount() == nil &&
		len(sub.GetTargetList()) == 1 && containsAgg(sub.GetTargetList()[0].GetResTarget().GetVal()) && len(sub.GetValuesLists()) == 0
}

// singleRowSubselect wraps an uncorrelated scalar subquery of any shape
// (GROUP BY, DISTINCT, LIMIT, set operations) as
//
//	SELECT $single_row(count(*), max(s.v)) FROM (sub) AS s(v)
//
// one row, whose value is sub's value, or NULL over no rows, and which
// fails when sub returns several rows (physexpr.SingleRowFunc). Nil when
// sub's width is not one column that can be told without binding it
// (SELECT *).
func singleRowSubselect(sub *pg.SelectStmt) *pg.SelectStmt {
	if targetWidth(sub) != 1 {
		return nil
	}
	res, err := pg.Parse("SELECT single_row(count(*), max(s.v)) FROM (SELECT 1) AS s(v)")
	if err != nil {
		return nil
	}
	wrap := res.GetStmts()[0].GetStmt().GetSelectStmt()
	wrap.GetFromClause()[0].GetRangeSubselect().Subquery = &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sub}}
	wrap.GetTargetList()[0].GetResTarget().GetVal().GetFuncCall().Funcname = []*pg.Node{pg.MakeStrNode(physexpr.SingleRowFunc)}
	return wrap
}

// targetWidth is the number of columns sub returns as written: -1 when
// it selects * (known only once bound).
func targetWidth(sub *pg.SelectStmt) int {
	if sub.GetOp() != pg.SetOperation_SET_OPERATION_UNDEFINED && sub.GetOp() != pg.SetOperation_SETOP_NONE {
		return targetWidth(sub.GetLarg())
	}
	if len(sub.GetValuesLists()) > 0 {
		return len(sub.GetValuesLists()[0].GetList().GetItems())
	}
	for _, t := range sub.GetTargetList() {
		if cr := t.GetResTarget().GetVal().GetColumnRef(); cr != nil {
			for _, f := range cr.GetFields() {
				if f.GetAStar() != nil {
					return -1
				}
			}
		}
	}
	return len(sub.GetTargetList())
}
