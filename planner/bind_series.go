package planner

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
	physexpr "github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Table functions in FROM: generate_series and range over integers, dates
// and timestamps, as DuckDB answers them (generate_series includes its
// stop, range does not; range(n) is 0 … n−1). Their arguments must be
// constants; the rows become a VALUES relation of one column named after
// the function (or the alias's column).

// maxSeriesRows bounds the rows a table function may make in the plan.
const maxSeriesRows = 100_000

func (b *binder) bindRangeFunction(rf *pg.RangeFunction, n *pg.Node) (rel, error) {
	if rf.GetLateral() || rf.GetOrdinality() || rf.GetIsRowsfrom() || len(rf.GetFunctions()) != 1 || len(rf.GetColdeflist()) > 0 {
		return nil, refuseNode("FROM item", n)
	}
	items := rf.GetFunctions()[0].GetList().GetItems()
	if len(items) == 0 || items[0].GetFuncCall() == nil {
		return nil, refuseNode("FROM item", n)
	}
	fc := items[0].GetFuncCall()
	name := funcName(fc)
	if name == "unnest" {
		return b.bindFromUnnest(rf, fc)
	}
	if name != "generate_series" && name != "range" {
		return nil, refuseNode("FROM item", n)
	}
	var args []*expr
	for _, a := range fc.GetArgs() {
		e, err := b.bindExpr(a, &scope{}, nil)
		if err != nil {
			return nil, err
		}
		if err := b.resolve(e); err != nil {
			return nil, err
		}
		if e.kind != eLit {
			return nil, notSupported(fc.GetLocation(), name+" with arguments other than constants")
		}
		args = append(args, e)
	}
	if len(args) < 1 || len(args) > 3 {
		return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes 1 to 3 arguments, got %d", name, len(args))
	}
	rows, typ, err := seriesRows(name, args)
	if err != nil {
		return nil, errAt(fc.GetLocation(), err, "%s: %v", name, err)
	}
	colName, qual := name, name
	if a := rf.GetAlias(); a != nil {
		qual = a.GetAliasname()
		if cols := a.GetColnames(); len(cols) > 1 {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s has one column, the alias names %d", name, len(cols))
		} else if len(cols) == 1 {
			colName = cols[0].GetString_().GetSval()
		}
	}
	pt, err := wire.TypeToProto(typ)
	if err != nil {
		return nil, err
	}
	v := &valuesRel{}
	for _, x := range rows {
		v.rows = append(v.rows, []*expr{{kind: eLit, typ: typ, lit: &kapotv1.ScalarValue{Type: pt, Value: &kapotv1.ScalarValue_IntValue{IntValue: x}}}})
	}
	v.out = []colID{b.newCol(qual, colName, typ)}
	return v, nil
}

// seriesRows are the values of the series (integers, or microseconds of
// timestamps) and their type.
func seriesRows(name string, args []*expr) ([]int64, arrow.DataType, error) {
	inclusive := name == "generate_series"
	for _, a := range args {
		if a.lit.GetValue() == nil {
			return nil, arrow.PrimitiveTypes.Int64, nil // a NULL argument: no rows
		}
	}
	tooMany := fmt.Errorf("more than %d rows: %w", maxSeriesRows, ErrNotSupported)
	if temporalArgs(args) {
		if len(args) != 3 || args[2].typ.ID() != arrow.INTERVAL_MONTH_DAY_NANO {
			return nil, nil, fmt.Errorf("a series of timestamps takes a start, a stop and an interval step: %w", engine.ErrInvalidPlan)
		}
		typ := arrow.DataType(wire.TimestampTZ)
		var start, stop [2]int64
		for i, a := range args[:2] {
			switch t := a.typ.(type) {
			case *arrow.TimestampType:
				if t.Unit != arrow.Microsecond {
					return nil, nil, fmt.Errorf("a series of %s: %w", t, ErrNotSupported)
				}
				if t.TimeZone == "" {
					start[i] = 1
				}
				stop[i] = a.lit.GetIntValue()
			default:
				if a.typ.ID() != arrow.DATE32 {
					return nil, nil, fmt.Errorf("a series from %s to %s: %w", args[0].typ, args[1].typ, engine.ErrInvalidPlan)
				}
				start[i] = 1
				stop[i] = a.lit.GetIntValue() * 86_400_000_000
			}
		}
		if start[0] == 1 && start[1] == 1 {
			typ = &arrow.TimestampType{Unit: arrow.Microsecond}
		} else if start[0] != start[1] {
			return nil, nil, fmt.Errorf("a series from a TIMESTAMP to a TIMESTAMPTZ: %w", ErrNotSupported)
		}
		iv := args[2].lit.GetIntervalValue()
		step := arrow.MonthDayNanoInterval{Months: iv.GetMonths(), Days: iv.GetDays(), Nanoseconds: iv.GetNanos()}
		sign := rowkey.CompareIntervals(step, arrow.MonthDayNanoInterval{})
		if sign == 0 {
			return nil, nil, fmt.Errorf("interval cannot be 0: %w", engine.ErrInvalidPlan)
		}
		var out []int64
		for cur := stop[0]; ; {
			if (sign > 0 && (cur > stop[1] || (!inclusive && cur == stop[1]))) || (sign < 0 && (cur < stop[1] || (!inclusive && cur == stop[1]))) {
				break
			}
			if len(out) == maxSeriesRows {
				return nil, nil, tooMany
			}
			out = append(out, cur)
			next, err := physexpr.AddIntervalMicros(cur, step)
			if err != nil {
				return nil, nil, err
			}
			cur = next
		}
		return out, typ, nil
	}
	for _, a := range args {
		if !arrow.IsInteger(a.typ.ID()) {
			return nil, nil, fmt.Errorf("a series of %s: %w", a.typ, engine.ErrInvalidPlan)
		}
	}
	start, stop, step := int64(0), args[0].lit.GetIntValue(), int64(1)
	if len(args) >= 2 {
		start, stop = args[0].lit.GetIntValue(), args[1].lit.GetIntValue()
	}
	if len(args) == 3 {
		step = args[2].lit.GetIntValue()
	}
	if step == 0 {
		return nil, nil, fmt.Errorf("interval cannot be 0: %w", engine.ErrInvalidPlan)
	}
	var out []int64
	for cur := start; (step > 0 && (cur < stop || inclusive && cur == stop)) || (step < 0 && (cur > stop || inclusive && cur == stop)); cur += step {
		if len(out) == maxSeriesRows {
			return nil, nil, tooMany
		}
		out = append(out, cur)
		if (step > 0 && cur > (1<<63-1)-step) || (step < 0 && cur < -(1<<63)-step) {
			break
		}
	}
	return out, arrow.PrimitiveTypes.Int64, nil
}

func temporalArgs(args []*expr) bool {
	return strings.Contains(args[0].typ.String(), "timestamp") || args[0].typ.ID() == arrow.DATE32
}
