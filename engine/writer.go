package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/errs"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// ErrConstraint marks a row that breaks a table's constraint (NOT NULL):
// every attempt fails the same way.
var ErrConstraint = errs.ErrConstraint

// Writer defaults: a file ends after about DefaultMaxFileBytes of input;
// row groups hold WriterRowGroupRows rows (DuckDB's default); a task keeps
// at most DefaultMaxOpenFiles files open with partition_by, and buffers at
// most writerBufferBytes of rows not yet written.
const (
	DefaultMaxFileBytes = 256 << 20
	WriterRowGroupRows  = 122_880
	DefaultMaxOpenFiles = 16
	writerBufferBytes   = 96 << 20
)

// HiveNull names the directory of NULL partition values (as DuckDB writes
// them).
const HiveNull = "NULL"

// Writer writes its input's rows to Parquet or CSV files under a staging
// location (see WriterNode) and returns, per partition, one row: the
// number of rows written. Each file is recorded in the task's context
// (TaskContext.Written) once complete.
type Writer struct {
	input ExecutionPlan
	node  *kapotv1.WriterNode
	opts  BuildOptions
	// data are the input columns written into the files; fileSchema
	// their schema under the files' names.
	data       []int
	fileSchema *arrow.Schema
	codec      compress.Compression
}

var writerSchema = arrow.NewSchema([]arrow.Field{{Name: "count", Type: arrow.PrimitiveTypes.Int64}}, nil)

func newWriter(input ExecutionPlan, n *kapotv1.WriterNode, o BuildOptions) (*Writer, error) {
	in := input.Schema()
	if n.GetLocation() == "" {
		return nil, fmt.Errorf("writer: no location: %w", ErrInvalidPlan)
	}
	if _, err := objstore.Parse(n.GetLocation()); err != nil {
		return nil, fmt.Errorf("writer: %v: %w", err, ErrInvalidPlan)
	}
	switch n.GetFormat() {
	case "parquet", "csv":
	default:
		return nil, fmt.Errorf("writer: format %q: %w", n.GetFormat(), ErrNotSupported)
	}
	codec, err := parquetCodec(n.GetCompression())
	if err != nil {
		return nil, err
	}
	if len(n.GetNames()) != 0 && len(n.GetNames()) != in.NumFields() {
		return nil, fmt.Errorf("writer: %d names for %d columns: %w", len(n.GetNames()), in.NumFields(), ErrInvalidPlan)
	}
	part := map[int]bool{}
	for _, c := range append(append([]uint32{}, n.GetPartitionBy()...), n.GetNotNull()...) {
		if int(c) >= in.NumFields() {
			return nil, fmt.Errorf("writer: column %d of %d: %w", c, in.NumFields(), ErrInvalidPlan)
		}
	}
	for _, c := range n.GetPartitionBy() {
		part[int(c)] = true
		// A partition column's name is a directory name: it must not
		// climb out of the write's staging directory, or name another.
		if name := in.Field(int(c)).Name; name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || strings.Contains(name, "..") {
			return nil, fmt.Errorf("PARTITION_BY column %q: a partition column's name becomes a directory name and may not be empty or hold '/', '\\' or '..': %w", name, ErrInvalidPlan)
		}
	}
	w := &Writer{input: input, node: n, opts: o, codec: codec}
	var fields []arrow.Field
	for i, f := range in.Fields() {
		if part[i] {
			continue
		}
		if len(n.GetNames()) > 0 {
			f.Name = n.GetNames()[i]
		}
		w.data = append(w.data, i)
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("writer: every column is a partition column; files need one more: %w", ErrInvalidPlan)
	}
	w.fileSchema = arrow.NewSchema(fields, nil)
	return w, nil
}

