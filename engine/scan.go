package engine

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// fileFormat reads one opened file as a stream of batches with the scan's
// projection.
type fileFormat interface {
	name() string
	// open reads part of obj: every row, or for Parquet only the rows
	// whose key lies in part's range and the row groups of part's share
	// (newFileScan refuses those for other formats).
	open(ctx context.Context, obj objstore.Object, tc *TaskContext, part filePart) (batchReader, error)
}

// filePart is what a file group's partition reads of each of its files
// (see kapotv1.FileGroup); the zero value reads everything.
type filePart struct {
	rng   *keyRange     // the rows whose key lies in a range; nil: all
	share rowGroupShare // a share of the row groups; n < 2: all
}

// rowGroupShare is share i of n of a file's row groups (see
// rowGroupShare.keep).
type rowGroupShare struct{ i, n int }

// keyRange is a file group's row range: the rows whose signed integer
// column col lies in [lo, hi] (see kapotv1.FileGroup).
type keyRange struct {
	col    string
	lo, hi int64
}

// opener opens a scan's files (local or in an object store) with the job's
// session properties.
type opener func(ctx context.Context, location string) (objstore.Object, error)

// batchReader is the per-file stream a scan reads; batches it returns are
// owned by the caller.
type batchReader interface {
	next() (arrow.RecordBatch, error)
	close()
}

// fileScan reads file groups, one group per partition, file after file.
type fileScan struct {
	groups [][]string
	parts  []filePart // per group: what it reads of its files
	schema *arrow.Schema
	format fileFormat
	open   opener
	nodeID *int // shared with formats that record metrics; may be nil
}

func (s *fileScan) setNodeID(id int) {
	if s.nodeID != nil {
		*s.nodeID = id
	}
}

// emptyReader is a file with nothing to read (every row group pruned).
type emptyReader struct{}

func (emptyReader) next() (arrow.RecordBatch, error) { return nil, io.EOF }
func (emptyReader) close()                           {}

func newFileScan(groups []*kapotv1.FileGroup, f fileFormat, schema *arrow.Schema, open opener) (*fileScan, error) {
	s := &fileScan{format: f, schema: schema, open: open}
	for _, g := range groups {
		if len(g.GetPaths()) == 0 {
			return nil, fmt.Errorf("%s scan: empty file group: %w", f.name(), ErrInvalidPlan)
		}
		s.groups = append(s.groups, g.GetPaths())
		var part filePart
		_, parquet := f.(parquetFormat)
		if c := g.GetRangeColumn(); c != "" {
			if !parquet {
				return nil, fmt.Errorf("%s scan: a file group with a key range: %w", f.name(), ErrInvalidPlan)
			}
			if g.GetRange() == nil {
				return nil, fmt.Errorf("%s scan: file group ranged by %q without a range: %w", f.name(), c, ErrInvalidPlan)
			}
			part.rng = &keyRange{col: c, lo: g.GetRange().GetLo(), hi: g.GetRange().GetHi()}
		}
		if n, i := g.GetRowGroupShares(), g.GetRowGroupShare(); n > 1 || i != 0 {
			if !parquet {
				return nil, fmt.Errorf("%s scan: a file group with a share of row groups: %w", f.name(), ErrInvalidPlan)
			}
			if n > maxRowGroupShares || i < 0 || i >= n {
				return nil, fmt.Errorf("%s scan: row group share %d of %d (at most %d shares): %w", f.name(), i, n, maxRowGroupShares, ErrInvalidPlan)
			}
			part.share = rowGroupShare{i: int(i), n: int(n)}
		}
		s.parts = append(s.parts, part)
	}
	if len(s.groups) == 0 {
		return nil, fmt.Errorf("%s scan: no files: %w", f.name(), ErrInvalidPlan)
	}
	return s, nil
}

func firstPath(groups []*kapotv1.FileGroup) (string, error) {
	for _, g := range groups {
		for _, p := range g.GetPaths() {
			return p, nil
		}
	}
	return "", fmt.Errorf("scan: no files: %w", ErrInvalidPlan)
}

func (s *fileScan) Schema() *arrow.Schema     { return s.schema }
func (s *fileScan) OutputPartitions() int     { return len(s.groups) }
func (s *fileScan) Children() []ExecutionPlan { return nil }
func (s *fileScan) String() string {
	n := 0
	split := ""
	for i, g := range s.groups {
		n += len(g)
		switch {
		case s.parts[i].rng != nil:
			split = ", split by " + s.parts[i].rng.col
		case s.parts[i].share.n > 1 && split == "":
			split = ", split by row groups"
		}
	}
	if split != "" {
		// Partitions that split a file read it once each.
		files := map[string]bool{}
		for _, g := range s.groups {
			for _, f := range g {
				files[f] = true
			}
		}
		n = len(files)
	}
	return fmt.Sprintf("%sScan(files=%d, partitions=%d%s)", s.format.name(), n, len(s.groups), split)
}

