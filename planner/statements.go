package planner

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"gopkg.in/yaml.v3"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Classify parses one statement, resolving external tables with the
// default object-store registry (see Catalog.Classify).
func Classify(stmt string) (*Statement, error) { return NewCatalog().Classify(stmt) }

// Classify parses one statement (ParseStatement) and resolves a CREATE
// EXTERNAL TABLE's definition: its files are listed and their schema read
// through the catalog's store under the catalog's properties (the table is
// returned, not registered).
func (c *Catalog) Classify(stmt string) (*Statement, error) {
	st, err := ParseStatement(stmt)
	if err != nil || st.Kind != StmtCreateExternalTable {
		return st, err
	}
	if st.Table, err = c.Resolve(context.Background(), st.Def, nil); err != nil {
		return nil, err
	}
	return st, nil
}

// Resolve lists an external table's files and reads their schema (and,
// for Parquet, row counts and statistics) through the catalog's store,
// under props: the session properties of the statement that names the
// table (kapot.s3.endpoint, region, path style, credentials), exactly as
// executors read its files; nil: the catalog's own. The store's rules for
// a session's endpoint apply (its local addresses refused, the node's
// credentials never sent there).
func (c *Catalog) Resolve(ctx context.Context, d *ExternalTable, props map[string]string) (*Table, error) {
	if props == nil {
		props = c.props
	}
	t, err := c.externalTable(ctx, d.Name, d.Format, d.Header, d.Delimiter, d.Location, props)
	if err != nil {
		return nil, err
	}
	def := *d
	def.IfNotExists = false
	t.Def = &def
	if len(d.PartitionBy) > 0 {
		if err := hivePartitions(t, d); err != nil {
			return nil, fmt.Errorf("CREATE EXTERNAL TABLE %s: %w", d.Name, err)
		}
	}
	return t, nil
}

// hivePartitions reads the partition columns' values of each file of t
// from its col=value/ directories under the table's location, and adds the
// columns to its schema: BIGINT where every value is an integer, else
// VARCHAR; NULL and __HIVE_DEFAULT_PARTITION__ are NULL.
func hivePartitions(t *Table, d *ExternalTable) error {
	prefix := strings.TrimSuffix(d.Location, "/") + "/"
	if !objstore.IsRemote(d.Location) {
		if abs, err := filepath.Abs(d.Location); err == nil {
			prefix = strings.TrimSuffix(abs, "/") + "/"
		}
	}
	t.PartitionValues = make([][]*string, len(t.Files))
	for i, f := range t.Files {
		rel := strings.TrimPrefix(f, prefix)
		found := map[string]*string{}
		for _, seg := range strings.Split(rel, "/") {
			k, v, ok := strings.Cut(seg, "=")
			if !ok {
				continue
			}
			if u, err := url.PathUnescape(v); err == nil {
				v = u
			}
			if v == engine.HiveNull || v == "__HIVE_DEFAULT_PARTITION__" {
				found[strings.ToLower(k)] = nil
			} else {
				found[strings.ToLower(k)] = &v
			}
		}
		vals := make([]*string, len(d.PartitionBy))
		for j, c := range d.PartitionBy {
			v, ok := found[strings.ToLower(c)]
			if !ok {
				return fmt.Errorf("file %s lies under no %s=value directory", f, c)
			}
			vals[j] = v
		}
		t.PartitionValues[i] = vals
	}
	fields := t.Schema.Fields()
	for j, c := range d.PartitionBy {
		for _, f := range fields {
			if strings.EqualFold(f.Name, c) {
				return fmt.Errorf("partition column %s is also a column of the files", c)
			}
		}
		typ := arrow.DataType(arrow.PrimitiveTypes.Int64)
		for _, vals := range t.PartitionValues {
			if v := vals[j]; v != nil {
				if _, err := strconv.ParseInt(*v, 10, 64); err != nil {
					typ = arrow.BinaryTypes.String
					break
				}
			}
		}
		fields = append(fields, arrow.Field{Name: c, Type: typ, Nullable: true})
	}
	t.Partitions = append([]string(nil), d.PartitionBy...)
	t.Schema = arrow.NewSchema(fields, nil)
	return nil
}

func (c *Catalog) externalTable(ctx context.Context, name, format string, header bool, delim, location string, props map[string]string) (*Table, error) {
	files, err := c.listFiles(ctx, location, format, props)
	if err != nil {
		return nil, fmt.Errorf("CREATE EXTERNAL TABLE %s: %w", name, err)
	}
	if format == "parquet" {
		// The footers are read under props: a catalog view of the same
		// store with the statement's properties.
		return (&Catalog{store: c.store, props: props}).ParquetTable(ctx, name, files)
	}
	scan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: files[:1]}}, HasHeader: header, Delimiter: delim, InferSchema: true}}}
	p, err := engine.FromProtoWith(scan, engine.BuildOptions{Ctx: ctx, Store: c.store, Properties: props})
	if err != nil {
		return nil, fmt.Errorf("CREATE EXTERNAL TABLE %s: %w", name, err)
	}
	return &Table{Name: name, Format: "csv", Files: files, Schema: p.Schema(), Header: header, Delimiter: delim}, nil
}

