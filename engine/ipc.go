package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

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
