package scheduler

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/store"
	"github.com/kapot-go/kapot/session"
	"github.com/kapot-go/kapot/warehouse"
)

// Writes: CREATE TABLE, CREATE TABLE AS, INSERT, COPY, DROP and views
// (warehouse.Tables does what they do to the catalog).
//
// A write is a job whose writer stage writes files (engine.Writer) under a
// staging directory private to the write, and whose result is the number
// of rows written. When its last stage completes, the scheduler commits
// the files of the task launches it accepted (never those of a failed
// attempt or a losing speculative copy): they move into place and a
// managed table's new manifest is written, or, for COPY, they move under
// the target; only then does the job succeed. A failed or cancelled job
// commits nothing, and its staging directory goes once no task of it runs
// any more: no reader ever sees part of a write. Commits and catalog
// changes are ordered by writeMu.

// tablesStatus is the gRPC status of a warehouse.Tables error: by its
// class (package errs), a target that cannot be written as named
// InvalidArgument, no warehouse FailedPrecondition, and an error of no
// class Unavailable (a store failed; a retry may succeed).
func tablesStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, warehouse.ErrNoWarehouse):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, fs.ErrExist), errors.Is(err, syscall.ENAMETOOLONG), errors.Is(err, syscall.ELOOP):
		// A target that cannot be written as named: a retry cannot help.
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, objstore.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	}
	return errs.Status(err, codes.Unavailable)
}

// ddl runs who's CREATE TABLE, DROP TABLE, CREATE VIEW and DROP VIEW.
// Where the cluster has a secret, only an operator drops an external
// table, and only its owner or an operator a managed table or a view
// (warehouse.Tables checks).
func (s *Scheduler) ddl(ctx context.Context, st *planner.Statement, who security.Principal) (string, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if (st.Kind == planner.StmtDropTable || st.Kind == planner.StmtCreateTable && st.Write.OrReplace) && s.cfg.Security.Secrets.Enabled() && !who.Operator {
		if t, ok := s.catalog.Lookup(st.Write.Name); ok && !t.Managed {
			return "", status.Errorf(codes.PermissionDenied, "%s: only an operator drops or replaces an external table of the shared catalog", t.Name)
		}
	}
	answer, err := s.tables.Define(ctx, st, who, func(sql string) error {
		_, err := s.plan(ctx, sql, nil)
		return err
	})
	if err != nil {
		return "", tablesStatus(err)
	}
	return answer, nil
}

// write plans CREATE TABLE AS, INSERT and COPY: a job that writes, whose
// commit runs when its stages are done and whose result is the number of
// rows written. Where the cluster has a secret, only an operator replaces
// or writes into an external table, and only its owner or an operator a
// managed table (warehouse.Tables checks).
func (s *Scheduler) write(ctx context.Context, st *planner.Statement, props map[string]string, who security.Principal) (*session.Query, string, error) {
	operator := who.Operator
	opts, err := s.planOptionsFor(props)
	if err != nil {
		return nil, "", status.Error(codes.InvalidArgument, err.Error())
	}
	if s.cfg.Security.Secrets.Enabled() && !operator {
		if t, ok := s.catalog.Lookup(st.Write.Name); ok && !t.Managed && (st.Kind == planner.StmtInsert || st.Kind == planner.StmtCreateTableAs && st.Write.OrReplace) {
			return nil, "", status.Errorf(codes.PermissionDenied, "%s is an external table of the shared catalog: only an operator writes into or replaces it", t.Name)
		}
	}
	if st.Kind == planner.StmtCopy && s.cfg.Security.Secrets.Enabled() && !operator && !s.store.Restricted() {
		return nil, "", status.Error(codes.PermissionDenied, "COPY writes files on the cluster's hosts: this secured scheduler needs --allowed-data-roots (the places clients may read and write), or the scheduler secret")
	}
	id := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	s.writeMu.Lock()
	pctx, cancel := s.planning(ctx)
	w, answer, err := s.tables.Prepare(pctx, st, who, id, props, opts, true)
	cancel()
	s.writeMu.Unlock()
	if err != nil {
		return nil, "", tablesStatus(err)
	}
	if w == nil {
		return nil, answer, nil
	}
	count, err := countPlan(w.Plan, w.Staging)
	if err != nil {
		if errors.Is(err, engine.ErrInvalidPlan) || errors.Is(err, engine.ErrNotSupported) {
			return nil, "", status.Errorf(codes.InvalidArgument, "write plan: %v", err)
		}
		return nil, "", status.Errorf(codes.Internal, "write plan: %v", err)
	}
	return &session.Query{Plan: count, Write: w}, "", nil
}

