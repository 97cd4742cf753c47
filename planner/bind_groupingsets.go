package planner

import (
	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"
	"slices"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
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
			if list, ok := parenthesizedList(c); ok {
				var u []int
				for _, x := range list {
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
			if list, ok := parenthesizedList(c); ok {
				// (a, b) inside GROUPING SETS is one set of two keys.
				var s []int
				for _, x := range list {
					s = append(s, index(x))
				}
				out = append(out, s)
				continue
			}
			out = append(out, []int{index(c)})
		}
		return out, nil
	}
	return nil, notSupported(gs.GetLocation(), "grouping set of kind "+gs.GetKind().String())
}

// parenthesizedList returns the items of a parenthesized list of GROUP BY
// expressions: the parser reads (a, b) as a row constructor, which
// PostgreSQL's analyzer turns into one set (flatten_grouping_sets), and
// some forms arrive as a simple grouping set. ROW(a, b) written out is a
// row value, not a list.
func parenthesizedList(n *pg.Node) ([]*pg.Node, bool) {
	if inner := n.GetGroupingSet(); inner != nil && inner.GetKind() == pg.GroupingSetKind_GROUPING_SET_SIMPLE {
		return inner.GetContent(), true
	}
	if row := n.GetRowExpr(); row != nil && row.GetRowFormat() == pg.CoercionForm_COERCE_IMPLICIT_CAST {
		return row.GetArgs(), true
	}
	return nil, false
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

// buildSets is the aggregate with grouping sets (or GROUPING calls). With
// several sets and aggregates that combine (count, sum, min, max, avg),
// the input is aggregated once by all the keys and the sets re-aggregate
// that (sums of counts and sums, min of mins, …) in one aggregation
// (expandSets). Otherwise it is a UNION ALL of one aggregation per set
// under the aggregate's column ids.
func (a *aggBinder) buildSets(from rel) rel {
	b := a.b
	sets := a.sets
	if sets == nil {
		sets = [][]colID{a.gout} // GROUPING() of a plain GROUP BY: all 0
	}
	if len(sets) > 1 && combinable(a.aggs) {
		fine, finals := a.preAggregate(from)
		nested := slices.ContainsFunc(fine.gout, func(id colID) bool { return nestedCol(b.cols[id].typ) }) ||
			slices.ContainsFunc(fine.aggs, func(c aggCall) bool { return nestedCol(b.cols[c.out].typ) })
		if !nested {
			return a.expandSets(fine, finals, sets)
		}
		// Keys of LIST, STRUCT or MAP values: their NULL row (expandSets)
		// cannot be a VALUES row yet; each set re-aggregates fine.
		return a.unionSets(fine, finals, sets)
	}
	return a.unionSets(from, nil, sets)
}

// nestedCol reports whether t is a LIST, STRUCT or MAP type.
func nestedCol(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.STRUCT, arrow.MAP:
		return true
	}
	return false
}

