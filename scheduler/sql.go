package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/scheduler/flightsql"
	"github.com/kapot-go/kapot/session"
	"github.com/kapot-go/kapot/warehouse"
	"github.com/kapot-go/kapot/wire"
)

// backend is the session.Backend of the cluster: the shared catalog,
// the warehouse and the state store. Its methods' errors are gRPC
// statuses.
type backend struct{ s *Scheduler }

var _ session.Backend = backend{}

func (c backend) Catalog() *catalog.Catalog { return c.s.catalog }

func (c backend) Plan(ctx context.Context, sql string, props map[string]string) (*planner.Plan, error) {
	return c.s.plan(ctx, sql, props)
}

// ExplainLogical implements session.Backend: the logical plan under the
// options and planning time Plan has.
func (c backend) ExplainLogical(ctx context.Context, sql string, props map[string]string) (string, error) {
	opts, err := c.s.planOptionsFor(props)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	ctx, cancel := c.s.planning(ctx)
	defer cancel()
	text, err := planner.ExplainLogical(ctx, c.s.catalog, sql, opts)
	if err != nil {
		return "", flightsql.SQLStatus(err)
	}
	return text, nil
}

func (c backend) CreateExternalTable(ctx context.Context, def *catalog.ExternalTable, props map[string]string, who security.Principal) (string, error) {
	return c.s.createTable(ctx, def, props, who)
}

func (c backend) Define(ctx context.Context, st *planner.Statement, who security.Principal) (string, error) {
	return c.s.ddl(ctx, st, who)
}

func (c backend) Write(ctx context.Context, st *planner.Statement, props map[string]string, who security.Principal) (*session.Query, string, error) {
	return c.s.write(ctx, st, props, who)
}

// statement answers one SQL statement over the shared catalog
// (session.Execute): a query (or EXPLAIN ANALYZE, or a write) comes back
// planned, for the caller to submit. who is the principal that owns the
// tables and views it creates (only who or an operator alters them).
// Errors are gRPC statuses.
func (s *Scheduler) statement(ctx context.Context, sql string, props map[string]string, who security.Principal) (session.Answer, error) {
	a, err := session.Execute(ctx, backend{s}, sql, props, who)
	switch {
	case err == nil:
		return a, nil
	case errors.Is(err, session.ErrUnknownTable):
		return a, status.Error(codes.NotFound, err.Error())
	}
	return a, flightsql.SQLStatus(err)
}

// plan plans a query over the shared catalog with the partitions of the
// session's properties or of the cluster, within the planning budgets:
// planning stops when ctx ends (the client went away) or after the
// cluster's planning time. Errors are gRPC statuses (ResourceExhausted
// over a budget).
func (s *Scheduler) plan(ctx context.Context, sql string, props map[string]string) (*planner.Plan, error) {
	opts, err := s.planOptionsFor(props)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	ctx, cancel := s.planning(ctx)
	defer cancel()
	p, err := planner.PlanQuery(ctx, s.catalog, sql, opts)
	if err != nil {
		return nil, flightsql.SQLStatus(err)
	}
	return p, nil
}

// planning is ctx ended once the cluster's planning time
// (--max-planning-time) is up, with planner.PlanningTimeout as its cause.
func (s *Scheduler) planning(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.MaxPlanningTime <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, s.cfg.MaxPlanningTime, planner.PlanningTimeout(s.cfg.MaxPlanningTime))
}

