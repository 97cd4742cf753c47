package planner

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	physexpr "github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/errs"
)

// The statement parser. Every statement is read with PostgreSQL's own
// lexer (pg_query's scanner: quoting, escapes, nested comments and dollar
// quotes exactly as PostgreSQL reads them). kapot's own statements, which
// PostgreSQL's grammar does not know, are parsed here from those tokens:
//
//	CREATE EXTERNAL TABLE [IF NOT EXISTS] name STORED AS PARQUET | CSV
//	    [WITH HEADER ROW] [DELIMITER 'c'] [PARTITIONED BY (col, …)]
//	    LOCATION 'path or URL'
//	SHOW TABLES
//	SHOW FUNCTIONS
//	DESCRIBE | DESC name
//	EXPLAIN [ANALYZE | LOGICAL] query
//
// (the clauses after STORED AS in any order, each at most once). Every
// other statement is PostgreSQL's, parsed by its grammar when planned.

// StatementKind says what a statement of a SQL script asks for.
type StatementKind int

// The statements a session understands.
const (
	StmtQuery StatementKind = iota
	StmtExplain
	StmtCreateExternalTable
	StmtShowTables
	StmtDescribe
	StmtShowFunctions
)

// Statement is one parsed statement.
type Statement struct {
	Kind StatementKind
	SQL  string // the query (for StmtQuery and StmtExplain)
	// Def is a CREATE EXTERNAL TABLE's definition.
	Def *catalog.ExternalTable
	// Table is Def resolved (its files listed and schema read) by
	// Catalog.Classify; nil from ParseStatement.
	Table *catalog.Table
	// Name is DESCRIBE's table.
	Name string
	// Analyze: EXPLAIN ANALYZE runs the query and reports its metrics.
	Analyze bool
	// Logical: EXPLAIN LOGICAL prints the optimised logical plan
	// (ExplainLogical) instead of the physical one.
	Logical bool
	// Write is a statement that writes or defines tables and views
	// (StmtCreateTable … StmtCopy).
	Write *WriteStmt
}

// SplitScript splits a script into statements at the semicolons
// PostgreSQL's lexer sees (not those in strings, quoted names or
// comments), dropping empty ones.
func SplitScript(script string) ([]string, error) {
	_, _, res, err := scanText(script, false)
	if err != nil {
		return nil, err
	}
	var out []string
	start := 0
	emit := func(end int) {
		if st := strings.TrimSpace(script[start:end]); st != "" && !onlyComments(st) {
			out = append(out, st)
		}
		start = end + 1
	}
	for _, t := range res.GetTokens() {
		if t.GetToken() == pg.Token_ASCII_59 { // ';'
			emit(int(t.GetStart()))
		}
	}
	emit(len(script))
	return out, nil
}

// onlyComments reports whether a statement's text is comments alone.
func onlyComments(s string) bool {
	r, err := pg.Scan(s)
	return err == nil && len(tokens(r)) == 0
}

// checkText refuses text PostgreSQL's lexer, reached through C strings,
// would read only part of.
func checkText(s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return &SQLError{Pos: i, Msg: "SQL text contains a NUL byte", Err: errs.ErrInvalidSQL}
	}
	return nil
}

// tokens are a scan's tokens without comments.
func tokens(r *pg.ScanResult) []*pg.ScanToken {
	var out []*pg.ScanToken
	for _, t := range r.GetTokens() {
		if t.GetToken() != pg.Token_SQL_COMMENT && t.GetToken() != pg.Token_C_COMMENT {
			out = append(out, t)
		}
	}
	return out
}

// ParseStatement parses one statement: kapot's own statements here, any
// other as a query for the planner (which refuses what it cannot run).
func ParseStatement(sql string) (*Statement, error) {
	text, lists, res, err := scanSQL(sql, false)
	if err != nil {
		return nil, err
	}
	if err := checkDepth(res); err != nil {
		return nil, err
	}
	// The tokens are those of the text with its long IN lists replaced
	// (placeholders at the same positions): kapot's statements have none.
	p := &stmtParser{sql: sql, toks: tokens(res), parsed: text, lists: lists}
	switch {
	case p.word("create") && p.wordAt(1, "external"):
		return p.createExternal()
	case p.word("show") && p.wordAt(1, "tables") && len(p.toks) == 2:
		return &Statement{Kind: StmtShowTables}, nil
	case p.word("show") && p.wordAt(1, "functions") && len(p.toks) == 2:
		return &Statement{Kind: StmtShowFunctions}, nil
	case p.word("describe") || p.word("desc"):
		p.next()
		name, err := p.name("a table name")
		if err != nil {
			return nil, err
		}
		if err := p.end(); err != nil {
			return nil, err
		}
		return &Statement{Kind: StmtDescribe, Name: name}, nil
	case p.word("explain"):
		p.next()
		st := &Statement{Kind: StmtExplain}
		switch {
		case p.word("analyze"):
			st.Analyze = true
			p.next()
		case p.word("logical"):
			st.Logical = true
			p.next()
		}
		if p.i >= len(p.toks) {
			return nil, p.errorf("EXPLAIN needs a query")
		}
		st.SQL = strings.TrimSpace(sql[p.toks[p.i].GetStart():])
		return st, nil
	}
	if st, ok, err := p.parseWrite(); ok || err != nil {
		return st, err
	}
	return &Statement{Kind: StmtQuery, SQL: strings.TrimSpace(sql)}, nil
}

