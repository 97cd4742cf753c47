package scheduler

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/version"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
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

// inlineRows is a small all-string result carried in a handle.
type inlineRows struct {
	Columns []string   `json:"c"`
	Rows    [][]string `json:"r"`
}

// sqlServer is the scheduler's Arrow Flight SQL service: it plans SQL over
// a catalog shared by its clients, runs queries as jobs of this scheduler
// and hands out the result partitions.
type sqlServer struct {
	flightsql.BaseServer
	s     *Scheduler
	cat   *planner.Catalog
	fetch *kflight.Client
	mem   memory.Allocator

	mu       sync.Mutex
	prepared map[string]*preparedStmt
}

type preparedStmt struct {
	sql    string
	params []string // SQL literals bound by the last DoPut
}

func newSQLServer(s *Scheduler, fetch *kflight.Client) (*sqlServer, error) {
	f := &sqlServer{s: s, cat: s.catalog, fetch: fetch, mem: memory.NewGoAllocator(), prepared: map[string]*preparedStmt{}}
	f.Alloc = f.mem
	for id, v := range map[flightsql.SqlInfo]any{
		flightsql.SqlInfoFlightSqlServerName:         "kapot",
		flightsql.SqlInfoFlightSqlServerVersion:      version.Version,
		flightsql.SqlInfoFlightSqlServerArrowVersion: "18",
		flightsql.SqlInfoFlightSqlServerReadOnly:     true,
		flightsql.SqlInfoFlightSqlServerSql:          true,
		flightsql.SqlInfoFlightSqlServerSubstrait:    false,
		flightsql.SqlInfoFlightSqlServerTransaction:  int32(0), // none
		flightsql.SqlInfoFlightSqlServerCancel:       true,
	} {
		if err := f.RegisterSqlInfo(id, v); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// sqlStatus maps a planning or execution error to a gRPC status.
func sqlStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "query cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "query timed out")
	case errors.Is(err, objstore.ErrForbidden):
		return status.Error(codes.PermissionDenied, err.Error())
	}
	// Unsupported SQL, a bad plan, a syntax or name error: the statement
	// is at fault.
	return status.Error(codes.InvalidArgument, err.Error())
}

// GetFlightInfoStatement runs an ad-hoc statement.
func (f *sqlServer) GetFlightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return f.execute(ctx, cmd.GetQuery(), desc)
}

// GetSchemaStatement plans a query without running it.
func (f *sqlServer) GetSchemaStatement(ctx context.Context, cmd flightsql.StatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	schema, err := f.schemaOf(cmd.GetQuery())
	if err != nil {
		return nil, err
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(schema, f.mem)}, nil
}

// execute runs one statement. A query becomes a job; the call returns once
// the job has finished (cancelling ctx cancels the job), with an endpoint
// per non-empty result partition. Other statements run here and return
// their rows inline.
func (f *sqlServer) execute(ctx context.Context, sql string, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	res, err := f.s.statement(ctx, sql, nil, sqlAdmin(ctx))
	if err != nil {
		return nil, err
	}
	if res.plan == nil {
		return f.inlineInfo(desc, res.rows)
	}
	id, err := f.s.submit(ctx, &kapotv1.SubmitJobRequest{Plan: res.plan.Named(), JobName: "flight sql: " + jobName(res)}, ownerFlightSQL)
	if err != nil {
		return nil, submitStatus(err)
	}
	if res.analyze {
		rows, err := f.s.explainAnalyze(ctx, id)
		if err != nil {
			return nil, err
		}
		return f.inlineInfo(desc, rows)
	}
	js, err := f.s.waitJob(ctx, id)
	if err != nil {
		return nil, err
	}
	schema, err := wire.SchemaFromProto(js.GetResultSchema())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "result schema: %v", err)
	}
	info := &flight.FlightInfo{Schema: flight.SerializeSchema(schema, f.mem), FlightDescriptor: desc, TotalBytes: -1}
	for _, loc := range js.GetResultLocations() {
		if loc.GetStats() != nil && loc.GetStats().GetNumRows() == 0 {
			continue
		}
		tkt, err := flightsql.CreateStatementQueryTicket(kflight.TicketFor(loc))
		if err != nil {
			return nil, status.Errorf(codes.Internal, "ticket: %v", err)
		}
		ep := &flight.FlightEndpoint{Ticket: &flight.Ticket{Ticket: tkt}}
		if f.s.cfg.FlightSQLResults == ResultsDirect {
			ep.Location = []*flight.Location{{Uri: "grpc+tcp://" + kflight.Addr(loc.GetExecutor())}}
		}
		info.Endpoint = append(info.Endpoint, ep)
		info.TotalRecords += int64(loc.GetStats().GetNumRows())
	}
	return info, nil
}