// unionSets is a UNION ALL of one aggregation per set of from: of the
// aggregates themselves, or (finals set) their re-aggregation from from,
// the pre-aggregate by all keys.
func (a *aggBinder) unionSets(from rel, finals map[colID]*expr, sets [][]colID) rel {
	b := a.b
	groups := a.groups
	if finals != nil {
		groups = nil
		for _, id := range from.(*aggRel).gout {
			groups = append(groups, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
		}
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
		for i, g := range groups {
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
			if finals != nil {
				proj.exprs = append(proj.exprs, a.reaggregate(br, finals[c.out]))
				proj.out = append(proj.out, b.newCol("", b.cols[c.out].name, t))
				continue
			}
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

// combinable reports whether every aggregate can be computed from partial
// aggregates over finer groups.
func combinable(aggs []aggCall) bool {
	for _, c := range aggs {
		switch c.fn {
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM,
			kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX,
			kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG:
		default:
			return false
		}
		if c.distinct || c.arg2 != nil || len(c.order) > 0 || c.param != nil {
			return false
		}
		if c.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG && (c.arg == nil || !numeric(c.arg.typ)) {
			return false
		}
	}
	return true
}

// preAggregate aggregates from by all the grouping keys: each aggregate
// becomes partial ones (avg: a sum and a count). finals maps each
// aggregate's output to an expression over the partial columns, with
// eCol nodes of kind partial that reaggregate turns into a set's
// aggregates.
func (a *aggBinder) preAggregate(from rel) (*aggRel, map[colID]*expr) {
	b := a.b
	fine := &aggRel{in: from}
	for i, g := range a.groups {
		id := b.newCol(b.cols[a.gout[i]].qual, b.cols[a.gout[i]].name, g.typ)
		fine.groups, fine.gout = append(fine.groups, g), append(fine.gout, id)
	}
	partial := func(fn kapotv1.AggregateFunction, arg *expr, name string) *expr {
		t, err := aggType(fn, arg, false)
		if err != nil {
			panic(err) // combinable checked the functions and types
		}
		id := b.newCol("", name, t)
		fine.aggs = append(fine.aggs, aggCall{fn: fn, arg: arg, out: id})
		return &expr{kind: eCol, col: id, typ: t}
	}
	finals := map[colID]*expr{}
	for _, c := range a.aggs {
		name := b.cols[c.out].name
		switch c.fn {
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT:
			finals[c.out] = &expr{kind: eFunc, fn: "count", args: []*expr{partial(c.fn, c.arg, name)}}
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM:
			finals[c.out] = &expr{kind: eFunc, fn: "sum", args: []*expr{partial(c.fn, c.arg, name)}}
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN:
			finals[c.out] = &expr{kind: eFunc, fn: "min", args: []*expr{partial(c.fn, c.arg, name)}}
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX:
			finals[c.out] = &expr{kind: eFunc, fn: "max", args: []*expr{partial(c.fn, c.arg, name)}}
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG:
			s := partial(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, c.arg, name+"_sum")
			n := partial(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, c.arg, name+"_count")
			finals[c.out] = &expr{kind: eFunc, fn: "avg", args: []*expr{s, n}}
		}
	}
	return fine, finals
}

// reaggregate adds to br (a set's aggregate over the pre-aggregate) the
// aggregates final needs and returns the expression of its value.
func (a *aggBinder) reaggregate(br *aggRel, final *expr) *expr {
	b := a.b
	return a.finalValue(final, func(fn kapotv1.AggregateFunction, arg *expr) *expr {
		t, err := aggType(fn, arg, false)
		if err != nil {
			panic(err)
		}
		id := b.newCol("", b.cols[arg.col].name, t)
		br.aggs = append(br.aggs, aggCall{fn: fn, arg: arg, out: id})
		return &expr{kind: eCol, col: id, typ: t}
	})
}

// finished is final's value over one row of the pre-aggregate (a group
// of the set of all keys, which the pre-aggregate already is): each
// re-aggregation of one partial value is that value, of the
// re-aggregation's type.
func (a *aggBinder) finished(final *expr) *expr {
	return a.finalValue(final, func(fn kapotv1.AggregateFunction, arg *expr) *expr {
		t, err := aggType(fn, arg, false)
		if err != nil {
			panic(err)
		}
		return a.b.coerce(arg, t)
	})
}

// finalValue is the expression of final's value (see preAggregate) over
// the re-aggregations add returns.
func (a *aggBinder) finalValue(final *expr, add func(fn kapotv1.AggregateFunction, arg *expr) *expr) *expr {
	b := a.b
	switch final.fn {
	case "count":
		// A sum of counts, 0 over no rows (the empty grouping set of an
		// empty input).
		n := add(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, final.args[0])
		return &expr{kind: eFunc, fn: "coalesce", args: []*expr{n, int64Lit(0)}, typ: arrow.PrimitiveTypes.Int64}
	case "sum":
		return add(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, final.args[0])
	case "min":
		return add(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, final.args[0])
	case "max":
		return add(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX, final.args[0])
	}
	// avg: the sum of sums over the sum of counts, as a double (NULL
	// where no value was seen).
	f64 := arrow.PrimitiveTypes.Float64
	s := b.coerce(add(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, final.args[0]), f64)
	n := add(kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, final.args[1])
	n = &expr{kind: eFunc, fn: "nullif", args: []*expr{n, int64Lit(0)}, typ: arrow.PrimitiveTypes.Int64}
	return &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_DIV, args: []*expr{s, b.coerce(n, f64)}, typ: f64}
}

// expandSets aggregates the grouping sets from fine, the aggregate by all
// keys with partial aggregates (preAggregate), in one aggregation, as
// Spark's Expand does: fine is cross joined with one row per set (its
// number and, per key, whether the set keeps it), the keys a set leaves
// out become NULL, and the partial aggregates are re-aggregated by the
// set number and the keys. A plan is a tree, so a UNION ALL of one
// aggregation per set computed fine, and the joins under it, once per
// set (TPC-DS q67's ROLLUP of 8 keys: 9 times).
//
// A set without keys (ROLLUP's grand total) has its row even over no
// input: one more row of NULL partial aggregates for it (NULLs every
// re-aggregation ignores; a count's sum of them is coalesced to 0).
func (a *aggBinder) expandSets(fine *aggRel, finals map[colID]*expr, sets [][]colID) rel {
	b := a.b
	i64, boolT := arrow.PrimitiveTypes.Int64, arrow.FixedWidthTypes.Boolean
	col := func(id colID) *expr { return &expr{kind: eCol, col: id, typ: b.cols[id].typ} }
	null := func(t arrow.DataType) *expr {
		pt, err := wire.TypeToProto(t)
		if err != nil {
			panic(err) // the type of a column of fine
		}
		return &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: pt}, typ: t}
	}
	// The set of every key, if any (ROLLUP's first): its groups are
	// fine's, finished as they are (finished) instead of re-aggregated
	// with the others' (q67: 342 000 of the 505 000 groups, which the
	// re-aggregation took as rows, moved and grouped again). fine is
	// then read twice, and computed once (in a stage both read: not in
	// one process, which would compute it twice).
	finest := -1
	if !b.inProcess {
		finest = slices.IndexFunc(sets, func(set []colID) bool {
			return len(set) == len(a.gout) && !slices.ContainsFunc(a.gout, func(id colID) bool { return !slices.Contains(set, id) })
		})
	}
	var shared *sharedRel
	if finest >= 0 {
		shared = &sharedRel{in: fine, once: true}
		if chain := nestedSets(sets, finest); chain != nil && keyCombos(fine) >= rollupChainGroups {
			return a.rollupChain(shared, fine, finals, sets, chain)
		}
	}
	// The sets: a number and a flag per key.
	vals := &valuesRel{out: []colID{b.newCol("", "grouping_set", i64)}}
	keep := make([]colID, len(a.gout))
	for i := range a.gout {
		keep[i] = b.newCol("", "keep", boolT)
		vals.out = append(vals.out, keep[i])
	}
	empty := -1
	for s, set := range sets {
		if s == finest {
			continue
		}
		row := []*expr{int64Lit(int64(s))}
		for _, id := range a.gout {
			row = append(row, boolLit(slices.Contains(set, id)))
		}
		vals.rows = append(vals.rows, row)
		if len(set) == 0 {
			empty = s
		}
	}
	// Each row of fine once per set, the keys the set leaves out NULL.
	// The sets on the left: a nested loop join collects its left side
	// and keeps the partitions of its right.
	if finest >= 0 && len(vals.rows) == 0 {
		return a.finishedSet(shared, fine, finals, a.outIDs())
	}
	var right rel = fine
	if shared != nil {
		right = shared
	}
	proj := &projectRel{in: &joinRel{left: vals, right: right, jt: kapotv1.JoinType_JOIN_TYPE_INNER}}
	add := func(e *expr, name string) colID {
		id := b.newCol("", name, e.typ)
		proj.exprs, proj.out = append(proj.exprs, e), append(proj.out, id)
		return id
	}
	add(col(vals.out[0]), "grouping_set")
	for i, id := range fine.gout {
		add(&expr{kind: eCase, args: []*expr{col(keep[i]), col(id)}, typ: b.cols[id].typ}, b.cols[id].name)
	}
	partial := map[colID]colID{} // fine's partial aggregate → its column here
	for _, c := range fine.aggs {
		partial[c.out] = add(col(c.out), b.cols[c.out].name)
	}
	var in rel = proj
	if empty >= 0 {
		seed := &valuesRel{}
		row := []*expr{int64Lit(int64(empty))}
		for _, id := range proj.out[1:] {
			row = append(row, null(b.cols[id].typ))
		}
		for _, id := range proj.out {
			seed.out = append(seed.out, b.newCol("", b.cols[id].name, b.cols[id].typ))
		}
		seed.rows = [][]*expr{row}
		u := &unionRel{inputs: []rel{proj, seed}}
		for _, id := range proj.out {
			u.out = append(u.out, b.newCol("", b.cols[id].name, b.cols[id].typ))
		}
		pos := map[colID]int{}
		for k, id := range proj.out {
			pos[id] = k
		}
		for old, mid := range partial {
			partial[old] = u.out[pos[mid]]
		}
		in = u
	}
	inOut := in.output()
	agg := &aggRel{in: in}
	for _, id := range inOut[:1+len(fine.gout)] {
		agg.groups = append(agg.groups, col(id))
		agg.gout = append(agg.gout, b.newCol(b.cols[id].qual, b.cols[id].name, b.cols[id].typ))
	}
	ids := a.outIDs()
	if finest >= 0 {
		// The union's branches: fresh columns each.
		ids = slices.Clone(ids)
		for k, id := range ids {
			ids[k] = b.newCol("", b.cols[id].name, b.cols[id].typ)
		}
	}
	out := &projectRel{in: agg}
	for i := range a.gout {
		out.exprs, out.out = append(out.exprs, col(agg.gout[1+i])), append(out.out, ids[i])
	}
	for k, c := range a.aggs {
		f := *finals[c.out]
		f.args = slices.Clone(f.args)
		for k, arg := range f.args {
			f.args[k] = col(partial[arg.col])
		}
		out.exprs, out.out = append(out.exprs, a.reaggregate(agg, &f)), append(out.out, ids[len(a.gout)+k])
	}
	for _, g := range a.groupings {
		// GROUPING(keys): a bit per key, 1 where the set leaves it out.
		cs := &expr{kind: eCase, typ: i64}
		for s, set := range sets {
			mask := int64(0)
			for _, k := range g.keys {
				mask <<= 1
				if !slices.Contains(set, k) {
					mask |= 1
				}
			}
			is := &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_EQ, args: []*expr{col(agg.gout[0]), int64Lit(int64(s))}, typ: boolT}
			cs.args = append(cs.args, is, int64Lit(mask))
		}
		out.exprs, out.out = append(out.exprs, cs), append(out.out, ids[len(out.out)])
	}
	if finest < 0 {
		return out
	}
	direct := a.finishedSet(shared, fine, finals, nil)
	return &unionRel{inputs: []rel{out, direct}, out: a.outIDs()}
}

