package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// conformTimes gives the timestamp columns of a batch read from a file the
// types of the scan's schema (see wire.TableType): a zone is a label (the
// instant is the same), seconds and milliseconds become microseconds
// exactly, and nanoseconds read into microseconds (Parquet's INT96, which
// the reader decodes as nanoseconds, and nanoseconds with a zone) are
// truncated toward zero, as DuckDB reads them. It returns b itself
// (not retained) when no column needs it; otherwise a new batch, and b is
// released.
func conformTimes(b arrow.RecordBatch, schema *arrow.Schema, mem memory.Allocator) arrow.RecordBatch {
	if int(b.NumCols()) != schema.NumFields() {
		return b
	}
	var cols []arrow.Array
	for i, f := range schema.Fields() {
		have, ok1 := b.Column(i).DataType().(*arrow.TimestampType)
		want, ok2 := f.Type.(*arrow.TimestampType)
		if !ok1 || !ok2 || arrow.TypeEqual(have, want) {
			continue
		}
		if cols == nil {
			cols = make([]arrow.Array, b.NumCols())
		}
		cols[i] = convertTimestamps(b.Column(i).(*array.Timestamp), want, mem)
	}
	if cols == nil {
		return b
	}
	fields := b.Schema().Fields()
	for i := range cols {
		if cols[i] == nil {
			cols[i] = b.Column(i)
			cols[i].Retain()
		}
		fields[i].Type = cols[i].DataType()
	}
	out := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows())
	for _, c := range cols {
		c.Release()
	}
	b.Release()
	return out
}

// convertTimestamps converts a to type want: a new array whose values are
// a's in want's unit (truncated when coarser).
func convertTimestamps(a *array.Timestamp, want *arrow.TimestampType, mem memory.Allocator) arrow.Array {
	from, to := int64(a.DataType().(*arrow.TimestampType).Unit.Multiplier()), int64(want.Unit.Multiplier())
	d := a.Data()
	if from == to {
		nd := array.NewData(want, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
		defer nd.Release()
		return array.MakeFromData(nd)
	}
	bld := array.NewTimestampBuilder(mem, want)
	defer bld.Release()
	bld.Reserve(a.Len())
	for i, v := range a.TimestampValues() {
		if a.IsNull(i) {
			bld.UnsafeAppendBoolToBitmap(false)
			continue
		}
		x := int64(v)
		if from > to { // Multiplier is the unit's length in nanoseconds
			x *= from / to
		} else {
			x /= to / from // toward zero, as DuckDB converts
		}
		bld.UnsafeAppend(arrow.Timestamp(x))
	}
	return bld.NewArray()
}
