package operator

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/kapot-go/kapot/shuffle"
)

// SpillDirName is the directory under a job's work directory that holds the
// spill files of its tasks; the job's clean-up removes it with the job.
const SpillDirName = "_spill"

// SpillFile is an Arrow IPC stream written to the job's spill directory.
// It is removed when the task ends (TaskContext.End) if not before.
type SpillFile struct {
	path  string
	f     *os.File
	bw    *bufio.Writer
	cw    *CountingWriter
	w     *ipc.Writer
	rows  int64
	bytes int64
}

// CountingWriter is W counting the bytes written through it in N.
type CountingWriter struct {
	W io.Writer
	N int64
}

// Write writes p to W and counts what was written.
func (c *CountingWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}

// Rows is the number of rows written so far.
func (s *SpillFile) Rows() int64 { return s.rows }

// NewSpillFile creates a spill file for schema under the task's job.
func NewSpillFile(tc *TaskContext, schema *arrow.Schema, what string) (*SpillFile, error) {
	root := tc.WorkDir
	if root == "" {
		root = os.TempDir()
	}
	dir := root
	if tc.JobID != "" {
		if err := shuffle.ValidateJobID(tc.JobID); err != nil {
			return nil, err
		}
		dir = filepath.Join(root, tc.JobID, SpillDirName)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: create spill directory: %w", what, err)
	}
	f, err := os.CreateTemp(dir, fmt.Sprintf("s%d-p%d-*.arrow", tc.StageID, tc.Partition))
	if err != nil {
		return nil, fmt.Errorf("%s: create spill file: %w", what, err)
	}
	path := f.Name()
	tc.AtEnd(func() { os.Remove(path) })
	bw := bufio.NewWriterSize(f, 1<<20)
	cw := &CountingWriter{W: bw}
	return &SpillFile{path: path, f: f, bw: bw, cw: cw,
		w: ipc.NewWriter(cw, ipc.WithSchema(schema), ipc.WithAllocator(tc.Mem), ipc.WithLZ4())}, nil
}

// Write appends b to the file.
func (s *SpillFile) Write(b arrow.RecordBatch) error {
	if err := s.w.Write(b); err != nil {
		return fmt.Errorf("write spill file %s: %w", s.path, err)
	}
	s.rows += b.NumRows()
	return nil
}

// Finish flushes and closes the file and returns its size in bytes.
func (s *SpillFile) Finish() (int64, error) {
	err := s.w.Close()
	if err == nil {
		err = s.bw.Flush()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(s.path)
		return 0, fmt.Errorf("write spill file %s: %w", s.path, err)
	}
	s.bytes = s.cw.N
	return s.bytes, nil
}

// Abort closes and removes the file.
func (s *SpillFile) Abort() {
	s.w.Close()
	s.f.Close()
	os.Remove(s.path)
}

// Open reads the spill file back as a stream of batches.
func (s *SpillFile) Open(tc *TaskContext) (Operator, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("read spill file: %w", err)
	}
	r, err := ipc.NewReader(bufio.NewReaderSize(f, 1<<20), ipc.WithAllocator(tc.Mem))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read spill file %s: %w", s.path, err)
	}
	return &spillReader{f: f, r: r}, nil
}

type spillReader struct {
	f *os.File
	r *ipc.Reader
}

func (s *spillReader) Schema() *arrow.Schema { return s.r.Schema() }

func (s *spillReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.r.Next() {
		if err := s.r.Err(); err != nil && err != io.EOF {
			return nil, fmt.Errorf("read spill file %s: %w", s.f.Name(), err)
		}
		return nil, io.EOF
	}
	b := s.r.RecordBatch()
	b.Retain()
	return b, nil
}

func (s *spillReader) Close() error {
	s.r.Release()
	return s.f.Close()
}