// outIDs is the aggregate's output columns: its keys, its aggregates',
// its GROUPING() calls'.
func (a *aggBinder) outIDs() []colID {
	ids := slices.Clone(a.gout)
	for _, c := range a.aggs {
		ids = append(ids, c.out)
	}
	for _, g := range a.groupings {
		ids = append(ids, g.out)
	}
	return ids
}

// finishedSet is the set of every key over the pre-aggregate fine (read
// as shared): its keys, each aggregate finished from its partial ones,
// GROUPING() 0; as columns ids (nil: fresh ones).
func (a *aggBinder) finishedSet(shared *sharedRel, fine *aggRel, finals map[colID]*expr, ids []colID) rel {
	b := a.b
	col := func(id colID) *expr { return &expr{kind: eCol, col: id, typ: b.cols[id].typ} }
	p := &projectRel{in: shared}
	add := func(e *expr, like colID) {
		p.exprs = append(p.exprs, e)
		if ids != nil {
			p.out = append(p.out, ids[len(p.out)])
			return
		}
		p.out = append(p.out, b.newCol("", b.cols[like].name, b.cols[like].typ))
	}
	for i, id := range a.gout {
		add(col(fine.gout[i]), id)
	}
	for _, c := range a.aggs {
		add(a.finished(finals[c.out]), c.out)
	}
	for _, g := range a.groupings {
		add(int64Lit(0), g.out)
	}
	return p
}

