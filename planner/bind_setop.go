package planner

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// unionRel concatenates its inputs (UNION ALL): their columns, by
// position, become out (the inputs have the same types).
type unionRel struct {
	inputs []rel
	out    []colID
}

func (r *unionRel) output() []colID { return r.out }

// bindSetOp binds UNION, INTERSECT and EXCEPT [ALL], with the ORDER BY and
// LIMIT of the whole. Columns pair up by position and meet at a common
// type as PostgreSQL's do; output names are the left query's.
//
// UNION ALL concatenates the branches (their partitions side by side);
// UNION groups that on every column. INTERSECT and EXCEPT tag each row
// with its branch, group on every column (a hash exchange on all of them,
// nulls equal as set operations want) counting the rows of each branch,
// and keep the groups both have (INTERSECT) or only the left has (EXCEPT).
func (b *binder) bindSetOp(s *pg.SelectStmt, outer *scope) (rel, []string, []corrKey, error) {
	op, all := s.GetOp(), s.GetAll()
	opName := map[pg.SetOperation]string{pg.SetOperation_SETOP_UNION: "UNION", pg.SetOperation_SETOP_INTERSECT: "INTERSECT", pg.SetOperation_SETOP_EXCEPT: "EXCEPT"}[op]
	if opName == "" {
		return nil, nil, nil, notSupported(-1, "this set operation")
	}
	if op == pg.SetOperation_SETOP_UNION && !all {
		return b.bindUnion(s, outer)
	}
	l, names, lcorr, err := b.bindSubselect(s.GetLarg(), outer)
	if err != nil {
		return nil, nil, nil, err
	}
	r, _, rcorr, err := b.bindSubselect(s.GetRarg(), outer)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(lcorr)+len(rcorr) > 0 {
		return nil, nil, nil, notSupported(-1, "correlated subqueries in "+opName)
	}
	lo, ro := l.output(), r.output()
	if len(lo) != len(ro) {
		return nil, nil, nil, errAt(-1, engine.ErrInvalidPlan, "each %s query must have the same number of columns (%d and %d)", opName, len(lo), len(ro))
	}
	lp, rp := &projectRel{in: l}, &projectRel{in: r}
	var out []colID
	for i := range lo {
		lc, rc := b.cols[lo[i]], b.cols[ro[i]]
		le, re := &expr{kind: eCol, col: lo[i], typ: lc.typ}, &expr{kind: eCol, col: ro[i], typ: rc.typ}
		t, err := setOpType(opName, lc.typ, rc.typ)
		if err != nil {
			return nil, nil, nil, err
		}
		id := b.newCol("", names[i], t)
		b.cols[id].nullable = lc.nullable || rc.nullable
		out = append(out, id)
		lp.exprs, lp.out = append(lp.exprs, b.coerce(le, t)), append(lp.out, b.newCol("", names[i], t))
		rp.exprs, rp.out = append(rp.exprs, b.coerce(re, t)), append(rp.out, b.newCol("", names[i], t))
	}
	var res rel
	switch {
	case op == pg.SetOperation_SETOP_UNION:
		res = &unionRel{inputs: []rel{lp, rp}, out: out}
		if !all {
			res = b.distinctOn(res)
		}
	default:
		// Branch tags: (1, 0) on the left's rows, (0, 1) on the right's.
		tag := func(p *projectRel, l, r int64) (colID, colID) {
			ids := [2]colID{}
			for k, v := range []int64{l, r} {
				ids[k] = b.newCol("", "tag", arrow.PrimitiveTypes.Int64)
				p.exprs = append(p.exprs, int64Lit(v))
				p.out = append(p.out, ids[k])
			}
			return ids[0], ids[1]
		}
		tag(lp, 1, 0)
		tag(rp, 0, 1)
		inL, inR := b.newCol("", "in_left", arrow.PrimitiveTypes.Int64), b.newCol("", "in_right", arrow.PrimitiveTypes.Int64)
		var lin, rin rel = lp, rp
		groupOn := out
		uout := append(append([]colID{}, out...), inL, inR)
		if all {
			// INTERSECT ALL and EXCEPT ALL: number the copies of each row
			// within its branch; row k of a value is in both branches
			// (INTERSECT) for k up to the smaller count, only in the left
			// (EXCEPT) beyond the right's count. The number joins the
			// grouping and the set operation is then a plain one.
			number := func(p *projectRel) rel {
				w := &windowRel{in: p}
				for _, id := range p.out[:len(out)] {
					w.partBy = append(w.partBy, &expr{kind: eCol, col: id, typ: b.cols[id].typ})
				}
				w.calls = []windowCall{{fn: kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER, offset: 1, out: b.newCol("", "copy", arrow.PrimitiveTypes.Int64)}}
				return w
			}
			lin, rin = number(lp), number(rp)
			copyID := b.newCol("", "copy", arrow.PrimitiveTypes.Int64)
			uout = append(uout, copyID)
			groupOn = append(append([]colID{}, out...), copyID)
		}
		u := &unionRel{inputs: []rel{lin, rin}, out: uout}
		ag := &aggRel{in: u}
		for _, id := range groupOn {
			c := b.cols[id]
			g := b.newCol(c.qual, c.name, c.typ)
			b.cols[g].nullable = c.nullable
			ag.groups = append(ag.groups, &expr{kind: eCol, col: id, typ: c.typ})
			ag.gout = append(ag.gout, g)
		}
		cntL, cntR := b.newCol("", "count_left", arrow.PrimitiveTypes.Int64), b.newCol("", "count_right", arrow.PrimitiveTypes.Int64)
		ag.aggs = []aggCall{
			{fn: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, arg: &expr{kind: eCol, col: inL, typ: arrow.PrimitiveTypes.Int64}, out: cntL},
			{fn: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, arg: &expr{kind: eCol, col: inR, typ: arrow.PrimitiveTypes.Int64}, out: cntR},
		}
		cmp := func(id colID, op kapotv1.BinaryOp) *expr {
			return &expr{kind: eBinary, op: op, args: []*expr{{kind: eCol, col: id, typ: arrow.PrimitiveTypes.Int64}, int64Lit(0)}, typ: arrow.FixedWidthTypes.Boolean}
		}
		right := cmp(cntR, kapotv1.BinaryOp_BINARY_OP_GT)
		if op == pg.SetOperation_SETOP_EXCEPT {
			right = cmp(cntR, kapotv1.BinaryOp_BINARY_OP_EQ)
		}
		f := &filterRel{in: ag, pred: andExpr(cmp(cntL, kapotv1.BinaryOp_BINARY_OP_GT), right)}
		p := &projectRel{in: f}
		for _, g := range ag.gout[:len(out)] {
			p.exprs = append(p.exprs, &expr{kind: eCol, col: g, typ: b.cols[g].typ})
			p.out = append(p.out, g)
		}
		res = p
	}
	fin, finNames, err := b.finishOutputs(res, names, s)
	return fin, finNames, nil, err
}

