package planner

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/agg"
	"github.com/kapot-go/kapot/engine/window"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Window functions. A SELECT's window calls (in its select list and ORDER
// BY) are bound against its FROM clause, or against its aggregate when it
// groups (so sum(sum(x)) OVER () reads the aggregate's sum); calls that
// share a window (PARTITION BY and ORDER BY) become one windowRel above
// the aggregate and HAVING, below the projection. Distributed: a hash
// exchange on the PARTITION BY keys (one partition without them), a sort by
// the partition keys then the order keys, and the engine's Window.

// windowRel adds the columns of window calls that share one window.
type windowRel struct {
	in     rel
	partBy []*expr
	order  []sortKey
	calls  []windowCall
	// topN, when above 0, is a bound a filter above puts on the one
	// call, a ranking: only the rows of each partition it ranks at most
	// topN matter (optimize_topn.go).
	topN int64
}

type windowCall struct {
	fn     kapotv1.WindowFunction
	agg    kapotv1.AggregateFunction
	arg    *expr
	offset int64
	def    *kapotv1.ScalarValue
	frame  *kapotv1.WindowFrame // nil: the default
	out    colID
}

func (r *windowRel) output() []colID {
	out := append([]colID{}, r.in.output()...)
	for _, c := range r.calls {
		out = append(out, c.out)
	}
	return out
}

// windowBinder collects a SELECT's window calls by window.
type windowBinder struct {
	specs []*windowRel
	named map[string]*pg.WindowDef // the SELECT's WINDOW clause
}

// newWindowBinder starts collecting the window calls of s.
func newWindowBinder(s *pg.SelectStmt) *windowBinder {
	w := &windowBinder{named: map[string]*pg.WindowDef{}}
	for _, n := range s.GetWindowClause() {
		if d := n.GetWindowDef(); d != nil {
			w.named[d.GetName()] = d
		}
	}
	return w
}

// definition resolves a window reference: OVER w is the named window
// itself; OVER (w ORDER BY … ROWS …) takes w's PARTITION BY (and ORDER BY
// when it has none) and adds its own, as PostgreSQL does.
func (w *windowBinder) definition(over *pg.WindowDef, pos int32, depth int) (*pg.WindowDef, error) {
	ref := over.GetRefname()
	if depth == 0 && over.GetName() != "" {
		ref = over.GetName()
	}
	if ref == "" {
		return over, nil
	}
	base, ok := w.named[ref]
	if !ok || depth > len(w.named) {
		return nil, errAt(pos, engine.ErrInvalidPlan, "window %q does not exist", ref)
	}
	base, err := w.definition(base, pos, depth+1)
	if err != nil {
		return nil, err
	}
	if depth == 0 && over.GetName() != "" {
		return base, nil
	}
	if len(over.GetPartitionClause()) > 0 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "cannot override PARTITION BY clause of window %q", ref)
	}
	if len(over.GetOrderClause()) > 0 && len(base.GetOrderClause()) > 0 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "cannot override ORDER BY clause of window %q", ref)
	}
	if base.GetFrameOptions()&frameNonDefault != 0 {
		return nil, errAt(pos, engine.ErrInvalidPlan, "cannot copy window %q because it has a frame clause", ref)
	}
	out := &pg.WindowDef{PartitionClause: base.GetPartitionClause(), OrderClause: over.GetOrderClause(),
		FrameOptions: over.GetFrameOptions(), StartOffset: over.GetStartOffset(), EndOffset: over.GetEndOffset(), Location: over.GetLocation()}
	if len(out.OrderClause) == 0 {
		out.OrderClause = base.GetOrderClause()
	}
	return out, nil
}

// Frame options of PostgreSQL's parse tree that mean the default frame
// (RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW, implied or written).
const (
	frameDefault         = 1058
	frameDefaultExplicit = 1075
)

// PostgreSQL's FRAMEOPTION_* bits.
const (
	frameNonDefault     = 0x1
	frameRange          = 0x2
	frameRows           = 0x4
	frameGroups         = 0x8
	frameStartUnbounded = 0x20
	frameEndUnbounded   = 0x100
	frameStartCurrent   = 0x200
	frameEndCurrent     = 0x400
	frameStartPreceding = 0x800
	frameEndPreceding   = 0x1000
	frameStartFollowing = 0x2000
	frameEndFollowing   = 0x4000
	frameExclude        = 0x8000 | 0x10000 | 0x20000
)

