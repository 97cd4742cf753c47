package warehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// What the statements that write and define tables do to a catalog, the
// same for the scheduler (whose jobs write and whose state store keeps the
// catalog) and for SQL run in one process (kapot sql without a cluster, the
// sqllogictest runner). Callers order the calls of one Tables (a mutex).

// Errors of Tables, for callers to tell apart (gRPC codes).
var (
	ErrExists      = errs.New("exists", errs.ErrExists)
	ErrMissing     = errs.New("does not exist", errs.ErrUnknownTable)
	ErrNoWarehouse = errors.New("no warehouse for managed tables")
	ErrInvalid     = errs.New("invalid", errs.ErrInvalidSQL)
	// ErrNotOwner: the principal may not alter a table or view it does
	// not own.
	ErrNotOwner = errs.New("permission denied", errs.ErrPermission)
)

// Tables applies definitions and writes to a catalog.
type Tables struct {
	Catalog *catalog.Catalog
	// Warehouse holds managed tables; nil: none (CREATE TABLE fails).
	Warehouse *Warehouse
	// Store reaches COPY targets and external tables.
	Store *objstore.Registry
	// Save and Forget persist catalog entries (nil: the catalog lives in
	// memory). Save's value is what Restore reads back.
	Save   func(ctx context.Context, name, value string) error
	Forget func(ctx context.Context, name string) error
	// Warn reports what failed without failing the statement (files of a
	// replaced table not removed).
	Warn func(err error, msg string)
	// Secured: the cluster has secrets, so a managed table or a view is
	// replaced, dropped or written into only by its owner or an operator
	// (security.Principal.MayAlter). Without secrets every caller is
	// trusted.
	Secured bool
}

// ManagedRef is a saved catalog entry with its owner: a managed table (its
// directory), a view (its CREATE VIEW statement) or an external table (its
// CREATE EXTERNAL TABLE statement). Entries saved before owners were are
// bare statements (views, external tables) or have no owner.
type ManagedRef struct {
	Managed  string `json:"managed,omitempty"`
	View     string `json:"view,omitempty"`
	External string `json:"external,omitempty"`
	Owner    string `json:"owner,omitempty"`
}

// ExternalEntry is what an external table created by owner is saved as.
func ExternalEntry(statement, owner string) string {
	b, _ := json.Marshal(ManagedRef{External: statement, Owner: owner})
	return string(b)
}

// mayAlter refuses who's change to kind name, owned by owner, unless who
// may alter it.
func (t *Tables) mayAlter(who security.Principal, kind, name, owner string) error {
	if who.MayAlter(owner, t.Secured) {
		return nil
	}
	if owner == "" {
		owner = security.PrincipalOperator
	}
	return fmt.Errorf("%s %s belongs to %s: only its owner or an operator replaces, drops or writes into it: %w", kind, name, owner, ErrNotOwner)
}

func (t *Tables) save(ctx context.Context, name, value string) error {
	if t.Save == nil {
		return nil
	}
	return t.Save(ctx, strings.ToLower(name), value)
}

func (t *Tables) forget(ctx context.Context, name string) error {
	if t.Forget == nil {
		return nil
	}
	return t.Forget(ctx, strings.ToLower(name))
}

func (t *Tables) warn(err error, msg string) {
	if t.Warn != nil && err != nil {
		t.Warn(err, msg)
	}
}

func (t *Tables) needWarehouse() (*Warehouse, error) {
	if t.Warehouse == nil {
		return nil, fmt.Errorf("%w: start the scheduler with --warehouse DIR|s3://bucket/prefix or --state-dir", ErrNoWarehouse)
	}
	return t.Warehouse, nil
}

