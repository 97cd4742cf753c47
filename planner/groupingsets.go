package planner

import (
	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// GROUPING SETS, ROLLUP and CUBE. The GROUP BY clause is expanded to its
// grouping sets (each a list of GROUP BY items; several items combine as a
// cross product, as in PostgreSQL). The aggregate then becomes a UNION ALL
// of one aggregation per set, each projecting NULL for the keys its set
// leaves out and its own GROUPING() values, under the column ids the rest
// of the query reads. Each branch is distributed like any aggregate.

// maxGroupingSets bounds the sets a GROUP BY may expand to (CUBE of 12
// keys is 4,096 aggregations).
const maxGroupingSets = 4096

// groupingSets lists the distinct GROUP BY items of clause and, when it
// has GROUPING SETS, ROLLUP or CUBE, its sets as indices into items (nil
// sets: one plain grouping by every item).
func groupingSets(clause []*pg.Node) ([]*pg.Node, [][]int, error) {
	var items []*pg.Node
	index := func(n *pg.Node) int {
		key := n.String()
		for i, it := range items {
			if it.String() == key {
				return i
			}
		}
		items = append(items, n)
		return len(items) - 1
	}
	// Each clause element expands to a list of sets; the clause's sets
	// are the cross product of its elements'.
	product := [][]int{{}}
	hasSets := false
	for _, g := range clause {
		var alts [][]int
		if gs := g.GetGroupingSet(); gs != nil {
			hasSets = true
			var err error
			if alts, err = expandSet(gs, index); err != nil {
				return nil, nil, err
			}
		} else {
			alts = [][]int{{index(g)}}
		}
		var next [][]int
		for _, p := range product {
			for _, a := range alts {
				s := append(append([]int{}, p...), a...)
				next = append(next, s)
			}
		}
		if len(next) > maxGroupingSets {
			return nil, nil, errAt(location(g), engine.ErrInvalidPlan, "GROUP BY expands to more than %d grouping sets", maxGroupingSets)
		}
		product = next
	}
	if !hasSets {
		return items, nil, nil
	}
	return items, product, nil
}

// expandSet lists the sets of one GROUPING SETS / ROLLUP / CUBE element.
func expandSet(gs *pg.GroupingSet, index func(*pg.Node) int) ([][]int, error) {
	if err := checkFields(gs, gs.GetLocation()); err != nil {
		return nil, err
	}
	// The content of ROLLUP and CUBE: each item is one expression or a
	// parenthesized list of them, kept together.
	units := func() [][]int {
		var out [][]int
		for _, c := range gs.GetContent() {
			if inner := c.GetGroupingSet(); inner != nil && inner.GetKind() == pg.GroupingSetKind_GROUPING_SET_SIMPLE {
				var u []int
				for _, x := range inner.GetContent() {
					u = append(u, index(x))
				}
				out = append(out, u)
				continue
			}
			out = append(out, []int{index(c)})
		}
		return out
	}
	switch gs.GetKind() {
	case pg.GroupingSetKind_GROUPING_SET_EMPTY:
		return [][]int{{}}, nil
	case pg.GroupingSetKind_GROUPING_SET_SIMPLE:
		var s []int
		for _, c := range gs.GetContent() {
			s = append(s, index(c))
		}
		return [][]int{s}, nil
	case pg.GroupingSetKind_GROUPING_SET_ROLLUP:
		u := units()
		var out [][]int
		for n := len(u); n >= 0; n-- {
			var s []int
			for _, x := range u[:n] {
				s = append(s, x...)
			}
			out = append(out, s)
		}
		return out, nil
	case pg.GroupingSetKind_GROUPING_SET_CUBE:
		u := units()
		if len(u) > 12 {
			return nil, errAt(gs.GetLocation(), engine.ErrInvalidPlan, "CUBE of %d elements: at most 12", len(u))
		}
		var out [][]int
		for mask := (1 << len(u)) - 1; mask >= 0; mask-- {
			var s []int
			for i, x := range u {
				if mask&(1<<(len(u)-1-i)) != 0 {
					s = append(s, x...)
				}
			}
			out = append(out, s)
		}
		return out, nil
	case pg.GroupingSetKind_GROUPING_SET_SETS:
		var out [][]int
		for _, c := range gs.GetContent() {
			if inner := c.GetGroupingSet(); inner != nil {
				sub, err := expandSet(inner, index)
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
				continue
			}
			out = append(out, []int{index(c)})
		}
		return out, nil
	}
	return nil, notSupported(gs.GetLocation(), "this grouping set")
}

// groupingCall is a GROUPING(a, b, …) call: a bit per argument, set when
// the row's grouping set leaves that key out (the first argument is the
// most significant bit).
type groupingCall struct {
	keys []colID // the arguments' group output columns
	out  colID
}

// setGroupingSets records the grouping sets of the aggregate (indices into
// the GROUP BY items, whose keys itemKeys holds, in item order).
func (a *aggBinder) setGroupingSets(sets [][]int) error {
	if sets == nil {
		return nil
	}
	a.sets = make([][]colID, len(sets))
	for i, s := range sets {
		a.sets[i] = []colID{}
		for _, item := range s {
			a.sets[i] = append(a.sets[i], a.keys[a.itemKeys[item]])
		}
	}
	for _, id := range a.gout {
		a.b.cols[id].nullable = true // NULL where a set leaves the key out
	}
	return nil
}

// bindGrouping binds GROUPING(args): each argument must be a GROUP BY key.
func (b *binder) bindGrouping(g *pg.GroupingFunc, ag *aggBinder) (*expr, error) {
	if ag == nil {
		return nil, errAt(g.GetLocation(), engine.ErrInvalidPlan, "GROUPING is allowed only with GROUP BY, in the select list, HAVING and ORDER BY")
	}
	if len(g.GetArgs()) == 0 || len(g.GetArgs()) > 31 {
		return nil, errAt(g.GetLocation(), engine.ErrInvalidPlan, "GROUPING takes 1 to 31 arguments")
	}
	call := groupingCall{}
	for _, arg := range g.GetArgs() {
		e, err := b.bindExpr(arg, ag.sc, nil)
		if err != nil {
			return nil, err
		}
		id, ok := ag.keys[e.key()]
		if !ok || !isGroupOut(ag, id) {
			return nil, errAt(location(arg), engine.ErrInvalidPlan, "arguments to GROUPING must be grouping expressions of the query")
		}
		call.keys = append(call.keys, id)
	}
	call.out = b.newCol("", "grouping", arrow.PrimitiveTypes.Int64)
	ag.groupings = append(ag.groupings, call)
	return &expr{kind: eCol, col: call.out, typ: arrow.PrimitiveTypes.Int64}, nil
}

func isGroupOut(ag *aggBinder, id colID) bool {
	for _, g := range ag.gout {
		if g == id {
			return true
		}
	}
	return false
}

// buildSets is the aggregate with grouping sets (or GROUPING calls): a
// UNION ALL of one aggregation per set under the aggregate's column ids.
func (a *aggBinder) buildSets(from rel) rel {
	b := a.b
	sets := a.sets
	if sets == nil {
		sets = [][]colID{a.gout} // GROUPING() of a plain GROUP BY: all 0
	}
	u := &unionRel{out: append([]colID{}, a.gout...)}
	for _, c := range a.aggs {
		u.out = append(u.out, c.out)
	}
	for _, g := range a.groupings {
		u.out = append(u.out, g.out)
	}
	for _, set := range sets {
		inSet := map[colID]bool{}
		for _, id := range set {
			inSet[id] = true
		}
		br := &aggRel{in: from}
		proj := &projectRel{in: br}
		for i, g := range a.groups {
			t := b.cols[a.gout[i]].typ
			if !inSet[a.gout[i]] {
				proj.exprs = append(proj.exprs, b.coerce(&expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_NULL}}, typ: arrow.Null}, t))
				proj.out = append(proj.out, b.newCol("", b.cols[a.gout[i]].name, t))
				continue
			}
			id := b.newCol(b.cols[a.gout[i]].qual, b.cols[a.gout[i]].name, t)
			br.groups, br.gout = append(br.groups, g), append(br.gout, id)
			proj.exprs = append(proj.exprs, &expr{kind: eCol, col: id, typ: t})
			proj.out = append(proj.out, b.newCol("", b.cols[a.gout[i]].name, t))
		}
		for _, c := range a.aggs {
			t := b.cols[c.out].typ
			id := b.newCol("", b.cols[c.out].name, t)
			cc := c
			cc.out = id
			br.aggs = append(br.aggs, cc)
			proj.exprs = append(proj.exprs, &expr{kind: eCol, col: id, typ: t})
			proj.out = append(proj.out, b.newCol("", b.cols[c.out].name, t))
		}
		for _, g := range a.groupings {
			mask := int64(0)
			for _, k := range g.keys {
				mask <<= 1
				if !inSet[k] {
					mask |= 1
				}
			}
			proj.exprs = append(proj.exprs, int64Lit(mask))
			proj.out = append(proj.out, b.newCol("", "grouping", arrow.PrimitiveTypes.Int64))
		}
		u.inputs = append(u.inputs, proj)
	}
	return u
}