func (s *fileScan) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := checkPartition(s, p); err != nil {
		return nil, err
	}
	return &fileScanOp{scan: s, files: s.groups[p], part: s.parts[p], tc: tc}, nil
}

type fileScanOp struct {
	scan  *fileScan
	files []string
	part  filePart
	tc    *TaskContext
	cur   batchReader
	obj   objstore.Object
	next  int
}

func (o *fileScanOp) closeFile() {
	if o.cur != nil {
		o.cur.close()
		o.cur = nil
	}
	if o.obj != nil {
		o.obj.Close()
		o.obj = nil
	}
}

func (o *fileScanOp) Schema() *arrow.Schema { return o.scan.schema }

// Next reads the next batch. A panic in a file-format library (corrupt
// input it does not check) becomes an error naming the file: one bad file
// never takes the process down.
func (o *fileScanOp) Next(ctx context.Context) (b arrow.RecordBatch, err error) {
	defer func() {
		if p := recover(); p != nil {
			file := "?"
			if o.next > 0 && o.next <= len(o.files) {
				file = o.files[o.next-1]
			}
			o.closeFile()
			b, err = nil, PanicError(p, fmt.Sprintf("%s scan: corrupt file %s", o.scan.format.name(), file))
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if o.cur == nil {
			if o.next >= len(o.files) {
				return nil, io.EOF
			}
			path := o.files[o.next]
			o.next++
			obj, err := o.scan.open(ctx, path)
			if err != nil {
				return nil, fmt.Errorf("%s scan: open %s: %w", o.scan.format.name(), path, err)
			}
			r, err := o.scan.format.open(ctx, obj, o.tc, o.part)
			if err != nil {
				obj.Close()
				return nil, fmt.Errorf("%s scan: open %s: %w", o.scan.format.name(), path, err)
			}
			o.cur, o.obj = r, obj
		}
		b, err := o.cur.next()
		if errors.Is(err, io.EOF) {
			o.closeFile()
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s scan: read %s: %w", o.scan.format.name(), o.files[o.next-1], err)
		}
		if !b.Schema().Equal(o.scan.schema) {
			b = conformTimes(b, o.scan.schema, o.tc.Mem)
			b2, err := conformBatch(b, o.scan.schema)
			b.Release()
			if err != nil {
				return nil, fmt.Errorf("%s scan: %s: %w", o.scan.format.name(), o.files[o.next-1], err)
			}
			b = b2
		}
		return b, nil
	}
}

func (o *fileScanOp) Close() error {
	o.closeFile()
	o.next = len(o.files)
	return nil
}

// conformBatch relabels b with schema when the column types agree (files of
// one scan may differ only in nullability or metadata).
func conformBatch(b arrow.RecordBatch, schema *arrow.Schema) (arrow.RecordBatch, error) {
	if int(b.NumCols()) != schema.NumFields() {
		return nil, fmt.Errorf("file has %d columns, scan expects %d", b.NumCols(), schema.NumFields())
	}
	for i, f := range schema.Fields() {
		if !arrow.TypeEqual(f.Type, b.Column(i).DataType()) {
			return nil, fmt.Errorf("column %q is %s in the file, %s in the scan schema", f.Name, b.Column(i).DataType(), f.Type)
		}
	}
	return array.NewRecordBatch(schema, b.Columns(), b.NumRows()), nil
}

func project(schema *arrow.Schema, names []string) ([]int, *arrow.Schema, error) {
	if len(names) == 0 {
		idx := make([]int, schema.NumFields())
		for i := range idx {
			idx[i] = i
		}
		return idx, schema, nil
	}
	idx := make([]int, len(names))
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		is := schema.FieldIndices(n)
		if len(is) != 1 {
			return nil, nil, fmt.Errorf("projected column %q not found in file columns (%s): %w", n, fieldNames(schema), ErrInvalidPlan)
		}
		idx[i] = is[0]
		fields[i] = schema.Field(is[0])
	}
	return idx, arrow.NewSchema(fields, nil), nil
}

func projectBatch(b arrow.RecordBatch, idx []int, schema *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, len(idx))
	for i, c := range idx {
		cols[i] = b.Column(c)
	}
	return array.NewRecordBatch(schema, cols, b.NumRows())
}

// ---------------------------------------------------------------- parquet

