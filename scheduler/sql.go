package scheduler

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// statementResult is what a SQL statement gives: a planned query, to run
// as a job, or the rows of any other statement.
type statementResult struct {
	plan *planner.Plan // a query; nil for other statements
	sql  string        // the query's text
	rows inlineRows
}

// statement runs one SQL statement over the shared catalog: CREATE
// EXTERNAL TABLE, SHOW TABLES, DESCRIBE and EXPLAIN here, and plans a
// query for the caller to submit. operator callers (the scheduler secret)
// may replace a table. Errors are gRPC statuses.
func (s *Scheduler) statement(ctx context.Context, sql string, props map[string]string, operator bool) (statementResult, error) {
	st, err := s.catalog.Classify(sql)
	if err != nil {
		return statementResult{}, sqlStatus(err)
	}
	one := func(col string, rows [][]string) (statementResult, error) {
		return statementResult{rows: inlineRows{Columns: []string{col}, Rows: rows}}, nil
	}
	switch st.Kind {
	case planner.StmtCreateExternalTable:
		// The catalog is shared by every client: a table, once created,
		// is replaced only by an operator (the scheduler secret), never
		// silently repointed by another client.
		if _, exists := s.catalog.Lookup(st.Table.Name); exists && s.cfg.Security.Secrets.Enabled() && !operator {
			return statementResult{}, status.Errorf(codes.AlreadyExists, "table %s exists in the shared catalog; choose another name (only an operator, with the scheduler secret, replaces a table)", st.Table.Name)
		}
		if err := s.catalog.Register(st.Table); err != nil {
			return statementResult{}, status.Error(codes.InvalidArgument, err.Error())
		}
		if err := s.saveTable(ctx, st.Table.Name, sql); err != nil {
			return statementResult{}, status.Errorf(codes.Unavailable, "table %s created but not saved in the state store (it is lost at a restart): %v", st.Table.Name, err)
		}
		s.log.Info().Str("table", st.Table.Name).Int("files", len(st.Table.Files)).Msg("table created")
		return one("result", [][]string{{fmt.Sprintf("created table %s (%d files)", st.Table.Name, len(st.Table.Files))}})
	case planner.StmtShowTables:
		var rows [][]string
		for _, n := range s.catalog.Names() {
			rows = append(rows, []string{n})
		}
		return one("table_name", rows)
	case planner.StmtDescribe:
		cols, err := s.catalog.Describe(st.Name)
		if err != nil {
			return statementResult{}, status.Error(codes.NotFound, err.Error())
		}
		var rows [][]string
		for _, c := range cols {
			rows = append(rows, c[:])
		}
		return statementResult{rows: inlineRows{Columns: []string{"column_name", "data_type", "is_nullable"}, Rows: rows}}, nil
	}
	opts, err := s.planOptionsFor(props)
	if err != nil {
		return statementResult{}, status.Error(codes.InvalidArgument, err.Error())
	}
	p, err := planner.PlanQuery(s.catalog, st.SQL, opts)
	if err != nil {
		return statementResult{}, sqlStatus(err)
	}
	if st.Kind == planner.StmtExplain {
		text, err := planner.Explain(p)
		if err != nil {
			return statementResult{}, sqlStatus(err)
		}
		var rows [][]string
		for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			rows = append(rows, []string{l})
		}
		return one("plan", rows)
	}
	return statementResult{plan: p, sql: st.SQL}, nil
}

// planOptionsFor are the options SQL is planned with: the session property
// kapot.shuffle.partitions, else one partition of each hash exchange per
// task slot of the live executors.
func (s *Scheduler) planOptionsFor(props map[string]string) (planner.Options, error) {
	n, err := planner.PartitionsProperty(props)
	if err != nil || n > 0 {
		return planner.Options{TargetPartitions: n}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slots := 0
	for _, e := range s.executors {
		if e.state == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE && !e.suspect {
			slots += int(e.reg.GetResources().GetTaskSlots())
		}
	}
	return planner.Options{TargetPartitions: planner.PartitionsForSlots(slots)}, nil
}

// executeSQL is the SchedulerService's SQL front door: a query becomes a
// job of the caller's session, other statements answer inline.
func (s *Scheduler) executeSQL(ctx context.Context, r *kapotv1.ExecuteSQLRequest, owner string, operator bool) (*kapotv1.ExecuteSQLResponse, error) {
	res, err := s.statement(ctx, r.GetSql(), r.GetSessionProperties(), operator)
	if err != nil {
		return nil, err
	}
	if res.plan == nil {
		out := &kapotv1.ExecuteSQLResponse{Columns: res.rows.Columns}
		for _, row := range res.rows.Rows {
			out.Rows = append(out.Rows, &kapotv1.InlineRow{Values: row})
		}
		return out, nil
	}
	id, err := s.submit(ctx, &kapotv1.SubmitJobRequest{Plan: res.plan.Named(), JobName: planner.JobName(res.sql),
		SessionProperties: r.GetSessionProperties(), Detached: r.GetDetached()}, owner)
	if err != nil {
		return nil, submitStatus(err)
	}
	return &kapotv1.ExecuteSQLResponse{JobId: id}, nil
}
