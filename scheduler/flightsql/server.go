package flightsql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	fsql "github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/errs"
	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/version"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/session"
	"github.com/kapot-go/kapot/wire"
)

// Flight SQL names the one catalog and schema that hold every table.
const (
	sqlCatalog = "kapot"
	sqlSchema  = "public"
)

// Result modes of the Flight SQL endpoint (--flight-sql-results).
const (
	// ResultsProxy: FlightInfo endpoints carry no location, so clients
	// fetch through the scheduler, which streams from the executors. It
	// works wherever the scheduler is reachable.
	ResultsProxy = "proxy"
	// ResultsDirect: each endpoint names the executor holding the result
	// partition, so clients that follow locations (ADBC, JDBC) fetch
	// straight from the executors; clients that do not still fetch through
	// the scheduler.
	ResultsDirect = "direct"
)

// rowsPrefix marks a statement handle that carries a small result inline
// (DDL, SHOW TABLES, DESCRIBE, EXPLAIN) instead of a partition's ticket.
var rowsPrefix = []byte("kapot-rows:")

// jobPrefix marks a statement handle that stands for all of a job's
// result partitions (proxy mode: one endpoint per query, streamed through
// the scheduler). What follows is the signed ticket of one of them, which
// proves the caller was handed the job's results.
var jobPrefix = []byte("kapot-job:")

// inlineRows is a small all-string result carried in a handle.
type inlineRows struct {
	Columns []string   `json:"c"`
	Rows    [][]string `json:"r"`
}

// Jobs is what the service needs of the scheduler. Errors are gRPC
// statuses.
type Jobs interface {
	// Statement runs a statement over the shared catalog for who: what it
	// creates is who's, and only who or an operator alters it.
	Statement(ctx context.Context, sql string, who security.Principal) (session.Answer, error)
	// Plan plans a query; planning stops with ctx.
	Plan(ctx context.Context, sql string) (*planner.Plan, error)
	// Submit runs a planned query (or write) as a job of the Flight SQL
	// endpoint.
	Submit(ctx context.Context, q *session.Query) (string, error)
	// ExplainAnalyze runs job id to its end and answers with its metrics.
	ExplainAnalyze(ctx context.Context, id string) (session.Answer, error)
	// Wait waits for job id to end; a failed job is an error, and a ctx
	// that ends first cancels the job.
	Wait(ctx context.Context, id string) (*kapotv1.GetJobStatusResponse, error)
	// Status is job id's status now.
	Status(id string) (*kapotv1.GetJobStatusResponse, error)
	// Await waits up to wait for job id to end (or ctx to).
	Await(ctx context.Context, id string, wait time.Duration) error
	// Unreachable reports executors a client could not read job id's
	// results from: each is probed, and the results of lost ones are
	// computed again.
	Unreachable(ctx context.Context, id string, executors []string)
	// Cancel cancels job id; it reports whether the job was running.
	Cancel(id string) (bool, error)
}

// Config is what a Server is made of.
type Config struct {
	Jobs Jobs
	// Catalog is the shared catalog (listed by GetTables).
	Catalog *catalog.Catalog
	// Fetch reads result partitions from the executors (proxy mode).
	Fetch *kflight.Client
	// Signer checks the result tickets in statement handles.
	Signer *kflight.Signer
	// Results is ResultsProxy or ResultsDirect.
	Results string
	// Auth, when set, authenticates every call (ServerOptions); the
	// server sweeps its expired tokens.
	Auth *Auth
	// Limits bound each owner's prepared statements and tokens (zero:
	// DefaultLimits).
	Limits Limits
	// Log receives the panics of the goroutines that stream results.
	Log zerolog.Logger
}

// Server is the scheduler's Arrow Flight SQL service: it runs SQL over the
// catalog shared by every client, queries as jobs of the scheduler, and
// hands out the result partitions.
type Server struct {
	fsql.BaseServer
	jobs    Jobs
	cat     *catalog.Catalog
	fetch   *kflight.Client
	signer  *kflight.Signer
	results string
	mem     memory.Allocator

	auth     *Auth
	limits   Limits
	log      zerolog.Logger
	prepared *preparedSet
	conns    *connTracker
	now      func() time.Time
}