// listFiles resolves a location: a file, or a directory's (or an object
// prefix's) files of the format (searched recursively), sorted. Remote
// locations are listed under props (the session's kapot.s3.*).
func (c *Catalog) listFiles(ctx context.Context, location, format string, props map[string]string) ([]string, error) {
	// The roots apply before anything is listed: a refused location is
	// not walked, and no name under it is reported.
	if err := c.store.Allowed(location); err != nil {
		return nil, err
	}
	if objstore.IsRemote(location) {
		all, err := c.store.List(ctx, location, props)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, f := range all {
			if len(all) == 1 || strings.HasSuffix(strings.ToLower(f), "."+format) {
				out = append(out, f)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no .%s files under %s", format, location)
		}
		return out, nil
	}
	abs, err := filepath.Abs(location)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{abs}, nil
	}
	var out []string
	err = filepath.WalkDir(abs, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(p), "."+format) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no .%s files under %s", format, abs)
	}
	sort.Strings(out)
	return out, nil
}

// Describe lists a table's columns as (name, type, nullable) rows.
func (c *Catalog) Describe(name string) ([][3]string, error) {
	t, ok := c.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("table %q does not exist (have: %s)", name, strings.Join(c.Names(), ", "))
	}
	var out [][3]string
	for _, f := range t.Schema.Fields() {
		out = append(out, [3]string{f.Name, typeName(f.Type), fmt.Sprint(f.Nullable)})
	}
	return out, nil
}

func typeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.STRING:
		return "VARCHAR"
	case arrow.INT64:
		return "BIGINT"
	case arrow.INT32:
		return "INTEGER"
	case arrow.DATE32:
		return "DATE"
	case arrow.FLOAT64:
		return "DOUBLE"
	case arrow.DECIMAL128:
		d := t.(*arrow.Decimal128Type)
		return fmt.Sprintf("DECIMAL(%d,%d)", d.Precision, d.Scale)
	}
	return strings.ToUpper(t.String())
}

// JobName is the name a statement's job gets: its first line, at most 80
// bytes.
func JobName(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexByte(sql, '\n'); i >= 0 {
		sql = sql[:i]
	}
	if len(sql) > 80 {
		sql = sql[:80]
	}
	// A copy: the name outlives the statement (a finished job is kept an
	// hour), and a slice would keep all of its text (megabytes for a long
	// IN list).
	return strings.Clone(sql)
}

// Explain renders a plan's operator tree, one node per line, stages cut
// at the exchanges.
func Explain(p *Plan) (string, error) {
	plan, err := engine.FromProto(p.Root)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	var walk func(n engine.ExecutionPlan, depth int)
	walk = func(n engine.ExecutionPlan, depth int) {
		fmt.Fprintf(&sb, "%s%s\n", strings.Repeat("  ", depth), engine.Unwrap(n).String())
		for _, c := range n.Children() {
			walk(c, depth+1)
		}
	}
	walk(plan, 0)
	return sb.String(), nil
}

// FormatMetrics renders operator metrics as an indented tree (children
// under their parent), one operator per line.
func FormatMetrics(ms []*kapotv1.OperatorMetrics) string {
	children := map[int64][]*kapotv1.OperatorMetrics{}
	for _, m := range ms {
		parent := int64(-1)
		if m.ParentId != nil {
			parent = int64(m.GetParentId())
		}
		children[parent] = append(children[parent], m)
	}
	var sb strings.Builder
	var walk func(parent int64, depth int)
	walk = func(parent int64, depth int) {
		for _, m := range children[parent] {
			fmt.Fprintf(&sb, "%s%s  rows=%d batches=%d compute=%s", strings.Repeat("  ", depth), m.GetName(), m.GetOutputRows(), m.GetOutputBatches(),
				time.Duration(m.GetElapsedComputeNs()).Round(time.Microsecond))
			if m.GetSpillCount() > 0 {
				fmt.Fprintf(&sb, " spills=%d spilled_bytes=%d", m.GetSpillCount(), m.GetSpilledBytes())
			}
			keys := make([]string, 0, len(m.GetCounters()))
			for k := range m.GetCounters() {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&sb, " %s=%d", k, m.GetCounters()[k])
			}
			sb.WriteByte('\n')
			walk(int64(m.GetNodeId()), depth+1)
		}
	}
	walk(-1, 0)
	return sb.String()
}

