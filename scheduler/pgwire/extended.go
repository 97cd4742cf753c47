package pgwire

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/kapot-go/kapot/errs"
)

// portal is a bound statement (Bind), run by Execute, perhaps in several
// parts (max_rows).
type portal struct {
	stmt    *prepared
	sql     string
	formats []int16
	ans     *answer
	cols    []column
	started bool
	done    bool
	// ctx is the portal's: cancelled by CancelRequest while it runs, and
	// when the portal closes (its job and its rows' streams end).
	ctx    context.Context
	cancel context.CancelFunc
}

func (p *portal) close() {
	p.cancel()
	p.ans.release()
}

// closePortals closes every portal (at Sync outside a block, and when
// the connection ends).
func (c *conn) closePortals() {
	for name, p := range c.portals {
		p.close()
		delete(c.portals, name)
	}
}

func (c *conn) parse(_ context.Context, m *pgproto3.Parse) error {
	if _, ok := c.stmts[m.Name]; ok && m.Name != "" {
		return fmt.Errorf("%w: prepared statement %q already exists", errs.ErrExists, m.Name)
	}
	if len(c.stmts) >= c.s.cfg.Limits.MaxStatements {
		return fmt.Errorf("%w: %d prepared statements on this connection, the most it may hold; close some", errs.ErrResourcesExhausted, len(c.stmts))
	}
	p, err := prepare(m.Query, m.ParameterOIDs, c.columnTypes)
	if err != nil {
		return err
	}
	c.stmts[m.Name] = p
	c.be.Send(&pgproto3.ParseComplete{})
	c.pending++
	return nil
}

func (c *conn) bind(ctx context.Context, m *pgproto3.Bind) error {
	st, ok := c.stmts[m.PreparedStatement]
	if !ok {
		return fmt.Errorf("%w: prepared statement %q does not exist", errs.ErrInvalidSQL, m.PreparedStatement)
	}
	if old, ok := c.portals[m.DestinationPortal]; ok {
		if m.DestinationPortal != "" {
			return fmt.Errorf("%w: portal %q already exists", errs.ErrExists, m.DestinationPortal)
		}
		old.close()
		delete(c.portals, "")
	}
	if len(c.portals) >= c.s.cfg.Limits.MaxStatements {
		return fmt.Errorf("%w: %d portals open on this connection, the most it may hold", errs.ErrResourcesExhausted, len(c.portals))
	}
	if len(m.Parameters) != len(st.params) {
		return fmt.Errorf("%w: bind message supplies %d parameters, but the prepared statement requires %d", errInvalidParam, len(m.Parameters), len(st.params))
	}
	lits := make([]string, len(m.Parameters))
	for i, v := range m.Parameters {
		bin, err := formatAt(m.ParameterFormatCodes, i, len(m.Parameters))
		if err != nil {
			return fmt.Errorf("%w: %v", errInvalidParam, err)
		}
		if lits[i], err = literal(st.params[i], bin, v); err != nil {
			return fmt.Errorf("parameter $%d: %w", i+1, err)
		}
	}
	sql, err := bindSQL(st.sql, lits)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(ctx)
	c.portals[m.DestinationPortal] = &portal{stmt: st, sql: sql, formats: append([]int16(nil), m.ResultFormatCodes...), ctx: pctx, cancel: cancel}
	c.be.Send(&pgproto3.BindComplete{})
	c.pending++
	return nil
}

// describable reports whether p's rows can be described before it runs
// (planning it changes nothing).
func describable(p *prepared) bool {
	if n := p.node(); n != nil {
		switch {
		case n.GetVariableShowStmt() != nil:
			return true
		case n.GetFetchStmt() != nil:
			// FETCH's rows are the cursor's; planning it reads none.
			return !n.GetFetchStmt().GetIsmove()
		case n.GetTransactionStmt() != nil, n.GetVariableSetStmt() != nil, n.GetCopyStmt() != nil,
			n.GetDiscardStmt() != nil, n.GetDeallocateStmt() != nil:
			return false
		}
	}
	return p.sql != "" && p.readOnly()
}

