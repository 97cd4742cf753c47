package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/failover"
	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// ErrJobFailed is returned when a job ends failed or cancelled.
var ErrJobFailed = errors.New("job did not succeed")

// Client talks to one scheduler.
type Client struct {
	conn   *failover.Conn
	svc    kapotv1.SchedulerServiceClient
	flight *kflight.Client
	mem    memory.Allocator
}

// Option configures how a client reaches the cluster.
type Option func(*options)

type options struct {
	secret    string
	principal string
	tls       *tls.Config
	session   string
}

// WithSession makes the client's calls part of session (by default every
// Dial starts a new, random one). Jobs belong to the session that submitted
// them: only it sees their status, cancels them and reads their results,
// so keep the value secret; reuse it to reach the jobs of an earlier
// client.
func WithSession(session string) Option { return func(o *options) { o.session = session } }

// NewSessionID returns a random session value for WithSession (the
// session of a Client; (*Client).NewSession makes a SQL session).
func NewSessionID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// WithSecret presents the cluster's client secret (the scheduler's
// --client-secret, or its --executor-secret when it has none) on every call
// to the scheduler and to the executors serving results.
func WithSecret(secret string) Option { return func(o *options) { o.secret = secret } }

// WithPrincipal presents the secret of WithSecret as principal's own (a
// name of the scheduler's --principals-file) instead of the shared client
// secret: the tables and views this client creates are principal's, and
// only principal (or an operator) replaces, drops or writes into them.
func WithPrincipal(principal string) Option { return func(o *options) { o.principal = principal } }

// WithTLS dials the scheduler and the executors over TLS with cfg (its
// RootCAs trust the cluster's CA; its Certificates, if any, are presented
// for mutual TLS).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// Dial connects to the scheduler at addr (host:port). Connections are made
// lazily: a wrong address shows at the first call. addr may list several
// schedulers of one cluster ("h1:50050,h2:50050"): calls go to the leader,
// and move to the next one when it changes (a job's status, its cancel
// and listings are asked again; a submission only when it surely did not
// reach the old leader).
func Dial(addr string, mem memory.Allocator, opts ...Option) (*Client, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.session == "" {
		o.session = NewSessionID()
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if o.tls != nil {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(o.tls))}
	}
	if o.secret != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(security.Credentials{Node: security.Client, Secret: o.secret, Principal: o.principal, TLS: o.tls != nil}))
	}
	session := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.AppendToOutgoingContext(ctx, security.SessionKey, o.session), method, req, reply, cc, opts...)
	}
	addrs, err := failover.Addresses(addr, 0)
	if err != nil {
		return nil, err
	}
	conn, err := failover.Dial(addrs, append(slices.Clone(dial), grpc.WithChainUnaryInterceptor(session),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		return nil, err
	}
	conn.Once = createsJob
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
	return &Client{conn: conn, svc: kapotv1.NewSchedulerServiceClient(conn), flight: kflight.NewClient(3, 100*time.Millisecond, 0, dial...), mem: mem}, nil
}

// createsJob names the calls that create a job without a request id:
// sent again to another scheduler only when the first surely did not
// arrive. (The client's own calls carry one: the scheduler answers a
// repeat with the job the first created.)
func createsJob(method string, args any) bool {
	switch r := args.(type) {
	case *kapotv1.SubmitJobRequest:
		return r.GetRequestId() == ""
	case *kapotv1.ExecuteSQLRequest:
		return r.GetRequestId() == ""
	}
	return false
}

// newRequestID names one submission (see SubmitJobRequest.request_id).
func newRequestID() string { return NewSessionID() }

// Scheduler exposes the raw gRPC client.
func (c *Client) Scheduler() kapotv1.SchedulerServiceClient { return c.svc }

// Close closes the connections.
func (c *Client) Close() error {
	c.flight.Close()
	return c.conn.Close()
}