// TableSpec declares an external table in a YAML config file:
//
//	tables:
//	  - name: lineitem
//	    format: parquet          # or csv
//	    location: /data/lineitem # a file or a directory
//	    header: true             # csv only
//	    delimiter: "|"           # csv only
type TableSpec struct {
	Name      string `yaml:"name"`
	Format    string `yaml:"format"`
	Location  string `yaml:"location"`
	Header    bool   `yaml:"header"`
	Delimiter string `yaml:"delimiter"`
}

// LoadTables registers the tables of a YAML file's `tables:` list (see
// LoadTableDefs).
func (c *Catalog) LoadTables(path string) (int, error) {
	defs, err := LoadTableDefs(path)
	if err != nil {
		return 0, err
	}
	for i, d := range defs {
		t, err := c.Resolve(context.Background(), d, nil)
		if err != nil {
			return 0, fmt.Errorf("%s: tables[%d]: %w", path, i, err)
		}
		if err := c.Register(t); err != nil {
			return 0, err
		}
	}
	return len(defs), nil
}

// LoadTableDefs reads the table definitions of a YAML file's `tables:`
// list; other keys are left to their owners. Unknown table keys are
// errors. Relative locations are taken from the working directory and
// made absolute.
func LoadTableDefs(path string) ([]*ExternalTable, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Tables yaml.Node `yaml:"tables"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Tables.Kind == 0 {
		return nil, nil
	}
	var specs []TableSpec
	dec := doc.Tables
	if err := decodeStrict(&dec, &specs); err != nil {
		return nil, fmt.Errorf("%s: tables: %w", path, err)
	}
	var out []*ExternalTable
	for i, s := range specs {
		format := strings.ToLower(s.Format)
		if format == "" {
			format = "parquet"
		}
		if s.Name == "" || s.Location == "" || (format != "parquet" && format != "csv") {
			return nil, fmt.Errorf("%s: tables[%d]: needs a name, a location and format parquet or csv", path, i)
		}
		if len([]rune(s.Delimiter)) > 1 {
			return nil, fmt.Errorf("%s: tables[%d]: delimiter %q must be one character", path, i, s.Delimiter)
		}
		if format != "csv" && (s.Header || s.Delimiter != "") {
			return nil, fmt.Errorf("%s: tables[%d]: header and delimiter apply to csv tables only", path, i)
		}
		loc, err := absLocation(s.Location)
		if err != nil {
			return nil, fmt.Errorf("%s: tables[%d]: %w", path, i, err)
		}
		out = append(out, &ExternalTable{Name: s.Name, Format: format, Header: s.Header, Delimiter: s.Delimiter, Location: loc})
	}
	return out, nil
}

// absLocation makes a local location absolute (a scheduler elsewhere
// reads it from its own working directory); URLs are kept as written.
func absLocation(loc string) (string, error) {
	if objstore.IsRemote(loc) {
		return loc, nil
	}
	return filepath.Abs(loc)
}

// ParquetDirDefs are the definitions of tables named names whose Parquet
// files lie under dir, each in a directory dir/<name>/ or a file
// dir/<name>.parquet (as kapot tpch gen writes them: pass tpch.Tables),
// with absolute locations.
func ParquetDirDefs(dir string, names []string) ([]*ExternalTable, error) {
	var out []*ExternalTable
	for _, name := range names {
		var files []string
		for _, pattern := range []string{filepath.Join(dir, name, "*.parquet"), filepath.Join(dir, name, "*.csv"), filepath.Join(dir, name+".parquet")} {
			m, err := filepath.Glob(pattern)
			if err != nil {
				return nil, err
			}
			files = append(files, m...)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no files for table %s under %s", name, dir)
		}
		for _, f := range files {
			if !strings.EqualFold(filepath.Ext(f), ".parquet") {
				return nil, fmt.Errorf("%s: not supported yet: tables of %s files here (generate Parquet)", f, filepath.Ext(f))
			}
		}
		loc := filepath.Join(dir, name)
		if st, err := os.Stat(loc); err != nil || !st.IsDir() {
			loc += ".parquet"
		}
		loc, err := filepath.Abs(loc)
		if err != nil {
			return nil, err
		}
		out = append(out, &ExternalTable{Name: name, Format: "parquet", Location: loc})
	}
	return out, nil
}

// decodeStrict decodes a YAML node rejecting unknown fields.
func decodeStrict(n *yaml.Node, out any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	d := yaml.NewDecoder(strings.NewReader(string(b)))
	d.KnownFields(true)
	return d.Decode(out)
}
