package planner

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	physexpr "github.com/kapot-go/kapot/engine/expr"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// What kapot cannot do with nested values (LIST, STRUCT, MAP) yet: window
// functions of them, and aggregates of them but count, count(DISTINCT),
// min, max and array_agg. Each is refused when the query is bound, naming the
// construct. (=, <, ORDER BY, GROUP BY, DISTINCT, set operations, joins and
// window partitions and orders over them run in DuckDB's order.)

// nestedKind is "LIST", "STRUCT" or "MAP" for a nested type t, else "".
func nestedKind(t arrow.DataType) string {
	if t == nil || !physexpr.IsNestedType(t) {
		return ""
	}
	switch t.ID() {
	case arrow.LIST:
		return "LIST"
	case arrow.STRUCT:
		return "STRUCT"
	case arrow.MAP:
		return "MAP"
	}
	return strings.ToUpper(t.ID().String())
}

// refuseNestedOperands refuses an operator (comparison, arithmetic) over
// a nested value.
func refuseNestedOperands(pos int32, what string, args ...*expr) error {
	for _, a := range args {
		if k := nestedKind(a.typ); k != "" {
			return notSupported(pos, what+" of "+k+" values")
		}
	}
	return nil
}

// refuseNestedRels walks the bound plan under r and refuses the first
// use of a nested value the engine cannot run yet.
func refuseNestedRels(r rel, seen map[rel]bool) error {
	if seen[r] {
		return nil
	}
	seen[r] = true
	switch x := r.(type) {
	case *windowRel:
		for _, c := range x.calls {
			if c.arg != nil && nestedKind(c.arg.typ) != "" {
				return notSupported(-1, "window functions of "+nestedKind(c.arg.typ)+" values")
			}
		}
	case *aggRel:
		for _, a := range x.aggs {
			fn := strings.ToLower(strings.TrimPrefix(a.fn.String(), "AGGREGATE_FUNCTION_"))
			for _, arg := range []*expr{a.arg, a.arg2} {
				if arg == nil {
					continue
				}
				n := nestedKind(arg.typ)
				switch {
				case n == "":
				case a.distinct && a.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT:
					return notSupported(-1, fn+"(DISTINCT) of a "+n+" value")
				case a.distinct:
				case a.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT && a.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG &&
					a.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN && a.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX:
					return notSupported(-1, fn+" of a "+n+" value")
				}
			}
		}
	}
	for _, in := range inputs(r) {
		if err := refuseNestedRels(in, seen); err != nil {
			return err
		}
	}
	return nil
}