func parquetCodec(name string) (compress.Compression, error) {
	switch strings.ToLower(name) {
	case "", "snappy":
		return compress.Codecs.Snappy, nil
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "lz4", "lz4_raw":
		return compress.Codecs.Lz4Raw, nil
	case "uncompressed", "none":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, fmt.Errorf("compression %q (want snappy, zstd, gzip, lz4_raw or uncompressed): %w", name, ErrNotSupported)
}

func (w *Writer) Schema() *arrow.Schema     { return writerSchema }
func (w *Writer) OutputPartitions() int     { return w.input.OutputPartitions() }
func (w *Writer) Children() []ExecutionPlan { return []ExecutionPlan{w.input} }
func (w *Writer) String() string {
	s := fmt.Sprintf("Writer(%s to %s", w.node.GetFormat(), w.node.GetLocation())
	if len(w.node.GetPartitionBy()) > 0 {
		var cols []string
		for _, c := range w.node.GetPartitionBy() {
			cols = append(cols, w.input.Schema().Field(int(c)).Name)
		}
		s += ", partition_by=" + strings.Join(cols, ",")
	}
	return s + ")"
}

// Execute implements ExecutionPlan.
func (w *Writer) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	in, err := w.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	store, err := w.opts.Store.Writer(ctx, w.node.GetLocation(), w.opts.Properties)
	if err != nil {
		in.Close()
		return nil, err
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	return &writerOp{w: w, in: in, tc: tc, store: store, partition: p, id: hex.EncodeToString(id[:]), files: map[string]*fileSink{}}, nil
}

type writerOp struct {
	w         *Writer
	in        Operator
	tc        *TaskContext
	store     objstore.Writer
	partition int
	id        string // random per execution: attempts never share a name
	files     map[string]*fileSink
	clock     int64 // ticks of writes, for least-recently-written
	seq       int
	rows      int64
	buffered  int64
	done      bool
}

func (o *writerOp) Schema() *arrow.Schema { return writerSchema }

func (o *writerOp) Close() error {
	for _, f := range o.files {
		f.abort()
	}
	o.files = map[string]*fileSink{}
	return o.in.Close()
}

func (o *writerOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if o.done {
		return nil, io.EOF
	}
	for {
		b, err := o.in.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		err = o.write(ctx, b)
		b.Release()
		if err != nil {
			return nil, err
		}
	}
	if o.w.node.GetEmptyFile() && o.seq == 0 && len(o.files) == 0 {
		f := &fileSink{}
		if err := o.open(ctx, f); err != nil {
			return nil, err
		}
		o.files[""] = f
	}
	for k, f := range o.files {
		if err := o.closeFile(ctx, f); err != nil {
			return nil, err
		}
		delete(o.files, k)
	}
	o.done = true
	bld := array.NewInt64Builder(o.tc.Mem)
	defer bld.Release()
	bld.Append(o.rows)
	col := bld.NewArray()
	defer col.Release()
	return array.NewRecordBatch(writerSchema, []arrow.Array{col}, 1), nil
}

// write checks b's constraints and routes its rows to their files.
func (o *writerOp) write(ctx context.Context, b arrow.RecordBatch) error {
	if b.NumRows() == 0 {
		return nil
	}
	for _, c := range o.w.node.GetNotNull() {
		if col := b.Column(int(c)); col.NullN() > 0 {
			name := o.w.input.Schema().Field(int(c)).Name
			if len(o.w.node.GetNames()) > 0 {
				name = o.w.node.GetNames()[c]
			}
			return fmt.Errorf("NOT NULL constraint failed: column %s got a NULL: %w", name, ErrConstraint)
		}
	}
	o.rows += b.NumRows()
	if len(o.w.node.GetPartitionBy()) == 0 {
		return o.add(ctx, "", o.project(b))
	}
	// Rows by partition directory, in order of first appearance.
	keys := make([]string, b.NumRows())
	var order []string
	rowsOf := map[string][]int32{}
	for r := range keys {
		var sb strings.Builder
		for i, c := range o.w.node.GetPartitionBy() {
			if i > 0 {
				sb.WriteByte('/')
			}
			sb.WriteString(o.w.input.Schema().Field(int(c)).Name)
			sb.WriteByte('=')
			col := b.Column(int(c))
			if col.IsNull(r) {
				sb.WriteString(HiveNull)
			} else {
				sb.WriteString(HiveEscape(expr.FormatValue(col, r)))
			}
		}
		k := sb.String()
		if _, ok := rowsOf[k]; !ok {
			order = append(order, k)
		}
		rowsOf[k] = append(rowsOf[k], int32(r))
	}
	for _, k := range order {
		idx := rowsOf[k]
		if len(order) == 1 {
			if err := o.add(ctx, k, o.project(b)); err != nil {
				return err
			}
			continue
		}
		cols := make([]arrow.Array, len(o.w.data))
		for i, c := range o.w.data {
			a, err := kernel.Take(ctx, o.tc.Mem, b.Column(c), idx)
			if err != nil {
				releaseArrays(cols[:i])
				return err
			}
			cols[i] = a
		}
		part := array.NewRecordBatch(o.w.fileSchema, cols, int64(len(idx)))
		releaseArrays(cols)
		if err := o.add(ctx, k, part); err != nil {
			return err
		}
	}
	return nil
}

func releaseArrays(as []arrow.Array) {
	for _, a := range as {
		if a != nil {
			a.Release()
		}
	}
}

// project is b's data columns under the files' schema (a new batch).
func (o *writerOp) project(b arrow.RecordBatch) arrow.RecordBatch {
	cols := make([]arrow.Array, len(o.w.data))
	for i, c := range o.w.data {
		cols[i] = b.Column(c)
	}
	return array.NewRecordBatch(o.w.fileSchema, cols, b.NumRows())
}

// add buffers part (owned by add) for the file of directory key, writing
// row groups as they fill and closing files at their size bound.
func (o *writerOp) add(ctx context.Context, key string, part arrow.RecordBatch) error {
	f, ok := o.files[key]
	if !ok {
		max := int(o.w.node.GetMaxOpenFiles())
		if max <= 0 {
			max = DefaultMaxOpenFiles
		}
		if len(o.files) >= max {
			// Close the least recently written file; rows of its
			// directory that come later go to a new file.
			var lru *fileSink
			for _, g := range o.files {
				if lru == nil || g.tick < lru.tick {
					lru = g
				}
			}
			if err := o.closeFile(ctx, lru); err != nil {
				part.Release()
				return err
			}
			delete(o.files, lru.key)
		}
		f = &fileSink{key: key}
		o.files[key] = f
	}
	o.clock++
	f.tick = o.clock
	size := alloc.BatchBytes(part)
	f.pending = append(f.pending, part)
	f.pendingRows += part.NumRows()
	f.pendingBytes += size
	o.buffered += size
	if f.pendingRows >= WriterRowGroupRows {
		if err := o.flush(ctx, f); err != nil {
			return err
		}
	}
	for o.buffered > writerBufferBytes {
		var big *fileSink
		for _, g := range o.files {
			if big == nil || g.pendingBytes > big.pendingBytes {
				big = g
			}
		}
		if err := o.flush(ctx, big); err != nil {
			return err
		}
	}
	maxBytes := o.w.node.GetMaxFileBytes()
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFileBytes
	}
	if f.bytes+f.pendingBytes >= maxBytes {
		if err := o.closeFile(ctx, f); err != nil {
			return err
		}
		delete(o.files, key)
	}
	return nil
}