type parquetFormat struct {
	projection []string
	batchSize  int64
	pruner     *rowGroupPruner
	nodeID     *int        // set once the plan is built
	pre        []prefilter // from the filter above, if any
	out        *arrow.Schema
	footers    *FooterCache
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

// schemaOf opens the first file of a scan and reads its schema with read.
func schemaOf[T any](ctx context.Context, open opener, groups []*kapotv1.FileGroup, read func(objstore.Object) (T, error)) (v T, path string, err error) {
	var zero T
	defer func() {
		if p := recover(); p != nil {
			v, err = zero, PanicError(p, "corrupt file "+path)
		}
	}()
	path, err = firstPath(groups)
	if err != nil {
		return zero, "", err
	}
	obj, err := open(ctx, path)
	if err != nil {
		return zero, path, fmt.Errorf("open %s: %w", path, err)
	}
	defer obj.Close()
	v, err = read(obj)
	return v, path, err
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
	pruner, err := newRowGroupPruner(n.GetPruningPredicate(), schema)
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
	mem := withoutZeroing(tc.Mem)
	footer := f.footers.get(obj.Location(), obj.Version())
	var cached *metadata.FileMetaData
	if footer != nil {
		cached = footer.md
	}
	pf, err := openParquet(obj, mem, cached)
	if err != nil {
		return nil, err
	}
	if footer == nil {
		footer = newParquetFooter(pf.MetaData())
		f.footers.put(obj.Location(), obj.Version(), footer)
	}
	props := pqarrow.ArrowReadProperties{BatchSize: int64(tc.batchSize(f.batchSize)), PreAllocBinaryData: true}
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
	}
	if f.pruner != nil || split != nil || part.share.n > 1 {
		rowGroups = make([]int, 0, pf.NumRowGroups())
		lo, hi := part.share.rowGroups(pf.MetaData())
		for rg := lo; rg < hi; rg++ {
			if (f.pruner == nil || f.pruner.keep(pf, rg)) && (split == nil || split.keep(pf, rg)) {
				rowGroups = append(rowGroups, rg)
			}
		}
		tc.Metrics.AddCounter(*f.nodeID, "row_groups_pruned", int64(hi-lo-len(rowGroups)))
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

// reader reads columns cols of row groups rgs (nil: all) of fr's file,
// which it leaves open (a reader with pf set closes it); want holds each
// column's readAs type.
func (f parquetFormat) reader(ctx context.Context, fr *pqarrow.FileReader, obj objstore.Object, tc *TaskContext, cols []int, want map[int]arrow.DataType, rgs []int) (*parquetReader, error) {
	r := &parquetReader{loc: obj.Location(), mem: tc.Mem, want: make([]arrow.DataType, len(cols)), pre: f.pre, out: f.out,
		minRows: int64(tc.batchSize(f.batchSize)) / 4}
	if len(r.pre) > 0 {
		r.masks = make([]dictMaskCache, len(r.pre))
	}
	for i, c := range cols {
		r.want[i] = want[c]
		rr, err := fr.GetRecordReader(ctx, []int{c}, rgs)
		if err != nil {
			r.close()
			return nil, err
		}
		r.rrs = append(r.rrs, rr)
	}
	return r, nil
}

// dictionaryColumns yields the string columns of md's file whose every data page
// is dictionary encoded (by the pages' encoding statistics). Those read as
// Arrow dictionaries, indexes decoded in bulk, and convertColumn expands
// them: much cheaper than pqarrow's value-by-value string builder. Columns
// with plain pages (a writer's fallback for high cardinality) would make
// the dictionary reader hash every value, and read as strings.
func dictionaryColumns(md *metadata.FileMetaData) iter.Seq[int] {
	return func(yield func(int) bool) {
	cols:
		for c := 0; c < md.Schema.NumColumns(); c++ {
			col := md.Schema.Column(c)
			if col.PhysicalType() != parquet.Types.ByteArray || col.MaxRepetitionLevel() > 0 {
				continue
			}
			if _, ok := col.LogicalType().(schema.StringLogicalType); !ok {
				continue
			}
			for rg := 0; rg < md.NumRowGroups(); rg++ {
				cc, err := md.RowGroup(rg).ColumnChunk(c)
				if err != nil || !allDictionaryPages(cc.EncodingStats()) {
					continue cols
				}
			}
			if md.NumRowGroups() > 0 && !yield(c) {
				return
			}
		}
	}
}

// allDictionaryPages reports whether stats list data pages and all of them
// are dictionary encoded.
func allDictionaryPages(stats []metadata.PageEncodingStats) bool {
	data := 0
	for _, s := range stats {
		switch s.PageType.String() {
		case "DATA_PAGE", "DATA_PAGE_V2":
			if s.Encoding != parquet.Encodings.RLEDict && s.Encoding != parquet.Encodings.PlainDict {
				return false
			}
			data++
		}
	}
	return data > 0
}

// readAs makes column c of fr decode in the cheapest form pqarrow offers,
// and returns the type it must be given back by convertColumn (nil: c
// reads as is). Dates and decimals kept in INT32/INT64 decode as those
// integers: pqarrow hands integer columns over without a copy, but
// converts dates and decimals value by value into buffers of its own (Go
// heap, zeroed, not the task's allocator), a large share of a TPC-H scan.
// String columns read as dictionaries (dictionaryColumns) go back to
// strings.
func readAs(fr *pqarrow.FileReader, c int) arrow.DataType {
	if c < 0 || c >= len(fr.Manifest.Fields) {
		return nil
	}
	sf := &fr.Manifest.Fields[c]
	if len(sf.Children) > 0 || sf.Field == nil || sf.ColIndex < 0 {
		return nil
	}
	want := sf.Field.Type
	if dt, ok := want.(*arrow.DictionaryType); ok && fr.Props.ReadDict(sf.ColIndex) {
		if dt.ValueType.ID() == arrow.STRING || dt.ValueType.ID() == arrow.BINARY {
			return dt.ValueType
		}
		return nil
	}
	var as arrow.DataType
	switch phys := fr.ParquetReader().MetaData().Schema.Column(sf.ColIndex).PhysicalType(); {
	case want.ID() == arrow.DATE32 && phys == parquet.Types.Int32:
		as = arrow.PrimitiveTypes.Int32
	case want.ID() == arrow.DECIMAL128 && phys == parquet.Types.Int32:
		as = arrow.PrimitiveTypes.Int32
	case want.ID() == arrow.DECIMAL128 && phys == parquet.Types.Int64:
		as = arrow.PrimitiveTypes.Int64
	default:
		return nil
	}
	f := *sf.Field
	f.Type = as
	sf.Field = &f
	return want
}

// convertColumn gives a column read by readAs its type back: a date shares
// the integers' buffers, a decimal is widened into a buffer of mem, a
// dictionary is expanded. It releases col.
func convertColumn(col arrow.Array, want arrow.DataType, mem memory.Allocator) arrow.Array {
	defer col.Release()
	if dict, ok := col.(*array.Dictionary); ok {
		return expandDictionary(dict, want, mem)
	}
	d := col.Data()
	if want.ID() == arrow.DATE32 {
		nd := array.NewData(want, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
		defer nd.Release()
		return array.MakeFromData(nd)
	}
	n, off := d.Len(), d.Offset()
	buf := newUninitBuffer(mem, (off+n)*arrow.Decimal128SizeBytes)
	out := arrow.Decimal128Traits.CastFromBytes(buf.Bytes())[off : off+n]
	switch c := col.(type) {
	case *array.Int64:
		for i, v := range c.Int64Values() {
			out[i] = decimal128.FromI64(v)
		}
	case *array.Int32:
		for i, v := range c.Int32Values() {
			out[i] = decimal128.FromI64(int64(v))
		}
	}
	nd := array.NewData(want, n, []*memory.Buffer{d.Buffers()[0], buf}, nil, d.NullN(), off)
	buf.Release()
	defer nd.Release()
	return array.MakeFromData(nd)
}

// expandDictionary turns a dictionary of strings (or binaries) into a plain
// array of type want, built in mem.
func expandDictionary(d *array.Dictionary, want arrow.DataType, mem memory.Allocator) arrow.Array {
	n := d.Len()
	var idx []int32
	if ix, ok := d.Indices().(*array.Int32); ok {
		idx = ix.Int32Values()
	} else {
		idx = make([]int32, n)
		for i := range idx {
			if d.IsValid(i) {
				idx[i] = int32(d.GetValueIndex(i))
			}
		}
	}
	dict := d.Dictionary().Data()
	doffs := arrow.Int32Traits.CastFromBytes(dict.Buffers()[1].Bytes())[dict.Offset():]
	var dbytes []byte
	if b := dict.Buffers()[2]; b != nil {
		dbytes = b.Bytes()
	}
	nulls := d.NullN() > 0
	offsets := newUninitBuffer(mem, (n+1)*arrow.Int32SizeBytes)
	offs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	if !nulls {
		if data := expandShort(idx, doffs, dbytes, offs, mem); data != nil {
			nd := array.NewData(want, n, []*memory.Buffer{nil, offsets, data}, nil, 0, 0)
			offsets.Release()
			data.Release()
			defer nd.Release()
			return array.MakeFromData(nd)
		}
	}
	total := int32(0)
	for i, k := range idx {
		offs[i] = total
		if !nulls || d.IsValid(i) {
			total += doffs[k+1] - doffs[k]
		}
	}
	offs[n] = total
	data := newUninitBuffer(mem, int(total))
	out := data.Bytes()
	for i, k := range idx {
		if !nulls || d.IsValid(i) {
			copy(out[offs[i]:], dbytes[doffs[k]:doffs[k+1]])
		}
	}
	var valid *memory.Buffer
	if nulls {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		vb := valid.Bytes()
		for i := range n {
			if d.IsValid(i) {
				bitutil.SetBit(vb, i)
			}
		}
	}
	nd := array.NewData(want, n, []*memory.Buffer{valid, offsets, data}, nil, d.NullN(), 0)
	offsets.Release()
	data.Release()
	if valid != nil {
		valid.Release()
	}
	defer nd.Release()
	return array.MakeFromData(nd)
}

// expandShort expands the indexes idx of a dictionary whose values are all
// at most 8 bytes long (flags, modes, priorities: most low-cardinality
// strings) with one 8-byte store per row instead of a copy call, filling
// offs. It returns nil when a value is longer.
func expandShort(idx, doffs []int32, dbytes []byte, offs []int32, mem memory.Allocator) *memory.Buffer {
	words := make([]uint64, len(doffs)-1)
	lens := make([]int32, len(words))
	for k := range words {
		v := dbytes[doffs[k]:doffs[k+1]]
		if len(v) > 8 {
			return nil
		}
		var w [8]byte
		copy(w[:], v)
		words[k], lens[k] = binary.LittleEndian.Uint64(w[:]), int32(len(v))
	}
	data := newUninitBuffer(mem, 8*len(idx)+8)
	out := data.Bytes()
	pos := int32(0)
	for i, k := range idx {
		offs[i] = pos
		binary.LittleEndian.PutUint64(out[pos:], words[k])
		pos += lens[k]
	}
	offs[len(idx)] = pos
	return data
}

// openParquet reads a file's footer; a panic of the Parquet library on a
// corrupt footer becomes an error.
func openParquet(obj objstore.Object, mem memory.Allocator, footer ...*metadata.FileMetaData) (pf *file.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			pf, err = nil, PanicError(p, "corrupt Parquet file "+obj.Location())
		}
	}()
	opts := []file.ReadOption{file.WithReadProps(parquet.NewReaderProperties(mem))}
	if len(footer) > 0 && footer[0] != nil {
		opts = append(opts, file.WithMetadata(footer[0]))
	}
	return file.NewParquetReader(objstore.SectionReader(obj), opts...)
}

// parquetReader decodes the projected columns of one file, each column
// by a record reader of its own (without pqarrow's internal goroutines,
// whose panics on corrupt pages could not be recovered). A panic inside the
// Parquet library becomes an error naming the file.
type parquetReader struct {
	pf     *file.Reader
	rrs    []pqarrow.RecordReader
	want   []arrow.DataType // per column: the type to convert to (readAsInteger), or nil
	mem    memory.Allocator
	schema *arrow.Schema
	loc    string
	// Prefilters (see prefilter), the scan's output schema they are bound
	// to, the mask of each for the dictionary it last saw, and the rows
	// they keep of the current batch.
	pre   []prefilter
	out   *arrow.Schema
	masks []dictMaskCache
	sel   []int32
	// minRows is the smallest batch next returns while prefilters drop
	// rows (a quarter of the batch size), but at the end of the file.
	minRows int64
}

// dictMaskCache is a prefilter's mask for one dictionary (pqarrow hands
// the same dictionary to every batch of a row group).
type dictMaskCache struct {
	dict *memory.Buffer // the dictionary's values buffer
	n    int
	mask []bool
	ok   bool
}

func (r *parquetReader) next() (arrow.RecordBatch, error) {
	if len(r.rrs) == 1 && r.want[0] == nil && len(r.pre) == 0 {
		return r.nextOf(0)
	}
	var pending []arrow.RecordBatch
	var rows int64
	defer func() {
		for _, b := range pending {
			b.Release()
		}
	}()
	for {
		b, err := r.nextBatch()
		if errors.Is(err, io.EOF) && len(pending) > 0 {
			return r.concat(pending)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case b.NumRows() == 0:
			b.Release() // every row prefiltered away: read on
		case len(pending) == 0 && (len(r.pre) == 0 || b.NumRows() >= r.minRows):
			return b, nil
		default:
			// Prefilters keep few rows of each batch (Q19: 1 in 14):
			// the operators above pay per batch, so small ones are
			// gathered into one of at least minRows.
			pending = append(pending, b)
			if rows += b.NumRows(); rows >= r.minRows {
				return r.concat(pending)
			}
		}
	}
}

// concat joins prefiltered batches into one.
func (r *parquetReader) concat(batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(batches) == 1 {
		batches[0].Retain()
		return batches[0], nil
	}
	return concatBatchesMem(r.mem, batches[0].Schema(), batches)
}

// preselect runs the prefilters over parts (see prefilter): it returns
// the rows to keep, or all == true to keep every row, and the columns it
// converted to evaluate a prefilter (nil for the others), which the
// caller releases. Dictionary prefilters run first: they cost a test per
// dictionary value, and the value prefilters after them keep rows of
// those they kept.
func (r *parquetReader) preselect(parts []arrow.RecordBatch) (sel []int32, all bool, conv []arrow.Array) {
	filtered := false
	sel = r.sel[:0]
	for k, p := range r.pre {
		if p.values || p.col >= len(parts) || r.out == nil {
			continue
		}
		d, ok := parts[p.col].Column(0).(*array.Dictionary)
		if !ok {
			continue
		}
		c := &r.masks[k]
		vals := d.Dictionary().Data().Buffers()[2]
		if c.dict == nil || c.dict != vals || c.n != d.Dictionary().Len() {
			c.dict, c.n = vals, d.Dictionary().Len()
			c.mask, c.ok = p.dictMask(r.out, d.Dictionary(), r.mem)
		}
		if !c.ok {
			continue
		}
		sel = selectDict(d, c.mask, sel, !filtered)
		filtered = true
	}
	// Value prefilters on columns read as they are output (integers,
	// floats, dates) first, then those that convert (decimals). Once few
	// rows are left, a prefilter tests only those: Q6's decimal conjuncts
	// see the 15 % of lineitem its dates keep, not every row.
	for _, cheap := range []bool{true, false} {
		for _, p := range r.pre {
			if !p.values || p.col >= len(parts) || r.out == nil || (filtered && len(sel) == 0) {
				continue
			}
			want := r.want[p.col]
			if cheap != (want == nil || want.ID() == arrow.DATE32) {
				continue
			}
			col := parts[p.col].Column(0)
			if _, ok := col.(*array.Dictionary); ok {
				continue
			}
			if filtered && len(sel)*denseSelection < col.Len() {
				sub, err := r.takeColumn(col, sel)
				if err != nil {
					continue
				}
				if want != nil {
					c, err := r.convert(sub, want)
					sub.Release()
					if err != nil {
						continue
					}
					sub = c
				}
				mask := p.valueMask(r.out, sub, r.mem)
				sub.Release()
				if mask != nil {
					sel = keepWhere(mask, sel)
					mask.Release()
				}
				continue
			}
			if want != nil {
				if conv == nil {
					conv = make([]arrow.Array, len(parts))
				}
				if conv[p.col] == nil {
					c, err := r.convert(col, want)
					if err != nil {
						continue // nextBatch converts it again and reports
					}
					conv[p.col] = c
				}
				col = conv[p.col]
			}
			mask := p.valueMask(r.out, col, r.mem)
			if mask == nil {
				continue
			}
			if filtered {
				sel = keepTrue(mask, sel)
			} else {
				sel = selectTrue(mask, sel[:0])
			}
			mask.Release()
			filtered = true
		}
	}
	r.sel = sel
	n := 0
	if len(parts) > 0 {
		n = int(parts[0].NumRows())
	}
	return sel, !filtered || len(sel) == n, conv
}

// takeColumn gathers rows sel of a column as read (a dictionary stays one)
// before its conversion; a corrupt file's panic becomes an error.
func (r *parquetReader) takeColumn(col arrow.Array, sel []int32) (out arrow.Array, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, PanicError(p, "corrupt Parquet file "+r.loc)
		}
	}()
	if d, ok := col.(*array.Dictionary); ok {
		idx, err := takeArray(context.Background(), r.mem, d.Indices(), sel)
		if err != nil {
			return nil, err
		}
		defer idx.Release()
		return array.NewDictionaryArray(d.DataType(), idx, d.Dictionary()), nil
	}
	return takeArray(context.Background(), r.mem, col, sel)
}

