package pgwire

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5/pgproto3"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/session"
	"github.com/kapot-go/kapot/wire"
)

// maxParseBytes bounds the statements this package parses itself (to
// tell its own statements apart); longer ones go to session.Execute as
// they are.
const maxParseBytes = 1 << 20

// flushBytes is how much is sent before a flush while rows stream.
const flushBytes = 256 << 10

// prepared is a statement as parsed: by Parse, or one of a Query.
type prepared struct {
	sql string
	// tree is PostgreSQL's parse of sql (nil: sql is one of kapot's own
	// statements, or too long, or does not parse).
	tree   *pg.ParseResult
	kind   planner.StatementKind
	params []uint32
}

// node is the statement's parse tree (nil without one).
func (p *prepared) node() *pg.Node {
	if p.tree == nil || len(p.tree.GetStmts()) != 1 {
		return nil
	}
	return p.tree.GetStmts()[0].GetStmt()
}

// protocolOwn reports whether p is a statement this package answers
// itself (transactions, SET, COPY … TO STDOUT, DISCARD, DEALLOCATE).
func (p *prepared) protocolOwn() bool {
	n := p.node()
	if n == nil {
		return false
	}
	cs := n.GetCopyStmt()
	return n.GetTransactionStmt() != nil || n.GetVariableSetStmt() != nil || n.GetDiscardStmt() != nil || n.GetDeallocateStmt() != nil ||
		n.GetDeclareCursorStmt() != nil || n.GetFetchStmt() != nil || n.GetClosePortalStmt() != nil || cs != nil && cs.GetFilename() == ""
}

// prepare parses one statement; given are the parameter types of Parse.
func prepare(sql string, given []uint32, cols columnTypes) (*prepared, error) {
	if strings.TrimSpace(sql) == "" {
		return &prepared{}, nil
	}
	p := &prepared{sql: sql}
	var perr error
	if len(sql) <= maxParseBytes {
		t, err := pg.Parse(sql)
		switch {
		case err == nil && len(t.GetStmts()) > 1:
			return nil, fmt.Errorf("%w: cannot insert multiple commands into a prepared statement", errs.ErrSyntax)
		case err == nil:
			p.tree = t
		default:
			perr = err
		}
	}
	st, err := planner.ParseStatement(sql)
	switch {
	case err == nil:
		p.kind = st.Kind
	case p.protocolOwn():
		// COPY … TO STDOUT and the like: this package's, not the planner's.
	default:
		return nil, err
	}
	if perr != nil && p.kind == planner.StmtQuery {
		// Not one of kapot's statements and not PostgreSQL's grammar.
		return nil, fmt.Errorf("%w: %v", errs.ErrSyntax, perr)
	}
	if p.params, err = paramTypes(sql, p.tree, given, cols); err != nil {
		return nil, err
	}
	return p, nil
}

// columnTypes are the columns of the catalog's tables.
func (c *conn) columnTypes(table string) (map[string]arrow.DataType, []arrow.DataType, bool) {
	t, ok := c.s.cfg.Backend.Catalog().Lookup(table)
	if !ok {
		return nil, nil, false
	}
	named := map[string]arrow.DataType{}
	var ordered []arrow.DataType
	for _, f := range t.Schema.Fields() {
		named[strings.ToLower(f.Name)] = f.Type
		ordered = append(ordered, f.Type)
	}
	return named, ordered, true
}

// answer is a statement's outcome: its rows (a schema and, once run, a
// reader), or a command's tag alone.
type answer struct {
	// tag is the CommandComplete tag; with rows or a count, the number
	// follows it.
	tag     string
	counted bool
	count   int64
	schema  *arrow.Schema // nil: no rows
	rows    array.RecordReader
	batch   arrow.RecordBatch
	row     int
	query   *session.Query // a plan still to run (rows come from its job)
	copyOut *copyFormat    // COPY … TO STDOUT of the rows
	notice  string
	warning string // a WARNING before the answer
	// fetch is the cursor's answer whose rows a FETCH (or MOVE) sends,
	// fetchLeft of them at most (-1: all); discard: counted, not sent.
	fetch     *answer
	fetchLeft int64
	discard   bool
	// fetchCancel closes the cursor's stream: a CancelRequest during a
	// FETCH ends the cursor (as it aborts PostgreSQL's transaction).
	fetchCancel context.CancelFunc
	reported    string // a setting changed, to report (ParameterStatus)
}

