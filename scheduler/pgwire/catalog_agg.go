package pgwire

import (
	"fmt"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Aggregates over the virtual catalog: GROUP BY (expressions or
// select-list positions), HAVING, and count, min, max, sum, string_agg,
// array_agg, bool_and, bool_or (with DISTINCT and ORDER BY inside), alone
// or within expressions of the select list.

// aggregateFuncs are the aggregates the catalog answers.
var aggregateFuncs = map[string]bool{"count": true, "min": true, "max": true, "sum": true, "string_agg": true,
	"array_agg": true, "bool_and": true, "bool_or": true, "every": true}

// aggregatesOf are the aggregate calls within n (not within subqueries).
func aggregatesOf(n *pg.Node) []*pg.FuncCall {
	var out []*pg.FuncCall
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		switch x := m.Interface().(type) {
		case *pg.SubLink:
			return
		case *pg.FuncCall:
			if x.GetOver() == nil && aggregateFuncs[funcName(x)] {
				out = append(out, x)
				return
			}
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					visit(v.List().Get(i).Message())
				}
			case fd.Message() != nil && !fd.IsMap():
				visit(v.Message())
			}
			return true
		})
	}
	if n != nil {
		visit(n.ProtoReflect())
	}
	return out
}

// hasAggregate reports whether a select list holds an aggregate.
func hasAggregate(exprs []*pg.Node) bool {
	for _, e := range exprs {
		if len(aggregatesOf(e)) > 0 {
			return true
		}
	}
	return false
}

// groupRows groups rows by sel's GROUP BY (one group of all rows
// without), keeps the groups HAVING holds for, and evaluates the select
// list over each: its output rows, and a row of each group for ORDER BY.
func (c *conn) groupRows(sel *pg.SelectStmt, exprs []*pg.Node, rows []env) ([][]any, []env, error) {
	var keys []*pg.Node
	for _, g := range sel.GetGroupClause() {
		if k := g.GetAConst().GetIval(); k != nil && g.GetAConst() != nil {
			p := int(k.GetIval())
			if p < 1 || p > len(exprs) {
				return nil, nil, fmt.Errorf("%w: GROUP BY position %d is not in select list", errInvalidParam, p)
			}
			keys = append(keys, exprs[p-1])
			continue
		}
		keys = append(keys, g)
	}
	var order []string
	groups := map[string][]env{}
	for _, r := range rows {
		var parts []string
		for _, k := range keys {
			v, err := c.eval(k, r)
			if err != nil {
				return nil, nil, err
			}
			parts = append(parts, fmt.Sprintf("%q", text(v))+fmt.Sprint(v == nil))
		}
		key := strings.Join(parts, ",")
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], r)
	}
	if len(keys) == 0 && len(order) == 0 {
		order, groups[""] = []string{""}, nil // no GROUP BY: one group, empty too
	}
	defer func() { c.aggs = nil }()
	var out [][]any
	var reps []env
	for _, key := range order {
		g := groups[key]
		rep := env{}
		if len(g) > 0 {
			rep = g[0]
		}
		c.aggs = map[*pg.FuncCall]any{}
		for _, n := range append(append([]*pg.Node{}, exprs...), sel.GetHavingClause()) {
			for _, f := range aggregatesOf(n) {
				v, err := c.aggregate(f, g)
				if err != nil {
					return nil, nil, err
				}
				c.aggs[f] = v
			}
		}
		if h := sel.GetHavingClause(); h != nil {
			v, err := c.eval(h, rep)
			if err != nil {
				return nil, nil, err
			}
			if !truth(v) {
				continue
			}
		}
		row := make([]any, len(exprs))
		for j, e := range exprs {
			v, err := c.eval(e, rep)
			if err != nil {
				return nil, nil, err
			}
			row[j] = v
		}
		out = append(out, row)
		reps = append(reps, rep)
	}
	return out, reps, nil
}

// aggregate is the value of aggregate call f over a group's rows.
func (c *conn) aggregate(f *pg.FuncCall, rows []env) (any, error) {
	name := funcName(f)
	if f.GetAggFilter() != nil {
		return nil, fmt.Errorf("%w: FILTER of an aggregate over the catalog", errNotSupported)
	}
	if f.GetAggStar() {
		return int64(len(rows)), nil
	}
	args := f.GetArgs()
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: %s() over the catalog", errNotSupported, name)
	}
	// Each row's argument values, non-NULL first arguments only, in the
	// aggregate's ORDER BY.
	type item struct {
		v, sep any
		keys   []any
	}
	var items []item
	seen := map[string]bool{}
	for _, r := range rows {
		v, err := c.eval(args[0], r)
		if err != nil {
			return nil, err
		}
		if v == nil && name != "array_agg" {
			continue
		}
		if f.GetAggDistinct() {
			if seen[text(v)] {
				continue
			}
			seen[text(v)] = true
		}
		it := item{v: v}
		if len(args) > 1 {
			if it.sep, err = c.eval(args[1], r); err != nil {
				return nil, err
			}
		}
		for _, o := range f.GetAggOrder() {
			k, err := c.eval(o.GetSortBy().GetNode(), r)
			if err != nil {
				return nil, err
			}
			it.keys = append(it.keys, k)
		}
		items = append(items, it)
	}
	sorts := f.GetAggOrder()
	sort.SliceStable(items, func(a, b int) bool {
		for k, s := range sorts {
			if d := compare(items[a].keys[k], items[b].keys[k]); d != 0 {
				return (d < 0) != (s.GetSortBy().GetSortbyDir() == pg.SortByDir_SORTBY_DESC)
			}
		}
		return false
	})
	if name == "count" {
		return int64(len(items)), nil
	}
	if len(items) == 0 {
		return nil, nil
	}
	var acc any
	for i, it := range items {
		switch name {
		case "min", "max":
			if d := compare(it.v, acc); i == 0 || name == "min" && d < 0 || name == "max" && d > 0 {
				acc = it.v
			}
		case "sum":
			if i == 0 {
				acc = int64(0)
			}
			s, err := arith("+", acc, it.v)
			if err != nil {
				return nil, err
			}
			acc = s
		case "string_agg":
			if i == 0 {
				acc = text(it.v)
			} else {
				acc = text(acc) + text(it.sep) + text(it.v)
			}
		case "array_agg":
			arr, _ := acc.([]any)
			acc = append(arr, it.v)
		case "bool_and", "every":
			acc = (i == 0 || truth(acc)) && truth(it.v)
		case "bool_or":
			acc = i > 0 && truth(acc) || truth(it.v)
		}
	}
	return acc, nil
}