// NewServer makes the service.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits()
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	f := &Server{jobs: cfg.Jobs, cat: cfg.Catalog, fetch: cfg.Fetch, signer: cfg.Signer, results: cfg.Results,
		mem: memory.NewGoAllocator(), auth: cfg.Auth, limits: cfg.Limits, log: cfg.Log, prepared: newPreparedSet(cfg.Limits), now: time.Now}
	f.conns = &connTracker{prepared: f.prepared}
	if f.auth != nil {
		f.auth.setMaxTokens(cfg.Limits.MaxTokens)
	}
	f.Alloc = f.mem
	for id, v := range map[fsql.SqlInfo]any{
		fsql.SqlInfoFlightSqlServerName:         "kapot",
		fsql.SqlInfoFlightSqlServerVersion:      version.Version,
		fsql.SqlInfoFlightSqlServerArrowVersion: "18",
		fsql.SqlInfoFlightSqlServerReadOnly:     true,
		fsql.SqlInfoFlightSqlServerSql:          true,
		fsql.SqlInfoFlightSqlServerSubstrait:    false,
		fsql.SqlInfoFlightSqlServerTransaction:  int32(0), // none
		fsql.SqlInfoFlightSqlServerCancel:       true,
	} {
		if err := f.RegisterSqlInfo(id, v); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Register serves the service on g, which must be made with
// ServerOptions.
func (f *Server) Register(g *grpc.Server) {
	flight.RegisterFlightServiceServer(g, fsql.NewFlightServerWithAllocator(f, f.mem))
}

// ServerOptions are what the gRPC server of the service needs: the
// tracking of connections (a prepared statement ends with the connection
// that made it) and, with Config.Auth, authentication.
func (f *Server) ServerOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.StatsHandler(f.conns)}
	if f.auth != nil {
		opts = append(opts, f.auth.ServerOptions()...)
	}
	return opts
}

// Run sweeps, until ctx ends, the prepared statements unused for
// Limits.PreparedIdle and the expired bearer tokens. The server's owner
// runs it.
func (f *Server) Run(ctx context.Context) {
	every := min(max(f.limits.PreparedIdle/4, time.Second), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.sweep(f.now())
	}
}

// sweep ends what expired by now.
func (f *Server) sweep(now time.Time) {
	f.prepared.expire(now)
	if f.auth != nil {
		f.auth.sweep(now)
	}
}

// owner is who a prepared statement made by this call belongs to: the
// authenticated principal, or without authentication the connection.
func owner(ctx context.Context) string {
	if who := PrincipalOf(ctx); who.Name != "" {
		return who.Name
	}
	if c := connOf(ctx); c != 0 {
		return "connection " + strconv.FormatUint(c, 10)
	}
	return ""
}

// SQLStatus maps a planning or execution error to a gRPC status by its
// class (package errs).
func SQLStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, engine.ErrResourcesExhausted):
		// Over a planning budget (time, plan size) or a memory pool,
		// whatever else the error says.
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "query cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "query timed out")
	}
	// By its class (errs); an error of no class comes from planning the
	// statement (a name or type error): the statement is at fault.
	return errs.Status(err, codes.InvalidArgument)
}

// GetFlightInfoStatement runs an ad-hoc statement.
func (f *Server) GetFlightInfoStatement(ctx context.Context, cmd fsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return f.execute(ctx, cmd.GetQuery(), desc)
}

// GetSchemaStatement plans a query without running it.
func (f *Server) GetSchemaStatement(ctx context.Context, cmd fsql.StatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	schema, err := f.schemaOf(ctx, cmd.GetQuery())
	if err != nil {
		return nil, err
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(schema, f.mem)}, nil
}

// execute runs one statement. A query becomes a job; the call returns once
// the job has finished (cancelling ctx cancels the job), with an endpoint
// per non-empty result partition. Other statements run here and return
// their rows inline.
func (f *Server) execute(ctx context.Context, sql string, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	res, err := f.jobs.Statement(ctx, sql, PrincipalOf(ctx))
	if err != nil {
		return nil, err
	}
	if res.Query == nil {
		return f.inlineInfo(desc, inlineRows{Columns: res.Columns, Rows: res.Rows})
	}
	id, err := f.jobs.Submit(ctx, res.Query)
	if err != nil {
		return nil, err
	}
	if res.Query.Analyze {
		a, err := f.jobs.ExplainAnalyze(ctx, id)
		if err != nil {
			return nil, err
		}
		return f.inlineInfo(desc, inlineRows{Columns: a.Columns, Rows: a.Rows})
	}
	js, err := f.jobs.Wait(ctx, id)
	if err != nil {
		return nil, err
	}
	schema, err := wire.SchemaFromProto(js.GetResultSchema())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "result schema: %v", err)
	}
	info := &flight.FlightInfo{Schema: flight.SerializeSchema(schema, f.mem), FlightDescriptor: echo(desc), TotalBytes: -1}
	endpoint := func(handle []byte) (*flight.FlightEndpoint, error) {
		tkt, err := fsql.CreateStatementQueryTicket(handle)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "ticket: %v", err)
		}
		return &flight.FlightEndpoint{Ticket: &flight.Ticket{Ticket: tkt}}, nil
	}
	for _, loc := range js.GetResultLocations() {
		if loc.GetStats() != nil && loc.GetStats().GetNumRows() == 0 {
			continue
		}
		info.TotalRecords += int64(loc.GetStats().GetNumRows())
		switch {
		case f.results == ResultsDirect:
			// One endpoint per partition, at the executor that holds it.
			ep, err := endpoint(kflight.TicketFor(loc))
			if err != nil {
				return nil, err
			}
			ep.Location = []*flight.Location{{Uri: "grpc+tcp://" + kflight.Addr(loc.GetExecutor())}}
			info.Endpoint = append(info.Endpoint, ep)
		case len(info.Endpoint) == 0:
			// Proxy: one endpoint, all partitions streamed in order
			// (clients make one call, and database/sql's driver, which
			// races on a second endpoint, reads one stream).
			ep, err := endpoint(append(slices.Clone(jobPrefix), kflight.TicketFor(loc)...))
			if err != nil {
				return nil, err
			}
			info.Endpoint = append(info.Endpoint, ep)
		}
	}
	return info, nil
}

