package pgwire

import (
	"context"
	"fmt"
	"math"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/errs"
)

// SQL cursors: DECLARE name CURSOR FOR query, FETCH, MOVE, CLOSE (what
// psycopg2's named cursors and psql's FETCH_COUNT send). A cursor's
// query runs as a job when it is declared; FETCH streams its next rows
// from the executors, as a suspended portal does, so a client reads a
// large result a piece at a time. Cursors go forward only (SCROLL and
// backward fetches are refused), in text (BINARY is refused); one
// declared WITHOUT HOLD lives until its block ends, as in PostgreSQL,
// one WITH HOLD until CLOSE or the end of the connection.

// Options of DeclareCursorStmt (PostgreSQL's CURSOR_OPT_*).
const (
	cursorBinary = 0x01
	cursorScroll = 0x02
	cursorHold   = 0x20
)

// cursor is a declared cursor: its query's answer (rows read so far
// included) and its own context, cancelled when it closes.
type cursor struct {
	ans    *answer
	hold   bool
	cancel context.CancelFunc
}

func (k *cursor) close() {
	k.cancel()
	k.ans.release()
}

// closeCursors closes the cursors of the block that ended (all: the
// connection ends).
func (c *conn) closeCursors(all bool) {
	for name, k := range c.cursors {
		if all || !k.hold {
			k.close()
			delete(c.cursors, name)
		}
	}
}

// declare runs DECLARE name CURSOR FOR query: the query is planned and
// its job run now.
func (c *conn) declare(ctx context.Context, st *pg.DeclareCursorStmt, sql string) (*answer, error) {
	name := st.GetPortalname()
	opts := st.GetOptions()
	switch {
	case opts&cursorHold == 0 && c.tx.state == txIdle:
		return nil, fmt.Errorf("%w: DECLARE CURSOR can only be used in transaction blocks (or WITH HOLD)", errNoTxBlock)
	case opts&cursorScroll != 0:
		return nil, fmt.Errorf("%w: SCROLL cursors (cursors go forward only)", errNotSupported)
	case opts&cursorBinary != 0:
		return nil, fmt.Errorf("%w: BINARY cursors", errNotSupported)
	case c.cursors[name] != nil:
		return nil, fmt.Errorf("%w: cursor %q already exists", errs.ErrExists, name)
	case len(c.cursors) >= c.s.cfg.Limits.MaxStatements:
		return nil, fmt.Errorf("%w: %d cursors open on this connection, the most it may hold", errs.ErrResourcesExhausted, len(c.cursors))
	}
	query, err := cursorQuery(sql)
	if err != nil {
		return nil, err
	}
	p, err := prepare(query, nil, nil)
	if err != nil {
		return nil, err
	}
	if !p.readOnly() || p.protocolOwn() || p.sql == "" {
		return nil, fmt.Errorf("%w: a cursor's statement must be a query", errs.ErrInvalidSQL)
	}
	// The cursor's job outlives this statement: its own context, ended by
	// CLOSE (or the end of its block, or of the connection), and by a
	// CancelRequest while DECLARE runs.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	a, err := c.plan(cctx, p, query)
	if err == nil {
		err = c.run(cctx, a)
	}
	if !stop() && err == nil {
		err = ctx.Err() // cancelled as it ended
	}
	if err != nil {
		cancel()
		a.release()
		return nil, err
	}
	if a.schema == nil {
		cancel()
		a.release()
		return nil, fmt.Errorf("%w: a cursor's statement must return rows", errs.ErrInvalidSQL)
	}
	c.cursors[name] = &cursor{ans: a, hold: opts&cursorHold != 0, cancel: cancel}
	return &answer{tag: "DECLARE CURSOR"}, nil
}

// cursorQuery is the query of DECLARE … CURSOR … FOR query, as written:
// what follows the FOR after CURSOR.
func cursorQuery(sql string) (string, error) {
	scan, err := pg.Scan(sql)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errs.ErrSyntax, err)
	}
	seenCursor := false
	for _, t := range scan.GetTokens() {
		switch {
		case t.GetToken() == pg.Token_CURSOR:
			seenCursor = true
		case seenCursor && t.GetToken() == pg.Token_FOR:
			return sql[t.GetEnd():], nil
		}
	}
	return "", fmt.Errorf("%w: DECLARE without FOR", errs.ErrSyntax)
}

// fetch answers FETCH and MOVE: the next rows of a cursor (MOVE reads
// and drops them).
func (c *conn) fetch(st *pg.FetchStmt) (*answer, error) {
	k := c.cursors[st.GetPortalname()]
	if k == nil {
		return nil, fmt.Errorf("%w: cursor %q does not exist", errs.ErrInvalidSQL, st.GetPortalname())
	}
	n := st.GetHowMany()
	switch st.GetDirection() {
	case pg.FetchDirection_FETCH_FORWARD:
	case pg.FetchDirection_FETCH_RELATIVE, pg.FetchDirection_FETCH_ABSOLUTE:
		// NEXT is FORWARD 1; RELATIVE 0 and the rest would go back.
		return nil, fmt.Errorf("%w: FETCH ABSOLUTE, RELATIVE, PRIOR, FIRST and LAST (cursors go forward only)", errNotSupported)
	default:
		return nil, fmt.Errorf("%w: FETCH BACKWARD (cursors go forward only)", errNotSupported)
	}
	switch {
	case n == math.MaxInt64:
		n = -1 // ALL
	case n <= 0:
		return nil, fmt.Errorf("%w: FETCH %d (cursors go forward only)", errNotSupported, n)
	}
	out := &answer{tag: "FETCH", counted: true, fetch: k.ans, fetchLeft: n, fetchCancel: k.cancel}
	if st.GetIsmove() {
		out.tag, out.discard = "MOVE", true
	} else {
		out.schema = k.ans.schema
	}
	return out, nil
}

// closeCursor answers CLOSE name and CLOSE ALL.
func (c *conn) closeCursor(st *pg.ClosePortalStmt) (*answer, error) {
	name := st.GetPortalname()
	if name == "" {
		c.closeCursors(true)
		return &answer{tag: "CLOSE CURSOR ALL"}, nil
	}
	k := c.cursors[name]
	if k == nil {
		return nil, fmt.Errorf("%w: cursor %q does not exist", errs.ErrInvalidSQL, name)
	}
	k.close()
	delete(c.cursors, name)
	return &answer{tag: "CLOSE CURSOR"}, nil
}
