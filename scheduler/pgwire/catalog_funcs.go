package pgwire

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// More of the virtual catalog's expressions: arrays (ARRAY[…],
// current_schemas(true), subscripts, = ANY), IN (subquery),
// row_number() OVER (…), integer arithmetic and the text functions the
// drivers' statements call (replace, lower, upper, format).

// asArray is v as an array: an []any, or PostgreSQL's text form {a,b}.
func asArray(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case string:
		if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
			var out []any
			for _, p := range strings.Split(strings.Trim(v, "{}"), ",") {
				if p != "" {
					out = append(out, strings.Trim(p, `"`))
				}
			}
			return out, true
		}
	}
	return nil, false
}

// evalAnyAll evaluates l op ANY (array) and l op ALL (array).
func (c *conn) evalAnyAll(e *pg.A_Expr, op string, l any, r env) (any, error) {
	rv, err := c.eval(e.GetRexpr(), r)
	if err != nil || l == nil || rv == nil {
		return nil, err
	}
	arr, ok := asArray(rv)
	if !ok {
		return nil, fmt.Errorf("%w: %s ANY of a value that is not an array over the catalog", errNotSupported, op)
	}
	all := e.GetKind() == pg.A_Expr_Kind_AEXPR_OP_ALL
	for _, x := range arr {
		if x == nil {
			continue
		}
		v, err := compareOp(op, l, x)
		if err != nil {
			return nil, err
		}
		if truth(v) != all {
			return !all, nil
		}
	}
	return all, nil
}

// evalInSubquery evaluates x IN (SELECT …) (and x op ANY (SELECT …)).
func (c *conn) evalInSubquery(s *pg.SubLink, r env) (any, error) {
	l, err := c.eval(s.GetTestexpr(), r)
	if err != nil || l == nil {
		return nil, err
	}
	op := "="
	if names := s.GetOperName(); len(names) > 0 {
		op = names[len(names)-1].GetString_().GetSval()
	}
	_, rows, err := c.selectRows(s.GetSubselect().GetSelectStmt(), r)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if len(row) == 0 || row[0] == nil {
			continue
		}
		v, err := compareOp(op, l, row[0])
		if err != nil {
			return nil, err
		}
		if truth(v) {
			return true, nil
		}
	}
	return false, nil
}

// evalIndirection evaluates subscripts of an array: (current_schemas(true))[1].
func (c *conn) evalIndirection(ind *pg.A_Indirection, r env) (any, error) {
	v, err := c.eval(ind.GetArg(), r)
	if err != nil {
		return nil, err
	}
	for _, step := range ind.GetIndirection() {
		idx := step.GetAIndices()
		if idx == nil || idx.GetIsSlice() {
			return nil, fmt.Errorf("%w: a field or slice of a value over the catalog", errNotSupported)
		}
		if v == nil {
			return nil, nil
		}
		arr, ok := asArray(v)
		if !ok {
			return nil, fmt.Errorf("%w: a subscript of a value that is not an array over the catalog", errNotSupported)
		}
		k, err := c.eval(idx.GetUidx(), r)
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(text(k))
		if err != nil || i < 1 || i > len(arr) {
			return nil, nil
		}
		v = arr[i-1]
	}
	return v, nil
}

// windowValues is row_number() OVER (PARTITION BY … ORDER BY …) of each
// row: its place in its partition, in the window's order.
func (c *conn) windowValues(f *pg.FuncCall, rows []env) ([]any, error) {
	if funcName(f) != "row_number" {
		return nil, fmt.Errorf("%w: window function %s over the catalog", errNotSupported, funcName(f))
	}
	w := f.GetOver()
	keys := make([]string, len(rows))
	orders := make([][]any, len(rows))
	for i, r := range rows {
		var parts []string
		for _, p := range w.GetPartitionClause() {
			v, err := c.eval(p, r)
			if err != nil {
				return nil, err
			}
			parts = append(parts, fmt.Sprintf("%q", text(v)))
		}
		keys[i] = strings.Join(parts, ",")
		for _, o := range w.GetOrderClause() {
			v, err := c.eval(o.GetSortBy().GetNode(), r)
			if err != nil {
				return nil, err
			}
			orders[i] = append(orders[i], v)
		}
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	sorts := w.GetOrderClause()
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := idx[a], idx[b]
		if keys[x] != keys[y] {
			return keys[x] < keys[y]
		}
		for k, s := range sorts {
			if d := compare(orders[x][k], orders[y][k]); d != 0 {
				return (d < 0) != (s.GetSortBy().GetSortbyDir() == pg.SortByDir_SORTBY_DESC)
			}
		}
		return false
	})
	out := make([]any, len(rows))
	n, last := int64(0), ""
	for k, i := range idx {
		if k == 0 || keys[i] != last {
			n, last = 0, keys[i]
		}
		n++
		out[i] = n
	}
	return out, nil
}