// release frees the answer's rows.
func (a *answer) release() {
	if a != nil && a.rows != nil {
		a.rows.Release()
		a.rows = nil
	}
}

// inline is an answer of text rows.
func (c *conn) inline(tag string, cols []string, rows [][]string) (*answer, error) {
	schema := wire.TextSchema(cols)
	b, err := wire.TextBatch(c.mem, schema, rows)
	if err != nil {
		return nil, err
	}
	defer b.Release()
	rr, err := array.NewRecordReader(schema, []arrow.RecordBatch{b})
	if err != nil {
		return nil, err
	}
	return &answer{tag: tag, counted: true, schema: schema, rows: rr}, nil
}

// tagOf is the CommandComplete tag of a statement of kind k.
func tagOf(k planner.StatementKind) (string, bool) {
	switch k {
	case planner.StmtInsert:
		return "INSERT 0", true
	case planner.StmtCreateTableAs:
		return "SELECT", true
	case planner.StmtCopy:
		return "COPY", true
	case planner.StmtCreateTable, planner.StmtCreateExternalTable:
		return "CREATE TABLE", false
	case planner.StmtDropTable:
		return "DROP TABLE", false
	case planner.StmtCreateView:
		return "CREATE VIEW", false
	case planner.StmtDropView:
		return "DROP VIEW", false
	case planner.StmtExplain:
		return "EXPLAIN", false
	case planner.StmtShowTables, planner.StmtShowFunctions:
		return "SHOW", false
	}
	return "SELECT", true
}

// readOnly reports whether answering p (without running a job) changes
// nothing: Describe may plan it.
func (p *prepared) readOnly() bool {
	switch p.kind {
	case planner.StmtQuery, planner.StmtExplain, planner.StmtShowTables, planner.StmtShowFunctions, planner.StmtDescribe:
		return true
	}
	return false
}

// plan answers the statement p, whose text with its parameters bound is
// sql, up to running a job: the protocol's own statements here (SET,
// SHOW, transactions, COPY TO STDOUT, the virtual catalog), every other
// through session.Execute.
func (c *conn) plan(ctx context.Context, p *prepared, sql string) (*answer, error) {
	if err := c.admit(p); err != nil {
		return nil, err
	}
	if n := p.node(); n != nil {
		switch {
		case n.GetTransactionStmt() != nil:
			return c.transaction(n.GetTransactionStmt())
		case n.GetVariableSetStmt() != nil && n.GetVariableSetStmt().GetKind() == pg.VariableSetKind_VAR_SET_MULTI:
			w, err := c.setTransaction(n.GetVariableSetStmt())
			if err != nil {
				return nil, err
			}
			return &answer{tag: "SET", warning: w}, nil
		case n.GetVariableSetStmt() != nil:
			rep, err := c.set(n.GetVariableSetStmt())
			if err != nil {
				return nil, err
			}
			return &answer{tag: "SET", reported: rep}, nil
		case n.GetVariableShowStmt() != nil && p.kind != planner.StmtShowTables && p.kind != planner.StmtShowFunctions:
			return c.show(n.GetVariableShowStmt().GetName())
		case n.GetDiscardStmt() != nil:
			c.closeCursors(true) // DISCARD ALL closes every cursor, as CLOSE ALL
			return &answer{tag: "DISCARD ALL"}, nil
		case n.GetDeclareCursorStmt() != nil:
			return c.declare(ctx, n.GetDeclareCursorStmt(), sql)
		case n.GetFetchStmt() != nil:
			return c.fetch(n.GetFetchStmt())
		case n.GetClosePortalStmt() != nil:
			return c.closeCursor(n.GetClosePortalStmt())
		case n.GetDeallocateStmt() != nil:
			if name := n.GetDeallocateStmt().GetName(); name != "" {
				delete(c.stmts, name)
			} else {
				clear(c.stmts)
			}
			return &answer{tag: "DEALLOCATE"}, nil
		case n.GetCopyStmt() != nil && !n.GetCopyStmt().GetIsFrom() && n.GetCopyStmt().GetFilename() == "":
			return c.copyTo(ctx, n.GetCopyStmt(), p.tree.GetVersion())
		case n.GetCopyStmt() != nil && n.GetCopyStmt().GetIsFrom() && n.GetCopyStmt().GetFilename() == "":
			return nil, fmt.Errorf("%w: COPY … FROM STDIN", errNotSupported)
		case p.tree != nil && usesCatalog(p.tree):
			return c.catalogAnswer(ctx, p, sql)
		}
	}
	a, err := session.Execute(ctx, c.s.cfg.Backend, sql, c.props, c.who)
	if err != nil {
		return nil, err
	}
	tag, counted := tagOf(p.kind)
	if a.Query != nil {
		out := &answer{tag: tag, counted: counted, query: a.Query}
		switch {
		case a.Query.Analyze:
			out.schema = wire.TextSchema([]string{"plan"})
			out.tag, out.counted = "EXPLAIN", false
		case a.Query.Write == nil:
			out.schema = a.Query.Plan.Schema
		}
		return out, nil
	}
	if p.kind >= planner.StmtCreateTable || p.kind == planner.StmtCreateExternalTable {
		// A definition's line ("created table t"): a notice, no rows.
		out := &answer{tag: tag, counted: counted}
		if len(a.Rows) == 1 && len(a.Rows[0]) == 1 {
			out.notice = a.Rows[0][0]
		}
		return out, nil
	}
	out, err := c.inline(tag, a.Columns, a.Rows)
	if err != nil {
		return nil, err
	}
	out.counted = tag == "SELECT"
	return out, nil
}