func (r *parquetReader) nextBatch() (arrow.RecordBatch, error) {
	parts := make([]arrow.RecordBatch, len(r.rrs))
	errs := make([]error, len(r.rrs))
	// One column after the other: an executor runs a task per core, so
	// decoding a task's columns on goroutines of their own only adds
	// hand-offs (measured: TPC-H Q1 at SF 1 on 2 cores, 1.47 s -> 1.0 s
	// sequential).
	for i := range r.rrs {
		parts[i], errs[i] = r.nextOf(i)
	}
	release := func() {
		for _, p := range parts {
			if p != nil {
				p.Release()
			}
		}
	}
	eof := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, io.EOF):
			eof++
		case err != nil:
			release()
			return nil, err
		}
	}
	if eof == len(r.rrs) {
		return nil, io.EOF
	}
	if eof > 0 {
		release()
		return nil, fmt.Errorf("corrupt Parquet file %s: columns hold different row counts", r.loc)
	}
	cols := make([]arrow.Array, len(parts))
	fields := make([]arrow.Field, len(parts))
	for _, p := range parts {
		if p.NumRows() != parts[0].NumRows() {
			release()
			return nil, fmt.Errorf("corrupt Parquet file %s: columns hold different row counts", r.loc)
		}
	}
	rows := parts[0].NumRows()
	sel, all, conv := r.preselect(parts)
	for _, c := range conv {
		if c != nil {
			defer c.Release()
		}
	}
	if !all {
		rows = int64(len(sel))
	}
	for i, p := range parts {
		cols[i], fields[i] = p.Column(0), p.Schema().Field(0)
		converted := conv != nil && conv[i] != nil
		if converted {
			cols[i] = conv[i]
		}
		if !all {
			c, err := r.takeColumn(cols[i], sel)
			if err != nil {
				release()
				return nil, err
			}
			cols[i] = c
			defer c.Release()
		}
		if r.want[i] != nil {
			fields[i].Type = r.want[i]
		}
		if r.want[i] != nil && !converted {
			c, err := r.convert(cols[i], r.want[i])
			if err != nil {
				release()
				return nil, err
			}
			cols[i] = c
			defer c.Release()
		}
	}
	if r.schema == nil {
		r.schema = arrow.NewSchema(fields, nil)
	}
	b := array.NewRecordBatch(r.schema, cols, rows)
	release()
	return b, nil
}