// arith is integer +, -, * and / of two values.
func arith(op string, l, r any) (any, error) {
	x, e1 := strconv.ParseInt(text(l), 10, 64)
	y, e2 := strconv.ParseInt(text(r), 10, 64)
	if e1 != nil || e2 != nil {
		return nil, fmt.Errorf("%w: %s of %q and %q over the catalog (integers only)", errNotSupported, op, text(l), text(r))
	}
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	}
	if y == 0 {
		return nil, fmt.Errorf("%w: division by zero", errInvalidParam)
	}
	return x / y, nil
}

// callText evaluates the text functions of the catalog (args evaluated).
func (c *conn) callText(name string, args []any) (any, error) {
	for _, a := range args {
		if a == nil && name != "format" && name != "concat" {
			return nil, nil
		}
	}
	switch {
	case name == "lower" && len(args) == 1:
		return strings.ToLower(text(args[0])), nil
	case name == "upper" && len(args) == 1:
		return strings.ToUpper(text(args[0])), nil
	case name == "replace" && len(args) == 3:
		return strings.ReplaceAll(text(args[0]), text(args[1]), text(args[2])), nil
	case (name == "array_upper" || name == "array_length") && len(args) == 2:
		arr, ok := asArray(args[0])
		if !ok || text(args[1]) != "1" || len(arr) == 0 {
			return nil, nil
		}
		return int64(len(arr)), nil
	case name == "array_lower" && len(args) == 2:
		arr, ok := asArray(args[0])
		if !ok || text(args[1]) != "1" || len(arr) == 0 {
			return nil, nil
		}
		return int64(1), nil
	case name == "string_to_array" && len(args) == 2:
		var out []any
		for _, p := range strings.Split(text(args[0]), text(args[1])) {
			out = append(out, p)
		}
		return out, nil
	case name == "parse_ident" && len(args) >= 1:
		var out []any
		for _, p := range strings.Split(text(args[0]), ".") {
			if len(p) > 1 && strings.HasPrefix(p, `"`) && strings.HasSuffix(p, `"`) {
				out = append(out, strings.ReplaceAll(p[1:len(p)-1], `""`, `"`))
			} else {
				out = append(out, strings.ToLower(p))
			}
		}
		return out, nil
	case (name == "btrim" || name == "ltrim" || name == "rtrim") && len(args) == 1:
		return map[string]func(string) string{"btrim": func(s string) string { return strings.Trim(s, " ") },
			"ltrim": func(s string) string { return strings.TrimLeft(s, " ") },
			"rtrim": func(s string) string { return strings.TrimRight(s, " ") }}[name](text(args[0])), nil
	case name == "cardinality" && len(args) == 1:
		arr, _ := asArray(args[0])
		return int64(len(arr)), nil
	case name == "length" && len(args) == 1:
		return int64(len([]rune(text(args[0])))), nil
	case name == "concat":
		var sb strings.Builder
		for _, a := range args {
			sb.WriteString(text(a))
		}
		return sb.String(), nil
	case name == "format" && len(args) >= 1:
		return formatText(text(args[0]), args[1:])
	}
	return nil, fmt.Errorf("%w: function %s over the catalog", errNotSupported, name)
}

