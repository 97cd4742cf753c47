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
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/rowkey"
)

// rangeSplit is one partition's share of a Parquet file split by key
// ranges (kapotv1.FileGroup.range_column): the row groups whose key
// statistics overlap the range, and whether any of them lies only partly
// inside it (its rows are then filtered, see rangeReader).
type rangeSplit struct {
	col    int // the key's column in the file's Arrow schema
	leaf   int // and its Parquet leaf column, for statistics
	lo, hi int64
	edge   map[int]bool // the kept row groups partly outside the range
}

// newRangeSplit checks that rng names a signed integer column of the file
// read by fr (whose Arrow schema is full).
func newRangeSplit(fr *pqarrow.FileReader, full *arrow.Schema, rng *keyRange) (*rangeSplit, error) {
	idx := full.FieldIndices(rng.col)
	if len(idx) != 1 {
		return nil, fmt.Errorf("range column %q is not a column of the file: %w", rng.col, ErrInvalidPlan)
	}
	if !arrow.IsSignedInteger(full.Field(idx[0]).Type.ID()) {
		return nil, fmt.Errorf("range column %q is %s, not a signed integer: %w", rng.col, full.Field(idx[0]).Type, ErrInvalidPlan)
	}
	if idx[0] >= len(fr.Manifest.Fields) || fr.Manifest.Fields[idx[0]].ColIndex < 0 {
		return nil, fmt.Errorf("range column %q is not a leaf column of the file: %w", rng.col, ErrInvalidPlan)
	}
	return &rangeSplit{col: idx[0], leaf: fr.Manifest.Fields[idx[0]].ColIndex, lo: rng.lo, hi: rng.hi, edge: map[int]bool{}}, nil
}

// keep reports whether row group rg may hold rows of the range, and notes
// a group that may also hold rows outside it.
func (s *rangeSplit) keep(pf *file.Reader, rg int) bool {
	if s.lo > s.hi {
		return false
	}
	md := pf.MetaData().RowGroup(rg)
	if md.NumRows() == 0 {
		return false
	}
	mn, mx, nulls, ok := chunkIntRange(md, s.leaf)
	switch {
	case !ok:
		s.edge[rg] = true
		return true
	case mx < s.lo || mn > s.hi:
		return false
	case mn < s.lo || mx > s.hi || nulls:
		s.edge[rg] = true
	}
	return true
}

// rgRun is a run of consecutive row groups to read, all partly outside a
// split's range (edge: read with the key, rows filtered) or none.
type rgRun struct {
	rgs  []int
	edge bool
}

// runs splits the row groups to read into runs, in order: a file sorted
// by the key has at most an edge run at each end, and the row groups
// between are read without the key (no more columns than the scan needs).
func (s *rangeSplit) runs(rgs []int) []rgRun {
	var out []rgRun
	for _, rg := range rgs {
		e := s.edge[rg]
		if n := len(out); n > 0 && out[n-1].edge == e {
			out[n-1].rgs = append(out[n-1].rgs, rg)
			continue
		}
		out = append(out, rgRun{rgs: []int{rg}, edge: e})
	}
	return out
}

// chainReader reads the readers open makes, one after the other, over one
// file, which it closes at the end.
type chainReader struct {
	open []func() (batchReader, error)
	cur  batchReader
	pf   interface{ Close() error }
}

func (c *chainReader) next() (arrow.RecordBatch, error) {
	for {
		if c.cur == nil {
			if len(c.open) == 0 {
				return nil, io.EOF
			}
			r, err := c.open[0]()
			if err != nil {
				return nil, err
			}
			c.cur, c.open = r, c.open[1:]
		}
		b, err := c.cur.next()
		if errors.Is(err, io.EOF) {
			c.cur.close()
			c.cur = nil
			continue
		}
		return b, err
	}
}

func (c *chainReader) close() {
	if c.cur != nil {
		c.cur.close()
		c.cur = nil
	}
	c.open = nil
	c.pf.Close()
}