// bindUnion binds a UNION (distinct) together with every UNION or UNION
// ALL directly beneath it that has no ORDER BY, LIMIT, OFFSET or WITH of
// its own: one grouping on every column over all their queries, instead
// of one per UNION. Grouping the rows of a branch already grouped changes
// no set: distinct(f(distinct(A ++ B)) ++ C) is distinct(f(A) ++ f(B) ++
// C) for the coercions f, applied row by row. TPC-DS q75 unions three
// channels' sales: the inner UNION grouped 160 000 rows that the outer
// grouped again. Each column's type is the one the nested unions give
// it (pair by pair, as they nest); the names are the first query's. A
// value is cast once, straight to that type, where the nested unions
// cast it to the inner union's type first, as PostgreSQL does: a value
// that overflows the inner type but not the outer one no longer fails,
// and a bigint past 2^53 cast to float through a decimal is rounded once.
func (b *binder) bindUnion(s *pg.SelectStmt, outer *scope) (rel, []string, []corrKey, error) {
	var (
		rels  []rel
		names []string
	)
	// bind binds x's queries in order and returns the types its union
	// gives its columns.
	var bind func(x *pg.SelectStmt, top bool) ([]arrow.DataType, error)
	bind = func(x *pg.SelectStmt, top bool) ([]arrow.DataType, error) {
		if top || mergesIntoUnion(x) {
			if !top {
				if err := checkFields(x, -1); err != nil {
					return nil, err
				}
			}
			lt, err := bind(x.GetLarg(), false)
			if err != nil {
				return nil, err
			}
			rt, err := bind(x.GetRarg(), false)
			if err != nil {
				return nil, err
			}
			if len(lt) != len(rt) {
				return nil, errAt(-1, engine.ErrInvalidPlan, "each UNION query must have the same number of columns (%d and %d)", len(lt), len(rt))
			}
			out := make([]arrow.DataType, len(lt))
			for i := range lt {
				if out[i], err = setOpType("UNION", lt[i], rt[i]); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
		r, n, corr, err := b.bindSubselect(x, outer)
		if err != nil {
			return nil, err
		}
		if len(corr) > 0 {
			return nil, notSupported(-1, "correlated subqueries in UNION")
		}
		if rels = append(rels, r); names == nil {
			names = n
		}
		var ts []arrow.DataType
		for _, id := range r.output() {
			ts = append(ts, b.cols[id].typ)
		}
		return ts, nil
	}
	types, err := bind(s, true)
	if err != nil {
		return nil, nil, nil, err
	}
	u := &unionRel{}
	nullable := make([]bool, len(types))
	for _, r := range rels {
		p := &projectRel{in: r}
		for i, id := range r.output() {
			c := b.cols[id]
			nullable[i] = nullable[i] || c.nullable
			p.exprs = append(p.exprs, b.coerce(&expr{kind: eCol, col: id, typ: c.typ}, types[i]))
			p.out = append(p.out, b.newCol("", names[i], types[i]))
		}
		u.inputs = append(u.inputs, p)
	}
	for i, t := range types {
		id := b.newCol("", names[i], t)
		b.cols[id].nullable = nullable[i]
		u.out = append(u.out, id)
	}
	fin, finNames, err := b.finishOutputs(b.distinctOn(u), names, s)
	return fin, finNames, nil, err
}

// mergesIntoUnion reports whether x, a query beneath a UNION (distinct),
// is a UNION or UNION ALL whose rows that UNION may group with its own:
// one without ORDER BY, LIMIT, OFFSET or WITH.
func mergesIntoUnion(x *pg.SelectStmt) bool {
	return x.GetOp() == pg.SetOperation_SETOP_UNION && len(x.GetSortClause()) == 0 && x.GetLimitCount() == nil &&
		x.GetLimitOffset() == nil && x.GetWithClause() == nil && len(x.GetLockingClause()) == 0 && x.GetIntoClause() == nil
}

// finishOutputs adds the ORDER BY and LIMIT of s over the output columns of
// r (a set operation's or VALUES'), named names: sort keys are output
// names, positions or expressions of them.
func (b *binder) finishOutputs(r rel, names []string, s *pg.SelectStmt) (rel, []string, error) {
	outCols := r.output()
	sc := &scope{}
	sel := make([]*expr, len(outCols))
	refs := make([]targetRef, len(outCols))
	aliases := map[string]int{}
	for i, id := range outCols {
		c := b.cols[id]
		sc.cols = append(sc.cols, c)
		sel[i] = &expr{kind: eCol, col: id, typ: c.typ}
		refs[i] = targetRef{star: c}
		if _, dup := aliases[c.name]; !dup {
			aliases[c.name] = i
		}
	}
	keys, err := b.bindOrder(s.GetSortClause(), sc, nil, refs, sel, aliases)
	if err != nil {
		return nil, nil, err
	}
	return b.finish(r, sel, names, keys, s, nil)
}

// setOpType is the type column pairs of a set operation meet at: the one
// type they share, else the common numeric type; text and numbers (or
// dates) do not mix, as in PostgreSQL.
func setOpType(op string, l, r arrow.DataType) (arrow.DataType, error) {
	switch {
	case l.ID() == arrow.NULL && r.ID() == arrow.NULL:
		return arrow.BinaryTypes.String, nil
	case l.ID() == arrow.NULL:
		return r, nil
	case r.ID() == arrow.NULL || arrow.TypeEqual(l, r):
		return l, nil
	case numeric(l) && numeric(r):
		return commonType([]*expr{{typ: l}, {typ: r}}), nil
	}
	return nil, errAt(-1, engine.ErrInvalidPlan, "%s types %s and %s cannot be matched", op, catalog.TypeName(l), catalog.TypeName(r))
}

// distinctOn makes the rows of r unique by grouping on all its columns.
func (b *binder) distinctOn(r rel) rel {
	ag := &aggRel{in: r}
	for _, id := range r.output() {
		c := b.cols[id]
		g := b.newCol(c.qual, c.name, c.typ)
		b.cols[g].nullable = c.nullable
		ag.groups = append(ag.groups, &expr{kind: eCol, col: id, typ: c.typ})
		ag.gout = append(ag.gout, g)
	}
	return ag
}

func int64Lit(v int64) *expr {
	return &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64},
		Value: &kapotv1.ScalarValue_IntValue{IntValue: v}}, typ: arrow.PrimitiveTypes.Int64}
}

