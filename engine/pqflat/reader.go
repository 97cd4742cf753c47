package pqflat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/kapot-go/kapot/engine/alloc"
)

// ColumnReader is what a scan reads a column with: pqarrow's
// RecordReader has these methods too. Next reads the next batch, which
// RecordBatch returns until the next call of Next; Err is the error that
// stopped Next (nil at the end of the column).
type ColumnReader interface {
	Next() bool
	RecordBatch() arrow.RecordBatch
	Err() error
	Release()
}

// Selective is a ColumnReader that can read only some rows of a batch:
// a scan whose prefilters (or dynamic filters) chose the rows of the
// batch it reads next gets the others' values skipped, not decoded,
// gathered and dropped. Selected values are read where they lie: an
// index of a bit-packed run or a PLAIN value by its offset, so the rows
// not chosen cost a definition level (nullable columns) and nothing else.
type Selective interface {
	ColumnReader
	// NextSelected reads the next batch as Next would, but the batch
	// RecordBatch returns holds only its rows sel: ascending offsets
	// into the batch Next would have read (an empty sel skips it).
	NextSelected(sel []int32) bool
}

// Supported reports whether leaf column col of md's file, read as Arrow
// type dt in row groups rgs (nil: all), is one a Reader decodes: flat, at
// most one definition level, INT32 read as int32, INT64 as int64, FLOAT as
// float32 or DOUBLE as float64, its pages PLAIN or dictionary encoded
// with RLE levels (by the column chunks' encoding lists), not encrypted;
// or BYTE_ARRAY read as a dictionary of strings or binaries with int32
// indexes, every data page dictionary encoded (AllDictionaryEncoded), or
// read as STRING or BINARY (bytes.go).
func Supported(md *metadata.FileMetaData, col int, dt arrow.DataType, rgs []int) bool {
	if col < 0 || col >= md.Schema.NumColumns() {
		return false
	}
	c := md.Schema.Column(col)
	if c.MaxRepetitionLevel() != 0 || c.MaxDefinitionLevel() > 1 || len(c.ColumnPath()) != 1 {
		return false
	}
	_, strs := stringDictionary(dt)
	switch {
	case c.PhysicalType() == parquet.Types.Int32 && dt.ID() == arrow.INT32,
		c.PhysicalType() == parquet.Types.Int64 && dt.ID() == arrow.INT64,
		c.PhysicalType() == parquet.Types.Float && dt.ID() == arrow.FLOAT32,
		c.PhysicalType() == parquet.Types.Double && dt.ID() == arrow.FLOAT64,
		c.PhysicalType() == parquet.Types.ByteArray && (strs || binaryType(dt)):
	default:
		return false
	}
	for _, rg := range rowGroups(md, rgs) {
		cc, err := md.RowGroup(rg).ColumnChunk(col)
		if err != nil || cc.CryptoMetadata() != nil || strs && !AllDictionaryEncoded(cc) {
			return false
		}
		for _, e := range cc.Encodings() {
			switch e {
			case parquet.Encodings.Plain, parquet.Encodings.PlainDict, parquet.Encodings.RLEDict, parquet.Encodings.RLE:
			default:
				return false
			}
		}
	}
	return true
}

func rowGroups(md *metadata.FileMetaData, rgs []int) []int {
	if rgs != nil {
		return rgs
	}
	all := make([]int, md.NumRowGroups())
	for i := range all {
		all[i] = i
	}
	return all
}

// NewReader reads leaf column col of pf in row groups rgs (nil: all) in
// batches of batch rows as Arrow field f (whose type Supported accepted),
// into buffers of mem; its errors name the file as loc.
func NewReader(pf *file.Reader, loc string, col int, rgs []int, f arrow.Field, batch int, mem memory.Allocator) ColumnReader {
	rgs = rowGroups(pf.MetaData(), rgs)
	var rows int64
	for _, rg := range rgs {
		rows += pf.MetaData().RowGroup(rg).NumRows()
	}
	base := base{pf: pf, loc: loc, col: col, rgs: rgs, rows: rows, batch: max(batch, 1), mem: mem,
		schema: arrow.NewSchema([]arrow.Field{f}, nil), nullable: pf.MetaData().Schema.Column(col).MaxDefinitionLevel() > 0}
	if typ, ok := stringDictionary(f.Type); ok {
		return newStringReader(base, typ)
	}
	if binaryType(f.Type) {
		return newBytesReader(base)
	}
	if arrow.TypeEqual(f.Type, arrow.PrimitiveTypes.Int64) || f.Type.ID() == arrow.FLOAT64 {
		return &reader[uint64]{base: base}
	}
	return &reader[uint32]{base: base}
}