// rollupChainGroups is the estimated groups of the aggregate by all keys
// from which a ROLLUP's sets are aggregated one from the next
// (rollupChain) instead of all at once from it (expandSets): each set
// then costs two stages, cheaper than a few hundred thousand rows taken
// once per set.
const rollupChainGroups = 200_000

// keyCombos estimates the groups of a: the product of its keys' distinct
// values, where the keys from one table count at most its rows (TPC-DS
// q22's product name, brand, class and category are one of 18 000 items,
// not their 700 000 combinations), a key of unknown values once, at most
// a's input rows.
func keyCombos(a *aggRel) float64 {
	perTable := map[*catalog.Table]float64{}
	n := 1.0
	for _, g := range a.groups {
		d := max(columnNDV(a.in, g), 1)
		if g.kind == eCol {
			if s, _, _ := columnOrigin(a.in, g.col, nil); s != nil && s.table.Rows > 0 {
				if p, ok := perTable[s.table]; ok {
					d *= p
				}
				perTable[s.table] = d
				continue
			}
		}
		n *= d
	}
	for t, p := range perTable {
		n *= min(p, float64(t.Rows))
	}
	return min(n, estimate(a.in))
}

// nestedSets lists the sets other than the finest (sets[finest], every
// key) from the most keys to the fewest when each holds the next (a
// ROLLUP's sets), else nil.
func nestedSets(sets [][]colID, finest int) []int {
	var order []int
	for s := range sets {
		if s != finest {
			order = append(order, s)
		}
	}
	slices.SortStableFunc(order, func(x, y int) int { return len(sets[y]) - len(sets[x]) })
	prev := sets[finest]
	for _, s := range order {
		if len(sets[s]) >= len(prev) || slices.ContainsFunc(sets[s], func(id colID) bool { return !slices.Contains(prev, id) }) {
			return nil
		}
		prev = sets[s]
	}
	return order
}

