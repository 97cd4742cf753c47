package difftest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Type is a column or expression type of the generator.
type Type int

// The generated types.
const (
	Int Type = iota
	Dec
	Float
	Str
	Date
	Bool
	// Ts is TIMESTAMP (without time zone): literals, casts to and from
	// text and dates, ± intervals, date_trunc, extract, comparisons.
	Ts
	// List is a list of BIGINT (a column only): len, element access,
	// list_contains, and the list itself as text in plain selects.
	List
)

// Column is a column of a table.
type Column struct {
	Name string
	Type Type
}

// Table is a table the generator may read.
type Table struct {
	Name string
	Cols []Column
	// Keys are pairs of (this column, other table.column) that join well.
	Joins map[string][][2]string
}

// Expr is a generated expression: its SQL text, type, whether it
// aggregates, and its operands (for shrinking).
type Expr struct {
	SQL  string
	Type Type
	Agg  bool
	Kids []*Expr
}

func (e *Expr) String() string { return e.SQL }

// Query is a generated SELECT.
type Query struct {
	Distinct bool
	Items    []*Expr
	From     string
	Where    *Expr
	GroupBy  []*Expr
	Having   *Expr
	// Ordered: ORDER BY every output column (then Limit applies).
	Ordered bool
	Limit   int // -1: none
}

// SQL prints the query.
func (q *Query) SQL() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if q.Distinct {
		b.WriteString("DISTINCT ")
	}
	for i, it := range q.Items {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s AS c%d", it.SQL, i)
	}
	b.WriteString(" FROM " + q.From)
	if q.Where != nil {
		b.WriteString(" WHERE " + q.Where.SQL)
	}
	if len(q.GroupBy) > 0 {
		b.WriteString(" GROUP BY ")
		for i, g := range q.GroupBy {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(g.SQL)
		}
	}
	if q.Having != nil {
		b.WriteString(" HAVING " + q.Having.SQL)
	}
	if q.Ordered {
		b.WriteString(" ORDER BY ")
		for i := range q.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d NULLS FIRST", i+1)
		}
		if q.Limit >= 0 {
			fmt.Fprintf(&b, " LIMIT %d", q.Limit)
		}
	}
	return b.String()
}

// Gen generates queries from a seeded source: the same seed gives the
// same queries.
type Gen struct {
	r      *rand.Rand
	tables []Table
	// scope is the columns of the current FROM clause, qualified.
	scope []Column
	// subq allows subqueries in predicates (off inside a subquery).
	subq bool
}

// NewGen returns a generator over tables.
func NewGen(seed uint64, tables []Table) *Gen {
	return &Gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), tables: tables}
}

func (g *Gen) pick(n int) int        { return g.r.IntN(n) }
func (g *Gen) chance(p float64) bool { return g.r.Float64() < p }

// from picks one table, or two joined on a join key, and sets the scope.
func (g *Gen) from() string {
	t := g.tables[g.pick(len(g.tables))]
	g.scope = g.scope[:0]
	add := func(t Table, alias string) {
		for _, c := range t.Cols {
			g.scope = append(g.scope, Column{Name: alias + "." + c.Name, Type: c.Type})
		}
	}
	add(t, "x")
	if len(t.Joins) == 0 || g.chance(0.4) {
		return t.Name + " AS x"
	}
	var others []string
	for o := range t.Joins {
		others = append(others, o)
	}
	// deterministic order for the seed
	slices.Sort(others)
	oname := others[g.pick(len(others))]
	var ot Table
	for _, tt := range g.tables {
		if tt.Name == oname {
			ot = tt
		}
	}
	add(ot, "y")
	keys := t.Joins[oname][g.pick(len(t.Joins[oname]))]
	on := fmt.Sprintf("x.%s = y.%s", keys[0], keys[1])
	if g.chance(0.2) {
		if p := g.pred(2); p != nil {
			on += " AND " + p.SQL
		}
	}
	kind := []string{"JOIN", "JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"}[g.pick(5)]
	if kind == "JOIN" && g.chance(0.3) {
		// comma join, the equality in WHERE is added by the caller via ON text
		return fmt.Sprintf("%s AS x JOIN %s AS y ON %s", t.Name, ot.Name, on)
	}
	return fmt.Sprintf("%s AS x %s %s AS y ON %s", t.Name, kind, ot.Name, on)
}

