package pqflat

import (
	"encoding/binary"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/kapot-go/kapot/engine/alloc"
)

// Dictionary-encoded strings. A string (or binary) column whose every
// data page is dictionary encoded reads as an Arrow dictionary array:
// its indexes decode as an INT32 column would (in bulk, selected rows
// only when asked), its dictionary is the column chunk's dictionary page,
// made an Arrow array once per chunk. pqarrow's dictionary reader
// decoded the indexes run by run into a builder that hashed every
// dictionary value again (8 % of an in-process TPC-H run).

// stringDicts are the dictionaries a batch's indexes refer to: the open
// column chunk's and, when the batch began in an earlier chunk, those
// before it, numbered one after the other (the chunk's indexes are offset
// by the values before its dictionary).
type stringDicts struct {
	typ   *arrow.DictionaryType
	dicts []arrow.Array
	n     int // values in dicts
}

// release drops every dictionary.
func (s *stringDicts) release() {
	for _, d := range s.dicts {
		d.Release()
	}
	s.dicts, s.n = nil, 0
}

// AllDictionaryEncoded reports whether every data page of cc is dictionary
// encoded: by its pages' encoding statistics, or, in a file without them
// (DuckDB writes none), by its encodings when they are only dictionary
// and level encodings. A chunk listing PLAIN may hold plain data pages (a
// writer's fallback) or only a PLAIN dictionary page (arrow-go, parquet
// v2): not counted.
func AllDictionaryEncoded(cc *metadata.ColumnChunkMetaData) bool {
	if stats := cc.EncodingStats(); len(stats) > 0 {
		data := 0
		for _, s := range stats {
			switch s.PageType.String() {
			case "DATA_PAGE", "DATA_PAGE_V2":
				if s.Encoding != parquet.Encodings.RLEDict && s.Encoding != parquet.Encodings.PlainDict {
					return false
				}
				data++
			}
		}
		return data > 0
	}
	encs := cc.Encodings()
	if !cc.HasDictionaryPage() || len(encs) == 0 {
		return false
	}
	dict := false
	for _, e := range encs {
		switch e {
		case parquet.Encodings.PlainDict, parquet.Encodings.RLEDict:
			dict = true
		case parquet.Encodings.RLE, parquet.Encodings.BitPacked:
		default:
			return false
		}
	}
	return dict
}

// stringDictionary reports whether dt is a dictionary of strings or
// binaries with int32 indexes.
func stringDictionary(dt arrow.DataType) (*arrow.DictionaryType, bool) {
	d, ok := dt.(*arrow.DictionaryType)
	if !ok || d.IndexType.ID() != arrow.INT32 || d.Ordered {
		return nil, false
	}
	switch d.ValueType.ID() {
	case arrow.STRING, arrow.BINARY:
		return d, true
	}
	return nil, false
}

// stringReader reads a dictionary-encoded string column: its indexes
// with a reader of INT32 values, its dictionaries from stringDicts.
type stringReader struct {
	idx    *reader[uint32]
	schema *arrow.Schema
	mem    memory.Allocator
	cur    arrow.RecordBatch
}

func newStringReader(b base, typ *arrow.DictionaryType) *stringReader {
	f := b.schema.Field(0)
	b.schema = arrow.NewSchema([]arrow.Field{{Name: f.Name, Type: arrow.PrimitiveTypes.Int32, Nullable: f.Nullable}}, nil)
	s := &stringReader{idx: &reader[uint32]{base: b, strs: &stringDicts{typ: typ}}, schema: arrow.NewSchema([]arrow.Field{f}, nil), mem: b.mem}
	return s
}

func (s *stringReader) RecordBatch() arrow.RecordBatch { return s.cur }
func (s *stringReader) Err() error                     { return s.idx.Err() }

func (s *stringReader) Release() {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	s.idx.Release()
	s.idx.strs.release()
}

func (s *stringReader) Next() bool { return s.next(nil, false) }

