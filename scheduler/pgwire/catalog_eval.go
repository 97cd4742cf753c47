package pgwire

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/internal/version"
)

// Expressions over one row of the virtual catalog: columns, operators,
// the catalog functions tools call.

// eval evaluates an expression over one row.
func (c *conn) eval(n *pg.Node, r env) (any, error) {
	switch {
	case n == nil:
		return nil, nil
	case n.GetColumnRef() != nil:
		var parts []string
		for _, f := range n.GetColumnRef().GetFields() {
			parts = append(parts, f.GetString_().GetSval())
		}
		key := strings.Join(parts, ".")
		if len(parts) > 2 {
			key = strings.Join(parts[len(parts)-2:], ".")
		}
		v, ok := r[key]
		if _, unmatched := r[strings.TrimSuffix(key, parts[len(parts)-1])+"\x00"]; !ok && len(parts) > 1 && unmatched {
			return nil, nil
		}
		if !ok {
			return nil, fmt.Errorf("%w: column %s of the catalog", errNotSupported, key)
		}
		return v, nil
	case n.GetAConst() != nil:
		k := n.GetAConst()
		switch {
		case k.GetIsnull():
			return nil, nil
		case k.GetIval() != nil:
			return int64(k.GetIval().GetIval()), nil
		case k.GetSval() != nil:
			return k.GetSval().GetSval(), nil
		case k.GetBoolval() != nil:
			return k.GetBoolval().GetBoolval(), nil
		case k.GetFval() != nil:
			return k.GetFval().GetFval(), nil
		}
		return int64(0), nil
	case n.GetTypeCast() != nil:
		return c.evalCast(n.GetTypeCast(), r)
	case n.GetBoolExpr() != nil:
		b := n.GetBoolExpr()
		switch b.GetBoolop() {
		case pg.BoolExprType_AND_EXPR:
			for _, a := range b.GetArgs() {
				v, err := c.eval(a, r)
				if err != nil || !truth(v) {
					return false, err
				}
			}
			return true, nil
		case pg.BoolExprType_OR_EXPR:
			for _, a := range b.GetArgs() {
				v, err := c.eval(a, r)
				if err != nil || truth(v) {
					return err == nil, err
				}
			}
			return false, nil
		default:
			v, err := c.eval(b.GetArgs()[0], r)
			return !truth(v), err
		}
	case n.GetNullTest() != nil:
		v, err := c.eval(n.GetNullTest().GetArg(), r)
		if n.GetNullTest().GetNulltesttype() == pg.NullTestType_IS_NULL {
			return v == nil, err
		}
		return v != nil, err
	case n.GetAExpr() != nil:
		return c.evalOp(n.GetAExpr(), r)
	case n.GetCaseExpr() != nil:
		ce := n.GetCaseExpr()
		arg, err := c.eval(ce.GetArg(), r)
		if err != nil {
			return nil, err
		}
		for _, w := range ce.GetArgs() {
			cw := w.GetCaseWhen()
			v, err := c.eval(cw.GetExpr(), r)
			if err != nil {
				return nil, err
			}
			if (ce.GetArg() != nil && text(v) == text(arg) && v != nil) || (ce.GetArg() == nil && truth(v)) {
				return c.eval(cw.GetResult(), r)
			}
		}
		return c.eval(ce.GetDefresult(), r)
	case n.GetCoalesceExpr() != nil:
		for _, a := range n.GetCoalesceExpr().GetArgs() {
			v, err := c.eval(a, r)
			if err != nil || v != nil {
				return v, err
			}
		}
		return nil, nil
	case n.GetSqlvalueFunction() != nil:
		switch n.GetSqlvalueFunction().GetOp() {
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_USER, pg.SQLValueFunctionOp_SVFOP_SESSION_USER, pg.SQLValueFunctionOp_SVFOP_USER, pg.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:
			return c.user, nil
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
			return c.database, nil
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
			return "public", nil
		}
		return nil, fmt.Errorf("%w: %s over the catalog", errNotSupported, n.GetSqlvalueFunction().GetOp())
	case n.GetFuncCall() != nil:
		if v, ok := c.aggs[n.GetFuncCall()]; ok {
			return v, nil // an aggregate's value in its group (groupRows)
		}
		return c.call(n.GetFuncCall(), r)
	case n.GetCollateClause() != nil:
		return c.eval(n.GetCollateClause().GetArg(), r)
	case n.GetSubLink() != nil && n.GetSubLink().GetSubLinkType() == pg.SubLinkType_EXPR_SUBLINK:
		_, rows, err := c.selectRows(n.GetSubLink().GetSubselect().GetSelectStmt(), r)
		if err != nil || len(rows) == 0 || len(rows[0]) == 0 {
			return nil, err
		}
		return rows[0][0], nil
	case n.GetSubLink() != nil && n.GetSubLink().GetSubLinkType() == pg.SubLinkType_EXISTS_SUBLINK:
		_, rows, err := c.selectRows(n.GetSubLink().GetSubselect().GetSelectStmt(), r)
		return len(rows) > 0, err
	case n.GetSubLink() != nil && n.GetSubLink().GetSubLinkType() == pg.SubLinkType_ANY_SUBLINK:
		return c.evalInSubquery(n.GetSubLink(), r)
	case n.GetSubLink() != nil:
		return nil, fmt.Errorf("%w: this subquery over the catalog", errNotSupported)
	case n.GetAArrayExpr() != nil:
		var arr []any
		for _, e := range n.GetAArrayExpr().GetElements() {
			v, err := c.eval(e, r)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	case n.GetAIndirection() != nil:
		return c.evalIndirection(n.GetAIndirection(), r)
	}
	return nil, fmt.Errorf("%w: %s over the catalog", errNotSupported, strings.TrimPrefix(fmt.Sprintf("%T", n.GetNode()), "*pg_query.Node_"))
}

// evalCast evaluates a cast: to a table's oid (regclass), a function's
// name (regproc), integers, text and booleans; other casts keep the value.
func (c *conn) evalCast(tc *pg.TypeCast, r env) (any, error) {
	v, err := c.eval(tc.GetArg(), r)
	if err != nil || v == nil {
		return v, err
	}
	names := tc.GetTypeName().GetNames()
	switch strings.ToLower(names[len(names)-1].GetString_().GetSval()) {
	case "regclass":
		if oid, ok := c.regclass(text(v)); ok {
			return oid, nil
		}
		return v, nil
	case "regproc":
		return strings.TrimPrefix(text(v), "pg_catalog."), nil
	case "int2", "int4", "int8", "oid", "regtype":
		if s, ok := v.(string); ok {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, nil
			}
		}
	case "text", "varchar", "name", "char", "bpchar":
		return text(v), nil
	case "bool":
		return truth(v), nil
	}
	return v, nil
}