// createTable registers an external table in the shared catalog and saves
// its definition in the state store. Creating a table again with the same
// definition refreshes it (its files are listed again); IF NOT EXISTS
// leaves an existing table alone. Where the cluster has a secret, only an
// operator gives an existing name another definition: a table, once
// created, is never silently repointed by another client. Its files are
// listed and read under the session's properties props (kapot.s3.*), as
// executors read them.
func (s *Scheduler) createTable(ctx context.Context, d *catalog.ExternalTable, props map[string]string, who security.Principal) (string, error) {
	// check decides against the catalog as it is: an answer for IF NOT
	// EXISTS, a refusal, or on (with the owner the table keeps: a refresh
	// of the same definition keeps its owner's).
	check := func() (answer string, owner string, err error) {
		old, exists := s.catalog.Lookup(d.Name)
		if !exists {
			return "", who.Name, nil
		}
		if d.IfNotExists {
			return fmt.Sprintf("table %s exists", old.Name), "", nil
		}
		same := old.Def != nil && old.Def.SQL() == d.SQL()
		if !same && s.cfg.Security.Secrets.Enabled() && !who.Operator {
			return "", "", status.Errorf(codes.AlreadyExists, "table %s exists in the shared catalog with another definition; choose another name (only an operator, with the scheduler secret, replaces a table)", d.Name)
		}
		if same {
			return "", old.Owner, nil
		}
		return "", who.Name, nil
	}
	if answer, _, err := check(); answer != "" || err != nil {
		return answer, err
	}
	// Listing may take long: outside the lock, then checked again under it
	// (a table created meanwhile is never overwritten).
	t, err := s.catalog.Resolve(ctx, d, props)
	if err != nil {
		if errors.Is(err, objstore.ErrForbidden) {
			return "", status.Error(codes.PermissionDenied, err.Error())
		}
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	answer, owner, err := check()
	if answer != "" || err != nil {
		return answer, err
	}
	t.Owner = owner
	if err := s.catalog.Register(t); err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.saveTable(ctx, t.Name, warehouse.ExternalEntry(t.Def.SQL(), t.Owner)); err != nil {
		return "", status.Errorf(codes.Unavailable, "table %s created but not saved in the state store (it is lost at a restart): %v", t.Name, err)
	}
	s.log.Info().Str("table", t.Name).Int("files", len(t.Files)).Msg("table created")
	return fmt.Sprintf("created table %s (%d files)", t.Name, len(t.Files)), nil
}

// explainAnalyze runs job id to its end and answers with the metrics its
// stages' tasks reported, operator by operator (summed over each stage's
// tasks). If ctx ends first, the job is cancelled.
func (s *Scheduler) explainAnalyze(ctx context.Context, id string) (session.Answer, error) {
	start := time.Now()
	js, err := s.waitJob(ctx, id)
	if err != nil {
		return session.Answer{}, err
	}
	out := session.Text("plan", fmt.Sprintf("job %s, %s", id, time.Since(start).Round(time.Millisecond)))
	for _, st := range js.GetStages() {
		out.Rows = append(out.Rows, []string{fmt.Sprintf("stage %d: %d tasks", st.GetStageId(), st.GetPartitions())})
		for _, line := range strings.Split(strings.TrimRight(planner.FormatMetrics(st.GetOperatorMetrics()), "\n"), "\n") {
			out.Rows = append(out.Rows, []string{"  " + line})
		}
	}
	return out, nil
}

// waitJob waits for job id to end and returns its status; a failed or
// cancelled job is an error, and a ctx that ends first cancels the job.
// A job past cancelling (ended, or committing its write) keeps its own
// outcome, which is waited for (at most lateOutcomeWait) and returned:
// a client is never told "cancelled" of a write that committed.
func (s *Scheduler) waitJob(ctx context.Context, id string) (*kapotv1.GetJobStatusResponse, error) {
	// The waiting client (of a SQL front door, or of EXPLAIN ANALYZE) asks
	// for the job's status through this call: it is not abandoned while
	// it waits, however long the job runs (it was cancelled as abandoned
	// after --abandoned-job-timeout-seconds, though its client waited).
	s.polling(id, 1)
	defer s.polling(id, -1)
	late := false
	for {
		js, err := s.status(id)
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "job %s: %v", id, err)
		}
		switch js.GetState() {
		case kapotv1.JobState_JOB_STATE_SUCCESSFUL:
			return js, nil
		case kapotv1.JobState_JOB_STATE_FAILED:
			return nil, status.Errorf(codes.Internal, "job %s failed: %s", id, js.GetError())
		case kapotv1.JobState_JOB_STATE_CANCELLED:
			return nil, status.Errorf(codes.Canceled, "job %s cancelled: %s", id, js.GetError())
		}
		if s.stopping.Load() {
			// awaitJob answers at once while the scheduler stops: waiting on
			// would spin until the job ended, and the stop waited for this
			// call (a job no executor could run held SIGTERM off for good).
			return nil, status.Errorf(codes.Unavailable, "job %s: the scheduler is stopping", id)
		}
		if err := s.awaitJob(ctx, id, time.Minute); err != nil {
			if errors.Is(err, cluster.ErrUnknownJob) {
				continue // reported by status above
			}
			if late {
				return nil, flightsql.SQLStatus(err)
			}
			ok, cerr := s.cancel(id)
			if cerr == nil && !ok {
				wctx, stop := context.WithTimeout(context.WithoutCancel(ctx), lateOutcomeWait)
				defer stop()
				ctx, late = wctx, true
				continue
			}
			if cerr == nil {
				s.log.Info().Str("job", id).Msg("client went away, job cancelled")
			}
			return nil, flightsql.SQLStatus(ctx.Err())
		}
	}
}

// lateOutcomeWait bounds how long waitJob waits for the outcome of a job
// its client gave up on but which was past cancelling.
const lateOutcomeWait = time.Minute

