package pgwire

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5/pgproto3"
)

// discard is a connection that takes every write.
type discard struct{ net.Conn }

func (discard) Write(b []byte) (int, error)      { return len(b), nil }
func (discard) SetWriteDeadline(time.Time) error { return nil }
func (discard) SetDeadline(time.Time) error      { return nil }

// BenchmarkSendRows encodes lineitem-shaped rows (16 columns: integers,
// four decimals, dates, text) as DataRows, in text and in binary: the
// endpoint's own cost per row, without a cluster.
func BenchmarkSendRows(b *testing.B) {
	mem := memory.NewGoAllocator()
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	fields := []arrow.Field{}
	for i, t := range []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32,
		dec, dec, dec, dec, arrow.BinaryTypes.String, arrow.BinaryTypes.String, arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date32,
		arrow.FixedWidthTypes.Date32, arrow.BinaryTypes.String, arrow.BinaryTypes.String, arrow.BinaryTypes.String} {
		fields = append(fields, arrow.Field{Name: fmt.Sprint("c", i), Type: t})
	}
	schema := arrow.NewSchema(fields, nil)
	rb := array.NewRecordBuilder(mem, schema)
	const rows = 8192
	for r := range rows {
		for j, f := range rb.Fields() {
			switch f := f.(type) {
			case *array.Int64Builder:
				f.Append(int64(r * (j + 1)))
			case *array.Int32Builder:
				f.Append(int32(r % 7))
			case *array.Decimal128Builder:
				f.Append(decimal128.FromI64(int64(r*137 + j)))
			case *array.StringBuilder:
				f.Append("carefully final deposits detect slyly agai"[:10+j])
			case *array.Date32Builder:
				f.Append(arrow.Date32(9000 + r%2000))
			}
		}
	}
	batch := rb.NewRecordBatch()
	defer batch.Release()
	for _, binary := range []bool{false, true} {
		b.Run(fmt.Sprintf("binary=%v", binary), func(b *testing.B) {
			c := &conn{s: &Server{cfg: Config{Limits: DefaultLimits()}}, nc: discard{}}
			c.be = pgproto3.NewBackend(nil, c.nc)
			cols, _ := columnsOf(schema, []int16{map[bool]int16{false: 0, true: 1}[binary]})
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				rr, _ := array.NewRecordReader(schema, []arrow.RecordBatch{batch})
				if _, err := c.sendRows(context.Background(), &answer{rows: rr}, cols, 0); err != nil {
					b.Fatal(err)
				}
				rr.Release()
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
