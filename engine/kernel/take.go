package kernel

import (
	"context"
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
)

// Gathering rows by index is what filters, joins, sorts and shuffles spend
// much of their time on. Take does it in one pass over the indices for
// the layouts queries move most (fixed-width values, booleans, strings and
// binaries with 32-bit offsets) and hands the rest to arrow's Take kernel.
// The indices come from the engine itself, so they are trusted to be in
// range (arrow's kernel checks each one).

// Take returns arr's values at idx, in order.
func Take(ctx context.Context, mem memory.Allocator, arr arrow.Array, idx []int32) (arrow.Array, error) {
	data := arr.Data()
	switch arr.DataType().ID() {
	case arrow.BOOL:
		return takeBooleans(mem, data, idx), nil
	case arrow.STRING, arrow.BINARY:
		return takeBinary(mem, data, idx), nil
	case arrow.INT8, arrow.UINT8, arrow.INT16, arrow.UINT16, arrow.INT32, arrow.UINT32, arrow.INT64, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.DATE32, arrow.DATE64, arrow.TIME32, arrow.TIME64,
		arrow.TIMESTAMP, arrow.DURATION, arrow.DECIMAL128, arrow.INTERVAL_MONTH_DAY_NANO:
		switch arr.DataType().(arrow.FixedWidthDataType).BitWidth() {
		case 8:
			return takeFixed[uint8](mem, data, idx), nil
		case 16:
			return takeFixed[uint16](mem, data, idx), nil
		case 32:
			return takeFixed[uint32](mem, data, idx), nil
		case 64:
			return takeFixed[uint64](mem, data, idx), nil
		case 128:
			return takeFixed[[2]uint64](mem, data, idx), nil
		}
	}
	ib := array.NewInt32Builder(mem)
	ib.AppendValues(idx, nil)
	indices := ib.NewArray()
	ib.Release()
	defer indices.Release()
	out, err := compute.TakeArray(Context(exec.WithAllocator(ctx, mem)), arr, indices)
	if err != nil {
		return nil, fmt.Errorf("take %s: %w", arr.DataType(), err)
	}
	return out, nil
}

// takeValidity gathers the validity bits of data at idx into a new bitmap,
// or returns nil (and 0 nulls) when data has no nulls.
func takeValidity(mem memory.Allocator, data arrow.ArrayData, idx []int32) (*memory.Buffer, int) {
	if data.NullN() == 0 || len(data.Buffers()) == 0 || data.Buffers()[0] == nil {
		return nil, 0
	}
	src := data.Buffers()[0].Bytes()
	off := data.Offset()
	n := len(idx)
	buf := alloc.NewUninitBuffer(mem, int(bitutil.BytesForBits(int64(n))))
	dst := buf.Bytes()
	valid := 0
	// Eight rows a byte, without a branch a row.
	for i := 0; i < n; i += 8 {
		var b byte
		for j, r := range idx[i:min(i+8, n)] {
			p := off + int(r)
			b |= (src[p>>3] >> (p & 7) & 1) << j
		}
		dst[i>>3] = b
		valid += bits.OnesCount8(b)
	}
	return buf, n - valid
}

// takeFixed gathers fixed-width values of T's size.
func takeFixed[T uint8 | uint16 | uint32 | uint64 | [2]uint64](mem memory.Allocator, data arrow.ArrayData, idx []int32) arrow.Array {
	src := castBytes[T](data.Buffers()[1].Bytes())[data.Offset():]
	var zero T
	values := alloc.NewUninitBuffer(mem, len(idx)*int(unsafe.Sizeof(zero)))
	dst := castBytes[T](values.Bytes())[:len(idx)]
	for i, r := range idx {
		dst[i] = src[r]
	}
	return gathered(mem, data, idx, values)
}

// castBytes views b as a slice of T (arrow buffers are 64-byte aligned).
func castBytes[T any](b []byte) []T {
	var zero T
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/int(unsafe.Sizeof(zero)))
}