// run runs an answer's plan as a job: its rows are then read from the
// executors (a query), or its count is known (a write).
func (c *conn) run(ctx context.Context, a *answer) error {
	q := a.query
	if q == nil {
		return nil
	}
	a.query = nil
	jobs := c.s.cfg.Jobs
	id, err := jobs.Submit(ctx, q)
	if err != nil {
		return err
	}
	if q.Analyze {
		ea, err := jobs.ExplainAnalyze(ctx, id)
		if err != nil {
			return err
		}
		b, err := c.inline("EXPLAIN", ea.Columns, ea.Rows)
		if err != nil {
			return err
		}
		a.rows = b.rows
		return nil
	}
	js, err := jobs.Wait(ctx, id)
	if err != nil {
		return err
	}
	if q.Write != nil {
		a.count = js.GetRowsWritten()
		return nil
	}
	schema, err := wire.SchemaFromProto(js.GetResultSchema())
	if err != nil {
		return fmt.Errorf("result schema: %w", err)
	}
	recover := func(ctx context.Context, loc *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error) {
		return jobs.Recover(ctx, id, loc)
	}
	a.rows = client.NewRows(ctx, c.s.cfg.Fetch, c.mem, id, schema, js.GetResultLocations(), recover)
	return nil
}

// sendRows streams up to max rows of a (0: all) as DataRows in the
// columns' formats; it reports whether rows are left (the portal is
// suspended).
func (c *conn) sendRows(ctx context.Context, a *answer, cols []column, max int) (bool, error) {
	src := a // where the rows come from: a, or a cursor's answer (FETCH)
	if a.fetch != nil {
		src = a.fetch
		if a.fetchCancel != nil {
			stop := context.AfterFunc(ctx, a.fetchCancel)
			defer stop()
		}
	}
	if src.rows == nil {
		return false, nil
	}
	// Rows are encoded into c.rows and written in large pieces; what the
	// backend holds (RowDescription, …) goes first.
	if err := c.flush(); err != nil {
		return false, err
	}
	defer func() {
		if err := c.writeRows(); err != nil {
			c.nc.Close() // the next read or write ends the connection
		}
	}()
	vals := make([][]byte, len(cols))
	starts, ends := make([]int, len(cols)), make([]int, len(cols))
	var buf []byte
	sent := 0
	for {
		if a.fetch != nil && a.fetchLeft == 0 {
			return false, nil
		}
		if src.batch == nil || src.row >= int(src.batch.NumRows()) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			if !src.rows.Next() {
				src.batch = nil
				if err := src.rows.Err(); err != nil {
					return false, err
				}
				return false, nil
			}
			src.batch, src.row = src.rows.RecordBatch(), 0
			if !a.discard && int(src.batch.NumCols()) != len(cols) {
				return false, fmt.Errorf("%w: a result batch of %d columns for %d", errs.ErrInternal, src.batch.NumCols(), len(cols))
			}
			continue
		}
		if max > 0 && sent >= max {
			return true, nil
		}
		if a.fetch != nil {
			a.fetchLeft--
		}
		if a.discard {
			src.row++
			a.count++
			continue
		}
		buf = buf[:0]
		for j, col := range src.batch.Columns() {
			if col.IsNull(src.row) {
				starts[j] = -1
				continue
			}
			starts[j] = len(buf)
			var err error
			if buf, err = appendValue(buf, col, src.row, cols[j].binary); err != nil {
				return false, err
			}
			ends[j] = len(buf)
		}
		for j := range cols {
			if starts[j] < 0 {
				vals[j] = nil
			} else {
				vals[j] = buf[starts[j]:ends[j]:ends[j]]
			}
		}
		var err error
		if a.copyOut != nil {
			c.rows, err = (&pgproto3.CopyData{Data: a.copyOut.line(vals)}).Encode(c.rows)
		} else {
			c.rows, err = (&pgproto3.DataRow{Values: vals}).Encode(c.rows)
		}
		if err != nil {
			return false, err
		}
		src.row++
		a.count++
		sent++
		if len(c.rows) >= flushBytes {
			if err := c.writeRows(); err != nil {
				return false, err
			}
		}
	}
}