// stmtParser reads kapot's statements from PostgreSQL's tokens.
type stmtParser struct {
	sql  string
	toks []*pg.ScanToken
	i    int
	// parsed is sql with its long IN lists replaced, lists those lists
	// (see longLists), without their values.
	parsed string
	lists  map[string]*longList
}

func (p *stmtParser) text(i int) string {
	t := p.toks[i]
	return p.sql[t.GetStart():t.GetEnd()]
}

// wordAt reports whether token i+p.i is the unquoted word w.
func (p *stmtParser) wordAt(off int, w string) bool {
	i := p.i + off
	return i < len(p.toks) && p.toks[i].GetToken() != pg.Token_SCONST && strings.EqualFold(p.text(i), w)
}

func (p *stmtParser) word(w string) bool { return p.wordAt(0, w) }

func (p *stmtParser) next() { p.i++ }

// expect consumes the words ws in order.
func (p *stmtParser) expect(ws ...string) error {
	for _, w := range ws {
		if !p.word(w) {
			return p.errorf("want %s", strings.ToUpper(w))
		}
		p.next()
	}
	return nil
}

// errorf is a syntax error at the current token.
func (p *stmtParser) errorf(format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if p.i >= len(p.toks) {
		return &SQLError{Pos: -1, Msg: "syntax error at end of input: " + msg, Err: errs.ErrSyntax}
	}
	return &SQLError{Pos: int(p.toks[p.i].GetStart()), Msg: fmt.Sprintf("syntax error at or near %q: %s", p.text(p.i), msg), Err: errs.ErrSyntax}
}

// end requires the statement to be over.
func (p *stmtParser) end() error {
	if p.i < len(p.toks) {
		return p.errorf("want the end of the statement")
	}
	return nil
}

// name reads an identifier: folded to lower case unless double-quoted.
func (p *stmtParser) name(what string) (string, error) {
	if p.i >= len(p.toks) {
		return "", p.errorf("want %s", what)
	}
	t, s := p.toks[p.i], p.text(p.i)
	switch {
	case t.GetToken() == pg.Token_IDENT && strings.HasPrefix(s, `"`):
		s = strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	case t.GetToken() == pg.Token_IDENT || t.GetKeywordKind() == pg.KeywordKind_UNRESERVED_KEYWORD:
		s = strings.ToLower(s)
	default:
		return "", p.errorf("want %s", what)
	}
	if s == "" {
		return "", p.errorf("want %s", what)
	}
	p.next()
	return s, nil
}

// str reads a standard string literal ('…', quotes doubled).
func (p *stmtParser) str(what string) (string, error) {
	if p.i >= len(p.toks) || p.toks[p.i].GetToken() != pg.Token_SCONST || !strings.HasPrefix(p.text(p.i), "'") {
		return "", p.errorf("want %s as a quoted string ('…')", what)
	}
	s := p.text(p.i)
	p.next()
	return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
}