// base is a reader's state that does not depend on the value width.
type base struct {
	pf       *file.Reader
	loc      string
	col      int
	rgs      []int // row groups still to open
	rows     int64 // rows still to read
	batch    int
	mem      memory.Allocator
	schema   *arrow.Schema
	nullable bool

	pages     file.PageReader // the open column chunk's
	chunkLeft int64           // its rows not yet read
	left      int             // the current data page's values not yet read
	defs      hybrid          // its definition levels (nullable columns)
	plain     []byte          // its PLAIN values not yet read, or
	idx       hybrid          // its dictionary indexes
	dict      bool            // whether it is dictionary encoded

	cur arrow.RecordBatch
	err error
}

// reader decodes values of T's width (uint32: INT32, FLOAT; uint64:
// INT64, DOUBLE) by their bits.
type reader[T uint32 | uint64] struct {
	base
	dictVals []T // the open chunk's dictionary
	haveDict bool
	dense    []T // non-null values of a run of rows
	// Scratch of readSelected: definition levels of a page's rows (as a
	// bitmap), the counts of 1s before each of its words, and the ranks
	// among the values present of the selected rows present.
	levels []uint64
	before []int32
	ranks  []int32
	whole  []T // a run of rows decoded whole (denseAt)
	// strs keeps the dictionaries a string or binary column's indexes
	// refer to (see stringReader); nil for numeric columns. at is the
	// offset in the batch being read of the next row to decode.
	strs *stringDicts
	at   int
	// binary, for a string or binary column read as itself, keeps its
	// dictionary pages (see bytesReader); nil for other columns.
	binary *bytesReader
}

func (r *reader[T]) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *reader[T]) Err() error                     { return r.err }

func (r *reader[T]) Release() {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.pages != nil {
		r.pages.Close()
		r.pages = nil
	}
}

func (r *reader[T]) Next() bool { return r.next(nil, false) }

func (r *reader[T]) NextSelected(sel []int32) bool { return r.next(sel, true) }

// next reads the next batch, its rows sel only if selective.
func (r *reader[T]) next(sel []int32, selective bool) bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil || r.rows == 0 {
		return false
	}
	n := int(min(int64(r.batch), r.rows))
	var b arrow.RecordBatch
	var err error
	if selective {
		if len(sel) > 0 && (sel[0] < 0 || int(sel[len(sel)-1]) >= n) {
			r.err = fmt.Errorf("%s, column %s: rows %d..%d selected of a batch of %d", r.loc, r.schema.Field(0).Name, sel[0], sel[len(sel)-1], n)
			return false
		}
		b, err = r.readSelected(n, sel)
	} else {
		b, err = r.read(n)
	}
	if err != nil {
		if errors.Is(err, errCorrupt) {
			err = fmt.Errorf("%s, column %s: %w", r.loc, r.schema.Field(0).Name, err)
		}
		r.err = err
		return false
	}
	r.rows -= int64(n)
	r.cur = b
	return true
}

// read decodes the next n rows into a batch.
func (r *reader[T]) read(n int) (arrow.RecordBatch, error) {
	vals, bits, done := r.buffers(n, false)
	nulls := 0
	err := r.segments(n, func(off, m int) error {
		present, err := r.decodeRun(vals[off:off+m], bits, off)
		nulls += m - present
		return err
	})
	return done(nulls, err)
}

// decodeRun decodes the current page's next len(out) rows into out, their
// validity bits (a nullable column's) from bit off of bits; it returns
// how many are present.
func (r *reader[T]) decodeRun(out []T, bits []byte, off int) (int, error) {
	m := len(out)
	if !r.nullable {
		return m, r.values(out)
	}
	k, err := r.defs.levels(bits, off, m)
	if err != nil {
		return 0, err
	}
	if k == m {
		return m, r.values(out)
	}
	return k, r.spaced(out, k, bits, off)
}

// readSelected decodes rows sel (ascending) of the next n rows into a
// batch of len(sel) rows, skipping the others.
func (r *reader[T]) readSelected(n int, sel []int32) (arrow.RecordBatch, error) {
	k := len(sel)
	vals, bits, done := r.buffers(k, true)
	nulls, si := 0, 0
	err := r.segments(n, func(off, m int) error {
		// sel ascends without repeats: the run's rows are sel[si:sj],
		// at most m of them, and all m when the m-th is its last row.
		end := min(k, si+m)
		first := si
		if end-si == m && int(sel[end-1]) == off+m-1 {
			si = end
			present, err := r.decodeRun(vals[first:end], bits, first)
			nulls += m - present
			return err
		}
		sj := si + sort.Search(end-si, func(i int) bool { return int(sel[si+i]) >= off+m })
		out := vals[si:sj]
		if (sj-si)*denseSelected > m {
			present, err := r.denseAt(out, sel[si:sj], off, m, bits, first)
			si = sj
			nulls += len(out) - present
			return err
		}
		pos := r.relative(sel[si:sj], off)
		si = sj
		if !r.nullable {
			return r.valuesAt(out, pos, m)
		}
		present, err := r.spacedAt(out, pos, m, bits, first)
		nulls += len(out) - present
		return err
	})
	return done(nulls, err)
}