// writeRows writes the rows encoded so far, within Limits.WriteTimeout.
func (c *conn) writeRows() error {
	if len(c.rows) == 0 {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.Limits.WriteTimeout))
	_, err := c.nc.Write(c.rows)
	c.rows = c.rows[:0]
	if cap(c.rows) > 4*flushBytes {
		c.rows = nil
	}
	return err
}

// complete sends a's CommandComplete.
func (c *conn) complete(a *answer) {
	tag := a.tag
	if a.counted {
		tag += " " + strconv.FormatInt(a.count, 10)
	}
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
	c.pending++
}

// preamble sends what precedes an answer's rows: its notice and a
// changed setting.
func (c *conn) preamble(a *answer) {
	if a.notice != "" {
		c.be.Send(&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: a.notice})
	}
	if a.warning != "" {
		c.be.Send(&pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: "01000", Message: a.warning})
	}
	if a.reported != "" {
		c.be.Send(&pgproto3.ParameterStatus{Name: a.reported, Value: c.settings[a.reported]})
	}
	c.pending++
}

// statementContext is ctx for one statement, cancelled by CancelRequest.
func (c *conn) statementContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(ctx)
	c.setRunning(cancel)
	return sctx, func() {
		c.setRunning(nil)
		cancel()
	}
}

// simpleQuery runs the statements of a Query message in order; the first
// error ends it.
func (c *conn) simpleQuery(ctx context.Context, text string) {
	stmts, err := planner.SplitScript(text)
	if err != nil {
		c.sendError(err)
		return
	}
	if len(stmts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	for _, sql := range stmts {
		if err := c.simpleStatement(ctx, sql); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) {
				return
			}
			c.sendError(err)
			c.failed()
			return
		}
	}
}

func (c *conn) simpleStatement(ctx context.Context, sql string) error {
	if err := c.s.cfg.Serving(ctx); err != nil {
		return err
	}
	p, err := prepare(sql, nil, nil)
	if err != nil {
		return err
	}
	if len(p.params) > 0 {
		return fmt.Errorf("%w: there is no parameter $1 (a simple query takes none)", errs.ErrInvalidSQL)
	}
	sctx, done := c.statementContext(ctx)
	defer done()
	a, err := c.plan(sctx, p, sql)
	if err != nil {
		return err
	}
	defer a.release()
	if err := c.run(sctx, a); err != nil {
		return err
	}
	c.preamble(a)
	var cols []column
	if a.schema != nil {
		if cols, err = columnsOf(a.schema, nil); err != nil {
			return err
		}
		if a.copyOut != nil {
			c.startCopy(a.copyOut, len(cols))
		} else {
			c.be.Send(&pgproto3.RowDescription{Fields: fields(cols)})
		}
	}
	if _, err := c.sendRows(sctx, a, cols, 0); err != nil {
		return err
	}
	if a.copyOut != nil {
		c.be.Send(&pgproto3.CopyDone{})
	}
	c.complete(a)
	return nil
}