// convert is convertColumn on a column of a batch (which keeps its
// reference); a dictionary index out of range (a corrupt file) is an
// error naming the file.
func (r *parquetReader) convert(col arrow.Array, want arrow.DataType) (out arrow.Array, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, PanicError(p, "corrupt Parquet file "+r.loc)
		}
	}()
	return convertColumn(array.MakeFromData(col.Data()), want, r.mem), nil
}

// nextOf reads the next batch of column reader i, turning a panic of the
// Parquet library (corrupt data) into an error.
func (r *parquetReader) nextOf(i int) (b arrow.RecordBatch, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, PanicError(p, "corrupt Parquet file "+r.loc)
		}
	}()
	rr := r.rrs[i]
	if !rr.Next() {
		if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, io.EOF
	}
	b = rr.RecordBatch()
	b.Retain()
	return b, nil
}

func (r *parquetReader) close() {
	for _, rr := range r.rrs {
		rr.Release()
	}
	r.rrs = nil
	if r.pf != nil {
		r.pf.Close()
	}
}

// ---------------------------------------------------------------- csv

type csvFormat struct {
	fileSchema *arrow.Schema
	header     bool
	delimiter  rune
	proj       []int
	schema     *arrow.Schema
	batchSize  int64
}

func (csvFormat) name() string { return "CSV" }