// recoverResult has the scheduler probe the executor of result partition
// loc (of ticket t) and, if it is lost, compute the partition again; it
// returns the partition's new location.
func (f *sqlServer) recoverResult(ctx context.Context, t *kapotv1.ShuffleTicket, loc *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error) {
	f.s.unreachable(ctx, t.GetJobId(), []string{loc.GetExecutor().GetId()})
	js, err := f.waitResults(ctx, t.GetJobId())
	if err != nil {
		return nil, err
	}
	return resultLocation(js, t)
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
func (f *sqlServer) waitResults(ctx context.Context, id string) (*kapotv1.GetJobStatusResponse, error) {
	for {
		js, err := f.s.status(id)
		if err != nil {
			return nil, err
		}
		switch js.GetState() {
		case kapotv1.JobState_JOB_STATE_SUCCESSFUL:
			return js, nil
		case kapotv1.JobState_JOB_STATE_FAILED, kapotv1.JobState_JOB_STATE_CANCELLED:
			return nil, fmt.Errorf("job %s %s: %s", id, js.GetState(), js.GetError())
		}
		if err := f.s.awaitJob(ctx, id, time.Minute); err != nil {
			return nil, err
		}
	}
}

// schemaOf plans sql and returns its result schema.
func (f *sqlServer) schemaOf(sql string) (*arrow.Schema, error) {
	st, err := planner.ParseStatement(sql)
	if err != nil {
		return nil, sqlStatus(err)
	}
	if st.Kind != planner.StmtQuery {
		return nil, status.Error(codes.InvalidArgument, "not a query")
	}
	p, err := f.s.plan(st.SQL, nil)
	if err != nil {
		return nil, err
	}
	return p.Schema, nil
}

func (f *sqlServer) inlineInfo(desc *flight.FlightDescriptor, rows inlineRows) (*flight.FlightInfo, error) {
	b, err := json.Marshal(rows)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	tkt, err := flightsql.CreateStatementQueryTicket(append(slices.Clone(rowsPrefix), b...))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "ticket: %v", err)
	}
	return &flight.FlightInfo{Schema: flight.SerializeSchema(wire.TextSchema(rows.Columns), f.mem), FlightDescriptor: desc,
		Endpoint: []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: tkt}}}, TotalRecords: int64(len(rows.Rows)), TotalBytes: -1}, nil
}

