package pgwire

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5/pgproto3"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/internal/security"
)

// serverVersion is the PostgreSQL version the server reports: clients
// (psql's \d) choose their catalog queries by it.
const serverVersion = "15.0"

// conn is one client connection; its goroutine (serveConn) owns every
// field but the running statement's cancel, which CancelRequest reaches.
type conn struct {
	s   *Server
	nc  net.Conn
	be  *pgproto3.Backend
	mem memory.Allocator
	who security.Principal
	pid uint32
	key []byte

	user, database string
	// settings are the session's settings (SET, SHOW); props the kapot.*
	// ones, passed to the planner as session properties.
	settings map[string]string
	props    map[string]string
	stmts    map[string]*prepared
	portals  map[string]*portal
	cursors  map[string]*cursor   // DECLARE … CURSOR (cursor.go)
	ctes     map[string]*relation // the WITH queries of the catalog statement being answered
	aggs     map[*pg.FuncCall]any // the aggregates' values in the group being answered (catalog_agg.go)
	tx       tx                   // the transaction block (tx.go)
	readOnly bool                 // SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY
	skipping bool                 // after an error in the extended protocol, until Sync
	pending  int                  // messages sent since the last flush
	rows     []byte               // DataRows encoded, not yet written (sendRows)

	mu      sync.Mutex
	running context.CancelFunc
}

// errCancelRequest ends a connection that carried a CancelRequest.
var errCancelRequest = errors.New("cancel request served")

// errProtocol is a message out of the protocol (SQLSTATE 08P01): the
// connection ends.
var errProtocol = errors.New("protocol violation")

// serveConn serves one connection until it ends or ctx does. A panic
// closes this connection only.
func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	c := &conn{s: s, nc: nc, mem: memory.NewGoAllocator(), settings: defaultSettings(), props: map[string]string{},
		stmts: map[string]*prepared{}, portals: map[string]*portal{}, cursors: map[string]*cursor{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer stop()
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Log.Error().Str("panic", fmt.Sprint(r)).Str("stack", string(debug.Stack())).Str("remote", nc.RemoteAddr().String()).Msg("pgwire connection panicked; closed")
		}
		c.closePortals()
		c.closeCursors(true)
		c.nc.Close()
		if c.pid != 0 {
			s.unregister(c)
		}
	}()
	if err := c.startup(ctx); err != nil {
		if !errors.Is(err, errCancelRequest) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && ctx.Err() == nil {
			s.cfg.Log.Debug().Err(err).Str("remote", nc.RemoteAddr().String()).Msg("pgwire startup failed")
		}
		return
	}
	if err := c.loop(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		s.cfg.Log.Debug().Err(err).Str("remote", nc.RemoteAddr().String()).Msg("pgwire connection ended")
	}
}

// fatal sends a FATAL error (the connection ends after it).
func (c *conn) fatal(code string, err error) error {
	c.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: err.Error()})
	c.flush()
	return err
}

// startup reads the startup packets (SSLRequest, CancelRequest,
// StartupMessage), authenticates and greets the client, all within
// Limits.StartupTimeout.
func (c *conn) startup(ctx context.Context) error {
	lim := c.s.cfg.Limits
	c.nc.SetDeadline(time.Now().Add(lim.StartupTimeout))
	c.be = pgproto3.NewBackend(c.nc, c.nc)
	encrypted := false
	var sm *pgproto3.StartupMessage
	for sm == nil {
		msg, err := c.be.ReceiveStartupMessage()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if encrypted {
				return fmt.Errorf("%w: SSLRequest on an encrypted connection", errProtocol)
			}
			if c.s.cfg.TLS == nil {
				if _, err := c.nc.Write([]byte{'N'}); err != nil {
					return err
				}
				continue
			}
			if _, err := c.nc.Write([]byte{'S'}); err != nil {
				return err
			}
			tc := tls.Server(c.nc, c.s.cfg.TLS)
			if err := tc.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("TLS handshake: %w", err)
			}
			c.nc, encrypted = tc, true
			c.be = pgproto3.NewBackend(c.nc, c.nc)
		case *pgproto3.GSSEncRequest:
			if _, err := c.nc.Write([]byte{'N'}); err != nil {
				return err
			}
		case *pgproto3.CancelRequest:
			// Answered by closing the connection at once (libpq waits
			// for that).
			c.s.cancel(m.ProcessID, m.SecretKey)
			return errCancelRequest
		case *pgproto3.StartupMessage:
			sm = m
		default:
			return fmt.Errorf("%w: startup message %T", errProtocol, msg)
		}
	}
	if c.s.cfg.TLS != nil && !encrypted {
		return c.fatal("28000", errors.New("this server requires TLS: connect with sslmode=require"))
	}
	if err := c.s.cfg.Serving(ctx); err != nil {
		return c.fatal("57P03", fmt.Errorf("%s", message(err)))
	}
	c.user, c.database = sm.Parameters["user"], sm.Parameters["database"]
	if c.database == "" {
		c.database = c.user
	}
	if app, ok := sm.Parameters["application_name"]; ok {
		c.settings["application_name"] = app
	}
	if err := c.authenticate(); err != nil {
		return err
	}
	if err := c.s.register(c); err != nil {
		return err
	}
	c.be.Send(&pgproto3.AuthenticationOk{})
	for _, name := range reportedSettings() {
		c.be.Send(&pgproto3.ParameterStatus{Name: name, Value: c.settings[name]})
	}
	c.be.Send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: c.key})
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := c.flush(); err != nil {
		return err
	}
	c.nc.SetDeadline(time.Time{})
	c.be.SetMaxBodyLen(lim.MaxMessageBytes)
	return nil
}