// formatText is PostgreSQL's format(): %s, %I (an identifier, quoted
// when needed), %L (a literal) and %%.
func formatText(f string, args []any) (string, error) {
	var sb strings.Builder
	next := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			sb.WriteByte(f[i])
			continue
		}
		i++
		if i == len(f) {
			return "", fmt.Errorf("%w: unterminated format() type specifier", errInvalidParam)
		}
		if f[i] == '%' {
			sb.WriteByte('%')
			continue
		}
		if next >= len(args) {
			return "", fmt.Errorf("%w: too few arguments for format()", errInvalidParam)
		}
		a := args[next]
		next++
		switch f[i] {
		case 's':
			sb.WriteString(text(a))
		case 'I':
			sb.WriteString(pgQuoteIdent(text(a)))
		case 'L':
			if a == nil {
				sb.WriteString("NULL")
			} else {
				sb.WriteString("'" + strings.ReplaceAll(text(a), "'", "''") + "'")
			}
		default:
			return "", fmt.Errorf("%w: format() type %q", errNotSupported, f[i])
		}
	}
	return sb.String(), nil
}

// functionRelation is a set-returning function in FROM:
// generate_series(start, stop[, step]) and unnest(array), with its
// alias's column name.
func (c *conn) functionRelation(rf *pg.RangeFunction) (*relation, string, error) {
	fns := rf.GetFunctions()
	if len(fns) != 1 || len(fns[0].GetList().GetItems()) == 0 || fns[0].GetList().GetItems()[0].GetFuncCall() == nil {
		return nil, "", fmt.Errorf("%w: this function in FROM over the catalog", errNotSupported)
	}
	f := fns[0].GetList().GetItems()[0].GetFuncCall()
	name := funcName(f)
	var args []any
	for _, a := range f.GetArgs() {
		v, err := c.eval(a, env{})
		if err != nil {
			return nil, "", err
		}
		args = append(args, v)
	}
	col, alias := name, name
	if a := rf.GetAlias(); a != nil {
		alias = a.GetAliasname()
		if cn := a.GetColnames(); len(cn) > 0 {
			col = cn[0].GetString_().GetSval()
		} else {
			col = alias
		}
	}
	r := &relation{cols: []string{col}}
	switch {
	case name == "generate_series" && (len(args) == 2 || len(args) == 3):
		lo, e1 := strconv.ParseInt(text(args[0]), 10, 64)
		hi, e2 := strconv.ParseInt(text(args[1]), 10, 64)
		step := int64(1)
		if len(args) == 3 {
			step, _ = strconv.ParseInt(text(args[2]), 10, 64)
		}
		if e1 != nil || e2 != nil || step <= 0 || hi-lo > 1<<16 {
			return nil, "", fmt.Errorf("%w: generate_series(%s, %s) over the catalog", errNotSupported, text(args[0]), text(args[1]))
		}
		for v := lo; v <= hi; v += step {
			r.rows = append(r.rows, []any{v})
		}
	case name == "unnest" && len(args) == 1:
		arr, _ := asArray(args[0])
		for _, v := range arr {
			r.rows = append(r.rows, []any{v})
		}
	default:
		// A function of one value (string_to_array(…) s): one row.
		v, err := c.callText(name, args)
		if err != nil {
			return nil, "", err
		}
		r.rows = append(r.rows, []any{v})
	}
	return r, alias, nil
}

// pgQuoteIdent is PostgreSQL's quote_ident (and format's %I): name as it
// is when it reads as itself (lower-case letters, digits, _ and $, not
// starting with a digit or $, no keyword but an unreserved one), else in
// double quotes.
func pgQuoteIdent(name string) string {
	plain := name != ""
	for i, r := range name {
		if !(r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '$')) {
			plain = false
			break
		}
	}
	if plain && !keyword(name) {
		return name
	}
	return quoteIdent(name)
}

// keyword reports whether name is one of PostgreSQL's keywords other than
// the unreserved ones.
func keyword(name string) bool {
	scan, err := pg.Scan(name)
	if err != nil || len(scan.GetTokens()) != 1 {
		return false
	}
	k := scan.GetTokens()[0].GetKeywordKind()
	return k != pg.KeywordKind_NO_KEYWORD && k != pg.KeywordKind_UNRESERVED_KEYWORD
}
