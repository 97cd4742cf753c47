package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/rs/zerolog"

	"github.com/kapot-go/kapot/errs"
	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/session"
)

// The classes of the errors of this package (errs).
var (
	errNotSupported = errs.ErrNotSupported
	errInvalidParam = errs.ErrInvalidArgument
)

// Jobs is what the server needs of the scheduler to run a planned query.
// Errors are gRPC statuses or errors of the errs taxonomy.
type Jobs interface {
	// Submit runs a planned query (or write) as a job.
	Submit(ctx context.Context, q *session.Query) (string, error)
	// ExplainAnalyze runs job id to its end and answers with its metrics.
	ExplainAnalyze(ctx context.Context, id string) (session.Answer, error)
	// Wait waits for job id to end; a failed job is an error, and a ctx
	// that ends first cancels the job.
	Wait(ctx context.Context, id string) (*kapotv1.GetJobStatusResponse, error)
	// Recover has the scheduler probe the executor of a result partition
	// of job id that could not be read and, if it is lost, compute it
	// again; it returns the partition's new location.
	Recover(ctx context.Context, id string, loc *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error)
}

// Limits bound what clients hold.
type Limits struct {
	// MaxConns is the most connections served at once; more are refused
	// with SQLSTATE 53300.
	MaxConns int
	// MaxMessageBytes is the largest message a client may send.
	MaxMessageBytes int
	// StartupTimeout is how long a client has from connecting to being
	// authenticated.
	StartupTimeout time.Duration
	// WriteTimeout is how long a write may wait on a client that does
	// not read; then the connection is closed (and its query cancelled).
	WriteTimeout time.Duration
	// MaxStatements bounds a connection's prepared statements and
	// portals, each.
	MaxStatements int
}

// DefaultLimits are the limits of a server made with none.
func DefaultLimits() Limits {
	return Limits{MaxConns: 256, MaxMessageBytes: planner.MaxSQLBytes + 1<<20, StartupTimeout: 10 * time.Second,
		WriteTimeout: 2 * time.Minute, MaxStatements: 1000}
}

// Config is what a Server is made of.
type Config struct {
	// Backend answers statements (session.Execute over it).
	Backend session.Backend
	// Jobs runs planned queries.
	Jobs Jobs
	// Fetch reads result partitions from the executors.
	Fetch *kflight.Client
	// TLS, when set, is offered on SSLRequest and required: a client
	// that does not ask for it is refused.
	TLS *tls.Config
	// Auth, when set, authenticates clients (SCRAM-SHA-256) against the
	// cluster's secrets; nil trusts every client, as the other front
	// doors do on a cluster without secrets.
	Auth *Auth
	// Serving is asked before each connection and statement: nil to
	// serve, else the refusal (a follower scheduler in HA). Nil: always.
	Serving func(ctx context.Context) error
	// Limits (zero: DefaultLimits).
	Limits Limits
	// Log receives connection errors and contained panics.
	Log zerolog.Logger
}

// Server serves the PostgreSQL protocol. Serve runs it; it owns its
// connections' goroutines and ends them when Serve's ctx ends.
type Server struct {
	cfg Config

	mu    sync.Mutex
	conns map[uint32]*conn // by process id (BackendKeyData)
	slots chan struct{}
	wg    sync.WaitGroup
}

// NewServer makes a server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Backend == nil || cfg.Jobs == nil {
		return nil, errors.New("pgwire: a server needs a Backend and Jobs")
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits()
	}
	if cfg.Limits.MaxConns < 1 || cfg.Limits.MaxMessageBytes < 1024 || cfg.Limits.StartupTimeout <= 0 || cfg.Limits.WriteTimeout <= 0 || cfg.Limits.MaxStatements < 1 {
		return nil, fmt.Errorf("pgwire: limits %+v: every limit must be positive (messages at least 1 KiB): %w", cfg.Limits, errs.ErrInvalidArgument)
	}
	if cfg.Serving == nil {
		cfg.Serving = func(context.Context) error { return nil }
	}
	return &Server{cfg: cfg, conns: map[uint32]*conn{}, slots: make(chan struct{}, cfg.Limits.MaxConns)}, nil
}

// Serve accepts connections on lis until ctx ends or lis fails; then it
// closes lis and every connection and returns once their goroutines have.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { lis.Close() })
	defer stop()
	defer s.wg.Wait()
	for {
		nc, err := lis.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("pgwire: accept: %w", err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.refuse(nc, "53300", fmt.Sprintf("too many connections: this server serves %d at once", s.cfg.Limits.MaxConns))
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			s.serveConn(ctx, nc)
		}()
	}
}

// refuse answers a connection it will not serve with an error and closes
// it, without waiting on the client.
func (s *Server) refuse(nc net.Conn, code, msg string) {
	nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	b, err := (&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg}).Encode(nil)
	if err == nil {
		nc.Write(b)
	}
	nc.Close()
}

// register gives c a process id and secret for CancelRequest.
func (s *Server) register(c *conn) error {
	var b [8]byte
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		pid := binary.BigEndian.Uint32(b[:4]) & 0x7fffffff
		if _, taken := s.conns[pid]; pid != 0 && !taken {
			c.pid, c.key = pid, b[4:]
			s.conns[pid] = c
			return nil
		}
	}
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[c.pid] == c {
		delete(s.conns, c.pid)
	}
}

// cancel cancels the statement running on the connection of process id
// pid if key is its secret (CancelRequest); it answers nothing either way.
func (s *Server) cancel(pid uint32, key []byte) {
	s.mu.Lock()
	c := s.conns[pid]
	s.mu.Unlock()
	if c == nil || len(key) != len(c.key) || subtle.ConstantTimeCompare(key, c.key) != 1 {
		return
	}
	c.cancelRunning()
}

// Conns is the number of connections open now.
func (s *Server) Conns() int { return len(s.slots) }