// fileSink is one open file of a task (and the rows buffered for its next
// row group).
type fileSink struct {
	key          string // the Hive directory ("" without partition_by)
	location     string
	out          objstore.ObjectWriter
	counter      *operator.CountingWriter
	pq           *pqarrow.FileWriter
	csv          *csv.Writer
	rows, bytes  int64 // written so far (bytes: of input)
	pending      []arrow.RecordBatch
	pendingRows  int64
	pendingBytes int64
	tick         int64
}

// open begins f's file.
func (o *writerOp) open(ctx context.Context, f *fileSink) error {
	o.seq++
	name := fmt.Sprintf("part-%05d-%s-%03d.%s", o.partition, o.id, o.seq, o.w.node.GetFormat())
	f.location = objstore.Join(o.w.node.GetLocation(), f.key, name)
	out, err := o.store.Create(ctx, f.location)
	if err != nil {
		return fmt.Errorf("write %s: %w", f.location, err)
	}
	f.out, f.counter = out, &operator.CountingWriter{W: out}
	if o.w.node.GetFormat() == "csv" {
		f.csv = csv.NewWriter(f.counter, o.w.fileSchema, csv.WithHeader(o.w.node.GetCsvHeader()), csv.WithNullWriter(""))
		return nil
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(o.w.codec), parquet.WithMaxRowGroupLength(WriterRowGroupRows),
		parquet.WithCreatedBy("kapot"), parquet.WithAllocator(o.tc.Mem))
	f.pq, err = pqarrow.NewFileWriter(o.w.fileSchema, f.counter, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		out.Abort()
		f.out = nil
		return fmt.Errorf("write %s: %w", f.location, err)
	}
	return nil
}

// flush writes f's buffered rows as one row group.
func (o *writerOp) flush(ctx context.Context, f *fileSink) error {
	if len(f.pending) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.out == nil {
		if err := o.open(ctx, f); err != nil {
			return err
		}
	}
	var err error
	if f.csv != nil {
		for _, b := range f.pending {
			if err = f.csv.Write(b); err != nil {
				break
			}
		}
		if err == nil {
			err = f.csv.Flush()
		}
	} else {
		tbl := array.NewTableFromRecords(o.w.fileSchema, f.pending)
		err = f.pq.WriteTable(tbl, WriterRowGroupRows)
		tbl.Release()
	}
	for _, b := range f.pending {
		b.Release()
	}
	f.rows += f.pendingRows
	f.bytes += f.pendingBytes
	o.buffered -= f.pendingBytes
	f.pending, f.pendingRows, f.pendingBytes = nil, 0, 0
	if err != nil {
		return fmt.Errorf("write %s: %w", f.location, err)
	}
	return nil
}

// closeFile flushes and completes f's file and records it in the task.
func (o *writerOp) closeFile(ctx context.Context, f *fileSink) error {
	if err := o.flush(ctx, f); err != nil {
		return err
	}
	if f.out == nil {
		return nil
	}
	var err error
	if f.pq != nil {
		err = f.pq.Close() // writes the footer; the sink is closed below
	}
	if err == nil {
		err = f.out.Close()
	}
	out := f.out
	f.out, f.pq, f.csv = nil, nil, nil
	if err != nil {
		out.Abort()
		return fmt.Errorf("write %s: %w", f.location, err)
	}
	o.tc.AddWritten(&kapotv1.WrittenFile{Path: f.location, Rows: f.rows, Bytes: f.counter.N})
	return nil
}

// abort discards f's buffered rows and its unfinished file.
func (f *fileSink) abort() {
	for _, b := range f.pending {
		b.Release()
	}
	f.pending = nil
	if f.out != nil {
		f.out.Abort()
		f.out = nil
	}
}

// HiveEscape writes a partition value as a directory name: characters that
// paths or Hive give a meaning (/ \ = % : * ? " < > | control characters,
// a leading dot) as %XX.
func HiveEscape(v string) string {
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte(`/\=%:*?"<>|#`, c) >= 0 || (i == 0 && c == '.') {
			fmt.Fprintf(&sb, "%%%02X", c)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
