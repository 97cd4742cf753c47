package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"

	"github.com/kapot-go/kapot/engine/kernel"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// dirtyAllocator hands out the memory its uninitialised requests get
// filled with garbage, so that a reader or kernel that relies on zeroed
// memory where it asked for none shows up in results.
type dirtyAllocator struct{ *memory.CheckedAllocator }

func fillGarbage(b []byte) {
	for i := range b {
		b[i] = byte(0xA5 ^ i)
	}
}

func (d dirtyAllocator) AllocateUninit(size int) []byte {
	b := d.Allocate(size)
	fillGarbage(b)
	return b
}

func (d dirtyAllocator) ReallocateUninit(size int, b []byte) []byte {
	old := len(b)
	nb := d.Reallocate(size, b)
	if size > old {
		fillGarbage(nb[old:])
	}
	return nb
}

// TestParquetDirtyMemory reads a file of every column kind the scan
// handles (required and nullable integers, floats, booleans, dates,
// decimals stored as integers, plain and dictionary strings) over several
// row groups and batch sizes, with an allocator whose unzeroed memory is
// garbage: the Parquet reader and the scan's conversions must write every
// byte they hand on.
func TestParquetDirtyMemory(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "n64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "n32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}, Nullable: true},
		{Name: "dict", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "plain", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	modes := []string{"AIR", "MAIL", "REG AIR", "TRUCK", "DELIVER IN PERSON"}
	for i := range 1000 {
		bld.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 3 {
			for c := 1; c < len(schema.Fields()); c++ {
				bld.Field(c).AppendNull()
			}
			continue
		}
		bld.Field(1).(*array.Int64Builder).Append(int64(i * 1_000_003))
		bld.Field(2).(*array.Int32Builder).Append(int32(-i))
		bld.Field(3).(*array.Float64Builder).Append(float64(i) / 8)
		bld.Field(4).(*array.BooleanBuilder).Append(i%3 == 0)
		bld.Field(5).(*array.Date32Builder).Append(arrow.Date32(8000 + i))
		bld.Field(6).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i*101 - 5000)))
		bld.Field(7).(*array.StringBuilder).Append(modes[i%len(modes)])
		bld.Field(8).(*array.StringBuilder).Append(fmt.Sprintf("comment %d", i*i))
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	path := filepath.Join(t.TempDir(), "all.parquet")
	writeParquet(t, path, rec, parquet.WithStoreDecimalAsInteger(true), parquet.WithMaxRowGroupLength(300),
		parquet.WithCompression(compress.Codecs.Snappy), parquet.WithDictionaryFor("plain", false), parquet.WithDataPageSize(512))
	rec.Release()
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
	for _, batch := range []int{1, 77, 1024} {
		clean, _ := newTC(t)
		clean.BatchSize = batch
		want := runOrdered(t, plan, clean)
		if len(want) != 1000 || want[3] != "3|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL" || want[1] != "1|1000003|-1|0.125|false|1991-11-28|-48.99|MAIL|comment 1" {
			t.Fatalf("batch size %d: clean read is wrong: %d rows, %q, %q", batch, len(want), want[1], want[3])
		}
		dirty, mem := newTC(t)
		dirty.BatchSize = batch
		dirty.Mem = dirtyAllocator{mem}
		// Recycle garbage through the same sizes the reader asks for.
		if got := runOrdered(t, plan, dirty); !slices.Equal(got, want) {
			for i := range got {
				if i < len(want) && got[i] != want[i] {
					t.Fatalf("batch size %d, row %d: %q with dirty memory, %q with zeroed", batch, i, got[i], want[i])
				}
			}
			t.Fatalf("batch size %d: %d rows with dirty memory, want %d", batch, len(got), len(want))
		}
	}
}

// TestTakeDirtyMemory gathers rows of every fixed-width and string layout
// into garbage-filled buffers.
func TestTakeDirtyMemory(t *testing.T) {
	clean := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer clean.AssertSize(t, 0)
	dirty := dirtyAllocator{memory.NewCheckedAllocator(memory.NewGoAllocator())}
	defer dirty.AssertSize(t, 0)
	ib := array.NewInt64Builder(clean)
	sb := array.NewStringBuilder(clean)
	for i := range 100 {
		if i%9 == 4 {
			ib.AppendNull()
			sb.AppendNull()
			continue
		}
		ib.Append(int64(i * i))
		sb.Append(fmt.Sprintf("s%d", i))
	}
	ints, strs := ib.NewArray(), sb.NewArray()
	ib.Release()
	sb.Release()
	defer ints.Release()
	defer strs.Release()
	idx := []int32{99, 0, 1, 2, 4, 50, 51, 52, 53, 13, 13, 98}
	for _, a := range []arrow.Array{ints, strs} {
		got, err := kernel.Take(context.Background(), dirty, a, idx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := kernel.Take(context.Background(), clean, a, idx)
		if err != nil {
			t.Fatal(err)
		}
		if !array.Equal(got, want) {
			t.Errorf("%s: dirty %v, clean %v", a.DataType(), got, want)
		}
		got.Release()
		want.Release()
	}
}