// recoverResult has the scheduler probe the executor of result partition
// loc of job id and, if it is lost, compute the partition again; it
// returns the partition's new location.
func (f *Server) recoverResult(ctx context.Context, id string, loc *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error) {
	f.jobs.Unreachable(ctx, id, []string{loc.GetExecutor().GetId()})
	js, err := f.waitResults(ctx, id)
	if err != nil {
		return nil, err
	}
	return resultLocation(js, &kapotv1.ShuffleTicket{JobId: id, StageId: loc.GetStageId(), MapPartition: loc.GetMapPartition(), OutputPartition: loc.GetOutputPartition()})
}

// resultLocation finds the result partition ticket t names in a job's
// status.
func resultLocation(js *kapotv1.GetJobStatusResponse, t *kapotv1.ShuffleTicket) (*kapotv1.PartitionLocation, error) {
	for _, l := range js.GetResultLocations() {
		if l.GetStageId() == t.GetStageId() && l.GetMapPartition() == t.GetMapPartition() && l.GetOutputPartition() == t.GetOutputPartition() {
			return l, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "job %s has no result partition %d", t.GetJobId(), t.GetMapPartition())
}

// waitResults waits until a reopened job holds its results again; unlike
// wait, a client going away does not cancel the job (it finished once).
func (f *Server) waitResults(ctx context.Context, id string) (*kapotv1.GetJobStatusResponse, error) {
	for {
		js, err := f.jobs.Status(id)
		if err != nil {
			return nil, err
		}
		switch js.GetState() {
		case kapotv1.JobState_JOB_STATE_SUCCESSFUL:
			return js, nil
		case kapotv1.JobState_JOB_STATE_FAILED, kapotv1.JobState_JOB_STATE_CANCELLED:
			return nil, fmt.Errorf("job %s %s: %s", id, js.GetState(), js.GetError())
		}
		if err := f.jobs.Await(ctx, id, time.Minute); err != nil {
			return nil, err
		}
	}
}

// schemaOf plans sql under ctx and returns its result schema.
func (f *Server) schemaOf(ctx context.Context, sql string) (*arrow.Schema, error) {
	st, err := planner.ParseStatement(sql)
	if err != nil {
		return nil, SQLStatus(err)
	}
	if st.Kind != planner.StmtQuery {
		return nil, status.Error(codes.InvalidArgument, "not a query")
	}
	p, err := f.jobs.Plan(ctx, st.SQL)
	if err != nil {
		return nil, err
	}
	return p.Schema, nil
}

func (f *Server) inlineInfo(desc *flight.FlightDescriptor, rows inlineRows) (*flight.FlightInfo, error) {
	b, err := json.Marshal(rows)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	tkt, err := fsql.CreateStatementQueryTicket(append(slices.Clone(rowsPrefix), b...))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "ticket: %v", err)
	}
	return &flight.FlightInfo{Schema: flight.SerializeSchema(wire.TextSchema(rows.Columns), f.mem), FlightDescriptor: echo(desc),
		Endpoint: []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: tkt}}}, TotalRecords: int64(len(rows.Rows)), TotalBytes: -1}, nil
}

