package catalog

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// External tables: a definition's location listed, its files' schema read
// (Parquet footers, CSV inference) and its Hive partition values taken
// from the file paths.

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
		out = append(out, [3]string{f.Name, TypeName(f.Type), fmt.Sprint(f.Nullable)})
	}
	return out, nil
}

// TypeName is the SQL name of a column type (VARCHAR, BIGINT,
// DECIMAL(p,s), …), as DESCRIBE and error messages write it.
func TypeName(t arrow.DataType) string {
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
	case arrow.TIMESTAMP:
		ts := t.(*arrow.TimestampType)
		name := map[arrow.TimeUnit]string{arrow.Second: "TIMESTAMP_S", arrow.Millisecond: "TIMESTAMP_MS", arrow.Microsecond: "TIMESTAMP", arrow.Nanosecond: "TIMESTAMP_NS"}[ts.Unit]
		if ts.TimeZone != "" {
			name = "TIMESTAMP WITH TIME ZONE"
		}
		return name
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return "INTERVAL"
	case arrow.DECIMAL128:
		d := t.(*arrow.Decimal128Type)
		return fmt.Sprintf("DECIMAL(%d,%d)", d.Precision, d.Scale)
	case arrow.LIST:
		return TypeName(t.(*arrow.ListType).Elem()) + "[]"
	case arrow.MAP:
		m := t.(*arrow.MapType)
		return "MAP(" + TypeName(m.KeyType()) + ", " + TypeName(m.ItemType()) + ")"
	case arrow.STRUCT:
		fields := t.(*arrow.StructType).Fields()
		parts := make([]string, len(fields))
		for i, f := range fields {
			parts[i] = structFieldName(f.Name) + " " + TypeName(f.Type)
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	}
	return strings.ToUpper(t.String())
}

// structFieldName is a field name in a STRUCT type's name: as it is when
// a plain identifier, else double-quoted, as DuckDB writes it.
func structFieldName(name string) string {
	plain := name != ""
	for i, r := range name {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			plain = false
		}
	}
	if plain {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
