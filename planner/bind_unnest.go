package planner

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// unnest(list) as DuckDB answers it: in the select list, each row once per
// element of the list (the other items repeated; a NULL or empty list gives
// no row; several unnests zip, to the longest list), after any aggregate,
// before DISTINCT, ORDER BY and LIMIT; in FROM, unnest(ARRAY[…]) AS u(x)
// as a table of the elements, and FROM t, unnest(t.l) AS u(x) over the
// item before it. An unnest of an unnest, unnest beside window functions
// or outside the select list is refused by name.

// unnestRel is its input with one more column per LIST column of args,
// outs, their elements: each input row once per element of its longest
// list (the others NULL past their end).
type unnestRel struct {
	in         rel
	args, outs []colID
}

func (r *unnestRel) output() []colID { return append(append([]colID{}, r.in.output()...), r.outs...) }

// unnestBinder collects the unnest calls of a select list being bound.
type unnestBinder struct {
	args []*expr // the lists
	outs []colID
}

// bindUnnestCall binds unnest(l) of a select list: a column of the
// elements, made by the unnestRel that applyUnnest adds.
func (b *binder) bindUnnestCall(fc *pg.FuncCall, args []*expr) (*expr, error) {
	pos := fc.GetLocation()
	switch {
	case b.unnest == nil:
		return nil, notSupported(pos, "unnest outside the select list")
	case len(args) != 1:
		return nil, notSupported(pos, "unnest with other than one argument")
	}
	a := args[0]
	if err := b.typed(a); err != nil {
		return nil, errAt(pos, err, "%v", err)
	}
	lt, ok := a.typ.(*arrow.ListType)
	if !ok || a.typ.ID() != arrow.LIST {
		if k := nestedKind(a.typ); k != "" {
			return nil, notSupported(pos, "unnest of a "+k+" value")
		}
		return nil, errAt(pos, engine.ErrInvalidPlan, "unnest takes a list, not %s", a.typ)
	}
	for _, id := range a.refs(nil) {
		if slices.Contains(b.unnest.outs, id) {
			return nil, notSupported(pos, "unnest of an unnest")
		}
	}
	out := b.newCol("", "unnest", lt.Elem())
	b.unnest.args, b.unnest.outs = append(b.unnest.args, a), append(b.unnest.outs, out)
	return &expr{kind: eCol, col: out, typ: lt.Elem()}, nil
}