// DoGetStatement streams one endpoint: inline rows, or a result partition
// read from the executor that holds it (the proxy path).
func (f *sqlServer) DoGetStatement(ctx context.Context, tkt flightsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
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
	t, err := kflight.ParseTicket(h)
	if err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "bad statement handle: %v", err)
	}
	if err := f.s.signer.Verify(t, time.Now()); err != nil {
		return nil, nil, status.Errorf(codes.PermissionDenied, "statement handle: %v", err)
	}
	js, err := f.s.status(t.GetJobId())
	if err != nil {
		return nil, nil, status.Errorf(codes.NotFound, "job %s: %v (results are kept for --finished-job-data-clean-up-delay-seconds)", t.GetJobId(), err)
	}
	loc, err := resultLocation(js, t)
	if err != nil {
		return nil, nil, err
	}
	schema, err := wire.SchemaFromProto(js.GetResultSchema())
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "result schema: %v", err)
	}
	// The partition is read as every client reads results (client.Rows):
	// if its executor is gone, the scheduler recomputes it and it is read
	// from its new place.
	recover := func(ctx context.Context, loc *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error) {
		return f.recoverResult(ctx, t, loc)
	}
	rows := client.NewRows(ctx, f.fetch, f.mem, t.GetJobId(), schema, []*kapotv1.PartitionLocation{loc}, recover)
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
		for ok := true; ok; ok = rows.Next() {
			b := rows.RecordBatch()
			b.Retain()
			select {
			case ch <- flight.StreamChunk{Data: b}:
			case <-ctx.Done():
				b.Release()
				return
			}
		}
		if err := rows.Err(); err != nil {
			select {
			case ch <- flight.StreamChunk{Err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return schema, ch, nil
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
func (f *sqlServer) CancelFlightInfo(_ context.Context, req *flight.CancelFlightInfoRequest) (flight.CancelFlightInfoResult, error) {
	st := flight.CancelStatusNotCancellable
	for _, ep := range req.GetInfo().GetEndpoint() {
		h, ok := kflight.SQLTicketHandle(ep.GetTicket().GetTicket())
		if !ok {
			continue
		}
		t, err := kflight.ParseTicket(h)
		if err != nil || f.s.signer.Verify(t, time.Now()) != nil {
			continue
		}
		if ok, err := f.s.cancel(t.GetJobId()); err == nil && ok {
			st = flight.CancelStatusCancelled
		}
	}
	return flight.CancelFlightInfoResult{Status: st}, nil
}

// CreatePreparedStatement keeps the statement; parameters ($1, $2, … or ?)
// are bound by DoPutPreparedStatementQuery and substituted as literals.
func (f *sqlServer) CreatePreparedStatement(ctx context.Context, req flightsql.ActionCreatePreparedStatementRequest) (flightsql.ActionCreatePreparedStatementResult, error) {
	n, err := countParams(req.GetQuery())
	if err != nil {
		return flightsql.ActionCreatePreparedStatementResult{}, status.Error(codes.InvalidArgument, err.Error())
	}
	var res flightsql.ActionCreatePreparedStatementResult
	if n == 0 {
		if schema, err := f.schemaOf(req.GetQuery()); err == nil {
			res.DatasetSchema = schema
		}
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return res, status.Errorf(codes.Internal, "%v", err)
	}
	res.Handle = []byte(hex.EncodeToString(id[:]))
	f.mu.Lock()
	f.prepared[string(res.Handle)] = &preparedStmt{sql: req.GetQuery()}
	f.mu.Unlock()
	return res, nil
}

// ClosePreparedStatement forgets a prepared statement.
func (f *sqlServer) ClosePreparedStatement(_ context.Context, req flightsql.ActionClosePreparedStatementRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.prepared, string(req.GetPreparedStatementHandle()))
	return nil
}

func (f *sqlServer) preparedSQL(handle []byte) (string, error) {
	f.mu.Lock()
	p, ok := f.prepared[string(handle)]
	var sql string
	var params []string
	if ok {
		sql, params = p.sql, slices.Clone(p.params)
	}
	f.mu.Unlock()
	if !ok {
		return "", status.Error(codes.NotFound, "unknown prepared statement (closed, or made by another scheduler)")
	}
	bound, err := bindParams(sql, params)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	return bound, nil
}

// DoPutPreparedStatementQuery binds parameters: the first row of the
// batch, one column per placeholder.
func (f *sqlServer) DoPutPreparedStatementQuery(_ context.Context, cmd flightsql.PreparedStatementQuery, rdr flight.MessageReader, _ flight.MetadataWriter) ([]byte, error) {
	var lits []string
	for rdr.Next() {
		b := rdr.RecordBatch()
		if b.NumRows() == 0 {
			continue
		}
		if lits != nil || b.NumRows() > 1 {
			return nil, status.Error(codes.InvalidArgument, "bind one row of parameters per execution")
		}
		for c := 0; c < int(b.NumCols()); c++ {
			lit, err := sqlLiteral(b.Column(c), 0)
			if err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "parameter %d: %v", c+1, err)
			}
			lits = append(lits, lit)
		}
	}
	if err := rdr.Err(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "read parameters: %v", err)
	}
	h := cmd.GetPreparedStatementHandle()
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.prepared[string(h)]
	if !ok {
		return nil, status.Error(codes.NotFound, "unknown prepared statement")
	}
	p.params = lits
	return h, nil
}

// GetFlightInfoPreparedStatement runs a prepared statement with its bound
// parameters.
func (f *sqlServer) GetFlightInfoPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	sql, err := f.preparedSQL(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	return f.execute(ctx, sql, desc)
}

// GetSchemaPreparedStatement plans a prepared statement.
func (f *sqlServer) GetSchemaPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	sql, err := f.preparedSQL(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	schema, err := f.schemaOf(sql)
	if err != nil {
		return nil, err
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(schema, f.mem)}, nil
}

// DoPutCommandStatementUpdate runs a statement that returns no rows
// (CREATE EXTERNAL TABLE); it reports 0 rows affected.
func (f *sqlServer) DoPutCommandStatementUpdate(ctx context.Context, cmd flightsql.StatementUpdate) (int64, error) {
	st, err := planner.ParseStatement(cmd.GetQuery())
	if err != nil {
		return 0, sqlStatus(err)
	}
	if st.Kind != planner.StmtCreateExternalTable {
		return 0, status.Error(codes.InvalidArgument, "only CREATE EXTERNAL TABLE runs as an update; run queries with Execute")
	}
	if _, err := f.execute(ctx, cmd.GetQuery(), nil); err != nil {
		return 0, err
	}
	return 0, nil
}

// DoPutPreparedStatementUpdate runs a prepared CREATE EXTERNAL TABLE.
func (f *sqlServer) DoPutPreparedStatementUpdate(ctx context.Context, cmd flightsql.PreparedStatementUpdate, _ flight.MessageReader) (int64, error) {
	sql, err := f.preparedSQL(cmd.GetPreparedStatementHandle())
	if err != nil {
		return 0, err
	}
	return f.DoPutCommandStatementUpdate(ctx, statementUpdate(sql))
}

