package pgwire

import (
	"errors"
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Transaction statements. kapot has no multi-statement transactions:
// every statement commits on its own when it runs. Drivers still send
// BEGIN … COMMIT around their work (psycopg2 without autocommit, JDBC
// with setAutoCommit(false), SQLAlchemy), so the block is kept as a
// state for ReadyForQuery ('I' idle, 'T' in a block, 'E' a block after
// an error, as PostgreSQL reports them), and what cannot be honoured is
// said: a ROLLBACK (or ROLLBACK TO SAVEPOINT) after a statement of the
// block wrote is an error that says the writes stay, never a silent
// success.

// txState is where the session is: outside a block, in one, or in one
// that failed (statements are refused until it ends).
type txState int

const (
	txIdle txState = iota
	txBlock
	txFailed
)

// Errors of the transaction statements, with their SQLSTATEs (sqlState).
var (
	// errTxAborted: a statement in a block after an error (25P02).
	errTxAborted = errors.New("current transaction is aborted, commands ignored until end of transaction block")
	// errNoTxBlock: SAVEPOINT and the like outside a block (25P01).
	errNoTxBlock = errors.New("no transaction block")
	// errReadOnlyTx: a write in a READ ONLY block (25006).
	errReadOnlyTx = errors.New("cannot run a write in a read-only transaction")
	// errCannotUndo: ROLLBACK of a block whose statements wrote (25000:
	// invalid transaction state); the block ends all the same.
	errCannotUndo = errors.New("ROLLBACK cannot undo what this block wrote")
)

// tx is the session's transaction block.
type tx struct {
	state    txState
	readOnly bool // the block is READ ONLY (writes are refused)
	// writes are the statements of the block that wrote, in order (as
	// their first words), for ROLLBACK's error.
	writes []string
	// savepoints are the block's savepoints, with len(writes) when each
	// was set.
	savepoints []savepoint
}

type savepoint struct {
	name   string
	writes int
}

// txStatus is ReadyForQuery's transaction status.
func (c *conn) txStatus() byte {
	switch c.tx.state {
	case txBlock:
		return 'T'
	case txFailed:
		return 'E'
	}
	return 'I'
}

// inBlock reports whether a block is open (portals outlive Sync).
func (c *conn) inBlock() bool { return c.tx.state != txIdle }

// failed records an error: in a block, the block fails.
func (c *conn) failed() {
	if c.tx.state == txBlock {
		c.tx.state = txFailed
	}
}

// admit refuses a statement the block's state does not allow: anything
// but the end of a failed block, a write in a read-only one. It records
// a write of a block.
func (c *conn) admit(p *prepared) error {
	n := p.node()
	if c.tx.state == txFailed {
		if st := n.GetTransactionStmt(); st != nil {
			switch st.GetKind() {
			case pg.TransactionStmtKind_TRANS_STMT_COMMIT, pg.TransactionStmtKind_TRANS_STMT_ROLLBACK,
				pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
				return nil
			}
		}
		return errTxAborted
	}
	if p.readOnly() || p.protocolOwn() || (p.tree != nil && usesCatalog(p.tree)) {
		return nil
	}
	if c.tx.readOnly || c.tx.state == txIdle && c.readOnly {
		return fmt.Errorf("%w: %s", errReadOnlyTx, firstWords(p.sql))
	}
	if c.tx.state == txBlock {
		c.tx.writes = append(c.tx.writes, firstWords(p.sql))
	}
	return nil
}

// firstWords is the start of a statement, for messages.
func firstWords(sql string) string {
	f := strings.Fields(sql)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}

// transaction answers BEGIN, COMMIT, ROLLBACK and the savepoints.
func (c *conn) transaction(st *pg.TransactionStmt) (*answer, error) {
	switch st.GetKind() {
	case pg.TransactionStmtKind_TRANS_STMT_BEGIN, pg.TransactionStmtKind_TRANS_STMT_START:
		if c.tx.state != txIdle {
			return &answer{tag: "BEGIN", warning: "there is already a transaction in progress"}, nil
		}
		ro, err := txOptions(st.GetOptions(), c.readOnly)
		if err != nil {
			return nil, err
		}
		c.tx = tx{state: txBlock, readOnly: ro}
		return &answer{tag: "BEGIN"}, nil
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT:
		state, writes := c.tx.state, c.tx.writes
		c.tx = tx{}
		c.closeCursors(false)
		switch state {
		case txIdle:
			return &answer{tag: "COMMIT", warning: "there is no transaction in progress"}, nil
		case txFailed:
			// As PostgreSQL: a failed block's COMMIT is a ROLLBACK (an
			// error when the block wrote: the writes stay).
			return c.rollback(state, writes)
		}
		return &answer{tag: "COMMIT"}, nil
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		state, writes := c.tx.state, c.tx.writes
		c.tx = tx{}
		c.closeCursors(false)
		return c.rollback(state, writes)
	case pg.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		if c.tx.state == txIdle {
			return nil, fmt.Errorf("%w: SAVEPOINT can only be used in transaction blocks", errNoTxBlock)
		}
		c.tx.savepoints = append(c.tx.savepoints, savepoint{name: st.GetSavepointName(), writes: len(c.tx.writes)})
		return &answer{tag: "SAVEPOINT"}, nil
	case pg.TransactionStmtKind_TRANS_STMT_RELEASE:
		i, err := c.savepoint(st.GetSavepointName(), "RELEASE SAVEPOINT")
		if err != nil {
			return nil, err
		}
		c.tx.savepoints = c.tx.savepoints[:i]
		return &answer{tag: "RELEASE"}, nil
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		i, err := c.savepoint(st.GetSavepointName(), "ROLLBACK TO SAVEPOINT")
		if err != nil {
			return nil, err
		}
		sp := c.tx.savepoints[i]
		c.tx.savepoints = c.tx.savepoints[:i+1]
		c.tx.state = txBlock
		if later := c.tx.writes[sp.writes:]; len(later) > 0 {
			c.tx.writes = c.tx.writes[:sp.writes]
			return nil, fmt.Errorf("%w since savepoint %s: %s (kapot has no transactions: each statement committed when it ran)",
				errCannotUndo, sp.name, strings.Join(later, "; "))
		}
		return &answer{tag: "ROLLBACK"}, nil
	}
	return nil, fmt.Errorf("%w: %s (each statement commits on its own)", errNotSupported, strings.TrimPrefix(st.GetKind().String(), "TRANS_STMT_"))
}

// rollback ends a block that was in state with writes: an error when it
// wrote (the writes stay), else ROLLBACK.
func (c *conn) rollback(state txState, writes []string) (*answer, error) {
	if state == txIdle {
		return &answer{tag: "ROLLBACK", warning: "there is no transaction in progress"}, nil
	}
	if len(writes) > 0 {
		return nil, fmt.Errorf("%w: %s (kapot has no transactions: each statement committed when it ran; the block is ended)",
			errCannotUndo, strings.Join(writes, "; "))
	}
	return &answer{tag: "ROLLBACK"}, nil
}

// savepoint is the index of the savepoint name of the block (the latest
// of that name).
func (c *conn) savepoint(name, what string) (int, error) {
	if c.tx.state == txIdle {
		return 0, fmt.Errorf("%w: %s can only be used in transaction blocks", errNoTxBlock, what)
	}
	for i := len(c.tx.savepoints) - 1; i >= 0; i-- {
		if c.tx.savepoints[i].name == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: savepoint %q does not exist", errNoTxBlock, name)
}

// txOptions reads the options of BEGIN or SET TRANSACTION: whether the
// block is read-only (ro: so far). READ COMMITTED (and READ UNCOMMITTED)
// is what kapot gives (each statement reads the tables as they are when
// it starts); REPEATABLE READ and SERIALIZABLE would need a snapshot
// across statements and are refused.
func txOptions(opts []*pg.Node, ro bool) (bool, error) {
	for _, o := range opts {
		d := o.GetDefElem()
		switch d.GetDefname() {
		case "transaction_isolation":
			switch level := strings.ToLower(d.GetArg().GetAConst().GetSval().GetSval()); level {
			case "read committed", "read uncommitted":
			default:
				return ro, fmt.Errorf("%w: isolation level %s (each statement reads the tables as they are when it starts: read committed)", errNotSupported, level)
			}
		case "transaction_read_only":
			ro = d.GetArg().GetAConst().GetIval().GetIval() != 0
		}
	}
	return ro, nil
}

// setTransaction runs SET TRANSACTION … (this block) and SET SESSION
// CHARACTERISTICS AS TRANSACTION … (the session's default: READ ONLY
// refuses writes outside blocks too, and in the blocks that do not say
// READ WRITE). It answers a warning for the client ("" for none).
func (c *conn) setTransaction(st *pg.VariableSetStmt) (string, error) {
	if !strings.EqualFold(st.GetName(), "TRANSACTION") {
		ro, err := txOptions(st.GetArgs(), c.readOnly)
		if err != nil {
			return "", err
		}
		c.readOnly = ro
		c.settings["default_transaction_read_only"] = map[bool]string{true: "on", false: "off"}[ro]
		return "", nil
	}
	ro, err := txOptions(st.GetArgs(), c.tx.readOnly)
	if err != nil {
		return "", err
	}
	if c.tx.state == txIdle {
		return "SET TRANSACTION can only be used in transaction blocks", nil
	}
	c.tx.readOnly = ro
	return "", nil
}
