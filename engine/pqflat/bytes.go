package pqflat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/kapot-go/kapot/engine/alloc"
)

// Strings and binaries read as themselves (not as dictionaries): the
// comments, names and addresses of TPC-H and TPC-DS, PLAIN encoded, or
// dictionary encoded where the writer kept a dictionary. pqarrow appended
// them value by value to a builder that grew its buffers as it went (a
// third of the CPU of a scan of lineitem's comments); here each run of a
// page's values is copied into the batch's buffers directly, and only the
// rows a scan's filters chose when it asks for those.

// binaryType reports whether dt is read by a bytesReader.
func binaryType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.BINARY:
		return true
	}
	return false
}

// bytesReader decodes a BYTE_ARRAY column as Arrow STRING or BINARY.
type bytesReader struct {
	r *reader[uint32] // the pages; its dictVals number the open dictionary
	// The open chunk's dictionary page: value i is
	// dictData[dictOffs[i]+4:dictOffs[i+1]] (after its length).
	dictOffs []int32
	dictData []byte
	// Scratch: definition levels of a run of rows (a bitmap) and the
	// dictionary indexes of its values.
	levels []uint64
	idx    []uint32
	// size is the bytes of the last batch's values: the next batch's
	// data buffer starts that large.
	size int
}

func newBytesReader(b base) *bytesReader {
	br := &bytesReader{r: &reader[uint32]{base: b}}
	br.r.binary = br
	return br
}

func (b *bytesReader) RecordBatch() arrow.RecordBatch { return b.r.cur }
func (b *bytesReader) Err() error                     { return b.r.err }
func (b *bytesReader) Release()                       { b.r.Release() }

func (b *bytesReader) Next() bool { return b.next(nil, false) }

func (b *bytesReader) NextSelected(sel []int32) bool { return b.next(sel, true) }

// setDictionary keeps a chunk's dictionary page (PLAIN byte arrays: a
// 4-byte length, then the bytes), its indexes numbered from 0.
func (b *bytesReader) setDictionary(p *file.DictionaryPage) error {
	if e := parquet.Encoding(p.Encoding()); e != parquet.Encodings.Plain && e != parquet.Encodings.PlainDict {
		return corrupt("dictionary page encoded as %s", e)
	}
	n, data := int(p.NumValues()), p.Data()
	if n < 0 || n > len(data)/4 {
		return corrupt("dictionary page of %d values in %d bytes", n, len(data))
	}
	// The page copied whole; value i lies between its length and the
	// next value's.
	if cap(b.dictOffs) < n+1 {
		b.dictOffs = make([]int32, n+1)
	}
	b.dictData = append(b.dictData[:0], data...)
	offs := b.dictOffs[:n+1]
	pos := 0
	for i := range n {
		if len(data)-pos < 4 {
			return corrupt("dictionary page ends in value %d of %d", i, n)
		}
		size := int(binary.LittleEndian.Uint32(data[pos:]))
		if size < 0 || size > len(data)-pos-4 {
			return corrupt("dictionary value of %d bytes", size)
		}
		offs[i] = int32(pos)
		pos += 4 + size
	}
	offs[n] = int32(pos)
	b.dictOffs = offs
	r := b.r
	if cap(r.dictVals) < n {
		r.dictVals = make([]uint32, n)
	}
	r.dictVals = r.dictVals[:n]
	for i := range r.dictVals {
		r.dictVals[i] = uint32(i)
	}
	r.haveDict = true
	return nil
}

// batchData is the values of a batch being read: its data buffer, grown
// as values are copied in.
type batchData struct {
	buf  *memory.Buffer
	data []byte
	at   int
}

// put copies v to the end of the values, growing the buffer when full.
func (d *batchData) put(v []byte) error {
	if d.at+len(v) <= len(d.data) {
		d.at += copy(d.data[d.at:], v)
		return nil
	}
	return d.grow(v)
}

// grow is put of a value that does not fit.
func (d *batchData) grow(v []byte) error {
	want := max(2*len(d.data), d.at+len(v), 256)
	if want > math.MaxInt32 {
		want = d.at + len(v)
		if want > math.MaxInt32 {
			return fmt.Errorf("%w: the values of a batch of a string column add up to over 2 GiB", errCorrupt)
		}
	}
	d.buf.Resize(want)
	d.data = d.buf.Bytes()
	d.at += copy(d.data[d.at:], v)
	return nil
}