// rollupChain aggregates nested grouping sets (a ROLLUP's) each from the
// one with the next more keys, starting from fine, the aggregate by all
// keys with partial aggregates (shared, read as shared): each set's
// aggregate re-aggregates its parent's partial aggregates (sums of counts
// and sums, min of mins, ...) into partial aggregates of its own, which
// its child reads in turn and its output finishes. Where expandSets takes
// every row of fine once per set (TPC-DS q67: 342 000 groups, 8 sets, 2.7
// million rows grouped and moved), each set here reads only its parent's
// groups. Each set but the last is read twice (its output and its child),
// so it is computed once, in a stage both read.
func (a *aggBinder) rollupChain(shared *sharedRel, fine *aggRel, finals map[colID]*expr, sets [][]colID, chain []int) rel {
	b := a.b
	col := func(id colID) *expr { return &expr{kind: eCol, col: id, typ: b.cols[id].typ} }
	u := &unionRel{out: a.outIDs(), inputs: []rel{a.finishedSet(shared, fine, finals, nil)}}
	// parent's columns: its keys (by the aggregate's key ids) and its
	// partial aggregates (by fine's partial aggregate ids).
	var parent rel = shared
	keyCol := map[colID]colID{}
	for i, id := range a.gout {
		keyCol[id] = fine.gout[i]
	}
	partCol := map[colID]colID{}
	for _, c := range fine.aggs {
		partCol[c.out] = c.out
	}
	for k, s := range chain {
		set := sets[s]
		lvl := &aggRel{in: parent}
		nextKey := map[colID]colID{}
		for _, id := range set {
			g := col(keyCol[id])
			out := b.newCol(b.cols[id].qual, b.cols[id].name, g.typ)
			lvl.groups, lvl.gout = append(lvl.groups, g), append(lvl.gout, out)
			nextKey[id] = out
		}
		nextPart := map[colID]colID{}
		for _, c := range fine.aggs {
			fn := c.fn
			if fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT {
				fn = kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM
			}
			arg := col(partCol[c.out])
			t, err := aggType(fn, arg, false)
			if err != nil {
				panic(err) // combinable checked the functions and types
			}
			out := b.newCol("", b.cols[c.out].name, t)
			lvl.aggs = append(lvl.aggs, aggCall{fn: fn, arg: arg, out: out})
			nextPart[c.out] = out
		}
		var level rel = lvl
		if k < len(chain)-1 {
			level = &sharedRel{in: lvl, once: true}
		}
		// The set's rows: its keys, NULL for the others, its aggregates
		// finished from its partial ones, its GROUPING() values.
		p := &projectRel{in: level}
		add := func(e *expr, like colID) {
			p.exprs = append(p.exprs, b.coerce(e, b.cols[like].typ))
			p.out = append(p.out, b.newCol("", b.cols[like].name, b.cols[like].typ))
		}
		for _, id := range a.gout {
			if out, ok := nextKey[id]; ok {
				add(col(out), id)
				continue
			}
			pt, err := wire.TypeToProto(b.cols[id].typ)
			if err != nil {
				panic(err) // the type of a column of fine
			}
			add(&expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: pt}, typ: b.cols[id].typ}, id)
		}
		for _, c := range a.aggs {
			f := *finals[c.out]
			f.args = slices.Clone(f.args)
			for i, arg := range f.args {
				f.args[i] = col(nextPart[arg.col])
			}
			add(a.finished(&f), c.out)
		}
		for _, g := range a.groupings {
			mask := int64(0)
			for _, key := range g.keys {
				mask <<= 1
				if !slices.Contains(set, key) {
					mask |= 1
				}
			}
			add(int64Lit(mask), g.out)
		}
		u.inputs = append(u.inputs, p)
		parent, keyCol, partCol = level, nextKey, nextPart
	}
	return u
}