// bindFrame binds a window's frame clause (nil: the default frame).
func (b *binder) bindFrame(over *pg.WindowDef, order []sortKey, pos int32) (*kapotv1.WindowFrame, error) {
	fo := over.GetFrameOptions()
	if fo&frameNonDefault == 0 || fo == frameDefaultExplicit {
		return nil, nil
	}
	if fo&frameExclude != 0 {
		return nil, notSupported(pos, "EXCLUDE in a window frame")
	}
	fr := &kapotv1.WindowFrame{Units: kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_RANGE}
	unit := "RANGE"
	switch {
	case fo&frameRows != 0:
		fr.Units, unit = kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_ROWS, "ROWS"
	case fo&frameGroups != 0:
		fr.Units, unit = kapotv1.WindowFrameUnits_WINDOW_FRAME_UNITS_GROUPS, "GROUPS"
		if len(order) == 0 {
			return nil, errAt(pos, engine.ErrInvalidPlan, "GROUPS mode requires an ORDER BY clause")
		}
	}
	bound := func(unbounded, current, preceding, following int32, unboundedKind kapotv1.WindowFrameBoundKind, off *pg.Node) (*kapotv1.WindowFrameBound, error) {
		bd := &kapotv1.WindowFrameBound{}
		switch {
		case fo&unbounded != 0:
			bd.Kind = unboundedKind
			return bd, nil
		case fo&current != 0:
			bd.Kind = kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_CURRENT_ROW
			return bd, nil
		case fo&preceding != 0:
			bd.Kind = kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_PRECEDING
		case fo&following != 0:
			bd.Kind = kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_FOLLOWING
		default:
			return nil, errAt(pos, engine.ErrInvalidPlan, "window frame bound missing")
		}
		if unit != "RANGE" {
			n, err := constInt(off)
			if err != nil || n < 0 {
				return nil, errAt(pos, engine.ErrInvalidPlan, "%s frame offsets must be non-negative integer constants", unit)
			}
			bd.Offset = &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}, Value: &kapotv1.ScalarValue_IntValue{IntValue: n}}
			return bd, nil
		}
		if len(order) != 1 {
			return nil, errAt(pos, engine.ErrInvalidPlan, "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column")
		}
		kt := order[0].e.typ
		if !arrow.IsInteger(kt.ID()) && !arrow.IsFloating(kt.ID()) && kt.ID() != arrow.DECIMAL128 {
			return nil, notSupported(pos, fmt.Sprintf("RANGE frames with offsets over %s order keys", catalog.TypeName(kt)))
		}
		e, err := b.bindExpr(off, &scope{}, nil)
		if err != nil {
			return nil, err
		}
		if err := b.resolve(e); err != nil || e.kind != eLit || !(arrow.IsInteger(e.typ.ID()) || arrow.IsFloating(e.typ.ID()) || e.typ.ID() == arrow.DECIMAL128) {
			return nil, errAt(pos, engine.ErrInvalidPlan, "RANGE frame offsets must be numeric constants")
		}
		bd.Offset = e.lit
		return bd, nil
	}
	var err error
	if fr.Start, err = bound(frameStartUnbounded, frameStartCurrent, frameStartPreceding, frameStartFollowing,
		kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_UNBOUNDED_PRECEDING, over.GetStartOffset()); err != nil {
		return nil, err
	}
	if fr.End, err = bound(frameEndUnbounded, frameEndCurrent, frameEndPreceding, frameEndFollowing,
		kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_UNBOUNDED_FOLLOWING, over.GetEndOffset()); err != nil {
		return nil, err
	}
	if fr.Start.Kind > fr.End.Kind {
		return nil, errAt(pos, engine.ErrInvalidPlan, "frame starting %s cannot end %s", boundSQL(fr.Start.Kind), boundSQL(fr.End.Kind))
	}
	return fr, nil
}

func boundSQL(k kapotv1.WindowFrameBoundKind) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k.String(), "WINDOW_FRAME_BOUND_KIND_")), "_", " ")
}

