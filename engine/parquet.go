package engine

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

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/pqflat"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

type parquetFormat struct {
	projection []string
	batchSize  int64
	pruner     *expr.RowGroupPruner
	nodeID     *int        // set once the plan is built
	pre        []prefilter // from the filter above, if any
	out        *arrow.Schema
	footers    *FooterCache
	// dynamic are the dynamic filters of joins above on the scan's
	// columns (see dynamic_filter.go).
	dynamic []dynamicTarget
}

// withTarget returns f also restricted by dynamic filter t.
func (f parquetFormat) withTarget(t dynamicTarget) parquetFormat {
	f.dynamic = append(slices.Clone(f.dynamic), t)
	return f
}

func (parquetFormat) name() string { return "Parquet" }

// ParquetSchema reads the Arrow schema of a Parquet object from its footer.
func ParquetSchema(obj objstore.Object) (*arrow.Schema, error) {
	pf, err := openParquet(obj, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", obj.Location(), err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", obj.Location(), err)
	}
	return fr.Schema()
}

func newParquetScan(n *kapotv1.ParquetScanNode, o BuildOptions) (ExecutionPlan, error) {
	var full *arrow.Schema
	var path string
	var err error
	if fs := n.GetFileSchema(); fs != nil && len(fs.GetFields()) > 0 {
		if full, err = wire.SchemaFromProto(fs); err != nil {
			return nil, fmt.Errorf("Parquet scan file schema: %w", err)
		}
		if path, err = firstPath(n.GetFileGroups()); err != nil {
			return nil, err
		}
	} else if full, path, err = schemaOf(o.Ctx, o.opener(), n.GetFileGroups(), ParquetSchema); err != nil {
		return nil, fmt.Errorf("Parquet scan: %w", err)
	}
	_, schema, err := project(full, n.GetProjection())
	if err != nil {
		return nil, fmt.Errorf("Parquet scan %s: %w", path, err)
	}
	pruner, err := expr.NewRowGroupPruner(n.GetPruningPredicate(), schema)
	if err != nil {
		return nil, fmt.Errorf("Parquet scan pruning predicate: %w", err)
	}
	id := new(int)
	s, err := newFileScan(n.GetFileGroups(), parquetFormat{projection: n.GetProjection(), batchSize: n.GetBatchSize(), pruner: pruner, nodeID: id, footers: o.Footers}, schema, o.opener())
	if err != nil {
		return nil, err
	}
	s.nodeID = id
	return s, nil
}