func (p *stmtParser) createExternal() (*Statement, error) {
	if err := p.expect("create", "external", "table"); err != nil {
		return nil, err
	}
	d := &catalog.ExternalTable{}
	if p.word("if") {
		if err := p.expect("if", "not", "exists"); err != nil {
			return nil, err
		}
		d.IfNotExists = true
	}
	var err error
	if d.Name, err = p.name("the table's name"); err != nil {
		return nil, err
	}
	if p.i < len(p.toks) && p.text(p.i) == "(" {
		return nil, &SQLError{Pos: int(p.toks[p.i].GetStart()), Msg: "not supported yet: column lists in CREATE EXTERNAL TABLE (the schema is read from the files)", Err: ErrNotSupported}
	}
	if err := p.expect("stored", "as"); err != nil {
		return nil, err
	}
	switch {
	case p.word("parquet"), p.word("csv"):
		d.Format = strings.ToLower(p.text(p.i))
		p.next()
	case p.i < len(p.toks):
		return nil, &SQLError{Pos: int(p.toks[p.i].GetStart()), Msg: fmt.Sprintf("not supported yet: STORED AS %s (PARQUET or CSV)", strings.ToUpper(p.text(p.i))), Err: ErrNotSupported}
	default:
		return nil, p.errorf("want PARQUET or CSV")
	}
	seen := map[string]bool{}
	once := func(clause string) error {
		if seen[clause] {
			return p.errorf("%s given twice", clause)
		}
		seen[clause] = true
		return nil
	}
	for p.i < len(p.toks) {
		switch {
		case p.word("with"):
			if err := once("WITH HEADER ROW"); err != nil {
				return nil, err
			}
			if err := p.expect("with", "header", "row"); err != nil {
				return nil, err
			}
			d.Header = true
		case p.word("delimiter"):
			if err := once("DELIMITER"); err != nil {
				return nil, err
			}
			p.next()
			at := p.i
			if d.Delimiter, err = p.str("the delimiter"); err != nil {
				return nil, err
			}
			if len([]rune(d.Delimiter)) != 1 {
				p.i = at
				return nil, p.errorf("the delimiter must be one character")
			}
		case p.word("location"):
			if err := once("LOCATION"); err != nil {
				return nil, err
			}
			p.next()
			if d.Location, err = p.str("the location"); err != nil {
				return nil, err
			}
			if d.Location == "" {
				p.i--
				return nil, p.errorf("the location is empty")
			}
		case p.word("partitioned"):
			if err := once("PARTITIONED BY"); err != nil {
				return nil, err
			}
			if err := p.expect("partitioned", "by"); err != nil {
				return nil, err
			}
			if p.i >= len(p.toks) || p.text(p.i) != "(" {
				return nil, p.errorf("want ( after PARTITIONED BY")
			}
			p.next()
			for {
				col, err := p.name("a partition column")
				if err != nil {
					return nil, err
				}
				d.PartitionBy = append(d.PartitionBy, col)
				if p.i < len(p.toks) && p.text(p.i) == "," {
					p.next()
					continue
				}
				break
			}
			if p.i >= len(p.toks) || p.text(p.i) != ")" {
				return nil, p.errorf("want ) after the partition columns")
			}
			p.next()
		default:
			return nil, p.errorf("want WITH HEADER ROW, DELIMITER, PARTITIONED BY or LOCATION")
		}
	}
	if d.Location == "" {
		return nil, p.errorf("want LOCATION 'path or URL'")
	}
	if d.Format != "parquet" && len(d.PartitionBy) > 0 {
		return nil, &SQLError{Pos: -1, Msg: "not supported yet: PARTITIONED BY for CSV tables (Parquet only)", Err: ErrNotSupported}
	}
	if d.Format != "csv" && (d.Header || d.Delimiter != "") {
		return nil, &SQLError{Pos: -1, Msg: "WITH HEADER ROW and DELIMITER apply to CSV tables only", Err: errs.ErrInvalidSQL}
	}
	return &Statement{Kind: StmtCreateExternalTable, Def: d}, nil
}

// Placeholders finds the parameter placeholders of sql with PostgreSQL's
// lexer, so none is seen inside a string, a quoted name or a comment:
// $n, and ? (numbered in order; PostgreSQL reads ? as an operator
// character, so x=? is one token holding one). It calls at(start, end, n)
// for each, n counting from 1.
func Placeholders(sql string, at func(start, end, n int)) error {
	// Long IN lists hold constants only: they are scanned as one token.
	_, _, res, err := scanText(sql, false)
	if err != nil {
		return err
	}
	next := 1
	for _, t := range res.GetTokens() {
		start, end := int(t.GetStart()), int(t.GetEnd())
		switch t.GetToken() {
		case pg.Token_PARAM:
			n, err := strconv.Atoi(sql[start+1 : end])
			if err != nil || n < 1 {
				return &SQLError{Pos: start, Msg: fmt.Sprintf("bad placeholder %s", sql[start:end]), Err: engine.ErrInvalidPlan}
			}
			at(start, end, n)
		case pg.Token_Op:
			for i := start; i < end; i++ {
				if sql[i] == '?' {
					at(i, i+1, next)
					next++
				}
			}
		}
	}
	return nil
}

// Functions lists the functions SQL can call, as (name, kind) rows sorted
// by name: kind is scalar, aggregate, window or table (in FROM; unnest
// also in the select list, a row per element).
func Functions() [][2]string {
	var out [][2]string
	for _, n := range physexpr.FunctionNames() {
		out = append(out, [2]string{n, "scalar"})
	}
	for n := range aggFuncs {
		out = append(out, [2]string{n, "aggregate"})
	}
	for n := range rankingFuncs {
		out = append(out, [2]string{n, "window"})
	}
	for _, n := range []string{"generate_series", "range", "unnest"} {
		out = append(out, [2]string{n, "table"})
	}
	for _, n := range []string{"greatest", "least", "nullif", "current_date", "mod", "typeof"} {
		out = append(out, [2]string{n, "scalar"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] || out[i][0] == out[j][0] && out[i][1] < out[j][1] })
	// A function both the engine and the planner name (nullif) once.
	return slices.Compact(out)
}