// authenticate runs SCRAM-SHA-256 with the client (nothing without Auth).
func (c *conn) authenticate() error {
	a := c.s.cfg.Auth
	if a == nil {
		return nil
	}
	c.be.SetMaxBodyLen(16 << 10)
	c.be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	msg, err := c.be.Receive()
	if err != nil {
		return err
	}
	init, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok || init.AuthMechanism != "SCRAM-SHA-256" {
		return c.fatal("28000", fmt.Errorf("%w: want SCRAM-SHA-256", errAuth))
	}
	sc := &scram{a: a, user: c.user}
	first, err := sc.first(init.Data)
	if err != nil {
		return c.fatal("28P01", err)
	}
	c.be.Send(&pgproto3.AuthenticationSASLContinue{Data: first})
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	if msg, err = c.be.Receive(); err != nil {
		return err
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return c.fatal("28000", fmt.Errorf("%w: want a SASLResponse", errAuth))
	}
	final, who, err := sc.final(resp.Data)
	if err != nil {
		return c.fatal("28P01", err)
	}
	c.who = who
	c.be.Send(&pgproto3.AuthenticationSASLFinal{Data: final})
	return c.be.SetAuthType(pgproto3.AuthTypeOk)
}

// flush writes what was sent, within Limits.WriteTimeout: a client that
// does not read loses its connection, never holds the server.
func (c *conn) flush() error {
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.Limits.WriteTimeout))
	c.pending = 0
	return c.be.Flush()
}

// loop serves messages until the client leaves.
func (c *conn) loop(ctx context.Context) error {
	for {
		msg, err := c.be.Receive()
		if err != nil {
			var big *pgproto3.ExceededMaxBodyLenErr
			if errors.As(err, &big) {
				return c.fatal("54000", fmt.Errorf("message of %d bytes, more than the %d accepted", big.ActualBodyLen, big.MaxExpectedBodyLen))
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || ctx.Err() != nil {
				return err
			}
			var ne net.Error
			if errors.As(err, &ne) {
				return err
			}
			return c.fatal("08P01", fmt.Errorf("%w: %v", errProtocol, err))
		}
		if c.skipping {
			if _, ok := msg.(*pgproto3.Sync); !ok {
				continue
			}
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			c.simpleQuery(ctx, m.String)
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.txStatus()})
			err = c.flush()
		case *pgproto3.Parse:
			err = c.extended(c.parse(ctx, m))
		case *pgproto3.Bind:
			err = c.extended(c.bind(ctx, m))
		case *pgproto3.Describe:
			err = c.extended(c.describe(ctx, m))
		case *pgproto3.Execute:
			err = c.extended(c.execute(ctx, m))
		case *pgproto3.Close:
			err = c.extended(c.close(m))
		case *pgproto3.Sync:
			c.skipping = false
			if !c.inBlock() {
				c.closePortals()
			}
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.txStatus()})
			err = c.flush()
		case *pgproto3.Flush:
			err = c.flush()
		case *pgproto3.Terminate:
			return nil
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// Outside COPY FROM STDIN (not supported): ignored, as
			// PostgreSQL does.
		default:
			c.sendError(fmt.Errorf("%w: message %T", errNotSupported, msg))
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.txStatus()})
			err = c.flush()
		}
		if err != nil {
			return err
		}
		if c.pending > 0 {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
}

// extended reports an error of an extended-protocol message: the
// messages up to the next Sync are skipped.
func (c *conn) extended(err error) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return err
	}
	c.sendError(err)
	c.failed()
	c.skipping = true
	return c.flush()
}

// sendError sends err as an ErrorResponse with its SQLSTATE.
func (c *conn) sendError(err error) {
	c.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: sqlState(err), Message: message(err)})
	c.pending++
}

// sqlState is err's SQLSTATE by the errs taxonomy.
func sqlState(err error) string {
	switch {
	case errors.Is(err, errAuth):
		return "28P01"
	case errors.Is(err, errProtocol):
		return "08P01"
	case errors.Is(err, errUnknownSetting):
		return "42704"
	case errors.Is(err, errTxAborted):
		return "25P02"
	case errors.Is(err, errNoTxBlock):
		return "25P01"
	case errors.Is(err, errReadOnlyTx):
		return "25006"
	case errors.Is(err, errCannotUndo):
		return "25000"
	}
	return errs.SQLState(err)
}

// message is err's text without a gRPC status's decoration.
func message(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	if s := err.Error(); !strings.HasPrefix(s, "rpc error:") {
		return s
	}
	return status.Convert(err).Message()
}

// cancelRunning cancels the statement running now (CancelRequest).
func (c *conn) cancelRunning() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running != nil {
		c.running()
	}
}

// setRunning records the cancel of the statement that runs now (nil:
// none).
func (c *conn) setRunning(cancel context.CancelFunc) {
	c.mu.Lock()
	c.running = cancel
	c.mu.Unlock()
}