// next reads the next batch, its rows sel only if selective.
func (b *bytesReader) next(sel []int32, selective bool) bool {
	r := b.r
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil || r.rows == 0 {
		return false
	}
	n := int(min(int64(r.batch), r.rows))
	if selective && len(sel) > 0 && (sel[0] < 0 || int(sel[len(sel)-1]) >= n) {
		r.err = fmt.Errorf("%s, column %s: rows %d..%d selected of a batch of %d", r.loc, r.schema.Field(0).Name, sel[0], sel[len(sel)-1], n)
		return false
	}
	k := n
	if selective {
		k = len(sel)
	}
	col, err := b.read(n, k, sel, selective)
	if err != nil {
		if errors.Is(err, errCorrupt) {
			err = fmt.Errorf("%s, column %s: %w", r.loc, r.schema.Field(0).Name, err)
		}
		r.err = err
		return false
	}
	defer col.Release()
	r.rows -= int64(n)
	r.cur = array.NewRecordBatch(r.schema, []arrow.Array{col}, int64(k))
	return true
}

// read decodes the next n rows, rows sel of them only if selective (k
// rows out), into an array.
func (b *bytesReader) read(n, k int, sel []int32, selective bool) (arrow.Array, error) {
	r := b.r
	offs := alloc.NewUninitBuffer(r.mem, (k+1)*4)
	defer offs.Release()
	o := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(offs.Bytes()))), k+1)
	o[0] = 0
	var valid *memory.Buffer
	var bits []byte
	if r.nullable && k > 0 {
		valid = alloc.NewUninitBuffer(r.mem, (k+7)/8)
		defer valid.Release()
		bits = valid.Bytes()
		clear(bits)
	}
	d := batchData{buf: memory.NewResizableBuffer(r.mem)}
	defer d.buf.Release()
	if b.size > 0 {
		d.buf.Resize(b.size)
		d.data = d.buf.Bytes()
	}
	out, si, nulls := 0, 0, 0 // rows output, the next of sel
	err := r.segments(n, func(off, m int) error {
		// The run's rows present (all of a required column's).
		present := m
		var lv []byte
		if r.nullable {
			words := (m + 63) / 64
			if cap(b.levels) < words {
				b.levels = make([]uint64, words)
			}
			lv = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b.levels))), words*8)
			var err error
			if present, err = r.defs.levels(lv, 0, m); err != nil {
				return err
			}
		}
		var idx []uint32
		if r.dict {
			if cap(b.idx) < present {
				b.idx = make([]uint32, present)
			}
			idx = b.idx[:present]
			if err := gather(&r.idx, r.dictVals, idx); err != nil {
				return err
			}
		}
		rank := 0 // values present before row i of the run
		for i := range m {
			want := !selective || si < len(sel) && int(sel[si]) == off+i
			if lv != nil && lv[i>>3]&(1<<(i&7)) == 0 {
				if want {
					o[out+1] = int32(d.at)
					out, si, nulls = out+1, si+1, nulls+1
				}
				continue
			}
			var v []byte
			if r.dict {
				x := idx[rank]
				v = b.dictData[b.dictOffs[x]+4 : b.dictOffs[x+1]]
			} else {
				if len(r.plain) < 4 {
					return corrupt("PLAIN page holds fewer values than it declares")
				}
				size := binary.LittleEndian.Uint32(r.plain)
				if uint64(size) > uint64(len(r.plain)-4) {
					return corrupt("PLAIN value of %d bytes", size)
				}
				v, r.plain = r.plain[4:4+size], r.plain[4+size:]
			}
			rank++
			if !want {
				continue
			}
			if err := d.put(v); err != nil {
				return err
			}
			if bits != nil {
				bitutil.SetBit(bits, out)
			}
			o[out+1] = int32(d.at)
			out, si = out+1, si+1
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out != k {
		return nil, corrupt("%d rows read of %d", out, k)
	}
	b.size = d.at
	d.buf.ResizeNoShrink(d.at)
	bufs := []*memory.Buffer{nil, offs, d.buf}
	if nulls > 0 {
		bufs[0] = valid
	}
	data := array.NewData(r.schema.Field(0).Type, k, bufs, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}