type statementUpdate string

func (s statementUpdate) GetQuery() string         { return string(s) }
func (s statementUpdate) GetTransactionId() []byte { return nil }

// metaInfo is the FlightInfo of a metadata command: one endpoint whose
// ticket is the command itself.
func (f *sqlServer) metaInfo(desc *flight.FlightDescriptor, schema *arrow.Schema) (*flight.FlightInfo, error) {
	return &flight.FlightInfo{Schema: flight.SerializeSchema(schema, f.mem), FlightDescriptor: desc,
		Endpoint: []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: desc.GetCmd()}}}, TotalRecords: -1, TotalBytes: -1}, nil
}

// GetFlightInfoCatalogs lists the one catalog.
func (f *sqlServer) GetFlightInfoCatalogs(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return f.metaInfo(desc, schema_ref.Catalogs)
}

// DoGetCatalogs streams the one catalog.
func (f *sqlServer) DoGetCatalogs(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return f.stringRows(schema_ref.Catalogs, [][]string{{sqlCatalog}})
}

// GetFlightInfoSchemas lists the one schema.
func (f *sqlServer) GetFlightInfoSchemas(_ context.Context, _ flightsql.GetDBSchemas, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return f.metaInfo(desc, schema_ref.DBSchemas)
}

// DoGetDBSchemas streams the schema if it passes the filters.
func (f *sqlServer) DoGetDBSchemas(_ context.Context, cmd flightsql.GetDBSchemas) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	var rows [][]string
	if catalogMatches(cmd.GetCatalog()) && likeMatches(cmd.GetDBSchemaFilterPattern(), sqlSchema) {
		rows = append(rows, []string{sqlCatalog, sqlSchema})
	}
	return f.stringRows(schema_ref.DBSchemas, rows)
}

// GetFlightInfoTables lists tables.
func (f *sqlServer) GetFlightInfoTables(_ context.Context, cmd flightsql.GetTables, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if cmd.GetIncludeSchema() {
		return f.metaInfo(desc, schema_ref.TablesWithIncludedSchema)
	}
	return f.metaInfo(desc, schema_ref.Tables)
}

// DoGetTables streams the catalog's tables that pass the filters, with
// their Arrow schemas when asked.
func (f *sqlServer) DoGetTables(_ context.Context, cmd flightsql.GetTables) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	schema := schema_ref.Tables
	if cmd.GetIncludeSchema() {
		schema = schema_ref.TablesWithIncludedSchema
	}
	b := array.NewRecordBuilder(f.mem, schema)
	defer b.Release()
	types := cmd.GetTableTypes()
	if catalogMatches(cmd.GetCatalog()) && likeMatches(cmd.GetDBSchemaFilterPattern(), sqlSchema) && (len(types) == 0 || slices.Contains(types, "TABLE")) {
		for _, name := range f.cat.Names() {
			if !likeMatches(cmd.GetTableNameFilterPattern(), name) {
				continue
			}
			t, ok := f.cat.Lookup(name)
			if !ok {
				continue
			}
			b.Field(0).(*array.StringBuilder).Append(sqlCatalog)
			b.Field(1).(*array.StringBuilder).Append(sqlSchema)
			b.Field(2).(*array.StringBuilder).Append(name)
			b.Field(3).(*array.StringBuilder).Append("TABLE")
			if cmd.GetIncludeSchema() {
				b.Field(4).(*array.BinaryBuilder).Append(flight.SerializeSchema(t.Schema, f.mem))
			}
		}
	}
	return oneBatch(schema, b.NewRecordBatch())
}

// GetFlightInfoTableTypes lists the table types.
func (f *sqlServer) GetFlightInfoTableTypes(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return f.metaInfo(desc, schema_ref.TableTypes)
}

// DoGetTableTypes streams the one table type.
func (f *sqlServer) DoGetTableTypes(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return f.stringRows(schema_ref.TableTypes, [][]string{{"TABLE"}})
}

// stringRows streams rows into a schema of string columns.
func (f *sqlServer) stringRows(schema *arrow.Schema, rows [][]string) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b, err := wire.TextBatch(f.mem, schema, rows)
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "%v", err)
	}
	return oneBatch(schema, b)
}

func catalogMatches(c *string) bool { return c == nil || *c == "" || *c == sqlCatalog }

// likeMatches applies a Flight SQL filter pattern (SQL LIKE: % and _); a
// nil pattern matches everything.
func likeMatches(pattern *string, s string) bool {
	if pattern == nil {
		return true
	}
	var re strings.Builder
	re.WriteString("^")
	for _, r := range *pattern {
		switch r {
		case '%':
			re.WriteString(".*")
		case '_':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	ok, err := regexp.MatchString(re.String(), s)
	return err == nil && ok
}