func (f parquetFormat) open(ctx context.Context, obj objstore.Object, tc *TaskContext, part filePart) (batchReader, error) {
	rng := part.rng
	// The Parquet reader decompresses and decodes into whole buffers:
	// recycled ones need no zeroing first (TestParquetDirtyMemory).
	mem := alloc.WithoutZeroing(tc.Mem)
	footer := f.footers.get(obj.Location(), obj.Version())
	var cached *metadata.FileMetaData
	if footer != nil {
		cached = footer.md
	}
	pf, err := openParquet(obj, mem, cached)
	if err != nil {
		return nil, err
	}
	if hasNestedColumns(pf.MetaData()) {
		// pqarrow assembles LIST, STRUCT and MAP columns in buffers it
		// does not fill whole: those need zeroed memory (a recycled
		// buffer's old bytes read as offsets; TestNestedOnCluster).
		md := pf.MetaData()
		pf.Close()
		mem = tc.Mem
		if pf, err = openParquet(obj, mem, md); err != nil {
			return nil, err
		}
	}
	if footer == nil {
		footer = newParquetFooter(pf.MetaData())
		f.footers.put(obj.Location(), obj.Version(), footer)
	}
	props := pqarrow.ArrowReadProperties{BatchSize: int64(tc.RowsPerBatch(f.batchSize)), PreAllocBinaryData: true}
	for _, c := range footer.dict {
		props.SetReadDict(c, true)
	}
	fr, err := pqarrow.NewFileReader(pf, props, mem)
	if err != nil {
		pf.Close()
		return nil, err
	}
	full, err := fr.Schema()
	if err != nil {
		pf.Close()
		return nil, err
	}
	var cols []int
	if len(f.projection) > 0 {
		if cols, _, err = project(full, f.projection); err != nil {
			pf.Close()
			return nil, err
		}
	}
	var rowGroups []int
	var split *rangeSplit
	if rng != nil {
		if split, err = newRangeSplit(fr, full, rng); err != nil {
			pf.Close()
			return nil, err
		}
	} else if rng, split = dynamicSplit(pf, fr, full, part, dynamicRanges(ctx, f.dynamic)); split != nil {
		tc.Metrics.AddCounter(*f.nodeID, "dynamic_filters", 1)
	} else if rs := dynamicRanges(ctx, f.dynamic); len(rs) > 0 {
		if f.out == nil {
			f.out = outputSchema(full, cols)
		}
		if pre, ok := dynamicPrefilter(pf, fr, full, f.out, part, rs); ok {
			f.pre = append(slices.Clip(f.pre), pre)
			tc.Metrics.AddCounter(*f.nodeID, "dynamic_filters", 1)
		} else if pre, ok := dynamicSetPrefilter(pf, fr, full, f.out, part, rs); ok {
			f.pre = append(slices.Clip(f.pre), pre)
			tc.Metrics.AddCounter(*f.nodeID, "dynamic_filters", 1)
		}
	}
	if f.pruner != nil || split != nil || part.share.n > 1 {
		rowGroups = make([]int, 0, pf.NumRowGroups())
		share := part.share.rowGroups(pf.MetaData())
		for _, rg := range share {
			if (f.pruner == nil || f.pruner.Keep(pf, rg)) && (split == nil || split.keep(pf, rg)) {
				rowGroups = append(rowGroups, rg)
			}
		}
		tc.Metrics.AddCounter(*f.nodeID, "row_groups_pruned", int64(len(share)-len(rowGroups)))
		tc.Metrics.AddCounter(*f.nodeID, "row_groups_read", int64(len(rowGroups)))
		if len(rowGroups) == 0 {
			pf.Close()
			return emptyReader{}, nil
		}
	}
	if cols == nil {
		for i := range full.Fields() {
			cols = append(cols, i)
		}
	}
	if len(cols) == 0 {
		pf.Close()
		return emptyReader{}, nil
	}
	// readAs retypes the file reader's columns: once per column.
	want := map[int]arrow.DataType{}
	for _, c := range cols {
		want[c] = readAs(fr, c)
	}
	if split != nil {
		if _, ok := want[split.col]; !ok {
			want[split.col] = readAs(fr, split.col)
		}
	}
	if split == nil || len(split.edge) == 0 {
		r, err := f.reader(ctx, fr, obj, tc, cols, want, rowGroups)
		if err != nil {
			pf.Close()
			return nil, err
		}
		r.pf = pf
		return r, nil
	}
	// Row groups partly outside the split's range are read with the key
	// and filtered; the others without it.
	c := &chainReader{pf: pf}
	for _, run := range split.runs(rowGroups) {
		c.open = append(c.open, func() (batchReader, error) {
			if !run.edge {
				return f.reader(ctx, fr, obj, tc, cols, want, run.rgs)
			}
			keyAt, added := slices.Index(cols, split.col), false
			withKey := cols
			if keyAt < 0 {
				keyAt, added = len(cols), true
				withKey = append(slices.Clone(cols), split.col)
			}
			r, err := f.reader(ctx, fr, obj, tc, withKey, want, run.rgs)
			if err != nil {
				return nil, err
			}
			return &rangeReader{in: r, mem: tc.Mem, key: keyAt, lo: rng.lo, hi: rng.hi, drop: added}, nil
		})
	}
	return c, nil
}