// buffers allocates the values (and, for a nullable column, validity
// bits: cleared when clearBits, else only the last byte) of a batch of k
// rows; done makes the batch of them with nulls null rows, or returns err.
func (r *reader[T]) buffers(k int, clearBits bool) (vals []T, bits []byte, done func(nulls int, err error) (arrow.RecordBatch, error)) {
	var zero T
	vbuf := alloc.NewUninitBuffer(r.mem, k*int(unsafe.Sizeof(zero)))
	vals = unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(vbuf.Bytes()))), k)
	var valid *memory.Buffer
	if r.nullable && k > 0 {
		valid = alloc.NewUninitBuffer(r.mem, (k+7)/8)
		bits = valid.Bytes()
		if clearBits {
			clear(bits)
		} else {
			bits[len(bits)-1] = 0
		}
	}
	done = func(nulls int, err error) (arrow.RecordBatch, error) {
		defer vbuf.Release()
		if valid != nil {
			defer valid.Release()
		}
		if err != nil {
			return nil, err
		}
		bufs := []*memory.Buffer{nil, vbuf}
		if nulls > 0 {
			bufs[0] = valid
		}
		data := array.NewData(r.schema.Field(0).Type, k, bufs, nil, nulls, 0)
		defer data.Release()
		col := array.MakeFromData(data)
		defer col.Release()
		return array.NewRecordBatch(r.schema, []arrow.Array{col}, int64(k)), nil
	}
	return vals, bits, done
}

// segments walks the next n rows page by page: each run of m rows within
// one data page, from row off of the n, goes to decode, which consumes
// them.
func (r *reader[T]) segments(n int, decode func(off, m int) error) error {
	for off := 0; off < n; {
		if r.left == 0 || r.chunkLeft == 0 {
			r.at = off
			if err := r.nextPage(); err != nil {
				return err
			}
			continue
		}
		m := int(min(int64(n-off), int64(r.left), r.chunkLeft))
		if err := decode(off, m); err != nil {
			return err
		}
		r.left -= m
		r.chunkLeft -= int64(m)
		off += m
	}
	return nil
}

// denseSelected: rows selected from a page's run of rows more than one in
// this many decode as a whole run, then are gathered: reading each value
// where it lies costs more a value than a bulk decode (BenchmarkStoreSales:
// 14 ns a value selected at 98 %, 6.5 ns read whole).
const denseSelected = 3

// denseAt is spacedAt (valuesAt for a required column) by decoding the m
// rows from row base whole into scratch space, then gathering rows sel
// (ascending, from base on: sel[i]-base is a row's offset in the run).
func (r *reader[T]) denseAt(out []T, sel []int32, base, m int, bits []byte, off int) (int, error) {
	if cap(r.whole) < m {
		r.whole = make([]T, m)
	}
	whole := r.whole[:m]
	if !r.nullable {
		if err := r.values(whole); err != nil {
			return 0, err
		}
		b := int32(base)
		for i, p := range sel {
			out[i] = whole[p-b]
		}
		return len(sel), nil
	}
	words := (m + 63) / 64
	if cap(r.levels) < words {
		r.levels = make([]uint64, words)
		r.before = make([]int32, words)
	}
	lv := unsafe.Slice((*byte)(unsafe.Pointer(&r.levels[0])), words*8)
	k, err := r.defs.levels(lv, 0, m)
	if err != nil {
		return 0, err
	}
	if k == m {
		err = r.values(whole)
	} else {
		err = r.spaced(whole, k, lv, 0)
	}
	if err != nil {
		return 0, err
	}
	present, b := 0, int32(base)
	for i, s := range sel {
		p := s - b
		out[i] = whole[p]
		if lv[p>>3]&(1<<(p&7)) != 0 {
			bitutil.SetBit(bits, off+i)
			present++
		}
	}
	return present, nil
}

