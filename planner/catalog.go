// Package planner turns SQL into distributed physical plans: it parses with
// PostgreSQL's own grammar (pg_query_go), resolves names and types against a
// catalog of external tables, and lowers the result to the engine's plan
// nodes, with exchanges where the plan must be repartitioned.
package planner

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/wire"
)

// Table is an external table: files of one format with one schema.
type Table struct {
	Name   string
	Format string // "parquet" or "csv"
	Files  []string
	Schema *arrow.Schema
	// CSV options.
	Header    bool
	Delimiter string
	// Rows is the table's row count when known (Parquet footers), else 0;
	// the planner orders joins and picks broadcast sides by it.
	Rows int64
	// NDV estimates distinct values per column from integer min/max
	// statistics (max - min + 1, at most Rows); absent when unknown.
	NDV map[string]float64
	// Ranges holds, for the signed integer columns with min/max statistics and no
	// nulls in every file, each file's [min, max] (Files' order; a file
	// without rows has min > max). Tables whose files split a key into
	// disjoint ranges (orders and lineitem by order key, as kapot tpch gen
	// writes them) are joined and grouped file by file, without an
	// exchange.
	Ranges map[string][][2]int64
	// Sorted marks the columns of Ranges by which every file's row groups
	// come in order (each one's min at least the previous one's max):
	// such a file is read as several partitions, a range of the column
	// each, by reading a share of its row groups (see tableSplit).
	Sorted map[string]bool
	// Def is the definition the table was created from; nil for tables
	// registered directly (ParquetTable) and managed tables.
	Def *ExternalTable
	// Managed tables live in the warehouse: their files are those of the
	// table's current manifest (none for an empty table), in Dir.
	Managed bool
	Dir     string
	// Owner is the principal that created the table ("" unknown: made
	// before owners were recorded, or registered directly).
	Owner string
	// Partitions are the Hive partition columns (the last columns of
	// Schema, not in the files); PartitionValues holds each file's values
	// of them (nil: NULL).
	Partitions      []string
	PartitionValues [][]*string
}

// view is a named query and the principal that created it.
type view struct{ query, owner string }

// Catalog holds the tables SQL can name. It is safe for concurrent use.
type Catalog struct {
	mu     sync.RWMutex
	tables map[string]*Table
	views  map[string]view
	store  *objstore.Registry
	props  map[string]string
}

// NewCatalog returns an empty catalog that finds table files with the
// default object-store registry (local files, and S3 with the AWS SDK's
// environment and profile chain).
func NewCatalog() *Catalog { return NewCatalogWith(nil, nil) }

// NewCatalogWith returns an empty catalog that lists and reads table files
// (s3://, http(s)://, paths) through store under the session properties
// props (kapot.s3.*); nil store means the default registry.
func NewCatalogWith(store *objstore.Registry, props map[string]string) *Catalog {
	if store == nil {
		store = objstore.Default()
	}
	return &Catalog{tables: map[string]*Table{}, views: map[string]view{}, store: store, props: props}
}

// Store is the registry the catalog reads table files with.
func (c *Catalog) Store() *objstore.Registry { return c.store }

// Register adds or replaces a table (names are case-insensitive).
func (c *Catalog) Register(t *Table) error {
	if t.Name == "" || (len(t.Files) == 0 && !t.Managed) || t.Schema == nil {
		return fmt.Errorf("table %q: needs a name, files and a schema", t.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.views[strings.ToLower(t.Name)]; ok {
		return fmt.Errorf("%q is a view", t.Name)
	}
	c.tables[strings.ToLower(t.Name)] = t
	return nil
}

// Drop removes a table; it reports whether there was one.
func (c *Catalog) Drop(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.tables[strings.ToLower(name)]
	delete(c.tables, strings.ToLower(name))
	return ok
}

// RegisterView adds or replaces a view: a query, bound wherever the view
// is named, created by principal owner ("" unknown). A table of that name
// is an error.
func (c *Catalog) RegisterView(name, query, owner string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.tables[strings.ToLower(name)]; ok {
		return fmt.Errorf("%q is a table", name)
	}
	c.views[strings.ToLower(name)] = view{query: query, owner: owner}
	return nil
}

// View returns a view's query.
func (c *Catalog) View(name string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.views[strings.ToLower(name)]
	return v.query, ok
}

// ViewOwner returns the principal that created a view ("" unknown).
func (c *Catalog) ViewOwner(name string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.views[strings.ToLower(name)]
	return v.owner, ok
}

// DropView removes a view; it reports whether there was one.
func (c *Catalog) DropView(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.views[strings.ToLower(name)]
	delete(c.views, strings.ToLower(name))
	return ok
}

// Lookup finds a table by name.
func (c *Catalog) Lookup(name string) (*Table, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.tables[strings.ToLower(name)]
	return t, ok
}

// Names lists the registered tables, sorted.
func (c *Catalog) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.tables)+len(c.views))
	for n := range c.tables {
		out = append(out, n)
	}
	for n := range c.views {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Tables lists the catalog's tables (in no order).
func (c *Catalog) Tables() []*Table {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Table, 0, len(c.tables))
	for _, t := range c.tables {
		out = append(out, t)
	}
	return out
}