// chunkIntRange is the [min, max] of integer column leaf in row group md,
// and whether it may hold nulls; ok is false without statistics.
func chunkIntRange(md *metadata.RowGroupMetaData, leaf int) (mn, mx int64, nulls, ok bool) {
	cc, err := md.ColumnChunk(leaf)
	if err != nil {
		return 0, 0, false, false
	}
	if set, err := cc.StatsSet(); !set || err != nil {
		return 0, 0, false, false
	}
	st, err := cc.Statistics()
	if err != nil || !st.HasMinMax() {
		return 0, 0, false, false
	}
	nulls = !st.HasNullCount() || st.NullCount() > 0
	switch x := st.(type) {
	case *metadata.Int32Statistics:
		return int64(x.Min()), int64(x.Max()), nulls, true
	case *metadata.Int64Statistics:
		return x.Min(), x.Max(), nulls, true
	}
	return 0, 0, false, false
}

// rangeReader keeps the rows of in whose column key lies in [lo, hi] (not
// null), and drops that column when the scan read it only for this.
type rangeReader struct {
	in     batchReader
	mem    memory.Allocator
	key    int
	lo, hi int64
	drop   bool
}

func (r *rangeReader) next() (arrow.RecordBatch, error) {
	for {
		b, err := r.in.next()
		if err != nil {
			return nil, err
		}
		out, err := r.filter(b)
		b.Release()
		if err != nil {
			return nil, err
		}
		if out.NumRows() > 0 {
			return out, nil
		}
		out.Release()
	}
}

func (r *rangeReader) filter(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	keep, ok := rowsInRange(b.Column(r.key), r.lo, r.hi)
	if !ok {
		return nil, fmt.Errorf("range column is %s: %w", b.Column(r.key).DataType(), ErrInvalidPlan)
	}
	if r.drop {
		cols := b.Columns()[:r.key:r.key]
		fields := b.Schema().Fields()[:r.key:r.key]
		b = array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows())
		defer b.Release()
	}
	return kernel.TakeRows(context.Background(), r.mem, b, keep)
}

func (r *rangeReader) close() { r.in.close() }

// rowsInRange lists the rows of keys, a signed integer column, whose value
// lies in [lo, hi] (nulls do not); ok is false for other types.
func rowsInRange(keys arrow.Array, lo, hi int64) (rows []int32, ok bool) {
	vals, ok := rowkey.IntValues(keys)
	if !ok {
		return nil, false
	}
	rows = make([]int32, 0, len(vals))
	nulls := keys.NullN() > 0
	for i, v := range vals {
		if v >= lo && v <= hi && (!nulls || keys.IsValid(i)) {
			rows = append(rows, int32(i))
		}
	}
	return rows, true
}

// maxRowGroupShares bounds kapotv1.FileGroup.row_group_shares: a plan
// cannot ask for more partitions of one file than this.
const maxRowGroupShares = 1024

// rowGroups is the row groups of md's file in share s, in file order:
// each row group, in order, goes to the share that holds the fewest rows
// so far (the first of those tied), so that shares of a file of equal row
// groups take every n-th one and a file of uneven ones is cut by rows, not
// by row groups. Shares interleave rather than take runs because files
// are often sorted by a column the query filters on (TPC-DS inventory and
// catalog_sales by date): the row groups a filter or a join's dynamic
// filter keeps are then a run, which one share of runs would read alone
// (q39: one task 118 ms, the other 9). Every row group falls in exactly
// one share; a share may get none (more shares than row groups). s.n < 2
// is every row group.
func (s rowGroupShare) rowGroups(md *metadata.FileMetaData) []int {
	n := md.NumRowGroups()
	if s.n < 2 {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all
	}
	held := make([]int64, s.n)
	var out []int
	for rg := range n {
		to := 0
		for i, h := range held {
			if h < held[to] {
				to = i
			}
		}
		// A row group of no rows still counts, so that they spread too.
		held[to] += max(md.RowGroup(rg).NumRows(), 1)
		if to == s.i {
			out = append(out, rg)
		}
	}
	return out
}
