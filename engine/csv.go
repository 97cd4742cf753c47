package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/csv"

	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

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
		csv.WithHeader(f.header), csv.WithComma(f.delimiter), csv.WithChunk(tc.RowsPerBatch(f.batchSize)),
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