// ExecuteSQL runs one SQL statement in the scheduler, over the cluster's
// shared catalog (the tables Flight SQL clients see, kept across restarts
// with --state-dir). A query becomes a job of this client's session: the
// response names it (read its result with Wait and Fetch, or use Query);
// other statements (CREATE EXTERNAL TABLE, SHOW TABLES, DESCRIBE,
// EXPLAIN) answer with their rows. If ctx ends while the scheduler
// creates the job, the job is cancelled.
func (c *Client) ExecuteSQL(ctx context.Context, sql string, props map[string]string) (*kapotv1.ExecuteSQLResponse, error) {
	var resp *kapotv1.ExecuteSQLResponse
	_, err := c.starting(ctx, func(ctx context.Context) (string, error) {
		r, err := c.svc.ExecuteSQL(ctx, &kapotv1.ExecuteSQLRequest{Sql: sql, SessionProperties: props, RequestId: newRequestID()})
		resp = r
		return r.GetJobId(), err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Query runs one statement in the scheduler under the session properties
// props and returns a reader of its result (see Session.Query).
func (c *Client) Query(ctx context.Context, sql string, props map[string]string) (*Rows, error) {
	return c.NewSession(props).Query(ctx, sql)
}

// ClusterSlots is the number of task slots of the cluster's active
// executors.
func (c *Client) ClusterSlots(ctx context.Context) (int, error) {
	r, err := c.svc.ListExecutors(ctx, &kapotv1.ListExecutorsRequest{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range r.GetExecutors() {
		if e.GetState() == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
			n += int(e.GetRegistration().GetResources().GetTaskSlots())
		}
	}
	return n, nil
}

// Submit submits a plan and returns the job id.
//
// If ctx ends while the scheduler is accepting the job, the job may exist
// without the caller ever learning its id; Submit then waits briefly for
// the scheduler's answer and cancels the job it names, so a client that
// gives up (Ctrl-C, a deadline) never leaves a job running behind it.
// A job past cancelling (ended already, or committing its write) is not
// cancelled: Submit returns its id, so the caller can learn its outcome.
func (c *Client) Submit(ctx context.Context, req *kapotv1.SubmitJobRequest) (string, error) {
	if req.GetRequestId() == "" {
		req = proto.Clone(req).(*kapotv1.SubmitJobRequest)
		req.RequestId = newRequestID()
	}
	return c.starting(ctx, func(ctx context.Context) (string, error) {
		r, err := c.svc.SubmitJob(ctx, req)
		return r.GetJobId(), err
	})
}

// starting makes call, which creates a job and returns its id (empty:
// none), on a context of its own: if ctx ends first, the job the call
// creates is cancelled once its id is known.
func (c *Client) starting(ctx context.Context, call func(context.Context) (string, error)) (string, error) {
	type result struct {
		id  string
		err error
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan result, 1)
	go func() {
		id, err := call(sctx)
		done <- result{id, err}
	}()
	var r result
	select {
	case r = <-done:
		if r.err != nil || ctx.Err() == nil {
			return r.id, r.err
		}
	case <-ctx.Done():
		wait := time.NewTimer(defaultCancelTimeout)
		defer wait.Stop()
		select {
		case r = <-done:
		case <-wait.C:
			return "", ctx.Err()
		}
	}
	if r.err == nil && r.id != "" && c.cancelJob(ctx, r.id) == cancelRefused {
		// Past cancelling: the job's own outcome stands, and the
		// caller learns it by waiting on the id.
		return r.id, nil
	}
	return "", ctx.Err()
}

// cancelOutcome is what a CancelJob call achieved.
type cancelOutcome int

const (
	// cancelUnknown: the scheduler did not answer.
	cancelUnknown cancelOutcome = iota
	// cancelDone: the job was cancelled.
	cancelDone
	// cancelRefused: the job had ended or was committing its write, so
	// its own outcome stands.
	cancelRefused
)

// cancelJob cancels a job on behalf of a caller whose ctx has ended, with
// a context of its own so the request still goes out.
func (c *Client) cancelJob(ctx context.Context, id string) cancelOutcome {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultCancelTimeout)
	defer cancel()
	r, err := c.svc.CancelJob(cctx, &kapotv1.CancelJobRequest{JobId: id})
	switch {
	case err != nil:
		return cancelUnknown
	case r.GetCancelled():
		return cancelDone
	}
	return cancelRefused
}

// lateOutcome is the final status of a job whose caller's ctx ended but
// which the scheduler would not cancel (it had ended, or was committing
// its write, whose outcome is the commit's): a caller must never be told
// "cancelled" of a write that committed. It waits at most
// lateOutcomeWait; nil when the job did not succeed or the wait ran out.
func (c *Client) lateOutcome(ctx context.Context, id string) *kapotv1.GetJobStatusResponse {
	if c.cancelJob(ctx, id) != cancelRefused {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lateOutcomeWait)
	defer cancel()
	st, err := c.Wait(wctx, id)
	if err != nil {
		return nil
	}
	return st
}

// Wait waits for the job to end (long polls of the scheduler, which answers
// as soon as the job ends) and returns its final status.
func (c *Client) Wait(ctx context.Context, jobID string) (*kapotv1.GetJobStatusResponse, error) {
	for {
		st, err := c.svc.GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: jobID, WaitMs: 10_000})
		if err != nil {
			return nil, err
		}
		switch st.GetState() {
		case kapotv1.JobState_JOB_STATE_SUCCESSFUL:
			return st, nil
		case kapotv1.JobState_JOB_STATE_FAILED, kapotv1.JobState_JOB_STATE_CANCELLED:
			return st, fmt.Errorf("job %s %s: %s: %w", jobID, st.GetState(), st.GetError(), ErrJobFailed)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// Fetch reads every result partition of a successful job with Flight
// DoGet (through Rows, each partition whole). The caller releases the
// batches.
//
// A partition whose executor cannot be reached is recovered: the client
// tells the scheduler, which probes the executor and, if it is gone,
// computes the partition again; Fetch waits for that and reads it from its
// new place (at most maxResultRecoveries times per call).
func (c *Client) Fetch(ctx context.Context, st *kapotv1.GetJobStatusResponse) (*arrow.Schema, []arrow.RecordBatch, error) {
	r, err := c.rows(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	r.whole = true
	schema := r.Schema()
	bs, err := ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	return schema, bs, nil
}

// recoverResults reports that loc's executor could not be reached and
// waits for the job to hold all its results again: the scheduler probes
// the executor and, if it is lost, runs the partitions it held again.
func (c *Client) recoverResults(ctx context.Context, jobID string, loc *kapotv1.PartitionLocation) (*kapotv1.GetJobStatusResponse, error) {
	st, err := c.svc.GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: jobID, UnreachableExecutors: []string{loc.GetExecutor().GetId()}})
	if err != nil {
		return nil, err
	}
	if st.GetState() == kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		return st, nil
	}
	return c.Wait(ctx, jobID)
}

// Run submits a plan, waits for it and fetches its result.
//
// A finished job's result partitions live on the executors that computed
// them until they are fetched. If one of those executors is lost in
// between, the scheduler computes the partitions it held again (see
// Fetch). Should that fail too (the data was removed after the clean-up
// delay), Run submits the query again, at most twice: plans only read, so
// running one again is safe, and the caller gets the answer rather than
// the loss.
func (c *Client) Run(ctx context.Context, req *kapotv1.SubmitJobRequest) (*arrow.Schema, []arrow.RecordBatch, error) {
	for attempt := 0; ; attempt++ {
		id, err := c.Submit(ctx, req)
		if err != nil {
			return nil, nil, err
		}
		st, err := c.Wait(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				// The caller gave up (a signal, a deadline): the job goes too.
				c.cancelJob(ctx, id)
			}
			return nil, nil, err
		}
		schema, bs, err := c.Fetch(ctx, st)
		if err == nil || attempt >= 2 || ctx.Err() != nil || !resultLost(err) {
			return schema, bs, err
		}
	}
}

// resultLost reports whether a result fetch failed because the executor
// holding the partition is gone or no longer has it.
func resultLost(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.NotFound:
		return true
	}
	return false
}

func release(bs []arrow.RecordBatch) {
	for _, b := range bs {
		b.Release()
	}
}