// relative is sel's offsets less base, in the reader's scratch.
func (r *reader[T]) relative(sel []int32, base int) []int32 {
	if cap(r.ranks) < len(sel) {
		r.ranks = make([]int32, len(sel))
	}
	pos := r.ranks[:len(sel)]
	for i, s := range sel {
		pos[i] = s - int32(base)
	}
	return pos
}

// spacedAt consumes the current page's next m rows of a nullable column
// and decodes its rows pos (ascending offsets, rewritten in place) into
// out, setting their validity bits in bits from bit off; it returns how
// many are present.
func (r *reader[T]) spacedAt(out []T, pos []int32, m int, bits []byte, off int) (int, error) {
	words := (m + 63) / 64
	if cap(r.levels) < words {
		r.levels = make([]uint64, words)
		r.before = make([]int32, words)
	}
	lv, before := r.levels[:words], r.before[:words]
	present, err := r.defs.levels(unsafe.Slice((*byte)(unsafe.Pointer(&lv[0])), words*8), 0, m)
	if err != nil {
		return 0, err
	}
	if len(pos) == 0 {
		return 0, r.valuesAt(nil, nil, present)
	}
	if present == m {
		// No nulls among the rows: the values are the rows.
		for i := range pos {
			bitutil.SetBit(bits, off+i)
		}
		return len(pos), r.valuesAt(out, pos, m)
	}
	ones := int32(0)
	for w, word := range lv {
		before[w] = ones
		ones += int32(popcount(word)) // bits past m: never below a row's
	}
	// The selected rows present, by rank among the values present (pos
	// is rewritten: its first j entries become ranks).
	j := 0
	for i, p := range pos {
		word, bit := lv[p>>6], uint(p&63)
		if word>>bit&1 == 0 {
			continue
		}
		bitutil.SetBit(bits, off+i)
		pos[j] = before[p>>6] + int32(popcount(word&(1<<bit-1)))
		j++
	}
	if cap(r.dense) < j {
		r.dense = make([]T, j)
	}
	dense := r.dense[:j]
	if err := r.valuesAt(dense, pos[:j], present); err != nil {
		return 0, err
	}
	d := 0
	for i := range out {
		if bitutil.BitIsSet(bits, off+i) {
			out[i] = dense[d]
			d++
		} else {
			out[i] = 0
		}
	}
	return j, nil
}

// valuesAt consumes the current page's next m values and stores the ones
// at offsets pos (ascending) in out.
func (r *reader[T]) valuesAt(out []T, pos []int32, m int) error {
	if m == 0 {
		return nil
	}
	if r.dict {
		return gatherAt(&r.idx, r.dictVals, out, pos, m)
	}
	size := m * int(unsafe.Sizeof(out[0]))
	if len(r.plain) < size {
		return corrupt("PLAIN page holds fewer values than it declares")
	}
	w := int(unsafe.Sizeof(out[0]))
	if uintptr(unsafe.Pointer(unsafe.SliceData(r.plain)))%uintptr(w) == 0 {
		vals := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(r.plain))), m)
		for i, p := range pos {
			out[i] = vals[p]
		}
	} else {
		for i, p := range pos {
			out[i] = load[T](r.plain[int(p)*w:])
		}
	}
	r.plain = r.plain[size:]
	return nil
}

// spaced decodes the k values present among rows out (their validity
// bits start at bit off of bits), zeroing the null rows.
func (r *reader[T]) spaced(out []T, k int, bits []byte, off int) error {
	if cap(r.dense) < k {
		r.dense = make([]T, k)
	}
	dense := r.dense[:k]
	if err := r.values(dense); err != nil {
		return err
	}
	j := 0
	for i := 0; i < len(out); {
		p := off + i
		if p&7 != 0 || i+8 > len(out) {
			if bits[p>>3]&(1<<(p&7)) != 0 {
				out[i] = dense[j]
				j++
			} else {
				out[i] = 0
			}
			i++
			continue
		}
		// A whole byte of the bitmap: eight rows at once when all are
		// present or all null.
		switch b := bits[p>>3]; b {
		case 0xff:
			copy(out[i:i+8], dense[j:j+8])
			j += 8
		case 0:
			clear(out[i : i+8])
		default:
			for k := range 8 {
				if b&(1<<k) != 0 {
					out[i+k] = dense[j]
					j++
				} else {
					out[i+k] = 0
				}
			}
		}
		i += 8
	}
	return nil
}

// values decodes the current page's next len(out) values.
func (r *reader[T]) values(out []T) error {
	if len(out) == 0 {
		return nil
	}
	if !r.dict {
		size := len(out) * int(unsafe.Sizeof(out[0]))
		if len(r.plain) < size {
			return corrupt("PLAIN page holds fewer values than it declares")
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), size), r.plain)
		r.plain = r.plain[size:]
		return nil
	}
	return gather(&r.idx, r.dictVals, out)
}