func (c *conn) evalOp(e *pg.A_Expr, r env) (any, error) {
	l, err := c.eval(e.GetLexpr(), r)
	if err != nil {
		return nil, err
	}
	names := e.GetName()
	op := names[len(names)-1].GetString_().GetSval()
	switch e.GetKind() {
	case pg.A_Expr_Kind_AEXPR_OP_ANY, pg.A_Expr_Kind_AEXPR_OP_ALL:
		return c.evalAnyAll(e, op, l, r)
	case pg.A_Expr_Kind_AEXPR_NULLIF:
		rv, err := c.eval(e.GetRexpr(), r)
		if err != nil || (l != nil && rv != nil && text(l) == text(rv)) {
			return nil, err
		}
		return l, nil
	}
	if e.GetKind() == pg.A_Expr_Kind_AEXPR_IN {
		for _, x := range e.GetRexpr().GetList().GetItems() {
			v, err := c.eval(x, r)
			if err != nil {
				return nil, err
			}
			if l != nil && text(v) == text(l) {
				return op == "=", nil
			}
		}
		return op != "=", nil
	}
	rv, err := c.eval(e.GetRexpr(), r)
	if err != nil {
		return nil, err
	}
	if l == nil || rv == nil {
		return nil, nil
	}
	return compareOp(op, l, rv)
}

// compareOp applies a binary operator of the catalog to two values (not
// NULL): comparisons, regular expressions, LIKE, integer arithmetic and
// ||.
func compareOp(op string, l, rv any) (any, error) {
	switch op {
	case "+", "-", "*", "/":
		return arith(op, l, rv)
	case "||":
		return text(l) + text(rv), nil
	case "=":
		return text(l) == text(rv), nil
	case "<>", "!=":
		return text(l) != text(rv), nil
	case "<":
		return compare(l, rv) < 0, nil
	case ">":
		return compare(l, rv) > 0, nil
	case "<=":
		return compare(l, rv) <= 0, nil
	case ">=":
		return compare(l, rv) >= 0, nil
	case "~", "!~", "~*", "!~*":
		pat := text(rv)
		if strings.HasSuffix(op, "*") {
			pat = "(?i)" + pat
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, fmt.Errorf("%w: regular expression %q: %v", errInvalidParam, pat, err)
		}
		return re.MatchString(text(l)) == !strings.HasPrefix(op, "!"), nil
	case "~~", "!~~", "~~*", "!~~*":
		pat := "^" + strings.NewReplacer("%", ".*", "_", ".").Replace(regexp.QuoteMeta(text(rv))) + "$"
		if strings.HasSuffix(op, "*") {
			pat = "(?i)" + pat
		}
		ok := regexp.MustCompile(pat).MatchString(text(l))
		return ok == !strings.HasPrefix(op, "!"), nil
	}
	return nil, fmt.Errorf("%w: operator %s over the catalog", errNotSupported, op)
}