// Entry is a name of the catalog: a table or a view and its owner.
type Entry struct {
	Name string
	// Kind is "table" (managed), "external table" or "view".
	Kind  string
	Owner string
}

// Entries lists the catalog's tables and views, sorted by name.
func (c *Catalog) Entries() []Entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Entry, 0, len(c.tables)+len(c.views))
	for n, t := range c.tables {
		kind := "external table"
		if t.Managed {
			kind = "table"
		}
		out = append(out, Entry{Name: n, Kind: kind, Owner: t.Owner})
	}
	for n, v := range c.views {
		out = append(out, Entry{Name: n, Kind: "view", Owner: v.owner})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ParquetTable describes name over local Parquet files, reading the schema
// from the first file's footer and row counts and statistics from all.
func ParquetTable(name string, files []string) (*Table, error) {
	return NewCatalog().ParquetTable(context.Background(), name, files)
}

// ParquetTable describes name over Parquet files in any store the catalog
// reaches (footers only: a few ranged reads per file).
func (c *Catalog) ParquetTable(ctx context.Context, name string, files []string) (*Table, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("table %s: no files", name)
	}
	t := &Table{Name: name, Format: "parquet", Files: files}
	lo, hi := map[string]int64{}, map[string]int64{}
	ranges := map[string][][2]int64{}
	unsorted := map[string]bool{}
	var dicts map[string]int64
	for i, f := range files {
		obj, err := c.store.Open(ctx, f, c.props)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		r, err := file.NewParquetReader(objstore.SectionReader(obj))
		if err != nil {
			obj.Close()
			return nil, fmt.Errorf("table %s: %s: %w", name, f, err)
		}
		if i == 0 {
			fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			if err == nil {
				t.Schema, err = fr.Schema()
			}
			if err == nil {
				t.Schema = tableSchema(t.Schema, r)
			}
			if err != nil {
				r.Close()
				obj.Close()
				return nil, fmt.Errorf("table %s: %w", name, err)
			}
		}
		t.Rows += r.NumRows()
		intRanges(r, lo, hi)
		fileRanges(r, i, ranges, unsorted)
		if i == 0 {
			dicts = dictionarySizes(r)
		}
		r.Close()
		obj.Close()
	}
	t.NDV = map[string]float64{}
	for c, n := range dicts {
		t.NDV[c] = min(float64(n), float64(t.Rows))
	}
	for c, l := range lo {
		t.NDV[c] = min(float64(hi[c]-l+1), float64(t.Rows))
	}
	for c, rs := range ranges {
		f, ok := t.Schema.FieldsByName(c)
		if len(rs) == len(files) && ok && len(f) == 1 && arrow.IsSignedInteger(f[0].Type.ID()) {
			if t.Ranges == nil {
				t.Ranges = map[string][][2]int64{}
			}
			t.Ranges[c] = rs
			if !unsorted[c] {
				if t.Sorted == nil {
					t.Sorted = map[string]bool{}
				}
				t.Sorted[c] = true
			}
		}
	}
	return t, nil
}

// tableSchema is a Parquet file's Arrow schema with each column in its
// SQL type (wire.TableType; INT96, Spark's and Impala's timestamps, which
// the reader decodes as nanoseconds, a TIMESTAMP as DuckDB reads it). The
// scan converts the file's columns to it.
func tableSchema(s *arrow.Schema, r *file.Reader) *arrow.Schema {
	fields := slices.Clone(s.Fields())
	changed := false
	for i, f := range fields {
		t := wire.TableType(f.Type)
		if c := r.MetaData().Schema.ColumnIndexByName(f.Name); c >= 0 && f.Type.ID() == arrow.TIMESTAMP &&
			r.MetaData().Schema.Column(c).PhysicalType() == parquet.Types.Int96 {
			t = wire.Timestamp
		}
		if !arrow.TypeEqual(t, f.Type) {
			fields[i].Type, changed = t, true
		}
	}
	if !changed {
		return s
	}
	md := s.Metadata()
	return arrow.NewSchema(fields, &md)
}

// RegisterParquetDir registers the tables ParquetDirDefs defines (the
// eight TPC-H tables kapot tpch gen wrote under dir, given tpch.Tables).
func (c *Catalog) RegisterParquetDir(dir string, names []string) error {
	defs, err := ParquetDirDefs(dir, names)
	if err != nil {
		return err
	}
	for _, d := range defs {
		t, err := c.Resolve(context.Background(), d, nil)
		if err != nil {
			return err
		}
		if err := c.Register(t); err != nil {
			return err
		}
	}
	return nil
}