// planOptionsFor are the options SQL is planned with: the session property
// kapot.shuffle.partitions, else one partition of each hash exchange per
// task slot of the live executors.
func (s *Scheduler) planOptionsFor(props map[string]string) (planner.Options, error) {
	split, err := planner.SplitRowsProperty(props)
	if err != nil {
		return planner.Options{}, err
	}
	n, err := planner.PartitionsProperty(props)
	if err != nil || n > 0 {
		return planner.Options{TargetPartitions: n, SplitRows: split, MaxPlanNodes: s.cfg.MaxPlanNodes, MaxPlanBytes: s.cfg.MaxPlanBytes}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slots := s.cl.ActiveSlots()
	return planner.Options{TargetPartitions: planner.PartitionsForSlots(slots), SplitRows: split, MaxPlanNodes: s.cfg.MaxPlanNodes, MaxPlanBytes: s.cfg.MaxPlanBytes}, nil
}

// executeSQL is the SchedulerService's SQL front door: a query becomes a
// job of the caller's session, other statements answer inline.
func (s *Scheduler) executeSQL(ctx context.Context, r *kapotv1.ExecuteSQLRequest, owner string, who security.Principal) (*kapotv1.ExecuteSQLResponse, error) {
	if id, ok := s.requested(cluster.RequestKey(owner, r.GetRequestId())); ok {
		// A retry of a statement that became a job: that job.
		s.mu.Lock()
		defer s.mu.Unlock()
		if j, ok := s.cl.Job(id); ok {
			return &kapotv1.ExecuteSQLResponse{JobId: id, Schema: j.ResultSchema}, nil
		}
	}
	a, err := s.statement(ctx, r.GetSql(), r.GetSessionProperties(), who)
	if err != nil {
		return nil, err
	}
	q := a.Query
	if q == nil {
		return inlineResponse(a), nil
	}
	schema, err := wire.SchemaToProto(q.Plan.Schema)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "result schema: %v", err)
	}
	id, err := s.submitQuery(ctx, q, owner, &kapotv1.SubmitJobRequest{JobName: q.Name(),
		SessionProperties: r.GetSessionProperties(), Detached: r.GetDetached() && !q.Analyze, RequestId: r.GetRequestId()})
	if err != nil {
		return nil, err
	}
	if q.Analyze {
		a, err := s.explainAnalyze(ctx, id)
		if err != nil {
			return nil, err
		}
		return inlineResponse(a), nil
	}
	return &kapotv1.ExecuteSQLResponse{JobId: id, Schema: schema}, nil
}

// submitQuery submits q's plan as a job of owner with req's name and
// properties: a write's commit runs when its stages are done, and the
// job reads the tables as they were when q was planned.
func (s *Scheduler) submitQuery(ctx context.Context, q *session.Query, owner string, req *kapotv1.SubmitJobRequest) (string, error) {
	if !q.Planned.IsZero() {
		ctx = context.WithValue(ctx, plannedKey{}, q.Planned)
	}
	var wj *writeJob
	if q.Write != nil {
		wj = s.writeJobFor(q.Write)
	}
	req.Plan = q.Plan.Named()
	id, err := s.submitJob(ctx, req, owner, wj)
	if err != nil {
		return "", submitStatus(err)
	}
	return id, nil
}

func inlineResponse(a session.Answer) *kapotv1.ExecuteSQLResponse {
	out := &kapotv1.ExecuteSQLResponse{Columns: a.Columns}
	for _, row := range a.Rows {
		out.Rows = append(out.Rows, &kapotv1.InlineRow{Values: row})
	}
	return out
}

// flightJobs is the scheduler as the Flight SQL service sees it.
type flightJobs struct{ s *Scheduler }

var _ flightsql.Jobs = flightJobs{}

func (f flightJobs) Statement(ctx context.Context, sql string, who security.Principal) (session.Answer, error) {
	return f.s.statement(ctx, sql, nil, who)
}

func (f flightJobs) Plan(ctx context.Context, sql string) (*planner.Plan, error) {
	return f.s.plan(ctx, sql, nil)
}

func (f flightJobs) Submit(ctx context.Context, q *session.Query) (string, error) {
	return f.s.submitQuery(ctx, q, cluster.OwnerFlightSQL, &kapotv1.SubmitJobRequest{JobName: "flight sql: " + q.Name()})
}

func (f flightJobs) ExplainAnalyze(ctx context.Context, id string) (session.Answer, error) {
	return f.s.explainAnalyze(ctx, id)
}

func (f flightJobs) Wait(ctx context.Context, id string) (*kapotv1.GetJobStatusResponse, error) {
	return f.s.waitJob(ctx, id)
}

func (f flightJobs) Status(id string) (*kapotv1.GetJobStatusResponse, error) { return f.s.status(id) }

func (f flightJobs) Await(ctx context.Context, id string, wait time.Duration) error {
	f.s.polling(id, 1)
	defer f.s.polling(id, -1)
	return f.s.awaitJob(ctx, id, wait)
}

func (f flightJobs) Unreachable(ctx context.Context, id string, executors []string) {
	f.s.unreachable(ctx, id, executors)
}

func (f flightJobs) Cancel(id string) (bool, error) { return f.s.cancel(id) }
