package catalog

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/wire"
)

// Parquet footers: a table's schema, row count, distinct-value estimates
// and per-file key ranges, read from its files' footers only.

// ParquetTable describes name over local Parquet files, reading the schema
// from the first file's footer and row counts and statistics from all.
func ParquetTable(name string, files []string) (*Table, error) {
	return New().ParquetTable(context.Background(), name, files)
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
		t.Bytes = columnBytes(r, t.Bytes)
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

// columnBytes adds to sizes (made when nil) the uncompressed bytes of
// each top-level column in r's row groups.
func columnBytes(r *file.Reader, sizes map[string]int64) map[string]int64 {
	if sizes == nil {
		sizes = map[string]int64{}
	}
	md := r.MetaData()
	for g := 0; g < md.NumRowGroups(); g++ {
		rg := md.RowGroup(g)
		for c := 0; c < rg.NumColumns(); c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				continue
			}
			if path := cc.PathInSchema(); len(path) > 0 {
				sizes[path[0]] += cc.TotalUncompressedSize()
			}
		}
	}
	return sizes
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
