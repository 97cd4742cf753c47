package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/pqflat"
)

// parquetReader decodes the projected columns of one file, each column
// by a record reader of its own (without pqarrow's internal goroutines,
// whose panics on corrupt pages could not be recovered). A panic inside the
// Parquet library becomes an error naming the file.
type parquetReader struct {
	pf     *file.Reader
	rrs    []pqflat.ColumnReader // pqflat's or pqarrow's
	want   []arrow.DataType      // per column: the type to convert to (readAsInteger), or nil
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
	return operator.ConcatBatchesMem(r.mem, batches[0].Schema(), batches)
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
	for _, p := range parts {
		if p != nil {
			n = int(p.NumRows())
			break
		}
	}
	return sel, !filtered || len(sel) == n, conv
}

// takeColumn gathers rows sel of a column as read (a dictionary stays one)
// before its conversion; a corrupt file's panic becomes an error.
func (r *parquetReader) takeColumn(col arrow.Array, sel []int32) (out arrow.Array, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, alloc.PanicError(p, "corrupt Parquet file "+r.loc)
		}
	}()
	if d, ok := col.(*array.Dictionary); ok {
		idx, err := kernel.Take(context.Background(), r.mem, d.Indices(), sel)
		if err != nil {
			return nil, err
		}
		defer idx.Release()
		return array.NewDictionaryArray(d.DataType(), idx, d.Dictionary()), nil
	}
	return kernel.Take(context.Background(), r.mem, col, sel)
}

func (r *parquetReader) nextBatch() (arrow.RecordBatch, error) {
	parts := make([]arrow.RecordBatch, len(r.rrs))
	release := func() {
		for _, p := range parts {
			if p != nil {
				p.Release()
			}
		}
	}
	// The columns the prefilters test first (all of them without
	// prefilters), one after the other: an executor runs a task per core,
	// so decoding a task's columns on goroutines of their own only adds
	// hand-offs (measured: TPC-H Q1 at SF 1 on 2 cores, 1.47 s -> 1.0 s
	// sequential).
	first := r.prefiltered()
	rows, err := r.readColumns(parts, first, nil, false, -1)
	if err != nil {
		release()
		return nil, err
	}
	sel, all, conv := r.preselect(parts)
	for _, c := range conv {
		if c != nil {
			defer c.Release()
		}
	}
	// Then the others: of the rows the prefilters keep only, where the
	// column's reader can skip the rest (late materialisation).
	if rows, err = r.readColumns(parts, func(i int) bool { return !first(i) }, sel, !all, rows); err != nil {
		release()
		return nil, err
	}
	if !all {
		rows = int64(len(sel))
	}
	taken := make([]bool, len(parts))
	if !all {
		for i := range parts {
			taken[i] = !first(i) && r.selective(i)
		}
	}
	cols := make([]arrow.Array, len(parts))
	fields := make([]arrow.Field, len(parts))
	for i, p := range parts {
		cols[i], fields[i] = p.Column(0), p.Schema().Field(0)
		converted := conv != nil && conv[i] != nil
		if converted {
			cols[i] = conv[i]
		}
		if !all && !taken[i] {
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

// prefiltered reports whether a prefilter tests column i (every column
// when there are no prefilters: all are read first).
func (r *parquetReader) prefiltered() func(i int) bool {
	if len(r.pre) == 0 {
		return func(int) bool { return true }
	}
	return func(i int) bool {
		for _, p := range r.pre {
			if p.col == i {
				return true
			}
		}
		return false
	}
}

// selective reports whether column i's reader reads chosen rows only.
func (r *parquetReader) selective(i int) bool {
	_, ok := r.rrs[i].(pqflat.Selective)
	return ok
}

// readColumns reads the next batch of the columns which reports, into
// parts: rows sel only of those whose reader can (when selected), every
// row of the others. rows is the batch's rows, -1 before any column is
// read; it returns them, or io.EOF when no column was read before and
// every column read is at its end.
func (r *parquetReader) readColumns(parts []arrow.RecordBatch, which func(int) bool, sel []int32, selected bool, rows int64) (int64, error) {
	eof, read, known := 0, 0, rows >= 0
	var failed error
	for i := range r.rrs {
		if !which(i) {
			continue
		}
		read++
		var err error
		if selected && r.selective(i) {
			parts[i], err = r.nextSelectedOf(i, sel)
		} else {
			parts[i], err = r.nextOf(i)
			if err == nil {
				if rows >= 0 && parts[i].NumRows() != rows {
					err = fmt.Errorf("corrupt Parquet file %s: columns hold different row counts", r.loc)
				}
				rows = parts[i].NumRows()
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			eof++
		case err != nil && failed == nil:
			failed = err
		}
	}
	switch {
	case failed != nil:
		return 0, failed
	case eof > 0 && eof == read && !known:
		return 0, io.EOF
	case eof > 0:
		return 0, fmt.Errorf("corrupt Parquet file %s: columns hold different row counts", r.loc)
	}
	return rows, nil
}

// convert is convertColumn on a column of a batch (which keeps its
// reference); a dictionary index out of range (a corrupt file) is an
// error naming the file.
func (r *parquetReader) convert(col arrow.Array, want arrow.DataType) (out arrow.Array, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, alloc.PanicError(p, "corrupt Parquet file "+r.loc)
		}
	}()
	return convertColumn(array.MakeFromData(col.Data()), want, r.mem), nil
}

// nextSelectedOf reads rows sel of the next batch of column reader i
// (a pqflat.Selective).
func (r *parquetReader) nextSelectedOf(i int, sel []int32) (arrow.RecordBatch, error) {
	return r.readOf(i, func() bool { return r.rrs[i].(pqflat.Selective).NextSelected(sel) })
}

// nextOf reads the next batch of column reader i.
func (r *parquetReader) nextOf(i int) (arrow.RecordBatch, error) {
	return r.readOf(i, func() bool { return r.rrs[i].Next() })
}

// readOf reads a batch of column reader i with next, turning a panic of
// the Parquet library (corrupt data) into an error.
func (r *parquetReader) readOf(i int, next func() bool) (b arrow.RecordBatch, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, alloc.PanicError(p, "corrupt Parquet file "+r.loc)
		}
	}()
	rr := r.rrs[i]
	if !next() {
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