// nextPage moves to the next data page, opening the next column chunk
// when the open one's rows are read.
func (r *reader[T]) nextPage() error {
	for {
		if r.pages == nil || r.chunkLeft == 0 {
			if err := r.nextChunk(); err != nil {
				return err
			}
		}
		if !r.pages.Next() {
			if err := r.pages.Err(); err != nil {
				return err
			}
			return corrupt("column chunk holds fewer values than its row group's rows")
		}
		switch p := r.pages.Page().(type) {
		case *file.DictionaryPage:
			set := r.setDictionary
			switch {
			case r.strs != nil:
				set = r.setStringDictionary
			case r.binary != nil:
				set = r.binary.setDictionary
			}
			if err := set(p); err != nil {
				return err
			}
		case *file.DataPageV1:
			data := p.Data()
			if r.nullable {
				if p.DefinitionLevelEncoding() != parquet.Encodings.RLE {
					return corrupt("definition levels encoded as %s", p.DefinitionLevelEncoding())
				}
				if len(data) < 4 {
					return corrupt("truncated definition levels")
				}
				size := int(binary.LittleEndian.Uint32(data))
				if size < 0 || size > len(data)-4 {
					return corrupt("definition levels of %d bytes", size)
				}
				r.defs.reset(data[4:4+size], 1)
				data = data[4+size:]
			}
			if err := r.setValues(parquet.Encoding(p.Encoding()), data); err != nil {
				return err
			}
			if r.left = int(p.NumValues()); r.left > 0 {
				return nil
			}
		case *file.DataPageV2:
			data := p.Data()
			rl, dl := int(p.RepetitionLevelByteLen()), int(p.DefinitionLevelByteLen())
			if rl != 0 || dl < 0 || dl > len(data) {
				return corrupt("levels of %d and %d bytes", rl, dl)
			}
			if r.nullable {
				r.defs.reset(data[:dl], 1)
			}
			if err := r.setValues(parquet.Encoding(p.Encoding()), data[dl:]); err != nil {
				return err
			}
			if r.left = int(p.NumValues()); r.left > 0 {
				return nil
			}
		}
	}
}

// nextChunk opens the column chunk of the next row group.
func (r *reader[T]) nextChunk() error {
	if r.pages != nil {
		r.pages.Close()
		r.pages = nil
	}
	if len(r.rgs) == 0 {
		return corrupt("column holds fewer values than the file's rows")
	}
	rg := r.rgs[0]
	r.rgs = r.rgs[1:]
	pages, err := r.pf.RowGroup(rg).GetColumnPageReader(r.col)
	if err != nil {
		return err
	}
	r.pages, r.chunkLeft, r.left = pages, r.pf.MetaData().RowGroup(rg).NumRows(), 0
	r.dictVals, r.haveDict = r.dictVals[:0], false
	return nil
}

// setDictionary decodes a chunk's dictionary page (PLAIN values).
func (r *reader[T]) setDictionary(p *file.DictionaryPage) error {
	if e := parquet.Encoding(p.Encoding()); e != parquet.Encodings.Plain && e != parquet.Encodings.PlainDict {
		return corrupt("dictionary page encoded as %s", e)
	}
	var zero T
	n, data := int(p.NumValues()), p.Data()
	if n < 0 || n > len(data)/int(unsafe.Sizeof(zero)) {
		return corrupt("dictionary page of %d values in %d bytes", n, len(data))
	}
	if cap(r.dictVals) < n {
		r.dictVals = make([]T, n)
	}
	r.dictVals = r.dictVals[:n]
	if n > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&r.dictVals[0])), n*int(unsafe.Sizeof(zero))), data)
	}
	r.haveDict = true
	return nil
}

// setValues starts decoding a data page's values, encoded as e.
func (r *reader[T]) setValues(e parquet.Encoding, data []byte) error {
	switch e {
	case parquet.Encodings.Plain:
		if r.strs != nil {
			return corrupt("PLAIN page in a string column whose metadata says every page is dictionary encoded")
		}
		r.dict, r.plain = false, data
	case parquet.Encodings.PlainDict, parquet.Encodings.RLEDict:
		if !r.haveDict {
			return corrupt("dictionary-encoded page without a dictionary")
		}
		if len(data) < 1 || data[0] > 32 {
			return corrupt("dictionary index width")
		}
		r.dict = true
		r.idx.reset(data[1:], int(data[0]))
	default:
		return corrupt("values encoded as %s", e)
	}
	return nil
}
