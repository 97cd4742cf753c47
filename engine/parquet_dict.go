package engine

import (
	"encoding/binary"
	"iter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/pqflat"
)

// dictionaryColumns yields the string columns of md's file whose every data page
// is dictionary encoded (pqflat.AllDictionaryEncoded). Those read as
// Arrow dictionaries, indexes decoded in bulk, and convertColumn expands
// them: much cheaper than pqarrow's value-by-value string builder. Columns
// with plain pages (a writer's fallback for high cardinality) would make
// the dictionary reader hash every value, and read as strings.
func dictionaryColumns(md *metadata.FileMetaData) iter.Seq[int] {
	return func(yield func(int) bool) {
	cols:
		for c := 0; c < md.Schema.NumColumns(); c++ {
			col := md.Schema.Column(c)
			// A leaf inside a LIST, STRUCT or MAP reads as its field's
			// type: never as a dictionary.
			if col.PhysicalType() != parquet.Types.ByteArray || col.MaxRepetitionLevel() > 0 || len(col.ColumnPath()) > 1 {
				continue
			}
			if _, ok := col.LogicalType().(schema.StringLogicalType); !ok {
				continue
			}
			for rg := 0; rg < md.NumRowGroups(); rg++ {
				cc, err := md.RowGroup(rg).ColumnChunk(c)
				if err != nil || !pqflat.AllDictionaryEncoded(cc) {
					continue cols
				}
			}
			if md.NumRowGroups() > 0 && !yield(c) {
				return
			}
		}
	}
}

// readAs makes column c of fr decode in the cheapest form pqarrow offers,
// and returns the type it must be given back by convertColumn (nil: c
// reads as is). Dates and decimals kept in INT32/INT64 decode as those
// integers: pqarrow hands integer columns over without a copy, but
// converts dates and decimals value by value into buffers of its own (Go
// heap, zeroed, not the task's allocator), a large share of a TPC-H scan.
// String columns read as dictionaries (dictionaryColumns) go back to
// strings.
func readAs(fr *pqarrow.FileReader, c int) arrow.DataType {
	if c < 0 || c >= len(fr.Manifest.Fields) {
		return nil
	}
	sf := &fr.Manifest.Fields[c]
	if len(sf.Children) > 0 || sf.Field == nil || sf.ColIndex < 0 {
		return nil
	}
	want := sf.Field.Type
	if dt, ok := want.(*arrow.DictionaryType); ok && fr.Props.ReadDict(sf.ColIndex) {
		if dt.ValueType.ID() == arrow.STRING || dt.ValueType.ID() == arrow.BINARY {
			return dt.ValueType
		}
		return nil
	}
	var as arrow.DataType
	switch phys := fr.ParquetReader().MetaData().Schema.Column(sf.ColIndex).PhysicalType(); {
	case want.ID() == arrow.DATE32 && phys == parquet.Types.Int32:
		as = arrow.PrimitiveTypes.Int32
	case want.ID() == arrow.DECIMAL128 && phys == parquet.Types.Int32:
		as = arrow.PrimitiveTypes.Int32
	case want.ID() == arrow.DECIMAL128 && phys == parquet.Types.Int64:
		as = arrow.PrimitiveTypes.Int64
	default:
		return nil
	}
	f := *sf.Field
	f.Type = as
	sf.Field = &f
	return want
}

