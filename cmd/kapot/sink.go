package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/internal/config"
)

// sink writes a result batch by batch, so a client holds one batch (and,
// for tables, a bounded preview) however large the result.
type sink interface {
	Write(b arrow.RecordBatch) error
	// Close flushes and returns the number of rows written.
	Close() (int64, error)
}

// tablePreviewRows is how many rows a table sink holds to size its
// columns; later rows use those widths (a longer value widens its line).
const tablePreviewRows = 1000

// newSink writes to w in format (table, csv or json).
func newSink(w io.Writer, format string, schema *arrow.Schema) sink {
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	switch format {
	case "csv":
		s := &csvSink{w: csv.NewWriter(w)}
		s.w.Write(names)
		return s
	case "json":
		return &jsonSink{enc: json.NewEncoder(w), names: names}
	}
	return &tableSink{w: w, names: names}
}

// rows formats a batch's values as text.
func rows(b arrow.RecordBatch, each func(row []string, r int) error) error {
	for r := 0; r < int(b.NumRows()); r++ {
		row := make([]string, b.NumCols())
		for c := range row {
			row[c] = expr.FormatValue(b.Column(c), r)
		}
		if err := each(row, r); err != nil {
			return err
		}
	}
	return nil
}

type csvSink struct {
	w *csv.Writer
	n int64
}

func (s *csvSink) Write(b arrow.RecordBatch) error {
	err := rows(b, func(row []string, _ int) error { return s.w.Write(row) })
	s.n += b.NumRows()
	s.w.Flush()
	if err != nil {
		return err
	}
	return s.w.Error()
}

func (s *csvSink) Close() (int64, error) { s.w.Flush(); return s.n, s.w.Error() }

type jsonSink struct {
	enc   *json.Encoder
	names []string
	n     int64
}

func (s *jsonSink) Write(b arrow.RecordBatch) error {
	s.n += b.NumRows()
	return rows(b, func(row []string, r int) error {
		obj := make(map[string]any, len(row))
		for i, v := range row {
			if b.Column(i).IsNull(r) {
				obj[s.names[i]] = nil
			} else {
				obj[s.names[i]] = v
			}
		}
		return s.enc.Encode(obj)
	})
}

func (s *jsonSink) Close() (int64, error) { return s.n, nil }

// tableSink draws a text table; it holds up to tablePreviewRows rows to
// size the columns, then streams.
type tableSink struct {
	w       io.Writer
	names   []string
	preview [][]string
	widths  []int
	n       int64
	err     error
}

func (s *tableSink) Write(b arrow.RecordBatch) error {
	s.n += b.NumRows()
	return rows(b, func(row []string, _ int) error {
		if s.widths == nil {
			s.preview = append(s.preview, row)
			if len(s.preview) >= tablePreviewRows {
				s.start()
			}
			return s.err
		}
		s.line(row)
		return s.err
	})
}

// start sizes the columns from the preview and prints it.
func (s *tableSink) start() {
	s.widths = make([]int, len(s.names))
	for i, n := range s.names {
		s.widths[i] = len(n)
	}
	for _, row := range s.preview {
		for i, v := range row {
			s.widths[i] = max(s.widths[i], len(v))
		}
	}
	s.sep()
	s.line(s.names)
	s.sep()
	for _, row := range s.preview {
		s.line(row)
	}
	s.preview = nil
}

func (s *tableSink) sep() {
	var b strings.Builder
	b.WriteString("+")
	for _, wd := range s.widths {
		b.WriteString(strings.Repeat("-", wd+2) + "+")
	}
	s.println(b.String())
}

func (s *tableSink) line(vals []string) {
	var b strings.Builder
	b.WriteString("|")
	for i, v := range vals {
		b.WriteString(" " + v + strings.Repeat(" ", max(0, s.widths[i]-len(v))) + " |")
	}
	s.println(b.String())
}

func (s *tableSink) println(line string) {
	if s.err == nil {
		_, s.err = fmt.Fprintln(s.w, line)
	}
}

func (s *tableSink) Close() (int64, error) {
	if s.widths == nil {
		s.start()
	}
	s.sep()
	return s.n, s.err
}

// parquetSink writes a Parquet file row group by row group.
type parquetSink struct {
	w      *pqarrow.FileWriter
	schema *arrow.Schema
	n      int64
}

func (s *parquetSink) Write(b arrow.RecordBatch) error {
	rb := array.NewRecordBatch(s.schema, b.Columns(), b.NumRows())
	defer rb.Release()
	s.n += b.NumRows()
	return s.w.Write(rb)
}

func (s *parquetSink) Close() (int64, error) { return s.n, s.w.Close() }

// fileSink is a sink into the file at path, in the format its extension
// names (.parquet, .csv or .json).
type fileSink struct {
	sink
	f *os.File
}

func (s *fileSink) Close() (int64, error) {
	n, err := s.sink.Close()
	if cerr := s.f.Close(); err == nil && !errors.Is(cerr, os.ErrClosed) { // a Parquet writer closes f itself
		err = cerr
	}
	return n, err
}

func newFileSink(path string, schema *arrow.Schema) (sink, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".parquet" && ext != ".csv" && ext != ".json" {
		return nil, fmt.Errorf("--output %s: want a .parquet, .csv or .json file: %w", path, config.ErrInvalid)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if ext == ".parquet" {
		w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy)), pqarrow.DefaultWriterProps())
		if err != nil {
			f.Close()
			return nil, err
		}
		return &fileSink{sink: &parquetSink{w: w, schema: schema}, f: f}, nil
	}
	return &fileSink{sink: newSink(f, ext[1:], schema), f: f}, nil
}

// printResult writes whole results (small ones: statements' rows).
func printResult(w io.Writer, format string, schema *arrow.Schema, batches []arrow.RecordBatch) error {
	s := newSink(w, format, schema)
	for _, b := range batches {
		if err := s.Write(b); err != nil {
			return err
		}
	}
	_, err := s.Close()
	return err
}
