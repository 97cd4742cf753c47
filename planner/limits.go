package planner

import (
	"fmt"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/errs"
)

// Limits on SQL text checked before the parser sees it. PostgreSQL's
// parser, run through cgo, recurses once per nesting level when it hands
// its tree over: a SELECT 1+1+…+1 of 40,000 terms overflows the C stack
// and kills the process (the scheduler, with every job it runs), and from
// about 5,000 the tree is already too deep to decode.
const (
	// MaxSQLBytes is the longest SQL text accepted.
	MaxSQLBytes = 8 << 20
	// MaxExprDepth bounds how deeply expressions may nest, as estimated
	// from the tokens (see sqlDepth).
	MaxExprDepth = 1000
)

// parseSQL parses SQL text with PostgreSQL's parser once it has checked
// that the text is not too long or too deeply nested to parse safely. Long
// IN lists of constants are kept aside (see longLists): the parser sees
// placeholders, returned with their lists.
func parseSQL(sql string) (*pg.ParseResult, map[string]*longList, error) {
	text, lists, err := checkSQL(sql)
	if err != nil {
		return nil, nil, err
	}
	res, err := pg.Parse(text)
	if err != nil {
		return nil, nil, &SQLError{Pos: -1, Msg: fmt.Sprintf("syntax error: %v", err), Err: errs.ErrSyntax}
	}
	return res, lists, nil
}

// checkSQL refuses SQL text too long or too deeply nested to parse safely.
// It returns the text for the parser, long IN lists replaced (see
// longLists), and those lists.
func checkSQL(sql string) (string, map[string]*longList, error) {
	text, lists, res, err := scanSQL(sql, true)
	if err != nil {
		return "", nil, err
	}
	if err := checkDepth(res); err != nil {
		return "", nil, err
	}
	return text, lists, nil
}

// checkDepth refuses scanned SQL whose expressions nest too deeply for the
// parser (see sqlDepth).
func checkDepth(res *pg.ScanResult) error {
	if d := sqlDepth(res.GetTokens()); d > MaxExprDepth {
		return &SQLError{Pos: -1, Msg: fmt.Sprintf("query too complex: expressions nest about %d levels deep, at most %d are accepted (split long chains of operators, or use IN lists)", d, MaxExprDepth), Err: engine.ErrInvalidPlan}
	}
	return nil
}

// scanSQL checks the text's length and bytes, replaces its long IN lists
// and scans it with PostgreSQL's lexer (see scanText).
func scanSQL(sql string, keep bool) (string, map[string]*longList, *pg.ScanResult, error) {
	if len(sql) > MaxSQLBytes {
		return "", nil, nil, &SQLError{Pos: -1, Msg: fmt.Sprintf("SQL text is %d bytes, more than the %d accepted", len(sql), MaxSQLBytes), Err: engine.ErrInvalidPlan}
	}
	return scanText(sql, keep)
}

// scanText replaces the long IN lists of sql (see longLists; with keep,
// the lists hold their values) and scans the result with PostgreSQL's
// lexer: a million-constant list is one token, not two million. The text
// returned has the same length as sql and its tokens the same positions.
func scanText(sql string, keep bool) (string, map[string]*longList, *pg.ScanResult, error) {
	if err := checkText(sql); err != nil {
		return "", nil, nil, err
	}
	text, lists := longLists(sql, keep)
	res, err := pg.Scan(text)
	if err == nil && lists != nil && !placeholdersAreNames(res.GetTokens(), lists) {
		// The lists were not where PostgreSQL reads code: scan the text
		// as it is.
		text, lists = sql, nil
		res, err = pg.Scan(text)
	}
	if err != nil {
		return "", nil, nil, &SQLError{Pos: -1, Msg: fmt.Sprintf("syntax error: %v", err), Err: errs.ErrSyntax}
	}
	return text, lists, res, nil
}

// sqlDepth estimates from the tokens alone how deep the parse tree of
// expressions will be: every parenthesis opens a level, and every operator
// (binary or unary) nests the expression it belongs to one level deeper,
// until a comma, AND, OR, a CASE branch or a clause keyword starts a new
// list item (PostgreSQL flattens AND and OR chains into one node, and a
// CASE's branches into a list). It errs on the deep side.
func sqlDepth(tokens []*pg.ScanToken) int {
	level := []int{0} // operators seen at each parenthesis level
	sum, deepest := 0, 0
	for _, t := range tokens {
		switch t.GetToken() {
		case pg.Token_ASCII_40: // (
			level = append(level, 0)
		case pg.Token_ASCII_41: // )
			if len(level) > 1 {
				sum -= level[len(level)-1]
				level = level[:len(level)-1]
			}
		case pg.Token_ASCII_44, pg.Token_AND, pg.Token_OR, // , AND OR
			pg.Token_WHEN, pg.Token_THEN, pg.Token_ELSE, // CASE's branches are a list
			pg.Token_SELECT, pg.Token_FROM, pg.Token_WHERE, pg.Token_ON, pg.Token_HAVING, pg.Token_BY:
			sum -= level[len(level)-1]
			level[len(level)-1] = 0
		case pg.Token_ASCII_37, pg.Token_ASCII_42, pg.Token_ASCII_43, pg.Token_ASCII_45, pg.Token_ASCII_47,
			pg.Token_ASCII_60, pg.Token_ASCII_61, pg.Token_ASCII_62, pg.Token_ASCII_94, pg.Token_Op,
			pg.Token_LESS_EQUALS, pg.Token_GREATER_EQUALS, pg.Token_NOT_EQUALS, pg.Token_TYPECAST, pg.Token_NOT,
			pg.Token_LIKE, pg.Token_ILIKE, pg.Token_IS, pg.Token_BETWEEN, pg.Token_IN_P, pg.Token_CASE:
			level[len(level)-1]++
			sum++
		}
		deepest = max(deepest, len(level)-1+sum)
	}
	return deepest
}
