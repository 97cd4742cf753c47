package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	physexpr "github.com/kapot-go/kapot/engine/expr"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The logical plan's printer: an indented tree, one operator a line with
// its expressions and the columns it computes (expr AS col), then, where
// columns come from, "->" and the columns it outputs. A column reads
// name#id (ids are unique within a statement, names are not: a table read
// twice gives two n_name columns). Expressions are printed by the engine
// from the same wire form lowering gives it, so they read as EXPLAIN
// prints them. A WITH query or view read in several places (a shared
// relation) is printed once, under its first reader, and named "shared
// #k" wherever it is read again.

// logicalPrinter renders logical plans of one statement.
type logicalPrinter struct {
	cols   map[colID]*column
	sb     strings.Builder
	shared map[*sharedRel]int
}

// printLogical renders the logical plan rooted at r, whose columns are
// described by cols.
func printLogical(r rel, cols map[colID]*column) string {
	pr := &logicalPrinter{cols: cols, shared: map[*sharedRel]int{}}
	pr.node(r, 0)
	return pr.sb.String()
}

// node prints r and its inputs at depth.
func (pr *logicalPrinter) node(r rel, depth int) {
	indent := strings.Repeat("  ", depth)
	if s, ok := r.(*sharedRel); ok {
		if k, seen := pr.shared[s]; seen {
			fmt.Fprintf(&pr.sb, "%sShared #%d (printed above)%s\n", indent, k, pr.outputs(r))
			return
		}
		pr.shared[s] = len(pr.shared) + 1
		fmt.Fprintf(&pr.sb, "%sShared #%d%s\n", indent, pr.shared[s], pr.outputs(r))
		pr.node(s.in, depth+1)
		return
	}
	// A join marked for reduction prints as lowering reads it.
	desc := ""
	if j, ok := r.(*joinRel); ok && j.reduced != nil {
		r, desc = j.reduced, " (reduced)"
	}
	desc = pr.describe(r) + desc
	out := ""
	switch r.(type) {
	case *scanRel, *valuesRel, *unionRel:
		out = pr.outputs(r)
	default:
		if depth == 0 {
			out = pr.outputs(r)
		}
	}
	fmt.Fprintf(&pr.sb, "%s%s%s\n", indent, desc, out)
	for _, in := range inputs(r) {
		pr.node(in, depth+1)
	}
}

// outputs is " -> " and r's output columns. They are printed where
// columns come from (scans, VALUES, unions, shared relations) and at the
// root: the other operators keep their inputs' columns, or name the
// columns they compute (AS col), or concatenate their inputs' (joins).
func (pr *logicalPrinter) outputs(r rel) string {
	return " -> " + pr.colList(r.output())
}

// describe is r's operator and expressions, without its inputs.
func (pr *logicalPrinter) describe(r rel) string {
	switch x := r.(type) {
	case *scanRel:
		s := "Scan: " + x.table.Name
		if x.split != nil {
			s += fmt.Sprintf(" split=%s", x.split.col)
		}
		return s
	case *valuesRel:
		return fmt.Sprintf("Values: rows=%d", len(x.rows))
	case *filterRel:
		return "Filter: " + pr.expr(x.pred)
	case *projectRel:
		return "Project: " + pr.named(x.exprs, x.out)
	case *joinRel:
		return pr.join(x)
	case *aggRel:
		return pr.agg(x)
	case *sortRel:
		s := "Sort: " + pr.sortKeys(x.keys)
		if x.fetch >= 0 {
			s += fmt.Sprintf(", fetch=%d", x.fetch)
		}
		return s
	case *limitRel:
		return fmt.Sprintf("Limit: skip=%d, fetch=%d", x.skip, x.fetch)
	case *unionRel:
		return fmt.Sprintf("Union: %d inputs", len(x.inputs))
	case *windowRel:
		return pr.window(x)
	case *unnestRel:
		args := make([]*expr, len(x.args))
		for i, id := range x.args {
			args[i] = &expr{kind: eCol, col: id, typ: pr.cols[id].typ}
		}
		return "Unnest: " + pr.named(args, x.outs)
	case *joinGraphRel:
		return "JoinGraph: " + pr.exprs(x.preds)
	}
	return fmt.Sprintf("%T", r)
}

func (pr *logicalPrinter) join(j *joinRel) string {
	s := "Join: " + strings.TrimPrefix(j.jt.String(), "JOIN_TYPE_")
	if len(j.leftKeys) > 0 {
		on := make([]string, len(j.leftKeys))
		for i := range j.leftKeys {
			on[i] = pr.expr(j.leftKeys[i]) + " = " + pr.expr(j.rightKeys[i])
		}
		s += ", on=[" + strings.Join(on, ", ") + "]"
	}
	if j.filter != nil {
		s += ", filter=" + pr.expr(j.filter)
	}
	return s
}