// framedCall reports whether a window call's frames can be smaller than
// its partition.
func framedCall(ordered bool, fr *kapotv1.WindowFrame) bool {
	if fr == nil {
		return ordered
	}
	return fr.GetStart().GetKind() != kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_UNBOUNDED_PRECEDING ||
		fr.GetEnd().GetKind() != kapotv1.WindowFrameBoundKind_WINDOW_FRAME_BOUND_KIND_UNBOUNDED_FOLLOWING
}

var rankingFuncs = map[string]kapotv1.WindowFunction{
	"row_number":   kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER,
	"rank":         kapotv1.WindowFunction_WINDOW_FUNCTION_RANK,
	"dense_rank":   kapotv1.WindowFunction_WINDOW_FUNCTION_DENSE_RANK,
	"percent_rank": kapotv1.WindowFunction_WINDOW_FUNCTION_PERCENT_RANK,
	"cume_dist":    kapotv1.WindowFunction_WINDOW_FUNCTION_CUME_DIST,
	"ntile":        kapotv1.WindowFunction_WINDOW_FUNCTION_NTILE,
	"lag":          kapotv1.WindowFunction_WINDOW_FUNCTION_LAG,
	"lead":         kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD,
	"first_value":  kapotv1.WindowFunction_WINDOW_FUNCTION_FIRST_VALUE,
	"last_value":   kapotv1.WindowFunction_WINDOW_FUNCTION_LAST_VALUE,
	"nth_value":    kapotv1.WindowFunction_WINDOW_FUNCTION_NTH_VALUE,
}

// bindWindow binds a call with OVER and returns its output column.
func (b *binder) bindWindow(fc *pg.FuncCall, sc *scope, ag *aggBinder) (*expr, error) {
	if b.win == nil {
		return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "window functions are not allowed here (only in the select list and ORDER BY)")
	}
	over, err := b.win.definition(fc.GetOver(), fc.GetLocation(), 0)
	if err != nil {
		return nil, err
	}
	if err := checkFields(over, fc.GetLocation()); err != nil {
		return nil, err
	}
	if fc.GetAggFilter() != nil || fc.GetAggDistinct() || len(fc.GetAggOrder()) > 0 {
		return nil, notSupported(fc.GetLocation(), "FILTER, DISTINCT or ORDER BY in a window function call")
	}
	bind := func(n *pg.Node) (*expr, error) {
		if containsWindow(n) {
			return nil, errAt(location(n), engine.ErrInvalidPlan, "window function calls cannot be nested")
		}
		return b.bindExpr(n, sc, ag)
	}
	spec, err := windowSpec(over, bind)
	if err != nil {
		return nil, err
	}
	frame, err := b.bindFrame(over, spec.order, fc.GetLocation())
	if err != nil {
		return nil, err
	}
	name := funcName(fc)
	args := fc.GetArgs()
	call := windowCall{offset: 1}
	var typ arrow.DataType
	if fn, ok := rankingFuncs[name]; ok {
		call.fn = fn
		switch fn {
		case kapotv1.WindowFunction_WINDOW_FUNCTION_NTILE:
			if len(args) != 1 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "ntile takes one argument")
			}
			n, err := constInt(args[0])
			if err != nil || n < 1 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "ntile needs a positive integer constant")
			}
			call.offset = n
			typ = arrow.PrimitiveTypes.Int64
		case kapotv1.WindowFunction_WINDOW_FUNCTION_LAG, kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD,
			kapotv1.WindowFunction_WINDOW_FUNCTION_FIRST_VALUE, kapotv1.WindowFunction_WINDOW_FUNCTION_LAST_VALUE,
			kapotv1.WindowFunction_WINDOW_FUNCTION_NTH_VALUE:
			minArgs, maxArgs := 1, 1
			switch fn {
			case kapotv1.WindowFunction_WINDOW_FUNCTION_LAG, kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD:
				maxArgs = 3
			case kapotv1.WindowFunction_WINDOW_FUNCTION_NTH_VALUE:
				minArgs, maxArgs = 2, 2
			default:
			}
			if fn != kapotv1.WindowFunction_WINDOW_FUNCTION_LAG && fn != kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD {
				call.frame = frame
			}
			if len(args) < minArgs || len(args) > maxArgs {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes %d to %d arguments", name, minArgs, maxArgs)
			}
			arg, err := bind(args[0])
			if err != nil {
				return nil, err
			}
			call.arg, typ = arg, arg.typ
			if len(args) >= 2 {
				n, err := constInt(args[1])
				if err != nil || n < 0 || (n == 0 && fn == kapotv1.WindowFunction_WINDOW_FUNCTION_NTH_VALUE) {
					return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s needs a non-negative integer constant offset (positive for nth_value)", name)
				}
				call.offset = n
			}
			if len(args) == 3 {
				d, err := bind(args[2])
				if err != nil {
					return nil, err
				}
				if typ.ID() == arrow.NULL {
					typ = d.typ
					call.arg = b.coerce(call.arg, typ)
				}
				d = b.coerce(d, typ)
				if err := b.resolve(d); err != nil || d.kind != eLit {
					return nil, notSupported(fc.GetLocation(), name+" defaults other than constants")
				}
				call.def = d.lit
			}
		default:
			if len(args) != 0 {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes no arguments", name)
			}
			typ = arrow.PrimitiveTypes.Int64
			if fn == kapotv1.WindowFunction_WINDOW_FUNCTION_PERCENT_RANK || fn == kapotv1.WindowFunction_WINDOW_FUNCTION_CUME_DIST {
				typ = arrow.PrimitiveTypes.Float64
			}
		}
	} else if fn, ok := aggFuncs[name]; ok && name != "string_agg" && name != "group_concat" && name != "listagg" {
		call.fn, call.agg = kapotv1.WindowFunction_WINDOW_FUNCTION_AGGREGATE, fn
		in := arrow.DataType(arrow.Null)
		switch {
		case fc.GetAggStar():
			if fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT {
				return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s(*) is not allowed", name)
			}
		case len(args) == 1:
			arg, err := bind(args[0])
			if err != nil {
				return nil, err
			}
			call.arg, in = arg, arg.typ
		default:
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes one argument", name)
		}
		call.frame = frame
		if err := window.CheckAggregate(fn, in, framedCall(len(spec.order) > 0, frame)); err != nil {
			return nil, notSupported(fc.GetLocation(), name+" over a window with ORDER BY or a frame")
		}
		t, err := agg.ResultType(fn, in, false)
		if err != nil {
			return nil, errAt(fc.GetLocation(), err, "%s: %v", name, err)
		}
		typ = t
	} else {
		return nil, notSupported(fc.GetLocation(), "window function "+name)
	}
	// Calls over the same window share one windowRel.
	key := windowKey(spec)
	var into *windowRel
	for _, s := range b.win.specs {
		if windowKey(s) == key {
			into = s
			break
		}
	}
	if into == nil {
		into = spec
		b.win.specs = append(b.win.specs, spec)
	}
	call.out = b.newCol("", name, typ)
	into.calls = append(into.calls, call)
	return &expr{kind: eCol, col: call.out, typ: typ}, nil
}