func (s *stringReader) NextSelected(sel []int32) bool { return s.next(sel, true) }

// next reads the next batch's indexes and pairs them with the
// dictionaries they index.
func (s *stringReader) next(sel []int32, selective bool) bool {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	s.idx.rebase()
	if !s.idx.next(sel, selective) {
		return false
	}
	idx := s.idx.cur.Column(0)
	d := s.idx.strs
	var dict arrow.Array
	switch len(d.dicts) {
	case 0:
		// No dictionary page yet: every row of the batch is null (or
		// the batch is empty).
		dict = array.MakeArrayOfNull(s.mem, d.typ.ValueType, 0)
	case 1:
		dict = d.dicts[0]
		dict.Retain()
	default:
		var err error
		if dict, err = array.Concatenate(d.dicts, s.mem); err != nil {
			s.idx.err = err
			return false
		}
	}
	defer dict.Release()
	col := array.NewDictionaryArray(d.typ, idx, dict)
	defer col.Release()
	s.cur = array.NewRecordBatch(s.schema, []arrow.Array{col}, int64(idx.Len()))
	return true
}

// rebase keeps, at the start of a batch, only the open chunk's dictionary,
// its indexes numbered from 0 again.
func (r *reader[T]) rebase() {
	d := r.strs
	if len(d.dicts) <= 1 {
		return
	}
	last := d.dicts[len(d.dicts)-1]
	for _, x := range d.dicts[:len(d.dicts)-1] {
		x.Release()
	}
	d.dicts, d.n = append(d.dicts[:0], last), last.Len()
	for i := range r.dictVals {
		r.dictVals[i] = T(i)
	}
}

// setStringDictionary makes a chunk's dictionary page (PLAIN byte arrays:
// a 4-byte length, then the bytes) an Arrow array, and its indexes the
// values of the reader's dictionary: offset by those of the dictionaries
// before it in the batch being read, or, when the chunk starts the batch,
// the batch's only dictionary.
func (r *reader[T]) setStringDictionary(p *file.DictionaryPage) error {
	if e := parquet.Encoding(p.Encoding()); e != parquet.Encodings.Plain && e != parquet.Encodings.PlainDict {
		return corrupt("dictionary page encoded as %s", e)
	}
	n, data := int(p.NumValues()), p.Data()
	if n < 0 || n > len(data)/4 {
		return corrupt("dictionary page of %d values in %d bytes", n, len(data))
	}
	d := r.strs
	offs := alloc.NewUninitBuffer(r.mem, (n+1)*4)
	defer offs.Release()
	o := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(offs.Bytes()))), n+1)
	vals := alloc.NewUninitBuffer(r.mem, len(data)-4*n)
	defer vals.Release()
	v := vals.Bytes()
	pos, at := 0, 0
	for i := range n {
		if len(data)-pos < 4 {
			return corrupt("dictionary page ends in value %d of %d", i, n)
		}
		size := int(binary.LittleEndian.Uint32(data[pos:]))
		pos += 4
		if size < 0 || size > len(data)-pos {
			return corrupt("dictionary value of %d bytes", size)
		}
		o[i] = int32(at)
		at += copy(v[at:], data[pos:pos+size])
		pos += size
	}
	o[n] = int32(at)
	ad := array.NewData(d.typ.ValueType, n, []*memory.Buffer{nil, offs, vals}, nil, 0, 0)
	dict := array.MakeFromData(ad)
	ad.Release()
	if r.at == 0 {
		d.release() // the chunk starts the batch: nothing indexes the others
	}
	base := d.n
	if base+n > 1<<31-1 {
		dict.Release()
		return corrupt("dictionaries of more than 2^31 values in one batch")
	}
	d.dicts, d.n = append(d.dicts, dict), base+n
	if cap(r.dictVals) < n {
		r.dictVals = make([]T, n)
	}
	r.dictVals = r.dictVals[:n]
	for i := range r.dictVals {
		r.dictVals[i] = T(base + i)
	}
	r.haveDict = true
	return nil
}