// Replaceable handles who's CREATE TABLE of a name that may exist: done
// with an answer for IF NOT EXISTS of an existing table, an ErrExists
// error without OR REPLACE, an ErrNotOwner error for another principal's
// table, else on (OR REPLACE replaces the table at commit).
func (t *Tables) Replaceable(w *planner.WriteStmt, who security.Principal) (answer string, done bool, err error) {
	if _, ok := t.Catalog.View(w.Name); ok {
		return "", true, fmt.Errorf("%q is a view: %w", w.Name, ErrExists)
	}
	old, ok := t.Catalog.Lookup(w.Name)
	switch {
	case !ok:
		return "", false, nil
	case w.IfNotExists:
		return fmt.Sprintf("table %s exists", w.Name), true, nil
	case !w.OrReplace:
		return "", true, fmt.Errorf("table %q %w (CREATE OR REPLACE TABLE replaces it, INSERT INTO adds rows)", w.Name, ErrExists)
	}
	if err := t.mayAlter(who, "table", old.Name, old.Owner); err != nil {
		return "", true, err
	}
	return "", false, nil
}

// Define runs who's CREATE TABLE, DROP TABLE, CREATE VIEW and DROP VIEW
// and answers with one line. plan checks a view's query. What who creates
// is who's; what another principal owns, who does not replace or drop
// (unless an operator).
func (t *Tables) Define(ctx context.Context, st *planner.Statement, who security.Principal, plan func(sql string) error) (string, error) {
	w := st.Write
	switch st.Kind {
	case planner.StmtCreateTable:
		if answer, done, err := t.Replaceable(w, who); done || err != nil {
			return answer, err
		}
		wh, err := t.needWarehouse()
		if err != nil {
			return "", err
		}
		dir := wh.NewTableDir(w.Name)
		m, err := wh.Create(ctx, dir, w.Name, planner.SchemaOf(w.Columns), "create", nil)
		if err != nil {
			return "", fmt.Errorf("CREATE TABLE %s: %w", w.Name, err)
		}
		if err := t.Register(ctx, w.Name, dir, who.Name, m); err != nil {
			return "", err
		}
		return fmt.Sprintf("created table %s", w.Name), nil
	case planner.StmtDropTable:
		tab, ok := t.Catalog.Lookup(w.Name)
		if !ok {
			if w.IfExists {
				return fmt.Sprintf("table %s does not exist", w.Name), nil
			}
			return "", fmt.Errorf("DROP TABLE: table %q %w", w.Name, ErrMissing)
		}
		if err := t.mayAlter(who, "table", tab.Name, tab.Owner); err != nil {
			return "", err
		}
		if err := t.Drop(ctx, tab); err != nil {
			return "", err
		}
		return fmt.Sprintf("dropped table %s", w.Name), nil
	case planner.StmtCreateView:
		if _, ok := t.Catalog.Lookup(w.Name); ok {
			return "", fmt.Errorf("CREATE VIEW: %q is a table: %w", w.Name, ErrExists)
		}
		if owner, ok := t.Catalog.ViewOwner(w.Name); ok {
			if !w.OrReplace {
				return "", fmt.Errorf("view %q %w (CREATE OR REPLACE VIEW replaces it)", w.Name, ErrExists)
			}
			if err := t.mayAlter(who, "view", w.Name, owner); err != nil {
				return "", err
			}
		}
		// The view's query must plan now (its tables exist, its SQL is
		// supported); it is bound afresh wherever the view is named.
		if err := plan(w.ViewSQL); err != nil {
			return "", err
		}
		if err := t.Catalog.RegisterView(w.Name, w.ViewSQL, who.Name); err != nil {
			return "", fmt.Errorf("%v: %w", err, ErrExists)
		}
		ref, _ := json.Marshal(ManagedRef{View: ViewSQL(w.Name, w.ViewSQL), Owner: who.Name})
		if err := t.save(ctx, w.Name, string(ref)); err != nil {
			return "", fmt.Errorf("view %s created but not saved (it is lost at a restart): %w", w.Name, err)
		}
		return fmt.Sprintf("created view %s", w.Name), nil
	case planner.StmtDropView:
		if owner, ok := t.Catalog.ViewOwner(w.Name); ok {
			if err := t.mayAlter(who, "view", w.Name, owner); err != nil {
				return "", err
			}
		}
		if !t.Catalog.DropView(w.Name) {
			if w.IfExists {
				return fmt.Sprintf("view %s does not exist", w.Name), nil
			}
			return "", fmt.Errorf("DROP VIEW: view %q %w", w.Name, ErrMissing)
		}
		if err := t.forget(ctx, w.Name); err != nil {
			return "", fmt.Errorf("view %s dropped but not forgotten (it is back after a restart): %w", w.Name, err)
		}
		return fmt.Sprintf("dropped view %s", w.Name), nil
	}
	return "", fmt.Errorf("not a definition statement: %w", ErrInvalid)
}