// windowSpec binds a window's PARTITION BY and ORDER BY with bind.
func windowSpec(over *pg.WindowDef, bind func(*pg.Node) (*expr, error)) (*windowRel, error) {
	spec := &windowRel{}
	for _, p := range over.GetPartitionClause() {
		e, err := bind(p)
		if err != nil {
			return nil, err
		}
		spec.partBy = append(spec.partBy, e)
	}
	for _, it := range over.GetOrderClause() {
		sb := it.GetSortBy()
		k, err := sortDirection(sb)
		if err != nil {
			return nil, err
		}
		if k.e, err = bind(sb.GetNode()); err != nil {
			return nil, err
		}
		spec.order = append(spec.order, k)
	}
	return spec, nil
}

func windowKey(w *windowRel) string {
	var sb strings.Builder
	for _, e := range w.partBy {
		sb.WriteString(e.key())
		sb.WriteByte(';')
	}
	sb.WriteByte('|')
	for _, k := range w.order {
		fmt.Fprintf(&sb, "%s %v %v;", k.e.key(), k.desc, k.nullsFirst)
	}
	return sb.String()
}

// containsWindow reports whether n has a call with OVER.
func containsWindow(n *pg.Node) bool {
	found := false
	walkCalls(n, func(_ *pg.Node, fc *pg.FuncCall) bool {
		found = found || fc.GetOver() != nil
		return !found
	})
	return found
}

// applyWindows puts the collected windows on top of r.
func (b *binder) applyWindows(r rel) rel {
	if b.win == nil {
		return r
	}
	for _, w := range b.win.specs {
		w.in = r
		r = w
	}
	return r
}