// DoGetStatement streams one endpoint: inline rows, or a result partition
// read from the executor that holds it (the proxy path).
func (f *Server) DoGetStatement(ctx context.Context, tkt fsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	h := tkt.GetStatementHandle()
	if rest, ok := bytes.CutPrefix(h, rowsPrefix); ok {
		var rows inlineRows
		if err := json.Unmarshal(rest, &rows); err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "bad statement handle: %v", err)
		}
		schema := wire.TextSchema(rows.Columns)
		b, err := wire.TextBatch(f.mem, schema, rows.Rows)
		if err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "bad statement handle: %v", err)
		}
		return oneBatch(schema, b)
	}
	rest, whole := bytes.CutPrefix(h, jobPrefix)
	t, err := kflight.ParseTicket(rest)
	if err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "bad statement handle: %v", err)
	}
	if err := f.signer.Verify(t, time.Now()); err != nil {
		return nil, nil, status.Errorf(codes.PermissionDenied, "statement handle: %v", err)
	}
	if _, err := f.jobs.Status(t.GetJobId()); err != nil {
		return nil, nil, status.Errorf(codes.NotFound, "job %s: %v (results are kept for --finished-job-data-clean-up-delay-seconds)", t.GetJobId(), err)
	}
	// The job finished when its FlightInfo was made; it may be running
	// again (a result partition recomputed, or a scheduler that took over
	// carrying it on): its results are read once it holds them all.
	js, err := f.waitResults(ctx, t.GetJobId())
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			return nil, nil, err
		}
		return nil, nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	locs := js.GetResultLocations()
	if !whole {
		loc, err := resultLocation(js, t)
		if err != nil {
			return nil, nil, err
		}
		locs = []*kapotv1.PartitionLocation{loc}
	}
	schema, err := wire.SchemaFromProto(js.GetResultSchema())
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "result schema: %v", err)
	}
	// The partitions are read as every client reads results (client.Rows):
	// if an executor is gone, the scheduler recomputes its partitions and
	// they are read from their new place.
	recover := func(ctx context.Context, loc *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error) {
		return f.recoverResult(ctx, t.GetJobId(), loc)
	}
	rows := client.NewRows(ctx, f.fetch, f.mem, t.GetJobId(), schema, locs, recover)
	if !rows.Next() {
		err := rows.Err()
		rows.Release()
		if err != nil {
			return nil, nil, status.Errorf(status.Code(err), "%v", err)
		}
		return schema, closedStream(), nil
	}
	ch := make(chan flight.StreamChunk)
	go func() {
		defer close(ch)
		defer rows.Release()
		if err := f.sendRows(ctx, rows, ch); err != nil {
			select {
			case ch <- flight.StreamChunk{Err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return schema, ch, nil
}

// sendRows sends the batches of rows, the first one read already, on ch
// until they end or ctx does, and returns rows' error. Reading them
// decodes the executors' IPC streams on a goroutine of ours: a panic there
// fails this stream with codes.Internal, not the scheduler.
func (f *Server) sendRows(ctx context.Context, rows *client.Rows, ch chan<- flight.StreamChunk) (err error) {
	defer func() {
		var pe *panics.Error
		if errors.As(err, &pe) {
			panics.Log(f.log, pe, "streaming results panicked")
			err = panics.Status(pe)
		}
	}()
	defer panics.Catch(&err)
	for ok := true; ok; ok = rows.Next() {
		b := rows.RecordBatch()
		b.Retain()
		select {
		case ch <- flight.StreamChunk{Data: b}:
		case <-ctx.Done():
			b.Release()
			return nil
		}
	}
	return rows.Err()
}

// closedStream is an empty stream.
func closedStream() <-chan flight.StreamChunk {
	ch := make(chan flight.StreamChunk)
	close(ch)
	return ch
}

// oneBatch streams a single record batch.
func oneBatch(schema *arrow.Schema, b arrow.RecordBatch) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	ch := make(chan flight.StreamChunk, 1)
	ch <- flight.StreamChunk{Data: b}
	close(ch)
	return schema, ch, nil
}

// CancelFlightInfo cancels the job behind a FlightInfo (a finished job's
// result stays readable until it is cleaned up).
func (f *Server) CancelFlightInfo(_ context.Context, req *flight.CancelFlightInfoRequest) (flight.CancelFlightInfoResult, error) {
	st := flight.CancelStatusNotCancellable
	for _, ep := range req.GetInfo().GetEndpoint() {
		h, ok := kflight.SQLTicketHandle(ep.GetTicket().GetTicket())
		if !ok {
			continue
		}
		h, _ = bytes.CutPrefix(h, jobPrefix)
		t, err := kflight.ParseTicket(h)
		if err != nil || f.signer.Verify(t, time.Now()) != nil {
			continue
		}
		if ok, err := f.jobs.Cancel(t.GetJobId()); err == nil && ok {
			st = flight.CancelStatusCancelled
		}
	}
	return flight.CancelFlightInfoResult{Status: st}, nil
}