func newCsvScan(n *kapotv1.CsvScanNode, o BuildOptions) (ExecutionPlan, error) {
	f := csvFormat{header: n.GetHasHeader(), delimiter: ',', batchSize: n.GetBatchSize()}
	if d := n.GetDelimiter(); d != "" {
		r := []rune(d)
		if len(r) != 1 || r[0] == '\n' || r[0] == '\r' || r[0] == '"' {
			return nil, fmt.Errorf("CSV scan: delimiter %q must be one character other than newline or quote: %w", d, ErrInvalidPlan)
		}
		f.delimiter = r[0]
	}
	var err error
	switch {
	case n.GetSchema() != nil && len(n.GetSchema().GetFields()) > 0:
		if f.fileSchema, err = wire.SchemaFromProto(n.GetSchema()); err != nil {
			return nil, fmt.Errorf("CSV scan: %w", err)
		}
	case n.GetInferSchema():
		var path string
		f.fileSchema, path, err = schemaOf(o.Ctx, o.opener(), n.GetFileGroups(), func(obj objstore.Object) (*arrow.Schema, error) {
			return inferCSVSchema(obj, f.header, f.delimiter)
		})
		if err != nil {
			return nil, fmt.Errorf("CSV scan: infer schema of %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("CSV scan: needs a schema or infer_schema: %w", ErrInvalidPlan)
	}
	if f.proj, f.schema, err = project(f.fileSchema, n.GetProjection()); err != nil {
		return nil, fmt.Errorf("CSV scan: %w", err)
	}
	return newFileScan(n.GetFileGroups(), f, f.schema, o.opener())
}

// readBuffer is the read size of streamed files: large, so that each read of
// an object store is one ranged request of a cache page.
const readBuffer = 1 << 20

func inferCSVSchema(obj objstore.Object, header bool, delim rune) (*arrow.Schema, error) {
	r := csv.NewInferringReader(bufio.NewReaderSize(objstore.Stream(obj), 1<<16), csv.WithHeader(header), csv.WithComma(delim), csv.WithChunk(1024), csv.WithNullReader(true, ""))
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, err
		}
	}
	s := r.Schema()
	if s == nil {
		return nil, fmt.Errorf("no rows to infer a schema from")
	}
	if !header {
		fields := s.Fields()
		for i := range fields {
			fields[i].Name = fmt.Sprintf("column_%d", i+1)
		}
		s = arrow.NewSchema(fields, nil)
	}
	return s, nil
}