// takeBooleans gathers bit-packed booleans.
func takeBooleans(mem memory.Allocator, data arrow.ArrayData, idx []int32) arrow.Array {
	src := data.Buffers()[1].Bytes()
	off := data.Offset()
	values := memory.NewResizableBuffer(mem)
	values.Resize(int(bitutil.BytesForBits(int64(len(idx)))))
	dst := values.Bytes()
	clear(dst)
	for i, r := range idx {
		if bitutil.BitIsSet(src, off+int(r)) {
			bitutil.SetBit(dst, i)
		}
	}
	return gathered(mem, data, idx, values)
}

// takeBinary gathers strings or binaries with 32-bit offsets: offsets
// first, then the bytes in one copy per value.
func takeBinary(mem memory.Allocator, data arrow.ArrayData, idx []int32) arrow.Array {
	srcOffs := arrow.Int32Traits.CastFromBytes(data.Buffers()[1].Bytes())[data.Offset():]
	var srcBytes []byte
	if b := data.Buffers()[2]; b != nil {
		srcBytes = b.Bytes()
	}
	offsets := alloc.NewUninitBuffer(mem, (len(idx)+1)*arrow.Int32SizeBytes)
	dstOffs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())[:len(idx)+1]
	total := int32(0)
	dstOffs[0] = 0
	for i, r := range idx {
		total += srcOffs[r+1] - srcOffs[r]
		dstOffs[i+1] = total
	}
	// shortCopy bytes of slack after the values: a value of at most that
	// many bytes is copied as one 16-byte block (two moves), where a copy
	// call per value of a few bytes would dominate (a join's output
	// gathers names and ids row by row).
	values := alloc.NewUninitBuffer(mem, int(total)+shortCopy)
	dst := values.Bytes()
	// Copy runs of consecutive rows with one copy each: a dense selection
	// (a filter keeping most rows) is a few long runs.
	for i := 0; i < len(idx); {
		r := idx[i]
		if i+1 == len(idx) || idx[i+1] != r+1 {
			s, e, d := srcOffs[r], srcOffs[r+1], dstOffs[i]
			if e-s <= shortCopy && int(s)+shortCopy <= len(srcBytes) {
				*(*[shortCopy]byte)(dst[d : d+shortCopy]) = [shortCopy]byte(srcBytes[s : s+shortCopy])
			} else {
				copy(dst[d:dstOffs[i+1]], srcBytes[s:e])
			}
			i++
			continue
		}
		j := i + 1
		for j < len(idx) && idx[j] == idx[j-1]+1 {
			j++
		}
		copy(dst[dstOffs[i]:dstOffs[j]], srcBytes[srcOffs[idx[i]]:srcOffs[idx[j-1]+1]])
		i = j
	}
	values.ResizeNoShrink(int(total))
	return gathered(mem, data, idx, offsets, values)
}

// shortCopy is the length up to which takeBinary copies a value as one
// block.
const shortCopy = 16

// gathered makes the array of data's type holding the rows idx picked: the
// validity bitmap gathered here, then bufs (which it takes over).
func gathered(mem memory.Allocator, data arrow.ArrayData, idx []int32, bufs ...*memory.Buffer) arrow.Array {
	validity, nulls := takeValidity(mem, data, idx)
	out := array.NewData(data.DataType(), len(idx), append([]*memory.Buffer{validity}, bufs...), nil, nulls, 0)
	for _, b := range bufs {
		b.Release()
	}
	if validity != nil {
		validity.Release()
	}
	defer out.Release()
	return array.MakeFromData(out)
}

// TakeRows returns the rows of b at the given indices, in order.
func TakeRows(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, rows []int32) (arrow.RecordBatch, error) {
	if len(rows) == int(b.NumRows()) && IsIdentity(rows) {
		b.Retain()
		return b, nil
	}
	cols := make([]arrow.Array, b.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range b.Columns() {
		t, err := Take(ctx, mem, c, rows)
		if err != nil {
			return nil, fmt.Errorf("take rows: %w", err)
		}
		cols[i] = t
	}
	return array.NewRecordBatch(b.Schema(), cols, int64(len(rows))), nil
}

// IsIdentity reports whether rows are 0, 1, 2, ... in order: taking them
// changes nothing.
func IsIdentity(rows []int32) bool {
	for i, r := range rows {
		if int(r) != i {
			return false
		}
	}
	return true
}