// outputSchema is the schema a scan of columns cols (nil: all) of a file
// of schema full outputs: dictionaries read back as their values.
func outputSchema(full *arrow.Schema, cols []int) *arrow.Schema {
	if cols == nil {
		for i := range full.Fields() {
			cols = append(cols, i)
		}
	}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = full.Field(c)
		if d, ok := fields[i].Type.(*arrow.DictionaryType); ok {
			fields[i].Type = d.ValueType
		}
	}
	return arrow.NewSchema(fields, nil)
}

// reader reads columns cols of row groups rgs (nil: all) of fr's file,
// which it leaves open (a reader with pf set closes it); want holds each
// column's readAs type.
func (f parquetFormat) reader(ctx context.Context, fr *pqarrow.FileReader, obj objstore.Object, tc *TaskContext, cols []int, want map[int]arrow.DataType, rgs []int) (*parquetReader, error) {
	r := &parquetReader{loc: obj.Location(), mem: tc.Mem, want: make([]arrow.DataType, len(cols)), pre: f.pre, out: f.out,
		minRows: int64(tc.RowsPerBatch(f.batchSize)) / 4}
	if len(r.pre) > 0 {
		r.masks = make([]dictMaskCache, len(r.pre))
	}
	flat := tc.Properties[PropFlatDecode] != "false"
	for i, c := range cols {
		r.want[i] = want[c]
		leaves := fieldLeaves(fr, c)
		if sf := &fr.Manifest.Fields[c]; flat && len(leaves) == 1 && sf.Field != nil &&
			pqflat.Supported(fr.ParquetReader().MetaData(), leaves[0], sf.Field.Type, rgs) {
			r.rrs = append(r.rrs, pqflat.NewReader(fr.ParquetReader(), r.loc, leaves[0], rgs, *sf.Field, int(fr.Props.BatchSize), tc.Mem))
			continue
		}
		rr, err := fr.GetRecordReader(ctx, leaves, rgs)
		if err != nil {
			r.close()
			return nil, err
		}
		r.rrs = append(r.rrs, rr)
	}
	return r, nil
}

// PropFlatDecode is the session property that turns the scan's own decoder
// of flat numeric columns (pqflat) off ("false"; on by default): those
// columns then decode with pqarrow, to compare timings and answers.
const PropFlatDecode = "kapot.scan.flat_decode"

// hasNestedColumns reports whether md's file has a column inside a LIST,
// STRUCT or MAP.
func hasNestedColumns(md *metadata.FileMetaData) bool {
	for c := 0; c < md.Schema.NumColumns(); c++ {
		if len(md.Schema.Column(c).ColumnPath()) > 1 {
			return true
		}
	}
	return false
}

// fieldLeaves are the Parquet leaf columns of top-level field c of fr's
// file: pqarrow selects columns by leaf, and a nested field (LIST, STRUCT,
// MAP) has one leaf per scalar inside it, so the fields after it have
// leaf indices of their own.
func fieldLeaves(fr *pqarrow.FileReader, c int) []int {
	if c < 0 || c >= len(fr.Manifest.Fields) {
		return []int{c}
	}
	var out []int
	var walk func(sf *pqarrow.SchemaField)
	walk = func(sf *pqarrow.SchemaField) {
		if len(sf.Children) == 0 {
			out = append(out, sf.ColIndex)
			return
		}
		for i := range sf.Children {
			walk(&sf.Children[i])
		}
	}
	walk(&fr.Manifest.Fields[c])
	return out
}

// openParquet reads a file's footer; a panic of the Parquet library on a
// corrupt footer becomes an error.
func openParquet(obj objstore.Object, mem memory.Allocator, footer ...*metadata.FileMetaData) (pf *file.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			pf, err = nil, alloc.PanicError(p, "corrupt Parquet file "+obj.Location())
		}
	}()
	opts := []file.ReadOption{file.WithReadProps(parquet.NewReaderProperties(mem))}
	if len(footer) > 0 && footer[0] != nil {
		opts = append(opts, file.WithMetadata(footer[0]))
	}
	return file.NewParquetReader(objstore.SectionReader(obj), opts...)
}