type csvReader struct {
	r *csv.Reader
	f *csvFormat
}

func (f csvFormat) open(ctx context.Context, obj objstore.Object, tc *TaskContext, _ filePart) (batchReader, error) {
	r := csv.NewReader(bufio.NewReaderSize(objstore.Stream(obj), readBuffer), f.fileSchema,
		csv.WithHeader(f.header), csv.WithComma(f.delimiter), csv.WithChunk(tc.batchSize(f.batchSize)),
		csv.WithAllocator(tc.Mem), csv.WithNullReader(true, ""))
	return &csvReader{r: r, f: &f}, nil
}

func (r *csvReader) next() (arrow.RecordBatch, error) {
	if !r.r.Next() {
		if err := r.r.Err(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	return projectBatch(r.r.RecordBatch(), r.f.proj, r.f.schema), nil
}

func (r *csvReader) close() { r.r.Release() }

// ---------------------------------------------------------------- arrow ipc

type ipcFormat struct {
	proj   []int
	schema *arrow.Schema
}

func (ipcFormat) name() string { return "IPC" }

var ipcFileMagic = []byte("ARROW1")

// ipcOpen reads an Arrow IPC object in file or stream format.
func ipcOpen(obj objstore.Object, mem memory.Allocator) (func() (arrow.RecordBatch, error), *arrow.Schema, func(), error) {
	if err := checkIPC(obj); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", obj.Location(), err)
	}
	head := make([]byte, len(ipcFileMagic))
	n, _ := obj.ReadAt(head, 0)
	if n == len(head) && string(head) == string(ipcFileMagic) {
		fr, err := ipc.NewFileReader(objstore.SectionReader(obj), ipc.WithAllocator(mem))
		if err != nil {
			return nil, nil, nil, err
		}
		i := 0
		next := func() (arrow.RecordBatch, error) {
			if i >= fr.NumRecords() {
				return nil, io.EOF
			}
			b, err := fr.RecordBatchAt(i)
			i++
			return b, err
		}
		return next, fr.Schema(), func() { fr.Close() }, nil
	}
	sr, err := ipc.NewReader(bufio.NewReaderSize(objstore.Stream(obj), readBuffer), ipc.WithAllocator(mem))
	if err != nil {
		return nil, nil, nil, err
	}
	next := func() (arrow.RecordBatch, error) {
		if !sr.Next() {
			if err := sr.Err(); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		b := sr.RecordBatch()
		b.Retain()
		return b, nil
	}
	return next, sr.Schema(), func() { sr.Release() }, nil
}

func newIpcScan(n *kapotv1.IpcScanNode, o BuildOptions) (ExecutionPlan, error) {
	full, path, err := schemaOf(o.Ctx, o.opener(), n.GetFileGroups(), func(obj objstore.Object) (*arrow.Schema, error) {
		_, schema, closeFn, err := ipcOpen(obj, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		closeFn()
		return schema, nil
	})
	if err != nil {
		return nil, fmt.Errorf("IPC scan: open %s: %w", path, err)
	}
	f := ipcFormat{}
	if f.proj, f.schema, err = project(full, n.GetProjection()); err != nil {
		return nil, fmt.Errorf("IPC scan: %w", err)
	}
	return newFileScan(n.GetFileGroups(), f, f.schema, o.opener())
}

type ipcReader struct {
	nextFn  func() (arrow.RecordBatch, error)
	closeFn func()
	f       ipcFormat
}

func (f ipcFormat) open(ctx context.Context, obj objstore.Object, tc *TaskContext, _ filePart) (batchReader, error) {
	next, _, closeFn, err := ipcOpen(obj, tc.Mem)
	if err != nil {
		return nil, err
	}
	return &ipcReader{nextFn: next, closeFn: closeFn, f: f}, nil
}

func (r *ipcReader) next() (arrow.RecordBatch, error) {
	b, err := r.nextFn()
	if err != nil {
		return nil, err
	}
	defer b.Release()
	return projectBatch(b, r.f.proj, r.f.schema), nil
}

func (r *ipcReader) close() { r.closeFn() }
