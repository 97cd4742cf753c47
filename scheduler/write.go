package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/flightsql"
	"github.com/kapot-go/kapot/scheduler/store"
	"github.com/kapot-go/kapot/warehouse"
)

// Writes: CREATE TABLE, CREATE TABLE AS, INSERT, COPY, DROP and views.
//
// A write is a job whose final stage writes files (engine.Writer) under a
// staging directory private to the write; the statement waits for the
// job, then commits: the files of the task launches the scheduler accepted
// (never those of a failed attempt or a losing speculative copy) move into
// place and a managed table's new manifest is written, or, for COPY, the
// files move under the target. A failed or cancelled job, or a client that
// went away, removes the staging directory: no reader ever sees part of a
// write. Commits and catalog changes are ordered by writeMu.

// managedRef is what the state store holds for a managed table.
type managedRef struct {
	Managed string `json:"managed"` // the table's directory
}

// ddl runs CREATE TABLE, DROP TABLE, CREATE VIEW and DROP VIEW.
func (s *Scheduler) ddl(ctx context.Context, st *planner.Statement, operator bool) (statementResult, error) {
	w := st.Write
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	switch st.Kind {
	case planner.StmtCreateTable:
		if res, done, err := s.replaceable(ctx, w, operator); done || err != nil {
			return res, err
		}
		wh, err := s.needWarehouse()
		if err != nil {
			return statementResult{}, err
		}
		dir := wh.NewTableDir(w.Name)
		m, err := wh.Create(ctx, dir, w.Name, planner.SchemaOf(w.Columns), "create", nil)
		if err != nil {
			return statementResult{}, status.Errorf(codes.Unavailable, "CREATE TABLE %s: %v", w.Name, err)
		}
		if err := s.registerManaged(ctx, w.Name, dir, m); err != nil {
			return statementResult{}, err
		}
		return oneColumn("result", fmt.Sprintf("created table %s", w.Name)), nil
	case planner.StmtDropTable:
		t, ok := s.catalog.Lookup(w.Name)
		if !ok {
			if w.IfExists {
				return oneColumn("result", fmt.Sprintf("table %s does not exist", w.Name)), nil
			}
			return statementResult{}, status.Errorf(codes.NotFound, "DROP TABLE: table %q does not exist", w.Name)
		}
		if s.cfg.Security.Secrets.Enabled() && !operator && !t.Managed {
			return statementResult{}, status.Errorf(codes.PermissionDenied, "DROP TABLE %s: only an operator drops an external table of the shared catalog", w.Name)
		}
		if err := s.dropTable(ctx, t); err != nil {
			return statementResult{}, err
		}
		return oneColumn("result", fmt.Sprintf("dropped table %s", w.Name)), nil
	case planner.StmtCreateView:
		if _, ok := s.catalog.Lookup(w.Name); ok {
			return statementResult{}, status.Errorf(codes.AlreadyExists, "CREATE VIEW: %q is a table", w.Name)
		}
		if _, ok := s.catalog.View(w.Name); ok && !w.OrReplace {
			return statementResult{}, status.Errorf(codes.AlreadyExists, "view %q exists (CREATE OR REPLACE VIEW replaces it)", w.Name)
		}
		// The view's query must plan now (its tables exist, its SQL is
		// supported); it is bound afresh wherever the view is named.
		if _, err := s.plan(w.ViewSQL, nil); err != nil {
			return statementResult{}, err
		}
		if err := s.catalog.RegisterView(w.Name, w.ViewSQL); err != nil {
			return statementResult{}, status.Error(codes.AlreadyExists, err.Error())
		}
		if err := s.saveTable(ctx, strings.ToLower(w.Name), viewSQL(w.Name, w.ViewSQL)); err != nil {
			return statementResult{}, status.Errorf(codes.Unavailable, "view %s created but not saved in the state store: %v", w.Name, err)
		}
		return oneColumn("result", fmt.Sprintf("created view %s", w.Name)), nil
	case planner.StmtDropView:
		if !s.catalog.DropView(w.Name) {
			if w.IfExists {
				return oneColumn("result", fmt.Sprintf("view %s does not exist", w.Name)), nil
			}
			return statementResult{}, status.Errorf(codes.NotFound, "DROP VIEW: view %q does not exist", w.Name)
		}
		if err := s.state.Delete(ctx, store.Tables, strings.ToLower(w.Name)); err != nil {
			return statementResult{}, status.Errorf(codes.Unavailable, "view %s dropped but not from the state store: %v", w.Name, err)
		}
		return oneColumn("result", fmt.Sprintf("dropped view %s", w.Name)), nil
	}
	return statementResult{}, status.Error(codes.Internal, "not a definition statement")
}

