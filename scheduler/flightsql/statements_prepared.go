package flightsql

import (
	"context"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/flight"
	fsql "github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/planner"
)

// Prepared statements and updates: handles, parameters bound as typed
// literals, writes answered with their row counts.

// CreatePreparedStatement keeps the statement; parameters ($1, $2, … or ?)
// are bound by DoPutPreparedStatementQuery and substituted as literals.
func (f *Server) CreatePreparedStatement(ctx context.Context, req fsql.ActionCreatePreparedStatementRequest) (fsql.ActionCreatePreparedStatementResult, error) {
	if l := len(req.GetQuery()); l > planner.MaxSQLBytes {
		// It could never run: refused before it is kept.
		return fsql.ActionCreatePreparedStatementResult{}, status.Errorf(codes.InvalidArgument, "SQL text is %d bytes, more than the %d accepted", l, planner.MaxSQLBytes)
	}
	n, err := countParams(req.GetQuery())
	if err != nil {
		return fsql.ActionCreatePreparedStatementResult{}, status.Error(codes.InvalidArgument, err.Error())
	}
	var res fsql.ActionCreatePreparedStatementResult
	// Kept (within the owner's limits) before it is planned.
	h, err := f.prepared.add(owner(ctx), connOf(ctx), req.GetQuery(), f.now())
	if err != nil {
		return res, err
	}
	res.Handle = []byte(h)
	if n == 0 {
		if schema, err := f.schemaOf(ctx, req.GetQuery()); err == nil {
			res.DatasetSchema = schema
		}
	}
	return res, nil
}

// ClosePreparedStatement ends a prepared statement of the caller's.
func (f *Server) ClosePreparedStatement(ctx context.Context, req fsql.ActionClosePreparedStatementRequest) error {
	return f.prepared.close(owner(ctx), string(req.GetPreparedStatementHandle()))
}

// preparedText is a prepared statement's text and bound parameters.
func (f *Server) preparedText(ctx context.Context, handle []byte) (string, []string, error) {
	return f.prepared.get(owner(ctx), string(handle), f.now())
}

func (f *Server) preparedSQL(ctx context.Context, handle []byte) (string, error) {
	sql, params, err := f.preparedText(ctx, handle)
	if err != nil {
		return "", err
	}
	bound, err := bindParams(sql, params)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	return bound, nil
}

// paramRows reads rows of parameters as SQL literals, one column per
// placeholder.
func paramRows(rdr flight.MessageReader) ([][]string, error) {
	var rows [][]string
	for rdr.Next() {
		b := rdr.RecordBatch()
		for r := 0; r < int(b.NumRows()); r++ {
			lits := make([]string, b.NumCols())
			for c := range lits {
				lit, err := sqlLiteral(b.Column(c), r)
				if err != nil {
					return nil, status.Errorf(codes.InvalidArgument, "parameter %d: %v", c+1, err)
				}
				lits[c] = lit
			}
			rows = append(rows, lits)
			if len(rows) > maxParamRows {
				return nil, status.Errorf(codes.InvalidArgument, "more than %d rows of parameters in one execution", maxParamRows)
			}
		}
	}
	if err := rdr.Err(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "read parameters: %v", err)
	}
	return rows, nil
}

// maxParamRows bounds the rows of parameters of one update (each row runs
// the statement once).
const maxParamRows = 10_000

// DoPutPreparedStatementQuery binds parameters: one row, one column per
// placeholder.
func (f *Server) DoPutPreparedStatementQuery(ctx context.Context, cmd fsql.PreparedStatementQuery, rdr flight.MessageReader, _ flight.MetadataWriter) ([]byte, error) {
	rows, err := paramRows(rdr)
	if err != nil {
		return nil, err
	}
	if len(rows) > 1 {
		return nil, status.Error(codes.InvalidArgument, "bind one row of parameters per execution")
	}
	var lits []string
	if len(rows) == 1 {
		lits = rows[0]
	}
	h := cmd.GetPreparedStatementHandle()
	if err := f.prepared.bind(owner(ctx), string(h), lits, f.now()); err != nil {
		return nil, err
	}
	return h, nil
}

// GetFlightInfoPreparedStatement runs a prepared statement with its bound
// parameters.
func (f *Server) GetFlightInfoPreparedStatement(ctx context.Context, cmd fsql.PreparedStatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	sql, err := f.preparedSQL(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	return f.execute(ctx, sql, desc)
}

// GetSchemaPreparedStatement plans a prepared statement.
func (f *Server) GetSchemaPreparedStatement(ctx context.Context, cmd fsql.PreparedStatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	sql, err := f.preparedSQL(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	schema, err := f.schemaOf(ctx, sql)
	if err != nil {
		return nil, err
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(schema, f.mem)}, nil
}

// DoPutCommandStatementUpdate runs a statement that returns no rows:
// INSERT, CREATE TABLE [AS], COPY (which answer the number of rows they
// wrote), DROP, views and CREATE EXTERNAL TABLE (0 rows).
func (f *Server) DoPutCommandStatementUpdate(ctx context.Context, cmd fsql.StatementUpdate) (int64, error) {
	st, err := planner.ParseStatement(cmd.GetQuery())
	if err != nil {
		return 0, SQLStatus(err)
	}
	if st.Kind == planner.StmtQuery || st.Kind == planner.StmtExplain {
		return 0, status.Error(codes.InvalidArgument, "a query runs with Execute, not as an update")
	}
	res, err := f.jobs.Statement(ctx, cmd.GetQuery(), PrincipalOf(ctx))
	if err != nil {
		return 0, err
	}
	if res.Query != nil && res.Query.Write != nil {
		id, err := f.jobs.Submit(ctx, res.Query)
		if err != nil {
			return 0, err
		}
		js, err := f.jobs.Wait(ctx, id)
		if err != nil {
			return 0, err
		}
		return js.GetRowsWritten(), nil
	}
	if res.Query != nil {
		return 0, status.Error(codes.InvalidArgument, "a query runs with Execute, not as an update")
	}
	if len(res.Columns) == 1 && res.Columns[0] == "count" && len(res.Rows) == 1 {
		n, err := strconv.ParseInt(res.Rows[0][0], 10, 64)
		if err != nil {
			return 0, status.Errorf(codes.Internal, "row count %q: %v", res.Rows[0][0], err)
		}
		return n, nil
	}
	return 0, nil
}

// DoPutPreparedStatementUpdate runs a prepared update (an INSERT with
// parameters, …) once per row of parameters it is sent (once without
// parameters), and answers the rows written in all.
func (f *Server) DoPutPreparedStatementUpdate(ctx context.Context, cmd fsql.PreparedStatementUpdate, rdr flight.MessageReader) (int64, error) {
	text, params, err := f.preparedText(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return 0, err
	}
	rows, err := paramRows(rdr)
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		rows = [][]string{params}
	}
	var total int64
	for _, r := range rows {
		bound, err := bindParams(text, r)
		if err != nil {
			return total, status.Error(codes.InvalidArgument, err.Error())
		}
		n, err := f.DoPutCommandStatementUpdate(ctx, statementUpdate(bound))
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

type statementUpdate string

func (s statementUpdate) GetQuery() string         { return string(s) }
func (s statementUpdate) GetTransactionId() []byte { return nil }

// maxEcho is the largest descriptor a FlightInfo echoes back.
const maxEcho = 64 << 10