// ViewSQL is the statement a view is saved as.
func ViewSQL(name, query string) string {
	return "CREATE VIEW " + `"` + strings.ReplaceAll(name, `"`, `""`) + `"` + " AS " + query
}

// Register puts version m of the managed table in dir, owned by owner,
// into the catalog (replacing a table of that name, whose files then go)
// and saves it.
func (t *Tables) Register(ctx context.Context, name, dir, owner string, m *Manifest) error {
	tab, err := t.Table(ctx, name, dir, m)
	if err != nil {
		return fmt.Errorf("table %s: %w", name, err)
	}
	tab.Owner = owner
	old, had := t.Catalog.Lookup(name)
	t.Catalog.Drop(name)
	if err := t.Catalog.Register(tab); err != nil {
		return err
	}
	ref, _ := json.Marshal(ManagedRef{Managed: dir, Owner: owner})
	if err := t.save(ctx, name, string(ref)); err != nil {
		return fmt.Errorf("table %s written but not saved (it is lost at a restart): %w", name, err)
	}
	if had && old.Managed && old.Dir != dir {
		t.warn(t.Warehouse.Drop(ctx, old.Dir), "files of a replaced table not removed")
	}
	return nil
}

// Table is the catalog's table for version m of a managed table.
func (t *Tables) Table(ctx context.Context, name, dir string, m *Manifest) (*catalog.Table, error) {
	schema, err := m.ArrowSchema()
	if err != nil {
		return nil, err
	}
	tab := &catalog.Table{Name: name, Format: "parquet", Schema: schema}
	if files := m.Locations(dir); len(files) > 0 {
		// Row counts and statistics from the files' footers.
		if tab, err = t.Catalog.ParquetTable(ctx, name, files); err != nil {
			return nil, err
		}
		tab.Schema = schema
	}
	tab.Managed, tab.Dir = true, dir
	return tab, nil
}

// Drop removes a table from the catalog (and its saved entry), and a
// managed table's files.
func (t *Tables) Drop(ctx context.Context, tab *catalog.Table) error {
	t.Catalog.Drop(tab.Name)
	if err := t.forget(ctx, tab.Name); err != nil {
		return fmt.Errorf("table %s dropped but not forgotten (it is back after a restart): %w", tab.Name, err)
	}
	if tab.Managed && t.Warehouse != nil {
		t.warn(t.Warehouse.Drop(ctx, tab.Dir), "files of a dropped table not removed")
	}
	return nil
}