func viewSQL(name, query string) string { return "CREATE VIEW " + quoteName(name) + " AS " + query }

func quoteName(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// replaceable handles a CREATE TABLE of a name that exists: IF NOT EXISTS
// keeps it (done), OR REPLACE goes on (the table is replaced at commit),
// anything else is an error. With writeMu held.
func (s *Scheduler) replaceable(ctx context.Context, w *planner.WriteStmt, operator bool) (statementResult, bool, error) {
	if _, ok := s.catalog.View(w.Name); ok {
		return statementResult{}, true, status.Errorf(codes.AlreadyExists, "%q is a view", w.Name)
	}
	t, ok := s.catalog.Lookup(w.Name)
	switch {
	case !ok:
		return statementResult{}, false, nil
	case w.IfNotExists:
		return oneColumn("result", fmt.Sprintf("table %s exists", w.Name)), true, nil
	case !w.OrReplace:
		return statementResult{}, true, status.Errorf(codes.AlreadyExists, "table %q exists (CREATE OR REPLACE TABLE replaces it, INSERT INTO adds rows)", w.Name)
	case !t.Managed && s.cfg.Security.Secrets.Enabled() && !operator:
		return statementResult{}, true, status.Errorf(codes.PermissionDenied, "table %s is an external table of the shared catalog: only an operator replaces it", w.Name)
	}
	return statementResult{}, false, nil
}

func (s *Scheduler) needWarehouse() (*warehouse.Warehouse, error) {
	if s.warehouse == nil {
		return nil, status.Error(codes.FailedPrecondition, "this scheduler has no warehouse for managed tables: start it with --warehouse DIR|s3://bucket/prefix or --state-dir")
	}
	return s.warehouse, nil
}

// registerManaged puts a managed table's version m in the catalog and its
// directory in the state store. With writeMu held.
func (s *Scheduler) registerManaged(ctx context.Context, name, dir string, m *warehouse.Manifest) error {
	t, err := s.managedTable(ctx, name, dir, m)
	if err != nil {
		return status.Errorf(codes.Internal, "table %s: %v", name, err)
	}
	old, had := s.catalog.Lookup(name)
	s.catalog.Drop(name)
	if err := s.catalog.Register(t); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	ref, _ := json.Marshal(managedRef{Managed: dir})
	if err := s.saveTable(ctx, strings.ToLower(name), string(ref)); err != nil {
		return status.Errorf(codes.Unavailable, "table %s written but not saved in the state store (it is lost at a restart): %v", name, err)
	}
	if had && old.Managed && old.Dir != dir {
		// Replaced: the old table's files go.
		if err := s.warehouse.Drop(ctx, old.Dir); err != nil {
			s.log.Warn().Err(err).Str("table", name).Str("dir", old.Dir).Msg("files of a replaced table not removed")
		}
	}
	return nil
}

// managedTable is the catalog's view of a managed table's version.
func (s *Scheduler) managedTable(ctx context.Context, name, dir string, m *warehouse.Manifest) (*planner.Table, error) {
	schema, err := m.ArrowSchema()
	if err != nil {
		return nil, err
	}
	t := &planner.Table{Name: name, Format: "parquet", Schema: schema}
	if files := m.Locations(dir); len(files) > 0 {
		// Row counts and statistics from the files' footers.
		if t, err = s.catalog.ParquetTable(ctx, name, files); err != nil {
			return nil, err
		}
		t.Schema = schema
	}
	t.Managed, t.Dir = true, dir
	return t, nil
}

// dropTable removes a table from the catalog and the state store, and a
// managed table's files. With writeMu held.
func (s *Scheduler) dropTable(ctx context.Context, t *planner.Table) error {
	s.catalog.Drop(t.Name)
	if err := s.state.Delete(ctx, store.Tables, strings.ToLower(t.Name)); err != nil {
		return status.Errorf(codes.Unavailable, "table %s dropped but not from the state store: %v", t.Name, err)
	}
	if t.Managed && s.warehouse != nil {
		if err := s.warehouse.Drop(ctx, t.Dir); err != nil {
			s.log.Warn().Err(err).Str("table", t.Name).Msg("files of a dropped table not removed")
		}
	}
	return nil
}

// loadManaged restores a managed table from its directory's newest
// manifest.
func (s *Scheduler) loadManaged(ctx context.Context, name string, ref managedRef) error {
	if s.warehouse == nil {
		return errors.New("managed table, and this scheduler has no warehouse (--warehouse)")
	}
	m, err := s.warehouse.Current(ctx, ref.Managed)
	if err != nil {
		return err
	}
	t, err := s.managedTable(ctx, name, ref.Managed, m)
	if err != nil {
		return err
	}
	return s.catalog.Register(t)
}

// write plans CREATE TABLE AS, INSERT and COPY: a job that writes, whose
// commit (commitWrite) runs when its stages are done and whose result is
// the number of rows written.
func (s *Scheduler) write(ctx context.Context, st *planner.Statement, props map[string]string, operator bool) (statementResult, error) {
	w := st.Write
	id := uuid.NewString()[:13]
	id = strings.ReplaceAll(id, "-", "")
	opts, err := s.planOptionsFor(props)
	if err != nil {
		return statementResult{}, status.Error(codes.InvalidArgument, err.Error())
	}
	var (
		target  *planner.Table
		dir     string // the managed table's directory
		staging string
	)
	wh := s.warehouse
	_ = wh
	switch st.Kind {
	case planner.StmtCreateTableAs:
		s.writeMu.Lock()
		res, done, err := s.replaceable(ctx, w, operator)
		s.writeMu.Unlock()
		if done || err != nil {
			return res, err
		}
		if wh, err = s.needWarehouse(); err != nil {
			return statementResult{}, err
		}
		dir = wh.NewTableDir(w.Name)
		staging = warehouse.StagingDir(dir, id)
	case planner.StmtInsert:
		t, ok := s.catalog.Lookup(w.Name)
		if !ok {
			if _, view := s.catalog.View(w.Name); view {
				return statementResult{}, status.Errorf(codes.InvalidArgument, "INSERT INTO %s: a view is not written to", w.Name)
			}
			return statementResult{}, status.Errorf(codes.NotFound, "INSERT INTO: table %q does not exist", w.Name)
		}
		target = t
		if t.Managed {
			dir, staging = t.Dir, warehouse.StagingDir(t.Dir, id)
			break
		}
		if s.cfg.Security.Secrets.Enabled() && !operator {
			return statementResult{}, status.Errorf(codes.PermissionDenied, "INSERT INTO %s: only an operator writes into an external table of the shared catalog", w.Name)
		}
		if t.Format != "parquet" && t.Format != "csv" || t.Def == nil {
			return statementResult{}, status.Errorf(codes.InvalidArgument, "INSERT INTO %s: not supported yet: writing this table", w.Name)
		}
		if !isDir(t.Def.Location) {
			return statementResult{}, status.Errorf(codes.InvalidArgument, "INSERT INTO %s: not supported yet: writing an external table whose location is one file (make it a directory)", w.Name)
		}
		staging = objstore.Join(t.Def.Location, "_kapot_staging", id)
	case planner.StmtCopy:
		c := w.Copy
		if !objstore.IsRemote(c.Location) && !filepath.IsAbs(c.Location) {
			return statementResult{}, status.Errorf(codes.InvalidArgument, "COPY TO %q: give an absolute path or an s3:// URL (the cluster's executors write it)", c.Location)
		}
		if objstore.IsRemote(c.Location) && !strings.HasPrefix(c.Location, "s3://") {
			return statementResult{}, status.Errorf(codes.InvalidArgument, "COPY TO %q: not supported yet: writing there (want a path or s3://)", c.Location)
		}
		staging = warehouse.CopyStaging(c.Location, id)
		if err := s.store.Allowed(c.Location); err != nil {
			return statementResult{}, status.Error(codes.PermissionDenied, err.Error())
		}
		if err := warehouse.CheckCopyTarget(ctx, s.store, props, c.Location, c.SingleFile, c.Overwrite); err != nil {
			code := codes.InvalidArgument
			if errors.Is(err, warehouse.ErrTargetExists) {
				code = codes.AlreadyExists
			}
			return statementResult{}, status.Error(code, err.Error())
		}
	}
	if err := s.store.Allowed(staging); err != nil {
		return statementResult{}, status.Errorf(codes.PermissionDenied, "%v (writes stage their files at %s)", err, staging)
	}
	wp, err := planner.PlanWrite(s.catalog, st, target, opts)
	if err != nil {
		return statementResult{}, flightsql.SQLStatus(err)
	}
	if target != nil && target.Format == "csv" {
		wp.Format, wp.Header = "csv", target.Header
	}
	wj := &writeJob{id: id, staging: staging, cleanup: staging, props: props}
	if st.Kind == planner.StmtCreateTableAs {
		// Until the commit, the new table's whole directory is the
		// write's to remove.
		wj.cleanup = dir
	}
	wj.commit = func(ctx context.Context, files []*kapotv1.WrittenFile) error {
		return s.commitWrite(ctx, st, wj, wp, target, dir, files)
	}
	count, err := countPlan(wp, staging)
	if err != nil {
		return statementResult{}, status.Errorf(codes.Internal, "write plan: %v", err)
	}
	return statementResult{plan: count, sql: st.SQL, write: wj}, nil
}

// writeJob is a job that writes files: its commit runs once its last
// stage completed, before the job succeeds; its staging directory goes
// once the job ended and no task of it runs any more.
type writeJob struct {
	id      string // the write's id (staging names)
	staging string
	// cleanup is removed at the end: the staging directory, or a new
	// table's whole directory until its commit.
	cleanup string
	props   map[string]string
	commit  func(ctx context.Context, files []*kapotv1.WrittenFile) error
	rows    int64 // written, once committed
}

// countPlan is a write's job: the writer under the staging directory,
// then the sum of the rows each of its tasks wrote (one row, "count").
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

// commitWrite makes a write's files visible: a new managed table, the next
// version of one, an external table's new files, or a COPY's target.
func (s *Scheduler) commitWrite(ctx context.Context, st *planner.Statement, wj *writeJob, wp *planner.WritePlan, target *planner.Table, dir string, files []*kapotv1.WrittenFile) error {
	w := st.Write
	wh := s.warehouse
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	switch st.Kind {
	case planner.StmtCreateTableAs:
		if _, exists := s.catalog.Lookup(w.Name); exists && !w.OrReplace {
			return fmt.Errorf("table %q was created while CREATE TABLE AS ran", w.Name)
		}
		m, err := wh.Create(ctx, dir, w.Name, wp.Query.Schema, wj.id, files)
		if err != nil {
			return fmt.Errorf("CREATE TABLE %s: %w", w.Name, err)
		}
		// Committed: from here a restart keeps the table's directory.
		s.mu.Lock()
		wj.cleanup = wj.staging
		s.mu.Unlock()
		if err := s.state.Put(ctx, store.Writes, wj.id, []byte(wj.staging)); err != nil {
			s.log.Warn().Err(err).Str("write", wj.id).Msg("write not updated in the state store")
		}
		if err := s.registerManaged(ctx, w.Name, dir, m); err != nil {
			return err
		}
	case planner.StmtInsert:
		cur, ok := s.catalog.Lookup(w.Name)
		if !ok || cur.Dir != target.Dir || cur.Managed != target.Managed {
			return fmt.Errorf("INSERT INTO %s: the table was dropped or replaced while the insert ran; nothing was written", w.Name)
		}
		if !target.Managed {
			return s.commitExternal(ctx, target, wj.staging, files, wj.props)
		}
		base, err := wh.Current(ctx, dir)
		if err != nil {
			return fmt.Errorf("INSERT INTO %s: %w", w.Name, err)
		}
		m, err := wh.Append(ctx, dir, base, wj.id, files, false)
		if err != nil {
			return fmt.Errorf("INSERT INTO %s: %w", w.Name, err)
		}
		if err := s.registerManaged(ctx, w.Name, dir, m); err != nil {
			return err
		}
	case planner.StmtCopy:
		c := w.Copy
		if err := warehouse.CommitCopy(ctx, s.store, wj.props, c.Location, wj.staging, files, c.SingleFile, c.Overwrite); err != nil {
			return fmt.Errorf("COPY TO %s: %w", c.Location, err)
		}
	}
	s.log.Info().Str("write", wj.id).Int("files", len(files)).Int64("rows", warehouse.Rows(files)).Msg("write committed")
	return nil
}

// cleanStaging removes a write's staging directory (or its new table's
// directory, if it never committed), in the background once the job ended
// and no task of it runs any more, and forgets the write.
func (s *Scheduler) cleanStaging(done <-chan struct{}, job string, wj *writeJob) {
	s.spawn(func(ctx context.Context) {
		select {
		case <-done:
		case <-ctx.Done():
			return // the next start removes it
		}
		s.mu.Lock()
		staging, id, props := wj.cleanup, wj.id, wj.props
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
	j, ok := s.jobs[id]
	if !ok {
		return false
	}
	for _, st := range j.stages {
		for _, t := range st.tasks {
			if t.phase == taskRunning || t.copyID != 0 {
				return true
			}
		}
	}
	return false
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

// commitExternal moves an INSERT's files into an external table's
// directory and lists the table again.
func (s *Scheduler) commitExternal(ctx context.Context, t *planner.Table, staging string, files []*kapotv1.WrittenFile, props map[string]string) error {
	st, err := s.store.Writer(ctx, staging, props)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer func() { _ = st.RemoveAll(ctx, staging) }()
	for _, f := range files {
		rel, err := warehouse.Under(staging, f.GetPath())
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		base := filepath.Base(staging) + "-" + strings.ReplaceAll(rel, "/", "-")
		if err := st.Rename(ctx, f.GetPath(), objstore.Join(t.Def.Location, base)); err != nil {
			return status.Errorf(codes.Unavailable, "INSERT INTO %s: commit %s: %v", t.Name, f.GetPath(), err)
		}
	}
	nt, err := s.catalog.Resolve(t.Def)
	if err != nil {
		return status.Errorf(codes.Unavailable, "INSERT INTO %s: committed, but the table's files do not list again: %v", t.Name, err)
	}
	return s.catalog.Register(nt)
}

// isDir reports whether a local location is a directory (remote
// locations count as prefixes).
func isDir(location string) bool {
	if objstore.IsRemote(location) {
		return true
	}
	l, err := objstore.Parse(location)
	if err != nil {
		return false
	}
	fi, err := os.Stat(l.Key)
	return err == nil && fi.IsDir()
}
