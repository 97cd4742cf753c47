package catalog

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/objstore"
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
	// Bytes is each top-level column's uncompressed size in all files
	// (Parquet footers; nested columns sum their leaves), absent when
	// unknown: the planner sizes the shares a file is read in by what a
	// scan decodes.
	Bytes map[string]int64
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

// New returns an empty catalog that finds table files with the
// default object-store registry (local files, and S3 with the AWS SDK's
// environment and profile chain).
func New() *Catalog { return NewWith(nil, nil) }

// NewWith returns an empty catalog that lists and reads table files
// (s3://, http(s)://, paths) through store under the session properties
// props (kapot.s3.*); nil store means the default registry.
func NewWith(store *objstore.Registry, props map[string]string) *Catalog {
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