// Restore registers a saved entry: a managed table (its reference), a view
// or an external table (their statements).
func (t *Tables) Restore(ctx context.Context, name string, value []byte) error {
	if strings.HasPrefix(string(value), "{") {
		var ref ManagedRef
		if err := json.Unmarshal(value, &ref); err != nil || ref.Managed == "" && ref.View == "" && ref.External == "" {
			return fmt.Errorf("unreadable catalog entry: %v", err)
		}
		switch {
		case ref.View != "":
			st, err := planner.ClassifyIn(t.Catalog, ref.View)
			if err != nil || st.Kind != planner.StmtCreateView {
				return fmt.Errorf("stored view is not a CREATE VIEW statement: %v", err)
			}
			return t.Catalog.RegisterView(st.Write.Name, st.Write.ViewSQL, ref.Owner)
		case ref.External != "":
			st, err := planner.ClassifyIn(t.Catalog, ref.External)
			if err != nil || st.Kind != planner.StmtCreateExternalTable {
				return fmt.Errorf("stored table is not a CREATE EXTERNAL TABLE statement: %v", err)
			}
			st.Table.Owner = ref.Owner
			return t.Catalog.Register(st.Table)
		}
		wh, err := t.needWarehouse()
		if err != nil {
			return err
		}
		m, err := wh.Current(ctx, ref.Managed)
		if err != nil {
			return err
		}
		tab, err := t.Table(ctx, name, ref.Managed, m)
		if err != nil {
			return err
		}
		tab.Owner = ref.Owner
		return t.Catalog.Register(tab)
	}
	st, err := planner.ClassifyIn(t.Catalog, string(value))
	if err != nil {
		return err
	}
	switch st.Kind {
	case planner.StmtCreateExternalTable:
		return t.Catalog.Register(st.Table)
	case planner.StmtCreateView:
		return t.Catalog.RegisterView(st.Write.Name, st.Write.ViewSQL, "")
	}
	return errors.New("stored definition is not a CREATE EXTERNAL TABLE or CREATE VIEW statement")
}

// Write is a planned write: its rows' plan, where it stages and where its
// files go at the commit.
type Write struct {
	Stmt *planner.Statement
	Plan *planner.WritePlan
	// ID names the write (staging directories, data file directories).
	ID      string
	Staging string
	// Dir is the managed table's directory (CREATE TABLE AS, INSERT).
	Dir string
	// Target is INSERT's table.
	Target *catalog.Table
	Props  map[string]string
	// Cleanup is what goes once the write ended: the staging directory,
	// or a new table's whole directory until its commit.
	Cleanup string
	// Who is the principal writing: a table the write creates is its.
	Who security.Principal
}

// Prepare plans who's CREATE TABLE AS, INSERT or COPY with id naming the
// write. absolute requires local COPY targets to be absolute paths (a
// cluster's executors write them). answer is set (and w nil) when there is
// nothing to write (IF NOT EXISTS of an existing table). A table who
// creates is who's; another principal's managed table who does not
// replace or write into (unless an operator).
func (t *Tables) Prepare(ctx context.Context, st *planner.Statement, who security.Principal, id string, props map[string]string, opts planner.Options, absolute bool) (w *Write, answer string, err error) {
	ws := st.Write
	w = &Write{Stmt: st, ID: id, Props: props, Who: who}
	switch st.Kind {
	case planner.StmtCreateTableAs:
		answer, done, err := t.Replaceable(ws, who)
		if done || err != nil {
			return nil, answer, err
		}
		wh, err := t.needWarehouse()
		if err != nil {
			return nil, "", err
		}
		w.Dir = wh.NewTableDir(ws.Name)
		w.Staging, w.Cleanup = StagingDir(w.Dir, id), w.Dir
	case planner.StmtInsert:
		tab, ok := t.Catalog.Lookup(ws.Name)
		if !ok {
			if _, view := t.Catalog.View(ws.Name); view {
				return nil, "", fmt.Errorf("INSERT INTO %s: a view is not written to: %w", ws.Name, ErrInvalid)
			}
			return nil, "", fmt.Errorf("INSERT INTO: table %q %w", ws.Name, ErrMissing)
		}
		w.Target = tab
		if tab.Managed {
			if err := t.mayAlter(who, "table", tab.Name, tab.Owner); err != nil {
				return nil, "", err
			}
		}
		switch {
		case tab.Managed:
			w.Dir, w.Staging = tab.Dir, StagingDir(tab.Dir, id)
		case tab.Def == nil || tab.Format != "parquet" && tab.Format != "csv":
			return nil, "", planner.NotSupported(fmt.Sprintf("writing table %s", ws.Name))
		case !isDir(tab.Def.Location):
			return nil, "", planner.NotSupported(fmt.Sprintf("writing external table %s, whose location is one file (make it a directory)", ws.Name))
		default:
			w.Staging = objstore.Join(tab.Def.Location, "_kapot_staging", id)
		}
		w.Cleanup = w.Staging
	case planner.StmtCopy:
		c := ws.Copy
		if !objstore.IsRemote(c.Location) && absolute && !filepath.IsAbs(c.Location) {
			return nil, "", fmt.Errorf("COPY TO %q: give an absolute path or an s3:// URL (the cluster's executors write it): %w", c.Location, ErrInvalid)
		}
		if objstore.IsRemote(c.Location) && !strings.HasPrefix(c.Location, "s3://") {
			return nil, "", planner.NotSupported("COPY to " + c.Location + " (write to a path or s3://)")
		}
		if err := t.Store.Allowed(c.Location); err != nil {
			return nil, "", err
		}
		if err := t.NotTableData(c.Location); err != nil {
			return nil, "", fmt.Errorf("COPY TO %s: %w", c.Location, err)
		}
		if err := CheckCopyTarget(ctx, t.Store, props, c.Location, c.SingleFile, c.Overwrite); err != nil {
			return nil, "", err
		}
		w.Staging = CopyStaging(c.Location, id)
		w.Cleanup = w.Staging
	default:
		return nil, "", fmt.Errorf("not a write: %w", ErrInvalid)
	}
	if err := t.Store.Allowed(w.Staging); err != nil {
		return nil, "", fmt.Errorf("%w (writes stage their files at %s)", err, w.Staging)
	}
	if w.Plan, err = planner.PlanWrite(ctx, t.Catalog, st, w.Target, opts); err != nil {
		return nil, "", err
	}
	if w.Target != nil && w.Target.Format == "csv" {
		w.Plan.Format, w.Plan.Header = "csv", w.Target.Header
	}
	return w, "", nil
}