func (c *conn) describe(ctx context.Context, m *pgproto3.Describe) error {
	switch m.ObjectType {
	case 'S':
		st, ok := c.stmts[m.Name]
		if !ok {
			return fmt.Errorf("%w: prepared statement %q does not exist", errs.ErrInvalidSQL, m.Name)
		}
		c.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: st.params})
		c.pending++
		if !describable(st) {
			c.be.Send(&pgproto3.NoData{})
			return nil
		}
		// Planned with typed NULLs for its parameters: the result's
		// columns do not depend on their values.
		nulls := make([]string, len(st.params))
		for i, oid := range st.params {
			nulls[i] = nullOf(oid)
		}
		sql, err := bindSQL(st.sql, nulls)
		if err != nil {
			return err
		}
		sctx, done := c.statementContext(ctx)
		defer done()
		a, err := c.plan(sctx, st, sql)
		if err != nil {
			return err
		}
		defer a.release()
		return c.describeRows(a, nil)
	case 'P':
		p, ok := c.portals[m.Name]
		if !ok {
			return fmt.Errorf("%w: portal %q does not exist", errs.ErrInvalidSQL, m.Name)
		}
		if p.ans == nil && describable(p.stmt) {
			c.setRunning(p.cancel)
			a, err := c.plan(p.ctx, p.stmt, p.sql)
			c.setRunning(nil)
			if err != nil {
				return err
			}
			p.ans = a
		}
		if p.ans == nil {
			c.be.Send(&pgproto3.NoData{})
			c.pending++
			return nil
		}
		return c.describeRows(p.ans, p.formats)
	}
	return fmt.Errorf("%w: Describe of %q", errProtocol, m.ObjectType)
}

// describeRows sends a's RowDescription (NoData without rows).
func (c *conn) describeRows(a *answer, formats []int16) error {
	c.pending++
	if a.schema == nil || a.copyOut != nil {
		c.be.Send(&pgproto3.NoData{})
		return nil
	}
	cols, err := columnsOf(a.schema, formats)
	if err != nil {
		return fmt.Errorf("%w: %v", errInvalidParam, err)
	}
	c.be.Send(&pgproto3.RowDescription{Fields: fields(cols)})
	return nil
}

// nullOf is a NULL of the type of OID oid, as SQL.
func nullOf(oid uint32) string {
	t := map[uint32]string{oidBool: "BOOLEAN", oidInt2: "SMALLINT", oidInt4: "INTEGER", oidInt8: "BIGINT", oidFloat4: "REAL",
		oidFloat8: "DOUBLE", oidNumeric: "DECIMAL(38,10)", oidDate: "DATE", oidTimestamp: "TIMESTAMP", oidTimestamptz: "TIMESTAMPTZ",
		oidInterval: "INTERVAL", oidText: "VARCHAR", oidVarchar: "VARCHAR", oidBpchar: "VARCHAR"}[oid]
	if t == "" {
		return "NULL"
	}
	return "CAST(NULL AS " + t + ")"
}

func (c *conn) execute(_ context.Context, m *pgproto3.Execute) error {
	p, ok := c.portals[m.Portal]
	if !ok {
		return fmt.Errorf("%w: portal %q does not exist", errs.ErrInvalidSQL, m.Portal)
	}
	if p.stmt.sql == "" {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		c.pending++
		return nil
	}
	if p.done {
		c.complete(&answer{tag: p.ans.tag, counted: p.ans.counted})
		return nil
	}
	c.setRunning(p.cancel)
	defer c.setRunning(nil)
	fail := func(err error) error {
		p.close()
		delete(c.portals, m.Portal)
		return err
	}
	if !p.started {
		if err := c.s.cfg.Serving(p.ctx); err != nil {
			return fail(err)
		}
		if p.ans == nil {
			a, err := c.plan(p.ctx, p.stmt, p.sql)
			if err != nil {
				return fail(err)
			}
			p.ans = a
		}
		if err := c.run(p.ctx, p.ans); err != nil {
			return fail(err)
		}
		p.started = true
		c.preamble(p.ans)
		if p.ans.schema != nil {
			cols, err := columnsOf(p.ans.schema, p.formats)
			if err != nil {
				return fail(fmt.Errorf("%w: %v", errInvalidParam, err))
			}
			p.cols = cols
			if p.ans.copyOut != nil {
				c.startCopy(p.ans.copyOut, len(cols))
			}
		}
	}
	more, err := c.sendRows(p.ctx, p.ans, p.cols, int(m.MaxRows))
	if err != nil {
		return fail(err)
	}
	if more {
		c.be.Send(&pgproto3.PortalSuspended{})
		c.pending++
		return nil
	}
	if p.ans.copyOut != nil {
		c.be.Send(&pgproto3.CopyDone{})
	}
	c.complete(p.ans)
	p.done = true
	p.ans.release()
	return nil
}

func (c *conn) close(m *pgproto3.Close) error {
	switch m.ObjectType {
	case 'S':
		delete(c.stmts, m.Name)
	case 'P':
		if p, ok := c.portals[m.Name]; ok {
			p.close()
			delete(c.portals, m.Name)
		}
	default:
		return fmt.Errorf("%w: Close of %q", errProtocol, m.ObjectType)
	}
	c.be.Send(&pgproto3.CloseComplete{})
	c.pending++
	return nil
}
