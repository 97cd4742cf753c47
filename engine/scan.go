package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
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
	// set, of a dynamic filter, is every key of the build side (sorted,
	// distinct) when they are few or within a narrow range (buildRange);
	// else nil.
	set []int64
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
	if err := operator.CheckPartition(s, p); err != nil {
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
			b, err = nil, alloc.PanicError(p, fmt.Sprintf("%s scan: corrupt file %s", o.scan.format.name(), file))
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
			return nil, nil, fmt.Errorf("projected column %q not found in file columns (%s): %w", n, expr.FieldNames(schema), ErrInvalidPlan)
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

// schemaOf opens the first file of a scan and reads its schema with read.
func schemaOf[T any](ctx context.Context, open opener, groups []*kapotv1.FileGroup, read func(objstore.Object) (T, error)) (v T, path string, err error) {
	var zero T
	defer func() {
		if p := recover(); p != nil {
			v, err = zero, alloc.PanicError(p, "corrupt file "+path)
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