// NotTableData refuses a write target that is, holds or lies inside the
// warehouse or the location of any table of the catalog: only a table's
// own writes (INSERT, CREATE TABLE AS, by its owner) touch its files, and
// an OVERWRITE never deletes files a table still references. The error
// names the table, never its directory.
func (t *Tables) NotTableData(location string) error {
	if t.Warehouse != nil && objstore.Overlap(location, t.Warehouse.Root) {
		return fmt.Errorf("the target is, holds or lies inside the warehouse of managed tables, which only the cluster writes: %w", ErrNotOwner)
	}
	for _, tab := range t.Catalog.Tables() {
		for _, loc := range tableLocations(tab) {
			if objstore.Overlap(location, loc) {
				return fmt.Errorf("the target is, holds or lies inside the data of table %s, which only its own writes touch: %w", tab.Name, ErrNotOwner)
			}
		}
	}
	return nil
}

// tableLocations are the places a table's files live: a managed table's
// directory, an external table's location, else each file's directory.
func tableLocations(tab *catalog.Table) []string {
	switch {
	case tab.Managed:
		return []string{tab.Dir}
	case tab.Def != nil:
		return []string{tab.Def.Location}
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range tab.Files {
		d := f
		if i := strings.LastIndex(f, "/"); i > 0 {
			d = f[:i]
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
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

// Commit makes a write's files visible: a new managed table, the next
// version of one, an external table's new files, or a COPY's target.
// committed runs right after the commit point of a new table (from then
// on its directory is kept).
func (t *Tables) Commit(ctx context.Context, w *Write, files []*kapotv1.WrittenFile, committed func()) error {
	ws := w.Stmt.Write
	switch w.Stmt.Kind {
	case planner.StmtCreateTableAs:
		if old, exists := t.Catalog.Lookup(ws.Name); exists {
			if !ws.OrReplace {
				return fmt.Errorf("table %q was created while CREATE TABLE AS ran: %w", ws.Name, ErrExists)
			}
			if err := t.mayAlter(w.Who, "table", old.Name, old.Owner); err != nil {
				return err
			}
		}
		m, err := t.Warehouse.Create(ctx, w.Dir, ws.Name, w.Plan.Query.Schema, w.ID, files)
		if err != nil {
			return fmt.Errorf("CREATE TABLE %s: %w", ws.Name, err)
		}
		if committed != nil {
			committed()
		}
		return t.Register(ctx, ws.Name, w.Dir, w.Who.Name, m)
	case planner.StmtInsert:
		cur, ok := t.Catalog.Lookup(ws.Name)
		if !ok || cur.Dir != w.Target.Dir || cur.Managed != w.Target.Managed || cur.Def != w.Target.Def {
			return fmt.Errorf("INSERT INTO %s: the table was dropped or replaced while the insert ran; nothing was written: %w", ws.Name, ErrMissing)
		}
		if !w.Target.Managed {
			return t.commitExternal(ctx, w, files)
		}
		base, err := t.Warehouse.Current(ctx, w.Dir)
		if err != nil {
			return fmt.Errorf("INSERT INTO %s: %w", ws.Name, err)
		}
		m, err := t.Warehouse.Append(ctx, w.Dir, base, w.ID, files, false)
		if err != nil {
			return fmt.Errorf("INSERT INTO %s: %w", ws.Name, err)
		}
		if needsCompaction(m) {
			// The INSERT is committed; a failed compaction only leaves
			// the small files as they are.
			if c, err := t.Warehouse.compact(ctx, w.Dir, w.ID, m); err != nil {
				t.warn(err, "small files of a table not compacted")
			} else {
				m = c
			}
		}
		return t.Register(ctx, ws.Name, w.Dir, cur.Owner, m)
	case planner.StmtCopy:
		c := ws.Copy
		if err := CommitCopy(ctx, t.Store, w.Props, c.Location, w.Staging, files, c.SingleFile, c.Overwrite); err != nil {
			return fmt.Errorf("COPY TO %s: %w", c.Location, err)
		}
		return nil
	}
	return fmt.Errorf("not a write: %w", ErrInvalid)
}

// commitExternal moves an INSERT's files into an external table's
// directory and lists the table again.
func (t *Tables) commitExternal(ctx context.Context, w *Write, files []*kapotv1.WrittenFile) error {
	tab := w.Target
	st, err := t.Store.Writer(ctx, w.Staging, w.Props)
	if err != nil {
		return err
	}
	defer func() { _ = st.RemoveAll(ctx, w.Staging) }()
	for _, f := range files {
		rel, err := Under(w.Staging, f.GetPath())
		if err != nil {
			return err
		}
		name := w.ID + "-" + strings.ReplaceAll(rel, "/", "-")
		if err := st.Rename(ctx, f.GetPath(), objstore.Join(tab.Def.Location, name)); err != nil {
			return fmt.Errorf("INSERT INTO %s: commit %s: %w", tab.Name, f.GetPath(), err)
		}
	}
	nt, err := t.Catalog.Resolve(ctx, tab.Def, w.Props)
	if err != nil {
		return fmt.Errorf("INSERT INTO %s: committed, but the table's files do not list again: %w", tab.Name, err)
	}
	nt.Owner = tab.Owner
	return t.Catalog.Register(nt)
}

// Remove removes a write's leftovers (its Cleanup location).
func (t *Tables) Remove(ctx context.Context, location string, props map[string]string) error {
	st, err := t.Store.Writer(ctx, location, props)
	if err != nil {
		return err
	}
	return st.RemoveAll(ctx, location)
}

// Run runs a write in this process (every partition of its plan, one
// after the other, in tc) and commits it; it returns the rows written.
// Its leftovers go whatever happens.
func (t *Tables) Run(ctx context.Context, w *Write, tc *engine.TaskContext) (int64, error) {
	defer func() {
		t.warn(t.Remove(context.WithoutCancel(ctx), w.Cleanup, w.Props), "staged files of a write not removed")
	}()
	bs, err := planner.RunInProcess(ctx, &planner.Plan{Root: w.Plan.Node(w.Staging)}, tc, t.Store)
	for _, b := range bs {
		b.Release()
	}
	if err != nil {
		return 0, err
	}
	files := tc.Written()
	if err := t.Commit(ctx, w, files, func() { w.Cleanup = w.Staging }); err != nil {
		return 0, err
	}
	return Rows(files), nil
}