// convertColumn gives a column read by readAs its type back: a date shares
// the integers' buffers, a decimal is widened into a buffer of mem, a
// dictionary is expanded. It releases col.
func convertColumn(col arrow.Array, want arrow.DataType, mem memory.Allocator) arrow.Array {
	defer col.Release()
	if dict, ok := col.(*array.Dictionary); ok {
		return expandDictionary(dict, want, mem)
	}
	d := col.Data()
	if want.ID() == arrow.DATE32 {
		nd := array.NewData(want, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
		defer nd.Release()
		return array.MakeFromData(nd)
	}
	n, off := d.Len(), d.Offset()
	buf := alloc.NewUninitBuffer(mem, (off+n)*arrow.Decimal128SizeBytes)
	out := arrow.Decimal128Traits.CastFromBytes(buf.Bytes())[off : off+n]
	switch c := col.(type) {
	case *array.Int64:
		for i, v := range c.Int64Values() {
			out[i] = expr.DecimalOf(v)
		}
	case *array.Int32:
		for i, v := range c.Int32Values() {
			out[i] = expr.DecimalOf(int64(v))
		}
	}
	nd := array.NewData(want, n, []*memory.Buffer{d.Buffers()[0], buf}, nil, d.NullN(), off)
	buf.Release()
	defer nd.Release()
	return array.MakeFromData(nd)
}

// expandDictionary turns a dictionary of strings (or binaries) into a plain
// array of type want, built in mem.
func expandDictionary(d *array.Dictionary, want arrow.DataType, mem memory.Allocator) arrow.Array {
	n := d.Len()
	var idx []int32
	if ix, ok := d.Indices().(*array.Int32); ok {
		idx = ix.Int32Values()
	} else {
		idx = make([]int32, n)
		for i := range idx {
			if d.IsValid(i) {
				idx[i] = int32(d.GetValueIndex(i))
			}
		}
	}
	dict := d.Dictionary().Data()
	doffs := arrow.Int32Traits.CastFromBytes(dict.Buffers()[1].Bytes())[dict.Offset():]
	var dbytes []byte
	if b := dict.Buffers()[2]; b != nil {
		dbytes = b.Bytes()
	}
	nulls := d.NullN() > 0
	offsets := alloc.NewUninitBuffer(mem, (n+1)*arrow.Int32SizeBytes)
	offs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	if !nulls {
		if data := expandShort(idx, doffs, dbytes, offs, mem); data != nil {
			nd := array.NewData(want, n, []*memory.Buffer{nil, offsets, data}, nil, 0, 0)
			offsets.Release()
			data.Release()
			defer nd.Release()
			return array.MakeFromData(nd)
		}
	}
	total := int32(0)
	for i, k := range idx {
		offs[i] = total
		if !nulls || d.IsValid(i) {
			total += doffs[k+1] - doffs[k]
		}
	}
	offs[n] = total
	data := alloc.NewUninitBuffer(mem, int(total))
	out := data.Bytes()
	for i, k := range idx {
		if !nulls || d.IsValid(i) {
			copy(out[offs[i]:], dbytes[doffs[k]:doffs[k+1]])
		}
	}
	var valid *memory.Buffer
	if nulls {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		vb := valid.Bytes()
		for i := range n {
			if d.IsValid(i) {
				bitutil.SetBit(vb, i)
			}
		}
	}
	nd := array.NewData(want, n, []*memory.Buffer{valid, offsets, data}, nil, d.NullN(), 0)
	offsets.Release()
	data.Release()
	if valid != nil {
		valid.Release()
	}
	defer nd.Release()
	return array.MakeFromData(nd)
}

// expandShort expands the indexes idx of a dictionary whose values are all
// at most 8 bytes long (flags, modes, priorities: most low-cardinality
// strings) with one 8-byte store per row instead of a copy call, filling
// offs. It returns nil when a value is longer.
func expandShort(idx, doffs []int32, dbytes []byte, offs []int32, mem memory.Allocator) *memory.Buffer {
	words := make([]uint64, len(doffs)-1)
	lens := make([]int32, len(words))
	for k := range words {
		v := dbytes[doffs[k]:doffs[k+1]]
		if len(v) > 8 {
			return nil
		}
		var w [8]byte
		copy(w[:], v)
		words[k], lens[k] = binary.LittleEndian.Uint64(w[:]), int32(len(v))
	}
	data := alloc.NewUninitBuffer(mem, 8*len(idx)+8)
	out := data.Bytes()
	pos := int32(0)
	for i, k := range idx {
		offs[i] = pos
		binary.LittleEndian.PutUint64(out[pos:], words[k])
		pos += lens[k]
	}
	offs[len(idx)] = pos
	return data
}