// applyUnnest puts the unnest u of a select list over r (the rows the
// select list reads): r's columns and the list, then its elements. windows
// says the select list or ORDER BY has window calls too.
func (b *binder) applyUnnest(r rel, u *unnestBinder, windows bool) (rel, error) {
	if u == nil || len(u.args) == 0 {
		return r, nil
	}
	if windows {
		return nil, notSupported(-1, "unnest beside window functions")
	}
	proj := &projectRel{in: r}
	for _, id := range r.output() {
		proj.exprs = append(proj.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		proj.out = append(proj.out, id)
	}
	un := &unnestRel{in: proj, outs: u.outs}
	for _, a := range u.args {
		arg := b.newCol("", "unnest_list", a.typ)
		proj.exprs = append(proj.exprs, a)
		proj.out = append(proj.out, arg)
		un.args = append(un.args, arg)
	}
	return un, nil
}

// containsUnnest reports whether n calls unnest.
func containsUnnest(n *pg.Node) bool {
	return anyNode(n, func(m *pg.Node) bool { return m.GetFuncCall() != nil && funcName(m.GetFuncCall()) == "unnest" })
}

// refersToColumns reports whether n names a column anywhere.
func refersToColumns(n *pg.Node) bool {
	return anyNode(n, func(m *pg.Node) bool { return m.GetColumnRef() != nil })
}

// anyNode reports whether f holds for n or a node under it (through
// function arguments, subscripts and the operators children lists).
func anyNode(n *pg.Node, f func(*pg.Node) bool) bool {
	if n == nil {
		return false
	}
	if f(n) {
		return true
	}
	var under []*pg.Node
	switch {
	case n.GetFuncCall() != nil:
		under = n.GetFuncCall().GetArgs()
	case n.GetAIndirection() != nil:
		under = []*pg.Node{n.GetAIndirection().GetArg()}
	default:
		under = children(n)
	}
	for _, c := range under {
		if anyNode(c, f) {
			return true
		}
	}
	return false
}

// bindFromUnnest binds unnest(l) AS alias(name) in FROM over a list that
// reads no column: the elements of l, one row each.
func (b *binder) bindFromUnnest(rf *pg.RangeFunction, fc *pg.FuncCall) (rel, error) {
	pos := fc.GetLocation()
	args := fc.GetArgs()
	if len(args) != 1 {
		return nil, notSupported(pos, "unnest with other than one argument")
	}
	if refersToColumns(args[0]) || containsSubLink(args[0]) {
		return nil, notSupported(pos, "unnest in FROM over a column")
	}
	e, err := b.bindExpr(args[0], &scope{}, nil)
	if err != nil {
		return nil, err
	}
	lt, ok := e.typ.(*arrow.ListType)
	if !ok || e.typ.ID() != arrow.LIST {
		return nil, errAt(pos, engine.ErrInvalidPlan, "unnest takes a list, not %s", e.typ)
	}
	colName, qual := "unnest", "unnest"
	if a := rf.GetAlias(); a != nil {
		qual = a.GetAliasname()
		if cols := a.GetColnames(); len(cols) > 1 {
			return nil, errAt(pos, engine.ErrInvalidPlan, "unnest has one column, the alias names %d", len(cols))
		} else if len(cols) == 1 {
			colName = cols[0].GetString_().GetSval()
		}
	}
	arg := b.newCol("", "unnest_list", e.typ)
	in := &projectRel{in: &valuesRel{}, exprs: []*expr{e}, out: []colID{arg}}
	out := b.newCol("", "unnest", lt.Elem())
	named := b.newCol(qual, colName, lt.Elem())
	return &projectRel{in: &unnestRel{in: in, args: []colID{arg}, outs: []colID{out}}, exprs: []*expr{{kind: eCol, col: out, typ: lt.Elem()}},
		out: []colID{named}}, nil
}

// lateralUnnest returns the unnest call of FROM item n when n is
// [LATERAL] unnest(x) over an expression that names a column (a FROM item
// before it, lateral), else nil.
func lateralUnnest(n *pg.Node) (*pg.RangeFunction, *pg.FuncCall) {
	rf := n.GetRangeFunction()
	if rf == nil || rf.GetOrdinality() || rf.GetIsRowsfrom() || len(rf.GetFunctions()) != 1 || len(rf.GetColdeflist()) > 0 {
		return nil, nil
	}
	items := rf.GetFunctions()[0].GetList().GetItems()
	if len(items) == 0 || items[0].GetFuncCall() == nil {
		return nil, nil
	}
	fc := items[0].GetFuncCall()
	if funcName(fc) != "unnest" || len(fc.GetArgs()) != 1 || !refersToColumns(fc.GetArgs()[0]) {
		return nil, nil
	}
	return rf, fc
}

// bindLateralUnnest binds FROM prev, unnest(l) AS alias(name) where l
// reads prev's columns (the FROM item just before it): prev's rows, each
// once per element of its list (none for a NULL or empty list), with the
// element as one more column.
func (b *binder) bindLateralUnnest(rf *pg.RangeFunction, fc *pg.FuncCall, prev rel) (rel, error) {
	pos := fc.GetLocation()
	arg := fc.GetArgs()[0]
	if containsSubLink(arg) || containsAgg(arg) || containsWindow(arg) {
		return nil, notSupported(pos, "unnest in FROM over a subquery, aggregate or window")
	}
	e, err := b.bindExpr(arg, b.scopeOf(prev), nil)
	if err != nil {
		return nil, notSupported(pos, "unnest in FROM over a column of other than the FROM item just before it")
	}
	lt, ok := e.typ.(*arrow.ListType)
	if !ok || e.typ.ID() != arrow.LIST {
		return nil, errAt(pos, engine.ErrInvalidPlan, "unnest takes a list, not %s", e.typ)
	}
	colName, qual := "unnest", "unnest"
	if a := rf.GetAlias(); a != nil {
		qual = a.GetAliasname()
		if cols := a.GetColnames(); len(cols) > 1 {
			return nil, errAt(pos, engine.ErrInvalidPlan, "unnest has one column, the alias names %d", len(cols))
		} else if len(cols) == 1 {
			colName = cols[0].GetString_().GetSval()
		}
	}
	cols := prev.output()
	withList := &projectRel{in: prev}
	for _, id := range cols {
		withList.exprs = append(withList.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		withList.out = append(withList.out, id)
	}
	list := b.newCol("", "unnest_list", e.typ)
	withList.exprs, withList.out = append(withList.exprs, e), append(withList.out, list)
	elem := b.newCol(qual, colName, lt.Elem())
	// prev's columns and the element, without the list.
	out := &projectRel{in: &unnestRel{in: withList, args: []colID{list}, outs: []colID{elem}}}
	for _, id := range append(slices.Clone(cols), elem) {
		out.exprs = append(out.exprs, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		out.out = append(out.out, id)
	}
	return out, nil
}

// lowerUnnest lowers an unnestRel: its input with the list, then the
// Unnest node. Rows stay in their partition, so the input's partitioning
// holds.
func (p *lowerer) lowerUnnest(x *unnestRel, need map[colID]bool) (lowered, error) {
	var inNeed map[colID]bool
	if need != nil {
		inNeed = map[colID]bool{}
		for _, id := range x.args {
			inNeed[id] = true
		}
		for id := range need {
			if !slices.Contains(x.outs, id) {
				inNeed[id] = true
			}
		}
	}
	in, err := p.lower(x.in, inNeed)
	if err != nil {
		return lowered{}, err
	}
	un := &kapotv1.UnnestNode{Input: in.node}
	for k, arg := range x.args {
		c, ok := in.pos()(arg)
		if !ok {
			return lowered{}, fmt.Errorf("internal: unnest of column %d, not among its input's", arg)
		}
		name := p.b.cols[x.outs[k]].name
		if k == 0 {
			un.Column, un.Name = uint32(c), name
		} else {
			un.MoreColumns, un.MoreNames = append(un.MoreColumns, uint32(c)), append(un.MoreNames, name)
		}
	}
	node := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Unnest{Unnest: un}}
	return lowered{node: node, cols: append(append([]colID{}, in.cols...), x.outs...), parts: in.parts, hashed: in.hashed, ranged: in.ranged}, nil
}
