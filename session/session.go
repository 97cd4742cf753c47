package session

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/planner"
	"github.com/kapot-go/kapot/warehouse"
)

// Answer is what a statement gives: rows answered at once (Columns and
// Rows, all text: DDL, SHOW, DESCRIBE, EXPLAIN), or a Query whose rows
// come from running its plan.
type Answer struct {
	Columns []string
	Rows    [][]string
	// Query is set for a statement that runs a plan: a query, EXPLAIN
	// ANALYZE, or a write.
	Query *Query
}

// Query is a planned statement to run.
type Query struct {
	// Plan is what runs: the query's, or for a write on a cluster the
	// write and a count of its rows (nil for a write in process: the
	// Backend's runner runs Write itself).
	Plan *planner.Plan
	// SQL is the statement's query text.
	SQL string
	// Analyze: EXPLAIN ANALYZE, whose answer is the run's metrics.
	Analyze bool
	// Write is set for CREATE TABLE AS, INSERT and COPY: the write
	// prepared (its staging place and its commit); the answer is the
	// number of rows written.
	Write *warehouse.Write
	// Planned is when the statement began planning: its run reads the
	// tables as they were then.
	Planned time.Time
}

// Name is the name of the query's job: its first line, at most 80
// bytes, prefixed for EXPLAIN ANALYZE.
func (q *Query) Name() string {
	if q.Analyze {
		return "explain analyze: " + planner.JobName(q.SQL)
	}
	return planner.JobName(q.SQL)
}

// Text is an answer of one text column.
func Text(column string, rows ...string) Answer {
	a := Answer{Columns: []string{column}}
	for _, r := range rows {
		a.Rows = append(a.Rows, []string{r})
	}
	return a
}

// Backend is what differs between a cluster and a process of its own:
// where tables live and how they are defined, written and planned over.
// Its errors belong to the taxonomy the front doors map to their codes
// (warehouse, planner, objstore and engine errors; a gRPC status passes
// through unchanged).
type Backend interface {
	// Catalog is the catalog statements read (SHOW TABLES, DESCRIBE).
	Catalog() *catalog.Catalog
	// Plan plans a query under the session's properties props, within
	// the backend's planning budgets; planning stops when ctx ends.
	Plan(ctx context.Context, sql string, props map[string]string) (*planner.Plan, error)
	// ExplainLogical renders a query's optimised logical plan
	// (EXPLAIN LOGICAL), planned as Plan plans it.
	ExplainLogical(ctx context.Context, sql string, props map[string]string) (string, error)
	// CreateExternalTable registers def for who (its files listed under
	// props) and answers the line to show.
	CreateExternalTable(ctx context.Context, def *catalog.ExternalTable, props map[string]string, who security.Principal) (string, error)
	// Define runs CREATE TABLE, DROP TABLE, CREATE VIEW or DROP VIEW for
	// who and answers the line to show.
	Define(ctx context.Context, st *planner.Statement, who security.Principal) (string, error)
	// Write prepares CREATE TABLE AS, INSERT or COPY for who: a Query to
	// run, or (nil) a line to show when there is nothing to write (CREATE
	// TABLE IF NOT EXISTS of a table that exists).
	Write(ctx context.Context, st *planner.Statement, props map[string]string, who security.Principal) (*Query, string, error)
}

// ErrUnknownTable is the error of a statement naming a table the catalog
// does not have (DESCRIBE).
var ErrUnknownTable = errs.ErrUnknownTable

// Execute answers one SQL statement of principal who, under the
// session's properties props, over b.
func Execute(ctx context.Context, b Backend, sql string, props map[string]string, who security.Principal) (Answer, error) {
	planned := time.Now()
	st, err := planner.ParseStatement(sql)
	if err != nil {
		return Answer{}, err
	}
	switch st.Kind {
	case planner.StmtCreateTable, planner.StmtDropTable, planner.StmtCreateView, planner.StmtDropView:
		line, err := b.Define(ctx, st, who)
		if err != nil {
			return Answer{}, err
		}
		return Text("result", line), nil
	case planner.StmtCreateTableAs, planner.StmtInsert, planner.StmtCopy:
		q, line, err := b.Write(ctx, st, props, who)
		if err != nil || q == nil {
			return Text("result", line), err
		}
		q.SQL, q.Planned = st.SQL, planned
		return Answer{Query: q}, nil
	case planner.StmtCreateExternalTable:
		line, err := b.CreateExternalTable(ctx, st.Def, props, who)
		if err != nil {
			return Answer{}, err
		}
		return Text("result", line), nil
	case planner.StmtShowTables:
		return showTables(b.Catalog()), nil
	case planner.StmtShowFunctions:
		a := Answer{Columns: []string{"function_name", "kind"}}
		for _, f := range planner.Functions() {
			a.Rows = append(a.Rows, f[:])
		}
		return a, nil
	case planner.StmtDescribe:
		cols, err := b.Catalog().Describe(st.Name)
		if err != nil {
			return Answer{}, fmt.Errorf("%w: %w", ErrUnknownTable, err)
		}
		a := Answer{Columns: []string{"column_name", "data_type", "is_nullable"}}
		for _, c := range cols {
			a.Rows = append(a.Rows, c[:])
		}
		return a, nil
	}
	if st.Kind == planner.StmtExplain && st.Logical {
		text, err := b.ExplainLogical(ctx, st.SQL, props)
		if err != nil {
			return Answer{}, err
		}
		return Text("plan", strings.Split(strings.TrimRight(text, "\n"), "\n")...), nil
	}
	p, err := b.Plan(ctx, st.SQL, props)
	if err != nil {
		return Answer{}, err
	}
	if st.Kind == planner.StmtExplain && !st.Analyze {
		text, err := planner.Explain(p)
		if err != nil {
			return Answer{}, err
		}
		return Text("plan", strings.Split(strings.TrimRight(text, "\n"), "\n")...), nil
	}
	return Answer{Query: &Query{Plan: p, SQL: st.SQL, Analyze: st.Analyze, Planned: planned}}, nil
}

// showTables answers SHOW TABLES: every table and view, its kind and the
// principal that owns it ("operator" for what no principal created).
func showTables(cat *catalog.Catalog) Answer {
	a := Answer{Columns: []string{"table_name", "kind", "owner"}}
	for _, e := range cat.Entries() {
		owner := e.Owner
		if owner == "" {
			owner = security.PrincipalOperator
		}
		a.Rows = append(a.Rows, []string{e.Name, e.Kind, owner})
	}
	return a
}