// call evaluates a catalog function.
func (c *conn) call(f *pg.FuncCall, r env) (any, error) {
	var args []any
	for _, a := range f.GetArgs() {
		v, err := c.eval(a, r)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	arg := func(i int) any {
		if i < len(args) {
			return args[i]
		}
		return nil
	}
	switch name := funcName(f); name {
	case "version":
		return "PostgreSQL " + serverVersion + " (kapot " + version.Version + ")", nil
	case "current_schema":
		return "public", nil
	case "current_database":
		return c.database, nil
	case "current_schemas":
		if arg(0) != nil && !truth(arg(0)) {
			return []any{"public"}, nil // without the implicit pg_catalog
		}
		return []any{"pg_catalog", "public"}, nil
	case "current_user", "session_user", "pg_get_userbyid":
		return c.user, nil
	case "current_setting":
		key, ok := settingName(c.settings, text(arg(0)))
		if !ok {
			return nil, fmt.Errorf("%w %q", errUnknownSetting, text(arg(0)))
		}
		return c.settings[key], nil
	case "pg_backend_pid":
		return int64(c.pid), nil
	case "pg_is_in_recovery":
		return false, nil
	case "pg_table_is_visible", "pg_type_is_visible", "has_table_privilege", "has_schema_privilege", "has_column_privilege",
		"has_any_column_privilege",
		"has_type_privilege", "has_database_privilege":
		return true, nil
	case "format_type":
		if arg(0) == nil {
			return nil, nil
		}
		oid, _ := strconv.ParseInt(text(arg(0)), 10, 64)
		mod, err := strconv.ParseInt(text(arg(1)), 10, 64)
		if err != nil {
			mod = -1
		}
		return typeName(pgType{oid: uint32(oid), typmod: int32(mod)}), nil
	case "pg_encoding_to_char":
		return "UTF8", nil
	case "obj_description", "col_description", "pg_get_expr", "pg_get_indexdef", "pg_get_constraintdef", "pg_get_viewdef",
		"pg_postmaster_start_time", "array_to_string", "pg_get_serial_sequence", "shobj_description", "pg_get_partkeydef":
		return nil, nil
	case "pg_relation_size", "pg_total_relation_size", "pg_indexes_size", "pg_stat_get_numscans":
		return int64(0), nil
	case "pg_size_pretty":
		return "0 bytes", nil
	case "quote_ident":
		return pgQuoteIdent(text(arg(0))), nil
	default:
		return c.callText(name, args)
	}
}

// text is a value as text ("" for NULL; an array as {a,b}).
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = text(e)
			if e == nil {
				parts[i] = "NULL"
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	case bool:
		if v {
			return "t"
		}
		return "f"
	}
	return fmt.Sprint(v)
}

func truth(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "t" || v == "true"
	}
	return false
}

// compare orders two values: numbers as numbers, the rest as text.
func compare(a, b any) int {
	x, e1 := strconv.ParseFloat(text(a), 64)
	y, e2 := strconv.ParseFloat(text(b), 64)
	if e1 == nil && e2 == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(text(a), text(b))
}

// catalogAnswer answers a statement over the catalog; with parameters,
// the statement as bound (sql: its values as literals).
func (c *conn) catalogAnswer(ctx context.Context, p *prepared, sql string) (*answer, error) {
	n := p.node()
	if len(p.params) > 0 {
		tree, err := pg.Parse(sql)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errs.ErrSyntax, err)
		}
		if len(tree.GetStmts()) != 1 {
			return nil, fmt.Errorf("%w: one statement expected", errs.ErrSyntax)
		}
		n = tree.GetStmts()[0].GetStmt()
	}
	return c.evalCatalog(ctx, n)
}