// bindValues binds VALUES (…), (…): rows of constant expressions whose
// columns (column1, column2, …) meet at a common type as a set
// operation's do, with the ORDER BY and LIMIT of s.
func (b *binder) bindValues(s *pg.SelectStmt) (rel, []string, error) {
	var rows [][]*expr
	width := -1
	empty := &scope{}
	for _, l := range s.GetValuesLists() {
		items := l.GetList().GetItems()
		if width >= 0 && len(items) != width {
			return nil, nil, errAt(location(l), engine.ErrInvalidPlan, "VALUES lists must all be the same length (%d and %d)", width, len(items))
		}
		width = len(items)
		var row []*expr
		for _, it := range items {
			e, err := b.bindExpr(it, empty, nil)
			if err != nil {
				return nil, nil, err
			}
			if err := b.resolve(e); err != nil {
				return nil, nil, err
			}
			row = append(row, e)
		}
		rows = append(rows, row)
	}
	v := &valuesRel{rows: rows}
	names := make([]string, width)
	for c := 0; c < width; c++ {
		t := rows[0][c].typ
		for _, r := range rows[1:] {
			var err error
			if t, err = setOpType("VALUES", t, r[c].typ); err != nil {
				return nil, nil, err
			}
		}
		if t.ID() == arrow.NULL {
			t = arrow.BinaryTypes.String
		}
		for _, r := range rows {
			r[c] = b.coerce(r[c], t)
			if err := b.resolve(r[c]); err != nil {
				return nil, nil, err
			}
			if r[c].kind != eLit {
				return nil, nil, notSupported(-1, "expressions in VALUES other than constants")
			}
		}
		names[c] = fmt.Sprintf("column%d", c+1)
		id := b.newCol("", names[c], t)
		v.out = append(v.out, id)
	}
	return b.finishOutputs(v, names, s)
}