// intRanges widens lo/hi by the min/max statistics of every integer column
// chunk of r.
// dictionarySizes estimates the distinct values of the dictionary-encoded
// byte-array (string) columns of r from the dictionary of its first row
// group: exact for low-cardinality columns (names of nations, ship modes,
// part types), whose equality filters the join order most depends on.
// One small read per such column.
func dictionarySizes(r *file.Reader) (out map[string]int64) {
	defer func() {
		if recover() != nil { // a corrupt page is the scan's business
			out = nil
		}
	}()
	out = map[string]int64{}
	if r.NumRowGroups() == 0 {
		return out
	}
	md := r.MetaData().RowGroup(0)
	rg := r.RowGroup(0)
	for c := 0; c < md.NumColumns(); c++ {
		cc, err := md.ColumnChunk(c)
		if err != nil || cc.Type() != parquet.Types.ByteArray || !cc.HasDictionaryPage() {
			continue
		}
		pr, err := rg.GetColumnPageReader(c)
		if err != nil {
			continue
		}
		if dp, err := pr.GetDictionaryPage(); err == nil && dp != nil {
			out[cc.PathInSchema().String()] = int64(dp.NumValues())
		}
	}
	return out
}

// fileRanges records in ranges, for file i (read by r), the [min, max] of
// every integer column whose every row group has min/max statistics and a
// null count of zero; a column that misses either, in this file or an
// earlier one, is dropped (ranges[c] stays shorter than i+1). It marks
// unsorted the columns whose row groups' ranges are out of order.
func fileRanges(r *file.Reader, i int, ranges map[string][][2]int64, unsorted map[string]bool) {
	md := r.MetaData()
	cur := map[string][2]int64{}
	bad := map[string]bool{}
	for g := 0; g < r.NumRowGroups(); g++ {
		rg := md.RowGroup(g)
		if rg.NumRows() == 0 {
			continue
		}
		for c := 0; c < rg.NumColumns(); c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				continue
			}
			name := cc.PathInSchema().String()
			mn, mx, ok := chunkRange(cc)
			if !ok {
				bad[name] = true
				continue
			}
			if v, seen := cur[name]; seen {
				if mn < v[1] {
					unsorted[name] = true
				}
				mn, mx = min(mn, v[0]), max(mx, v[1])
			}
			cur[name] = [2]int64{mn, mx}
		}
	}
	for c := 0; c < md.Schema.NumColumns(); c++ {
		name := md.Schema.Column(c).Path()
		if bad[name] || len(ranges[name]) != i {
			delete(ranges, name)
			continue
		}
		v, ok := cur[name]
		if !ok {
			if r.NumRows() != 0 {
				delete(ranges, name)
				continue
			}
			v = [2]int64{1, 0} // no rows: an empty range
		}
		ranges[name] = append(ranges[name], v)
	}
}

// chunkRange is the [min, max] of an integer column chunk without nulls,
// from its statistics.
func chunkRange(cc *metadata.ColumnChunkMetaData) (mn, mx int64, ok bool) {
	if ok, err := cc.StatsSet(); !ok || err != nil {
		return 0, 0, false
	}
	st, err := cc.Statistics()
	if err != nil || !st.HasMinMax() || !st.HasNullCount() || st.NullCount() != 0 {
		return 0, 0, false
	}
	switch x := st.(type) {
	case *metadata.Int32Statistics:
		return int64(x.Min()), int64(x.Max()), true
	case *metadata.Int64Statistics:
		return x.Min(), x.Max(), true
	}
	return 0, 0, false
}

func intRanges(r *file.Reader, lo, hi map[string]int64) {
	md := r.MetaData()
	for g := 0; g < r.NumRowGroups(); g++ {
		rg := md.RowGroup(g)
		for c := 0; c < rg.NumColumns(); c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				continue
			}
			if ok, err := cc.StatsSet(); !ok || err != nil {
				continue
			}
			st, err := cc.Statistics()
			if err != nil || !st.HasMinMax() {
				continue
			}
			var mn, mx int64
			switch x := st.(type) {
			case *metadata.Int32Statistics:
				mn, mx = int64(x.Min()), int64(x.Max())
			case *metadata.Int64Statistics:
				mn, mx = x.Min(), x.Max()
			default:
				continue
			}
			name := cc.PathInSchema().String()
			if cur, ok := lo[name]; !ok || mn < cur {
				lo[name] = mn
			}
			if cur, ok := hi[name]; !ok || mx > cur {
				hi[name] = mx
			}
		}
	}
}
