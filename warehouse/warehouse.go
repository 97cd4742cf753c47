package warehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// ManifestFormat is the version of the manifest layout.
const ManifestFormat = 1

// Manifest is one version of a managed table.
type Manifest struct {
	Format  int             `json:"format"`
	Table   string          `json:"table"`
	Version int64           `json:"version"`
	Schema  json.RawMessage `json:"schema"` // a kapot.v1.Schema in protojson
	Files   []File          `json:"files"`
	// Rows is the sum of the files' rows.
	Rows int64 `json:"rows"`
	// Write names the write that committed this version.
	Write     string    `json:"write,omitempty"`
	Committed time.Time `json:"committed"`
}

// File is one data file of a version, relative to the table's directory.
type File struct {
	Path  string `json:"path"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// ArrowSchema is the table's schema (NOT NULL columns not nullable).
func (m *Manifest) ArrowSchema() (*arrow.Schema, error) {
	var s kapotv1.Schema
	if err := protojson.Unmarshal(m.Schema, &s); err != nil {
		return nil, fmt.Errorf("manifest of %s: schema: %w", m.Table, err)
	}
	return wire.SchemaFromProto(&s)
}

// Locations are the version's files as locations under dir.
func (m *Manifest) Locations(dir string) []string {
	out := make([]string, len(m.Files))
	for i, f := range m.Files {
		out[i] = objstore.Join(dir, f.Path)
	}
	return out
}

// Warehouse is where managed tables live.
type Warehouse struct {
	// Root is a directory or an s3:// prefix.
	Root  string
	Store *objstore.Registry
	// Props are the session properties (kapot.s3.*) its objects are
	// reached with.
	Props map[string]string
	// Retire, when set, takes the files a drop, a replace or a compaction
	// takes out of a table instead of removing them at once: readers that
	// planned with them keep reading them (Reclaimer.Retire).
	Retire func(ctx context.Context, location string) error
}

// NewTableDir is a fresh directory for a new table called name: a table
// dropped and created again never shares files with its old self.
func (w *Warehouse) NewTableDir(name string) string {
	return objstore.Join(w.Root, safeName(name)+"-"+uuid.NewString()[:8])
}

// safeName keeps a table name's letters, digits, - and _ for its
// directory.
func safeName(name string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('_')
		}
	}
	s := strings.TrimLeft(sb.String(), "_")
	if s == "" {
		s = "t"
	}
	return s
}

// StagingDir is where a write into a table's directory stages its files.
func StagingDir(dir, write string) string { return objstore.Join(dir, "_staging", write) }

// ManifestLocation is the location of a table's manifest version.
func ManifestLocation(dir string, version int64) string {
	return objstore.Join(dir, "_manifest", fmt.Sprintf("v%08d.json", version))
}

func (w *Warehouse) writer(ctx context.Context, location string) (objstore.Writer, error) {
	return w.Store.Writer(ctx, location, w.Props)
}

// Current reads a table's newest manifest.
func (w *Warehouse) Current(ctx context.Context, dir string) (*Manifest, error) {
	st, err := w.writer(ctx, dir)
	if err != nil {
		return nil, err
	}
	all, err := st.ListAll(ctx, objstore.Join(dir, "_manifest"))
	if err != nil {
		return nil, err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(all)))
	for _, loc := range all {
		base := path.Base(strings.ReplaceAll(loc, "\\", "/"))
		if !strings.HasPrefix(base, "v") || !strings.HasSuffix(base, ".json") {
			continue
		}
		data, err := objstore.ReadAll(ctx, w.Store, loc, w.Props)
		if err != nil {
			return nil, err
		}
		m, err := DecodeManifest(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s: no manifest: %w", dir, objstore.ErrNotFound)
}

// DecodeManifest parses and checks a manifest.
func DecodeManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("manifest format %d (this kapot reads %d)", m.Format, ManifestFormat)
	}
	if m.Version < 1 {
		return nil, fmt.Errorf("manifest version %d", m.Version)
	}
	var rows int64
	for _, f := range m.Files {
		if !cleanRel(f.Path) || f.Rows < 0 || f.Bytes < 0 {
			return nil, fmt.Errorf("manifest file %q: not a clean relative path with counts", f.Path)
		}
		rows += f.Rows
	}
	if rows != m.Rows {
		return nil, fmt.Errorf("manifest rows %d, its files hold %d", m.Rows, rows)
	}
	if _, err := m.ArrowSchema(); err != nil {
		return nil, err
	}
	return &m, nil
}

// cleanRel reports a relative slash path without . or .. elements.
func cleanRel(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.Contains(p, "://") {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return false
		}
	}
	return true
}

// Create writes the first manifest of a new table in dir: the schema and
// the files of write (moved out of its staging directory), if any.
func (w *Warehouse) Create(ctx context.Context, dir, name string, schema *arrow.Schema, write string, files []*kapotv1.WrittenFile) (*Manifest, error) {
	ps, err := wire.SchemaToProto(schema)
	if err != nil {
		return nil, err
	}
	js, err := protojson.Marshal(ps)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: ManifestFormat, Table: name, Schema: js}
	return w.commit(ctx, dir, m, write, files, false)
}

// Append commits write's files as the next version of the table in dir
// (after base's files, or instead of them with replace).
func (w *Warehouse) Append(ctx context.Context, dir string, base *Manifest, write string, files []*kapotv1.WrittenFile, replace bool) (*Manifest, error) {
	return w.commit(ctx, dir, base, write, files, replace)
}

func (w *Warehouse) commit(ctx context.Context, dir string, base *Manifest, write string, files []*kapotv1.WrittenFile, replace bool) (*Manifest, error) {
	st, err := w.writer(ctx, dir)
	if err != nil {
		return nil, err
	}
	staging := StagingDir(dir, write)
	next := *base
	next.Version, next.Write, next.Committed = base.Version+1, write, time.Now().UTC()
	next.Files = nil
	next.Rows = 0
	if !replace {
		next.Files = append(next.Files, base.Files...)
		next.Rows = base.Rows
	}
	for _, f := range files {
		rel, err := Under(staging, f.GetPath())
		if err != nil {
			return nil, err
		}
		dst := path.Join("data", write, rel)
		if err := st.Rename(ctx, f.GetPath(), objstore.Join(dir, dst)); err != nil {
			return nil, fmt.Errorf("commit %s: %w", f.GetPath(), err)
		}
		next.Files = append(next.Files, File{Path: dst, Rows: f.GetRows(), Bytes: f.GetBytes()})
		next.Rows += f.GetRows()
	}
	data, err := json.MarshalIndent(&next, "", " ")
	if err != nil {
		return nil, err
	}
	// The commit point: the new version's manifest appears whole.
	if err := st.Put(ctx, ManifestLocation(dir, next.Version), data); err != nil {
		return nil, fmt.Errorf("commit manifest of %s: %w", next.Table, err)
	}
	_ = st.RemoveAll(ctx, staging)
	return &next, nil
}

// Under returns file's path relative to the staging directory, refusing
// what lies elsewhere: file names come back from executors and are not
// trusted.
func Under(staging, file string) (string, error) {
	prefix := strings.TrimSuffix(staging, "/") + "/"
	rel := strings.TrimPrefix(file, prefix)
	if rel == file || !cleanRel(rel) {
		return "", fmt.Errorf("written file %q is not under the write's staging directory %s", file, staging)
	}
	return rel, nil
}

// Abort removes a write's staging directory (after a failed, cancelled or
// refused write).
func (w *Warehouse) Abort(ctx context.Context, staging string) error {
	st, err := w.writer(ctx, staging)
	if err != nil {
		return err
	}
	return st.RemoveAll(ctx, staging)
}

// Drop removes a table's directory, or retires it (Retire).
func (w *Warehouse) Drop(ctx context.Context, dir string) error { return w.retire(ctx, dir) }

// retire hands location to Retire, or removes it now without one.
func (w *Warehouse) retire(ctx context.Context, location string) error {
	if w.Retire != nil {
		return w.Retire(ctx, location)
	}
	return w.remove(ctx, location)
}

// remove removes location and everything under it.
func (w *Warehouse) remove(ctx context.Context, location string) error {
	st, err := w.writer(ctx, location)
	if err != nil {
		return err
	}
	return st.RemoveAll(ctx, location)
}

// Remove removes location and everything under it now (a Reclaimer's
// Remove).
func (w *Warehouse) Remove(ctx context.Context, location string) error {
	return w.remove(ctx, location)
}

// Rows sums the rows of written files.
func Rows(files []*kapotv1.WrittenFile) int64 {
	var n int64
	for _, f := range files {
		n += f.GetRows()
	}
	return n
}

// CopyStaging is where a COPY to target stages its files: a hidden
// directory beside the target, so that nothing under the target appears
// before the commit.
func CopyStaging(target, write string) string {
	t := strings.TrimSuffix(target, "/")
	return t[:strings.LastIndex(t, "/")+1] + ".kapot-staging-" + write
}

// ErrTargetExists is returned by a COPY to a directory that holds files
// (without OVERWRITE).
var ErrTargetExists = errs.New("the target exists", errs.ErrExists)

// CheckCopyTarget refuses a COPY into a directory that already holds
// objects, unless overwrite.
func CheckCopyTarget(ctx context.Context, store *objstore.Registry, props map[string]string, target string, single, overwrite bool) error {
	if single {
		return nil
	}
	st, err := store.Writer(ctx, target, props)
	if err != nil {
		return err
	}
	all, err := st.ListAll(ctx, target)
	if err != nil {
		return err
	}
	if len(all) > 0 && !overwrite {
		return fmt.Errorf("COPY to %s: %w and holds %d files (add OVERWRITE true to replace them)", target, ErrTargetExists, len(all))
	}
	return dataOnly(target, all)
}

// dataOnly refuses to empty a directory (OVERWRITE) that holds anything
// but data files, the only thing COPY writes: a mistyped target never
// costs a user's other files.
func dataOnly(target string, all []string) error {
	for _, o := range all {
		if l := strings.ToLower(o); !strings.HasSuffix(l, ".parquet") && !strings.HasSuffix(l, ".csv") {
			return fmt.Errorf("COPY to %s with OVERWRITE: it holds %s, not a data file; only a directory of Parquet or CSV files is replaced: %w", target, o, ErrInvalid)
		}
	}
	return nil
}

// CommitCopy moves a COPY's files from staging to target: the one file
// onto target (single), or each file to the same place under the target
// directory (which overwrite empties first).
func CommitCopy(ctx context.Context, store *objstore.Registry, props map[string]string, target, staging string, files []*kapotv1.WrittenFile, single, overwrite bool) error {
	st, err := store.Writer(ctx, target, props)
	if err != nil {
		return err
	}
	defer func() { _ = st.RemoveAll(ctx, staging) }()
	if single {
		if len(files) != 1 {
			return fmt.Errorf("COPY to one file: %d files written", len(files))
		}
		if _, err := Under(staging, files[0].GetPath()); err != nil {
			return err
		}
		return st.Rename(ctx, files[0].GetPath(), target)
	}
	rels := make([]string, len(files))
	for i, f := range files {
		if rels[i], err = Under(staging, f.GetPath()); err != nil {
			return err
		}
	}
	if overwrite {
		all, err := st.ListAll(ctx, target)
		if err == nil {
			err = dataOnly(target, all)
		}
		if err == nil {
			err = st.RemoveAll(ctx, target)
		}
		if err != nil {
			return err
		}
	}
	for i, f := range files {
		if err := st.Rename(ctx, f.GetPath(), objstore.Join(target, rels[i])); err != nil {
			return fmt.Errorf("commit %s: %w", f.GetPath(), err)
		}
	}
	return nil
}