// writeJobFor is the commit of write w, run when its job's stages are
// done.
func (s *Scheduler) writeJobFor(w *warehouse.Write) *writeJob {
	wj := &writeJob{w: w}
	wj.commit = func(ctx context.Context, files []*kapotv1.WrittenFile) error {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		err := s.tables.Commit(ctx, w, files, func() {
			// Committed: from here a restart keeps the table's directory.
			s.mu.Lock()
			w.Cleanup = w.Staging
			s.mu.Unlock()
			if err := s.state.Put(ctx, store.Writes, w.ID, []byte(w.Staging)); err != nil {
				s.log.Warn().Err(err).Str("write", w.ID).Msg("write not updated in the state store")
			}
		})
		if err == nil {
			s.log.Info().Str("write", w.ID).Int("files", len(files)).Int64("rows", warehouse.Rows(files)).Msg("write committed")
		}
		return err
	}
	return wj
}

// warehouseRoot is the warehouse's location ("" without one), which
// executors learn at registration.
func (s *Scheduler) warehouseRoot() string {
	if s.warehouse == nil {
		return ""
	}
	return s.warehouse.Root
}

// writeJob is a write's commit, carried by its job (cluster.Write.Of).
type writeJob struct {
	w      *warehouse.Write
	commit func(ctx context.Context, files []*kapotv1.WrittenFile) error
}

func countPlan(wp *planner.WritePlan, staging string) (*planner.Plan, error) {
	col := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: 0}}}
	gather := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Exchange{Exchange: &kapotv1.ExchangeNode{Input: wp.Node(staging),
		Partitioning: &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Single{Single: &kapotv1.SinglePartitioning{}}}}}}
	sum := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{Input: gather,
		Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, Expr: col, Name: "count"}}}}}
	root := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{Input: sum,
		Exprs: []*kapotv1.PhysicalExprNode{{Expr: &kapotv1.PhysicalExprNode_Cast{Cast: &kapotv1.CastExpr{Expr: col, Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}}}}}, Names: []string{"count"}}}}
	p, err := engine.FromProto(root)
	if err != nil {
		return nil, err
	}
	return &planner.Plan{Root: root, Columns: []string{"count"}, Schema: p.Schema()}, nil
}

func (s *Scheduler) cleanStaging(done <-chan struct{}, job string, wj *writeJob) {
	s.spawn(func(ctx context.Context) {
		select {
		case <-done:
		case <-ctx.Done():
			return // the next start removes it
		}
		s.mu.Lock()
		staging, id, props := wj.w.Cleanup, wj.w.ID, wj.w.Props
		s.mu.Unlock()
		for s.jobRunsTasks(job) {
			select {
			case <-ctx.Done():
				return // the next start removes it
			case <-time.After(100 * time.Millisecond):
			}
		}
		st, err := s.store.Writer(ctx, staging, props)
		if err == nil {
			err = st.RemoveAll(ctx, staging)
		}
		if err != nil {
			s.log.Warn().Err(err).Str("staging", staging).Msg("staged files of a write not removed")
			return
		}
		if err := s.state.Delete(ctx, store.Writes, id); err != nil {
			s.log.Warn().Err(err).Str("write", id).Msg("write not forgotten in the state store")
		}
	})
}

// jobRunsTasks reports whether any launch of job may still be running.
func (s *Scheduler) jobRunsTasks(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.cl.Job(id)
	return ok && j.RunsTasks()
}

// sweepWrites removes the staging directories of the writes a previous
// run of this scheduler left in flight.
func (s *Scheduler) sweepWrites(ctx context.Context) {
	kvs, err := s.state.List(ctx, store.Writes)
	if err != nil {
		s.log.Warn().Err(err).Msg("writes in flight not listed")
		return
	}
	for _, kv := range kvs {
		staging := string(kv.Value)
		st, err := s.store.Writer(ctx, staging, nil)
		if err == nil {
			err = st.RemoveAll(ctx, staging)
		}
		if err != nil {
			s.log.Warn().Err(err).Str("staging", staging).Msg("staged files of an interrupted write not removed")
			continue
		}
		_ = s.state.Delete(ctx, store.Writes, kv.Key)
		s.log.Info().Str("staging", staging).Msg("staged files of an interrupted write removed")
	}
}