func (pr *logicalPrinter) agg(a *aggRel) string {
	calls := make([]string, len(a.aggs))
	for i, c := range a.aggs {
		var args []string
		if c.arg != nil {
			args = append(args, pr.expr(c.arg))
		} else {
			args = append(args, "*")
		}
		if c.arg2 != nil {
			args = append(args, pr.expr(c.arg2))
		}
		if c.param != nil {
			args = append(args, pr.expr(&expr{kind: eLit, lit: c.param}))
		}
		call := enumName(c.fn.String(), "AGGREGATE_FUNCTION_") + "("
		if c.distinct {
			call += "DISTINCT "
		}
		call += strings.Join(args, ", ")
		if len(c.order) > 0 {
			call += " ORDER BY " + pr.sortKeys(c.order)
		}
		calls[i] = call + ") AS " + pr.col(c.out)
	}
	kind := "Aggregate"
	if a.local {
		kind = "Aggregate (early, per task)"
	}
	return fmt.Sprintf("%s: group=[%s], aggs=[%s]", kind, pr.named(a.groups, a.gout), strings.Join(calls, ", "))
}

func (pr *logicalPrinter) window(w *windowRel) string {
	calls := make([]string, len(w.calls))
	for i, c := range w.calls {
		name := enumName(c.fn.String(), "WINDOW_FUNCTION_")
		if c.fn == kapotv1.WindowFunction_WINDOW_FUNCTION_AGGREGATE {
			name = enumName(c.agg.String(), "AGGREGATE_FUNCTION_")
		}
		var args []string
		if c.arg != nil {
			args = append(args, pr.expr(c.arg))
		}
		switch c.fn {
		case kapotv1.WindowFunction_WINDOW_FUNCTION_NTILE, kapotv1.WindowFunction_WINDOW_FUNCTION_LAG,
			kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD, kapotv1.WindowFunction_WINDOW_FUNCTION_NTH_VALUE:
			args = append(args, fmt.Sprint(c.offset))
		}
		if c.def != nil {
			args = append(args, pr.expr(&expr{kind: eLit, lit: c.def}))
		}
		call := name + "(" + strings.Join(args, ", ") + ")"
		if f := c.frame; f != nil {
			call += fmt.Sprintf(" %s BETWEEN %s AND %s", enumName(f.GetUnits().String(), "WINDOW_FRAME_UNITS_"),
				pr.bound(f.GetStart()), pr.bound(f.GetEnd()))
		}
		calls[i] = call + " AS " + pr.col(c.out)
	}
	top := ""
	if w.topN > 0 {
		top = fmt.Sprintf(", top=%d", w.topN)
	}
	return fmt.Sprintf("Window: partition=[%s], order=[%s], calls=[%s]%s", pr.exprs(w.partBy), pr.sortKeys(w.order), strings.Join(calls, ", "), top)
}

// bound prints a window frame's bound: its kind, with its offset if any.
func (pr *logicalPrinter) bound(b *kapotv1.WindowFrameBound) string {
	s := enumName(b.GetKind().String(), "WINDOW_FRAME_BOUND_KIND_")
	if b.GetOffset() != nil {
		s = pr.expr(&expr{kind: eLit, lit: b.GetOffset()}) + " " + s
	}
	return s
}

// enumName is a protobuf enum value's name without its prefix, lower case.
func enumName(s, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(s, prefix))
}

func (pr *logicalPrinter) sortKeys(keys []sortKey) string {
	out := make([]string, len(keys))
	for i, k := range keys {
		dir, nulls := "ASC", "NULLS LAST"
		if k.desc {
			dir = "DESC"
		}
		if k.nullsFirst {
			nulls = "NULLS FIRST"
		}
		out[i] = pr.expr(k.e) + " " + dir + " " + nulls
	}
	return strings.Join(out, ", ")
}

// named is "e AS col" for each expression and the column it computes.
func (pr *logicalPrinter) named(es []*expr, out []colID) string {
	parts := make([]string, len(es))
	for i, e := range es {
		if e.kind == eCol && e.col == out[i] {
			parts[i] = pr.col(out[i])
			continue
		}
		parts[i] = pr.expr(e) + " AS " + pr.col(out[i])
	}
	return strings.Join(parts, ", ")
}

func (pr *logicalPrinter) exprs(es []*expr) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = pr.expr(e)
	}
	return strings.Join(parts, ", ")
}

func (pr *logicalPrinter) colList(ids []colID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = pr.col(id)
	}
	return strings.Join(parts, ", ")
}

// col is a column's label, name#id.
func (pr *logicalPrinter) col(id colID) string {
	if c := pr.cols[id]; c != nil {
		return fmt.Sprintf("%s#%d", c.name, id)
	}
	return fmt.Sprintf("#%d", id)
}

// expr prints e as the engine does, its columns as labels: it is bound to
// a schema of the columns it reads, each a field named by its label.
func (pr *logicalPrinter) expr(e *expr) string {
	refs := e.refs(nil)
	slices.Sort(refs)
	refs = slices.Compact(refs)
	at := make(map[colID]int, len(refs))
	fields := make([]arrow.Field, len(refs))
	for i, id := range refs {
		at[id] = i
		typ := arrow.DataType(arrow.Null)
		if c := pr.cols[id]; c != nil {
			typ = c.typ
		}
		fields[i] = arrow.Field{Name: pr.col(id), Type: typ, Nullable: true}
	}
	p, err := e.proto(func(id colID) (int, bool) { i, ok := at[id]; return i, ok })
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	x, err := physexpr.FromProto(p, arrow.NewSchema(fields, nil))
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	s := x.String()
	for i, f := range fields {
		s = strings.ReplaceAll(s, fmt.Sprintf("%s@%d", f.Name, i), f.Name)
	}
	return s
}