func (g *Gen) colOf(t Type) *Expr {
	var cs []Column
	for _, c := range g.scope {
		if c.Type == t {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return nil
	}
	c := cs[g.pick(len(cs))]
	return &Expr{SQL: c.Name, Type: t}
}

var strLits = []string{"''", "'a'", "'A'", "'abc'", "'zz'", "'é'", "'日本'", "'x y'", "'ALGERIA'", "'BUILDING'", "'1-URGENT'", "'O'", "'F'"}
var tsLits = []string{"TIMESTAMP '1970-01-01 00:00:00'", "TIMESTAMP '1995-06-17 12:34:56'", "TIMESTAMP '2000-02-29 23:59:59.999999'",
	"TIMESTAMP '1969-12-31 23:59:59'", "TIMESTAMP '2024-02-07 02:11:59.5'", "TIMESTAMP '1992-01-01 00:00:00'"}

// intervals are the INTERVAL literals added to and subtracted from
// timestamps.
var intervals = []string{"INTERVAL '1' HOUR", "INTERVAL '90' MINUTE", "INTERVAL '1' DAY", "INTERVAL '30' SECOND", "INTERVAL '1' MONTH", "INTERVAL '1' YEAR"}

// truncUnits are date_trunc's units; extractFields extract's integer
// fields.
var (
	truncUnits    = []string{"'year'", "'quarter'", "'month'", "'week'", "'day'", "'hour'", "'minute'", "'second'"}
	extractFields = []string{"year", "month", "day", "hour", "minute", "dow", "doy", "quarter"}
)

var dateLits = []string{"DATE '1970-01-01'", "DATE '1995-06-17'", "DATE '2000-02-29'", "DATE '1992-01-01'", "DATE '1998-08-02'", "DATE '1900-01-01'"}

func (g *Gen) lit(t Type) *Expr {
	switch t {
	case Int:
		v := []int64{0, 1, -1, 2, 3, 5, 7, 10, 24, 100, -100, 1000000}[g.pick(12)]
		if v < 0 {
			return &Expr{SQL: fmt.Sprintf("(%d)", v), Type: Int}
		}
		return &Expr{SQL: fmt.Sprint(v), Type: Int}
	case Dec:
		// Values strictly between -1 and 1 (and their 3-digit scale)
		// are where floor and ceil of decimals stepped wrong.
		return &Expr{SQL: []string{"0.00", "1.50", "-2.25", "1000.00", "0.05", "9999.99", "0.125", "-0.500", "-0.001", "0.999"}[g.pick(10)], Type: Dec}
	case Float:
		return &Expr{SQL: []string{"CAST(0.5 AS DOUBLE)", "CAST(-1.25 AS DOUBLE)", "CAST(1000 AS DOUBLE)"}[g.pick(3)], Type: Float}
	case Str:
		return &Expr{SQL: strLits[g.pick(len(strLits))], Type: Str}
	case Date:
		return &Expr{SQL: dateLits[g.pick(len(dateLits))], Type: Date}
	case Bool:
		return &Expr{SQL: []string{"TRUE", "FALSE"}[g.pick(2)], Type: Bool}
	case Ts:
		return &Expr{SQL: tsLits[g.pick(len(tsLits))], Type: Ts}
	}
	return nil
}

// scalar is a non-aggregate expression of type t, depth levels deep at
// most; nil when the scope has nothing of that type.
func (g *Gen) scalar(t Type, depth int) *Expr {
	if t == Bool {
		return g.pred(depth)
	}
	if depth <= 0 || g.chance(0.45) {
		if c := g.colOf(t); c != nil && g.chance(0.8) {
			return c
		}
		return g.lit(t)
	}
	sub := func(t Type) *Expr { return g.scalar(t, depth-1) }
	bin := func(op string, a, b *Expr, t Type) *Expr {
		if a == nil || b == nil {
			return a
		}
		return &Expr{SQL: "(" + a.SQL + " " + op + " " + b.SQL + ")", Type: t, Kids: []*Expr{a, b}}
	}
	fn := func(f string, t Type, args ...*Expr) *Expr {
		parts := make([]string, len(args))
		for i, a := range args {
			if a == nil {
				return nil
			}
			parts[i] = a.SQL
		}
		return &Expr{SQL: f + "(" + strings.Join(parts, ", ") + ")", Type: t, Kids: args}
	}
	switch t {
	case Int:
		switch g.pick(11) {
		case 10:
			if l := g.colOf(List); l != nil {
				if g.chance(0.4) {
					return fn("len", Int, l)
				}
				// DuckDB's lists are 1-based; 0 and past the end are NULL,
				// negative indexes count from the end.
				i := []string{"1", "2", "3", "0", "-1", "5"}[g.pick(6)]
				return &Expr{SQL: l.SQL + "[" + i + "]", Type: Int, Kids: []*Expr{l}}
			}
			return fn("abs", Int, sub(Int))
		case 9:
			return fn("extract", Int, &Expr{SQL: extractFields[g.pick(len(extractFields))] + " FROM " + orLit(sub(Ts), g.lit(Ts)).SQL, Type: Ts})
		case 0:
			return bin("+", sub(Int), sub(Int), Int)
		case 1:
			return bin("-", sub(Int), sub(Int), Int)
		case 2:
			return bin("*", sub(Int), g.lit(Int), Int)
		case 3:
			return bin("%", sub(Int), &Expr{SQL: []string{"3", "7", "10"}[g.pick(3)], Type: Int}, Int)
		case 4:
			return fn("abs", Int, sub(Int))
		case 5:
			return fn("coalesce", Int, sub(Int), g.lit(Int))
		case 6:
			return g.caseExpr(Int, depth)
		case 7:
			return fn("length", Int, sub(Str))
		case 8:
			if a := sub(Date); a != nil {
				if b := sub(Date); b != nil {
					return bin("-", a, b, Int)
				}
			}
			return fn("abs", Int, sub(Int))
		}
	case Dec:
		switch g.pick(8) {
		case 5:
			return fn("floor", Dec, sub(Dec))
		case 6:
			return fn("ceil", Dec, sub(Dec))
		case 7:
			return fn("trunc", Dec, sub(Dec))
		case 0:
			return bin("+", sub(Dec), sub(Dec), Dec)
		case 1:
			return bin("-", sub(Dec), g.lit(Dec), Dec)
		case 2:
			return bin("*", sub(Dec), g.lit(Int), Dec)
		case 3:
			return g.caseExpr(Dec, depth)
		case 4:
			return fn("abs", Dec, sub(Dec))
		}
	case Float:
		switch g.pick(3) {
		case 0:
			return bin("+", sub(Float), sub(Float), Float)
		case 1:
			return bin("*", sub(Float), g.lit(Float), Float)
		case 2:
			return g.caseExpr(Float, depth)
		}
	case Str:
		switch g.pick(6) {
		case 0:
			return fn("upper", Str, sub(Str))
		case 1:
			return fn("lower", Str, sub(Str))
		case 2:
			return fn("substring", Str, sub(Str), &Expr{SQL: []string{"1", "2", "3"}[g.pick(3)], Type: Int}, &Expr{SQL: []string{"1", "2", "5"}[g.pick(3)], Type: Int})
		case 3:
			return fn("coalesce", Str, sub(Str), g.lit(Str))
		case 4:
			return g.caseExpr(Str, depth)
		case 5:
			// Timestamps as text print as PostgreSQL and DuckDB do.
			return fn("CAST", Str, &Expr{SQL: orLit(sub(Ts), g.lit(Ts)).SQL + " AS VARCHAR", Type: Ts})
		}
	case Date:
		// date ± interval is a timestamp in DuckDB (and PostgreSQL), a
		// date in kapot: only date ± integer days is generated.
		switch g.pick(4) {
		case 0:
			return bin("+", sub(Date), g.lit(Int), Date)
		case 1:
			return bin("-", sub(Date), g.lit(Int), Date)
		case 2:
			return g.caseExpr(Date, depth)
		case 3:
			return fn("CAST", Date, &Expr{SQL: orLit(sub(Ts), g.lit(Ts)).SQL + " AS DATE", Type: Ts})
		}
	case Ts:
		switch g.pick(5) {
		case 0:
			return bin("+", sub(Ts), &Expr{SQL: intervals[g.pick(len(intervals))], Type: Ts}, Ts)
		case 1:
			return bin("-", sub(Ts), &Expr{SQL: intervals[g.pick(len(intervals))], Type: Ts}, Ts)
		case 2:
			return fn("date_trunc", Ts, &Expr{SQL: truncUnits[g.pick(len(truncUnits))], Type: Str}, sub(Ts))
		case 3:
			return fn("CAST", Ts, &Expr{SQL: orLit(sub(Date), g.lit(Date)).SQL + " AS TIMESTAMP", Type: Date})
		case 4:
			return g.caseExpr(Ts, depth)
		}
	}
	return g.lit(t)
}

// orLit is e, or lit when e is nil (the scope has no column of its type).
func orLit(e, lit *Expr) *Expr {
	if e == nil {
		return lit
	}
	return e
}

func (g *Gen) caseExpr(t Type, depth int) *Expr {
	p, a, b := g.pred(depth-1), g.scalar(t, depth-1), g.scalar(t, depth-1)
	if p == nil || a == nil || b == nil {
		return a
	}
	if g.chance(0.3) {
		return &Expr{SQL: "CASE WHEN " + p.SQL + " THEN " + a.SQL + " END", Type: t, Kids: []*Expr{p, a}}
	}
	return &Expr{SQL: "CASE WHEN " + p.SQL + " THEN " + a.SQL + " ELSE " + b.SQL + " END", Type: t, Kids: []*Expr{p, a, b}}
}

var cmpOps = []string{"=", "<>", "<", "<=", ">", ">="}

// pred is a boolean expression.
func (g *Gen) pred(depth int) *Expr {
	types := []Type{Int, Int, Dec, Float, Str, Date, Ts}
	t := types[g.pick(len(types))]
	if depth <= 0 {
		a := g.scalar(t, 0)
		return &Expr{SQL: "(" + a.SQL + " " + cmpOps[g.pick(len(cmpOps))] + " " + g.lit(t).SQL + ")", Type: Bool, Kids: []*Expr{a}}
	}
	switch g.pick(12) {
	case 11:
		if l := g.colOf(List); l != nil {
			a := orLit(g.scalar(Int, depth-1), g.lit(Int))
			return &Expr{SQL: "list_contains(" + l.SQL + ", " + a.SQL + ")", Type: Bool, Kids: []*Expr{l, a}}
		}
		p, q := g.pred(depth-1), g.pred(depth-1)
		return &Expr{SQL: "(" + p.SQL + " AND " + q.SQL + ")", Type: Bool, Kids: []*Expr{p, q}}
	case 0, 1:
		p, q := g.pred(depth-1), g.pred(depth-1)
		return &Expr{SQL: "(" + p.SQL + " AND " + q.SQL + ")", Type: Bool, Kids: []*Expr{p, q}}
	case 2:
		p, q := g.pred(depth-1), g.pred(depth-1)
		return &Expr{SQL: "(" + p.SQL + " OR " + q.SQL + ")", Type: Bool, Kids: []*Expr{p, q}}
	case 3:
		p := g.pred(depth - 1)
		return &Expr{SQL: "(NOT " + p.SQL + ")", Type: Bool, Kids: []*Expr{p}}
	case 4:
		a := g.scalar(t, depth-1)
		not := []string{"", " NOT"}[g.pick(2)]
		return &Expr{SQL: "(" + a.SQL + " IS" + not + " NULL)", Type: Bool, Kids: []*Expr{a}}
	case 5:
		a := g.scalar(t, depth-1)
		lo, hi := g.lit(t), g.lit(t)
		not := []string{"", " NOT"}[g.pick(2)]
		return &Expr{SQL: "(" + a.SQL + not + " BETWEEN " + lo.SQL + " AND " + hi.SQL + ")", Type: Bool, Kids: []*Expr{a}}
	case 6:
		a := g.scalar(t, depth-1)
		var lits []string
		for i := 0; i < 1+g.pick(4); i++ {
			lits = append(lits, g.lit(t).SQL)
		}
		if g.chance(0.15) {
			lits = append(lits, "NULL")
		}
		not := []string{"", " NOT"}[g.pick(2)]
		return &Expr{SQL: "(" + a.SQL + not + " IN (" + strings.Join(lits, ", ") + "))", Type: Bool, Kids: []*Expr{a}}
	case 7:
		a := g.scalar(Str, depth-1)
		pat := []string{"'a%'", "'%a%'", "'%b'", "'_'", "'A%'", "'%'", "'%é%'", "'B_ILD%'"}[g.pick(8)]
		not := []string{"", " NOT"}[g.pick(2)]
		return &Expr{SQL: "(" + a.SQL + not + " LIKE " + pat + ")", Type: Bool, Kids: []*Expr{a}}
	case 8:
		if g.subq {
			if s := g.subquery(t); s != nil {
				return s
			}
		}
		fallthrough
	default:
		a, b := g.scalar(t, depth-1), g.scalar(t, depth-1)
		return &Expr{SQL: "(" + a.SQL + " " + cmpOps[g.pick(len(cmpOps))] + " " + b.SQL + ")", Type: Bool, Kids: []*Expr{a, b}}
	}
}

// subquery is [NOT] IN (SELECT …) or [NOT] EXISTS (SELECT … correlated).
func (g *Gen) subquery(t Type) *Expr {
	outer := append([]Column(nil), g.scope...)
	a := g.scalar(t, 1)
	tab := g.tables[g.pick(len(g.tables))]
	var inner []Column
	for _, c := range tab.Cols {
		if c.Type == t {
			inner = append(inner, c)
		}
	}
	if len(inner) == 0 || a == nil {
		return nil
	}
	ic := inner[g.pick(len(inner))]
	g.scope = nil
	for _, c := range tab.Cols {
		g.scope = append(g.scope, Column{Name: "z." + c.Name, Type: c.Type})
	}
	g.subq = false
	var where string
	if g.chance(0.5) {
		where = " WHERE " + g.pred(1).SQL
	}
	g.subq = true
	g.scope = outer
	not := []string{"", "NOT "}[g.pick(2)]
	if g.chance(0.5) {
		return &Expr{SQL: fmt.Sprintf("(%s %sIN (SELECT z.%s FROM %s AS z%s))", a.SQL, not, ic.Name, tab.Name, where), Type: Bool, Kids: []*Expr{a}}
	}
	// EXISTS correlated on one equality.
	cond := fmt.Sprintf("z.%s = %s", ic.Name, a.SQL)
	if where != "" {
		cond += " AND " + strings.TrimPrefix(where, " WHERE ")
	}
	return &Expr{SQL: fmt.Sprintf("(%sEXISTS (SELECT 1 FROM %s AS z WHERE %s))", not, tab.Name, cond), Type: Bool, Kids: []*Expr{a}}
}

var anyTypes = []Type{Int, Int, Dec, Float, Str, Date, Ts}

// agg is an aggregate call.
func (g *Gen) agg() *Expr {
	t := anyTypes[g.pick(len(anyTypes))]
	a := g.scalar(t, 1)
	var e *Expr
	switch k := g.pick(9); {
	case k == 8 && t != Float:
		// At fractions whose product with the row count is whole in
		// exact arithmetic but not in floating point (0.95 × 60).
		f := []string{"0.05", "0.25", "0.35", "0.5", "0.95", "1.0", "0"}[g.pick(7)]
		e = &Expr{SQL: "percentile_disc(" + f + ") WITHIN GROUP (ORDER BY " + a.SQL + ")", Type: t, Agg: true, Kids: []*Expr{a}}
	case k == 0:
		e = &Expr{SQL: "count(*)", Type: Int, Agg: true}
	case k == 1:
		e = &Expr{SQL: "count(" + a.SQL + ")", Type: Int, Agg: true, Kids: []*Expr{a}}
	case k == 2:
		e = &Expr{SQL: "count(DISTINCT " + a.SQL + ")", Type: Int, Agg: true, Kids: []*Expr{a}}
	case k == 3 && (t == Int || t == Dec || t == Float):
		e = &Expr{SQL: "sum(" + a.SQL + ")", Type: t, Agg: true, Kids: []*Expr{a}}
	case k == 4 && (t == Int || t == Dec || t == Float):
		e = &Expr{SQL: "avg(" + a.SQL + ")", Type: Float, Agg: true, Kids: []*Expr{a}}
	case k == 5:
		e = &Expr{SQL: "min(" + a.SQL + ")", Type: t, Agg: true, Kids: []*Expr{a}}
	default:
		e = &Expr{SQL: "max(" + a.SQL + ")", Type: t, Agg: true, Kids: []*Expr{a}}
	}
	if g.chance(0.15) {
		e.SQL = strings.TrimSuffix(e.SQL, ")") + ") FILTER (WHERE " + g.pred(1).SQL + ")"
	}
	return e
}

// Next generates a query.
func (g *Gen) Next() *Query {
	g.subq = true
	q := &Query{From: g.from(), Limit: -1}
	if g.chance(0.6) {
		q.Where = g.pred(2)
	}
	switch g.pick(3) {
	case 0: // plain select
		for i := 0; i < 1+g.pick(4); i++ {
			t := anyTypes[g.pick(len(anyTypes))]
			q.Items = append(q.Items, g.scalar(t, 2))
		}
		if l := g.colOf(List); l != nil && g.chance(0.3) {
			// The list itself, printed as DuckDB prints it.
			q.Items = append(q.Items, l)
		}
		q.Distinct = g.chance(0.2)
	case 1: // aggregate without GROUP BY
		for i := 0; i < 1+g.pick(3); i++ {
			q.Items = append(q.Items, g.agg())
		}
	case 2: // GROUP BY
		for i := 0; i < 1+g.pick(2); i++ {
			t := anyTypes[g.pick(len(anyTypes))]
			q.GroupBy = append(q.GroupBy, g.scalar(t, 1))
		}
		for _, k := range q.GroupBy {
			if g.chance(0.7) {
				q.Items = append(q.Items, k)
			}
		}
		for i := 0; i < 1+g.pick(3); i++ {
			q.Items = append(q.Items, g.agg())
		}
		if g.chance(0.3) {
			a := g.agg()
			if a.Type == Int || a.Type == Float || a.Type == Dec {
				q.Having = &Expr{SQL: "(" + a.SQL + " > " + g.lit(a.Type).SQL + ")", Type: Bool, Agg: true}
			}
		}
		q.Distinct = g.chance(0.15)
	}
	if g.chance(0.5) {
		q.Ordered = true
		if g.chance(0.5) {
			q.Limit = g.pick(20)
		}
	}
	return q
}

// Pred is a predicate over the FROM clause of the query Next returned
// last (for the metamorphic checks), without subqueries.
func (g *Gen) Pred() *Expr {
	g.subq = false
	return g.pred(2)
}

// Plain reports whether q is a plain SELECT (no aggregate, DISTINCT or
// LIMIT): its rows partition by any predicate over its FROM clause.
func (q *Query) Plain() bool {
	if q.Distinct || len(q.GroupBy) > 0 || q.Limit >= 0 {
		return false
	}
	for _, it := range q.Items {
		if it.Agg {
			return false
		}
	}
	return true
}

// With returns q with WHERE replaced by where (nil: none).
func (q *Query) With(where *Expr) *Query {
	c := clone(q)
	c.Where = where
	return c
}
