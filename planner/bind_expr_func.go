package planner

import (
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Scalar function calls: the names kapot reads as another function or an
// operator (extract, substr, mod, DuckDB's year() …) and the calls whose
// value the plan knows (now(), typeof).

// bindFuncCall binds a call of a scalar function.
func (b *binder) bindFuncCall(fc *pg.FuncCall, bind func(*pg.Node) (*expr, error)) (*expr, error) {
	name := funcName(fc)
	if _, ok := aggFuncs[name]; ok {
		return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "aggregate %s is not allowed here", name)
	}
	if err := refuseCallClauses(fc); err != nil {
		return nil, err
	}
	if fc.GetAggFilter() != nil || fc.GetAggDistinct() || fc.GetAggStar() {
		return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "FILTER, DISTINCT or * given, but %s is not an aggregate function", name)
	}
	var args []*expr
	for _, a := range fc.GetArgs() {
		e, err := bind(a)
		if err != nil {
			return nil, err
		}
		args = append(args, e)
	}
	if name == "unnest" {
		return b.bindUnnestCall(fc, args)
	}
	if nestedFuncsNotYet[name] {
		return nil, notSupported(fc.GetLocation(), name+"()")
	}
	switch name {
	case "list_value", "list_pack":
		args = b.listElements(args)
	case "generate_series", "range":
		return nil, notSupported(fc.GetLocation(), name+" in the select list (a list); in FROM it is a table function")
	case "now", "transaction_timestamp", "get_current_timestamp":
		if len(args) != 0 {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes no arguments", name)
		}
		return clockLiteral(b.clock(), wire.TimestampTZ), nil
	case "extract", "date_part":
		name = "date_part"
	case "substring", "substr":
		name = "substring"
	case "position":
		// POSITION(sub IN s) parses as position(s, sub).
		name = "strpos"
	case "concat_ws", "concat":
		// Arguments of other types are written as text, as DuckDB does.
		for i, a := range args {
			if i == 0 && name == "concat_ws" {
				continue
			}
			if err := b.resolve(a); err == nil && a.typ.ID() != arrow.STRING && a.typ.ID() != arrow.NULL {
				args[i] = b.coerce(a, arrow.BinaryTypes.String)
			}
		}
	case "year", "month", "day", "quarter", "week", "dayofweek", "dayofmonth", "dayofyear", "isodow", "hour", "minute", "second", "millisecond", "microsecond", "epoch":
		// DuckDB's part functions: date_part of that field.
		if len(args) != 1 {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "%s takes one argument", name)
		}
		field := map[string]string{"dayofweek": "dow", "dayofmonth": "day", "dayofyear": "doy"}[name]
		if field == "" {
			field = name
		}
		lit := &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8},
			Value: &kapotv1.ScalarValue_StringValue{StringValue: field}}, typ: arrow.BinaryTypes.String}
		return &expr{kind: eFunc, fn: "date_part", args: []*expr{lit, args[0]}}, nil
	case "mod":
		if len(args) != 2 {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "mod takes two arguments")
		}
		return &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_MOD, args: args}, nil
	case "typeof":
		// The argument's type, a constant of the plan.
		if len(args) != 1 {
			return nil, errAt(fc.GetLocation(), engine.ErrInvalidPlan, "typeof takes one argument")
		}
		if err := b.resolve(args[0]); err != nil {
			return nil, errAt(fc.GetLocation(), err, "typeof: %v", err)
		}
		t := catalog.TypeName(args[0].typ)
		if args[0].typ.ID() == arrow.NULL {
			t = `"NULL"` // DuckDB's name of the NULL type
		}
		// json_extract's text is DuckDB's JSON type; kapot keeps it in a
		// VARCHAR, so only the call itself can be named.
		// (Looked for in the call as written: constant arguments are
		// folded by now.)
		arg := fc.GetArgs()[0]
		switch {
		case isJSONNode(arg):
			t = "JSON"
		case walkNodes(arg.ProtoReflect(), func(m protoreflect.Message) error {
			if n, ok := m.Interface().(*pg.Node); ok && isJSONNode(n) {
				return errJSONInside
			}
			return nil
		}) != nil:
			return nil, notSupported(fc.GetLocation(), "typeof over an expression of a JSON value")
		}
		return &expr{kind: eLit, lit: &kapotv1.ScalarValue{Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_UTF8},
			Value: &kapotv1.ScalarValue_StringValue{StringValue: t}}, typ: arrow.BinaryTypes.String}, nil
	}
	return &expr{kind: eFunc, fn: name, args: args}, nil
}

// errJSONInside stops the search for a JSON value inside typeof's argument.
var errJSONInside = errors.New("a JSON value inside")

// isJSONNode reports whether n is a call that returns DuckDB's JSON type:
// json_extract, json_extract_path or the -> operator.
func isJSONNode(n *pg.Node) bool {
	if fc := n.GetFuncCall(); fc != nil {
		name := funcName(fc)
		return name == "json_extract" || name == "json_extract_path"
	}
	if a := n.GetAExpr(); a != nil && len(a.GetName()) == 1 {
		return a.GetName()[0].GetString_().GetSval() == "->"
	}
	return false
}
