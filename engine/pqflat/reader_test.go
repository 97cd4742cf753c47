package pqflat

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/tpcds"
)

// nullPattern says which rows of a generated column are null.
type nullPattern func(r *rand.Rand, i int) bool

var nullPatterns = map[string]nullPattern{
	"none":   func(*rand.Rand, int) bool { return false },
	"random": func(r *rand.Rand, _ int) bool { return r.IntN(10) == 0 },
	"runs":   func(_ *rand.Rand, i int) bool { return (i/700)%3 == 1 },
	"most":   func(r *rand.Rand, _ int) bool { return r.IntN(50) != 0 },
	"all":    func(*rand.Rand, int) bool { return true },
}

// testBatch builds a batch of n rows: nullable and required columns of
// each width, low-cardinality (dictionary) and high-cardinality (a
// writer's fallback to PLAIN) values, extremes and NaNs.
func testBatch(t *testing.T, n int, nulls nullPattern, seed uint64) arrow.RecordBatch {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i32_wide", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "i64_req", Type: arrow.PrimitiveTypes.Int64},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "i32_req_const", Type: arrow.PrimitiveTypes.Int32},
		{Name: "str", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "str_req_wide", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := range n {
		null := nulls(r, i)
		add := func(k int, f func()) {
			if null && schema.Field(k).Nullable {
				b.Field(k).AppendNull()
				return
			}
			f()
		}
		add(0, func() { b.Field(0).(*array.Int32Builder).Append(int32(r.IntN(37)) - 5) })
		add(1, func() {
			v := r.Int32()
			if i%97 == 0 {
				v = math.MinInt32
			}
			b.Field(1).(*array.Int32Builder).Append(v)
		})
		add(2, func() {
			v := int64(r.IntN(3000)) * 1_000_000_007
			switch i % 501 {
			case 3:
				v = math.MaxInt64
			case 4:
				v = math.MinInt64
			}
			b.Field(2).(*array.Int64Builder).Append(v)
		})
		add(3, func() { b.Field(3).(*array.Int64Builder).Append(int64(i/3) - 1000) })
		add(4, func() {
			v := float32(r.IntN(200)) / 8
			if i%311 == 0 {
				v = float32(math.NaN())
			}
			b.Field(4).(*array.Float32Builder).Append(v)
		})
		add(5, func() { b.Field(5).(*array.Float64Builder).Append(r.NormFloat64()) })
		add(6, func() { b.Field(6).(*array.Int32Builder).Append(42) })
		add(7, func() { b.Field(7).(*array.StringBuilder).Append(strings.Repeat("ab", r.IntN(30))) })
		add(8, func() { b.Field(8).(*array.StringBuilder).Append(fmt.Sprintf("w%d", r.IntN(2000))) })
	}
	return b.NewRecordBatch()
}

// writeFile writes batch as Parquet with props.
func writeFile(t *testing.T, batch arrow.RecordBatch, props *parquet.WriterProperties) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(batch.Schema(), &buf, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(batch); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compareColumn reads leaf column col of pf (row groups rgs) with pqarrow
// and with a Reader in batches of batch rows and fails on the first
// difference: batch sizes, validity, or a present value's bits. The
// Reader allocates from a checked, poisoning allocator.
func compareColumn(t *testing.T, pf *file.Reader, col int, rgs []int, batch int) {
	t.Helper()
	compareColumnAs(t, pf, col, rgs, batch, true)
	if pf.MetaData().Schema.Column(col).PhysicalType() == parquet.Types.ByteArray {
		compareColumnAs(t, pf, col, rgs, batch, false)
	}
}

// compareColumnAs is compareColumn with strings read as dictionaries or
// as strings.
func compareColumnAs(t *testing.T, pf *file.Reader, col int, rgs []int, batch int, dictStrings bool) {
	t.Helper()
	props := pqarrow.ArrowReadProperties{BatchSize: int64(batch)}
	str := pf.MetaData().Schema.Column(col).PhysicalType() == parquet.Types.ByteArray
	props.SetReadDict(col, str && dictStrings)
	fr, err := pqarrow.NewFileReader(pf, props, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	field := *fr.Manifest.Fields[col].Field
	if !Supported(pf.MetaData(), col, field.Type, rgs) {
		if str && dictStrings && !everyChunkDictionary(pf, col, rgs) {
			return // a writer's PLAIN fallback: pqarrow's to read
		}
		t.Fatalf("column %s (%s) not supported", field.Name, field.Type)
	}
	want, err := fr.GetRecordReader(context.Background(), []int{col}, rgs)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Release()
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	got := NewReader(pf, "test.parquet", col, rgs, field, batch, alloc.NewPoisoningAllocator(checked))
	defer got.Release()
	part := NewReader(pf, "test.parquet", col, rgs, field, batch, alloc.NewPoisoningAllocator(checked)).(Selective)
	defer part.Release()
	rnd := rand.New(rand.NewPCG(uint64(col), uint64(batch)))
	row := 0
	for k := 0; ; k++ {
		w, g := want.Next(), got.Next()
		if w != g {
			t.Fatalf("%s batch %d: pqarrow has one: %v, pqflat: %v (err %v / %v)", field.Name, k, w, g, want.Err(), got.Err())
		}
		if !w {
			if part.NextSelected(nil) {
				t.Fatalf("%s: NextSelected reads past the end", field.Name)
			}
			break
		}
		wc, gc := want.RecordBatch().Column(0), got.RecordBatch().Column(0)
		compareSelected(t, part, wc, rnd, k, row)
		if wc.Len() != gc.Len() || !arrow.TypeEqual(wc.DataType(), gc.DataType()) || !got.RecordBatch().Schema().Equal(want.RecordBatch().Schema()) {
			t.Fatalf("%s batch %d: %d rows of %s, want %d of %s", field.Name, k, gc.Len(), gc.DataType(), wc.Len(), wc.DataType())
		}
		if wc.NullN() != gc.NullN() {
			t.Fatalf("%s batch %d: %d nulls, want %d", field.Name, k, gc.NullN(), wc.NullN())
		}
		for i := range wc.Len() {
			if wc.IsNull(i) != gc.IsNull(i) {
				t.Fatalf("%s row %d: null %v, want %v", field.Name, row+i, gc.IsNull(i), wc.IsNull(i))
			}
			if wc.IsValid(i) && value(wc, i) != value(gc, i) {
				t.Fatalf("%s row %d: %v, want %v", field.Name, row+i, gc.ValueStr(i), wc.ValueStr(i))
			}
		}
		row += wc.Len()
	}
	if err := got.Err(); err != nil {
		t.Fatal(err)
	}
}

// selecting reads rows sel of every batch of a column of rows rows.
type selecting struct {
	Selective
	sel  []int32
	rows int64
}

func (s *selecting) Next() bool {
	n := min(s.rows, 8192)
	s.rows -= n
	k := sort.Search(len(s.sel), func(i int) bool { return int64(s.sel[i]) >= n })
	return s.NextSelected(s.sel[:k])
}

// compareSelected reads the batch wc holds with part, by Next or
// NextSelected of a subset chosen by k (none, a few, most, every row,
// or runs of rows: what a filter on a clustered column keeps, whole
// pages of rows and parts of others), and fails unless the rows it
// returns are wc's rows it selected.
func compareSelected(t *testing.T, part Selective, wc arrow.Array, rnd *rand.Rand, k, row int) {
	t.Helper()
	var sel []int32
	if k%5 == 4 {
		for i := 0; i < wc.Len(); {
			run := 1 + rnd.IntN(3000)
			if rnd.IntN(2) == 0 {
				for j := i; j < min(i+run, wc.Len()); j++ {
					sel = append(sel, int32(j))
				}
			}
			i += run
		}
	}
	odds := []int{0, 10, 90, 100, -1}[k%5]
	for i := range wc.Len() {
		if rnd.IntN(100) < odds {
			sel = append(sel, int32(i))
		}
	}
	if !part.NextSelected(sel) {
		t.Fatalf("batch %d: NextSelected: %v", k, part.Err())
	}
	pc := part.RecordBatch().Column(0)
	if pc.Len() != len(sel) {
		t.Fatalf("batch %d: %d rows selected, got %d", k, len(sel), pc.Len())
	}
	for i, s := range sel {
		if wc.IsNull(int(s)) != pc.IsNull(i) || wc.IsValid(int(s)) && value(wc, int(s)) != value(pc, i) {
			t.Fatalf("row %d selected: %v, want %v", row+int(s), pc.ValueStr(i), wc.ValueStr(int(s)))
		}
	}
	nulls := 0
	for i := range pc.Len() {
		if pc.IsNull(i) {
			nulls++
		}
	}
	if nulls != pc.NullN() {
		t.Fatalf("batch %d: NullN %d, %d null rows", k, pc.NullN(), nulls)
	}
}

// everyChunkDictionary reports whether every data page of leaf column col
// in row groups rgs (nil: all) is dictionary encoded.
func everyChunkDictionary(pf *file.Reader, col int, rgs []int) bool {
	for _, rg := range rowGroups(pf.MetaData(), rgs) {
		cc, err := pf.MetaData().RowGroup(rg).ColumnChunk(col)
		if err != nil || !AllDictionaryEncoded(cc) {
			return false
		}
	}
	return true
}

// value is value i of an array: a number as its bit pattern (NaN equals
// NaN), a dictionary's value as its text.
func value(a arrow.Array, i int) any {
	if d, ok := a.(*array.Dictionary); ok {
		return d.Dictionary().ValueStr(d.GetValueIndex(i))
	}
	switch c := a.(type) {
	case *array.Int32:
		return uint64(c.Value(i))
	case *array.Int64:
		return uint64(c.Value(i))
	case *array.Float32:
		return uint64(math.Float32bits(c.Value(i)))
	case *array.Float64:
		return math.Float64bits(c.Value(i))
	case *array.String:
		return c.Value(i)
	case *array.Binary:
		return string(c.Value(i))
	}
	panic(fmt.Sprintf("type %s", a.DataType()))
}

// TestAgainstPqarrow reads files written with every combination of page
// version, dictionary, page size, compression and null pattern, whole and
// by row-group subsets, in batch sizes that do and do not divide the row
// groups and pages, and compares every value with pqarrow's reading.
func TestAgainstPqarrow(t *testing.T) {
	const rows = 2500
	for name, nulls := range nullPatterns {
		batch := testBatch(t, rows, nulls, uint64(len(name)))
		for _, v := range []parquet.DataPageVersion{parquet.DataPageV1, parquet.DataPageV2} {
			for _, dict := range []bool{true, false} {
				for _, small := range []bool{true, false} {
					opts := []parquet.WriterProperty{parquet.WithDataPageVersion(v), parquet.WithDictionaryDefault(dict),
						parquet.WithMaxRowGroupLength(900), parquet.WithCompression(compress.Codecs.Snappy)}
					if small {
						// Many pages a chunk, and dictionaries that
						// overflow into PLAIN pages mid-chunk.
						opts = append(opts, parquet.WithDataPageSize(512), parquet.WithDictionaryPageSizeLimit(256),
							parquet.WithCompression(compress.Codecs.Uncompressed), parquet.WithBatchSize(100))
					}
					data := writeFile(t, batch, parquet.NewWriterProperties(opts...))
					t.Run(fmt.Sprintf("%s/v%d/dict=%v/small=%v", name, v, dict, small), func(t *testing.T) {
						pf, err := file.NewParquetReader(bytes.NewReader(data))
						if err != nil {
							t.Fatal(err)
						}
						defer pf.Close()
						for col := range pf.MetaData().Schema.NumColumns() {
							for _, size := range []int{1000, 333, 8192} {
								compareColumn(t, pf, col, nil, size)
							}
							compareColumn(t, pf, col, []int{2, 0}, 777)
							compareColumn(t, pf, col, []int{1}, 1)
						}
					})
				}
			}
		}
		batch.Release()
	}
}

// TestDuckDBFiles compares every column a Reader supports of the TPC-DS
// SF 0.1 tables (written by DuckDB: dictionary pages, nullable keys) with
// pqarrow's reading.
func TestDuckDBFiles(t *testing.T) {
	dir, err := tpcds.FindData()
	if err != nil {
		t.Skip(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.parquet"))
	if len(files) == 0 {
		t.Skip("no TPC-DS files in " + dir)
	}
	read := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		props := pqarrow.ArrowReadProperties{}
		for c := range pf.MetaData().Schema.NumColumns() {
			props.SetReadDict(c, pf.MetaData().Schema.Column(c).PhysicalType() == parquet.Types.ByteArray)
		}
		fr, err := pqarrow.NewFileReader(pf, props, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		for col, sf := range fr.Manifest.Fields {
			if sf.Field == nil || !Supported(pf.MetaData(), col, sf.Field.Type, nil) {
				continue
			}
			if strings.HasSuffix(f, "store_sales.parquet") || read < 200 {
				compareColumn(t, pf, col, nil, 4096)
				read++
			}
		}
		pf.Close()
	}
	if read < 50 {
		t.Fatalf("only %d columns read: Supported refuses DuckDB's files?", read)
	}
}

// BenchmarkStoreSales reads nullable, dictionary-encoded integer columns
// of TPC-DS store_sales (SF 0.1, written by DuckDB) with pqarrow
// and with a Reader.
func BenchmarkStoreSales(b *testing.B) {
	pf := tpcdsTable(b, "store_sales")
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 8192}, memory.DefaultAllocator)
	if err != nil {
		b.Fatal(err)
	}
	cols := []int{0, 2, 3, 4, 10} // date, item, customer, cdemo keys, quantity
	rows := pf.MetaData().NumRows
	read := func(b *testing.B, open func(col int) ColumnReader) { readColumns(b, cols, rows, open) }
	b.Run("pqarrow", func(b *testing.B) { read(b, pqarrowColumn(b, fr)) })
	b.Run("pqflat", func(b *testing.B) {
		read(b, func(c int) ColumnReader {
			return NewReader(pf, "store_sales", c, nil, *fr.Manifest.Fields[c].Field, 8192, memory.DefaultAllocator)
		})
	})
	// A dynamic filter's 5 % (every 20th row), half, and a date
	// prefilter's 98 % of the rows, as selected rows.
	for _, pct := range []int{5, 50, 98} {
		var sel []int32
		for i := int32(0); i < 8192; i++ {
			if int(i*7919%100) < pct {
				sel = append(sel, i)
			}
		}
		b.Run(fmt.Sprintf("pqflat-selected-%dpct", pct), func(b *testing.B) {
			read(b, func(c int) ColumnReader {
				r := NewReader(pf, "store_sales", c, nil, *fr.Manifest.Fields[c].Field, 8192, memory.DefaultAllocator)
				return &selecting{r.(Selective), sel, rows}
			})
		})
	}
}

// BenchmarkDictionaryStrings reads the dictionary-encoded string columns
// of TPC-DS customer_demographics (1.9 M rows at every scale, written by
// DuckDB) as Arrow dictionaries with pqarrow and with a Reader.
func BenchmarkDictionaryStrings(b *testing.B) {
	pf := tpcdsTable(b, "customer_demographics")
	defer pf.Close()
	props := pqarrow.ArrowReadProperties{BatchSize: 8192}
	var cols []int
	for c := range pf.MetaData().Schema.NumColumns() {
		if pf.MetaData().Schema.Column(c).PhysicalType() == parquet.Types.ByteArray {
			props.SetReadDict(c, true)
			cols = append(cols, c)
		}
	}
	fr, err := pqarrow.NewFileReader(pf, props, memory.DefaultAllocator)
	if err != nil {
		b.Fatal(err)
	}
	rows := pf.MetaData().NumRows
	read := func(b *testing.B, open func(col int) ColumnReader) { readColumns(b, cols, rows, open) }
	b.Run("pqarrow", func(b *testing.B) { read(b, pqarrowColumn(b, fr)) })
	b.Run("pqflat", func(b *testing.B) {
		read(b, func(c int) ColumnReader {
			if !Supported(pf.MetaData(), c, fr.Manifest.Fields[c].Field.Type, nil) {
				b.Fatalf("column %d not supported", c)
			}
			return NewReader(pf, "customer_demographics", c, nil, *fr.Manifest.Fields[c].Field, 8192, memory.DefaultAllocator)
		})
	})
}

// readColumns reads columns cols (of rows rows each) with the readers open
// makes, once per benchmark iteration, and reports the time a value.
func readColumns(b *testing.B, cols []int, rows int64, open func(col int) ColumnReader) {
	for b.Loop() {
		for _, c := range cols {
			rr := open(c)
			for rr.Next() {
			}
			if err := rr.Err(); err != nil {
				b.Fatal(err)
			}
			rr.Release()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*rows*int64(len(cols))), "ns/value")
}

// pqarrowColumn opens a column of fr's file with pqarrow's record reader.
func pqarrowColumn(b *testing.B, fr *pqarrow.FileReader) func(col int) ColumnReader {
	return func(c int) ColumnReader {
		rr, err := fr.GetRecordReader(context.Background(), []int{c}, nil)
		if err != nil {
			b.Fatal(err)
		}
		return rr
	}
}

// tpcdsTable opens the Parquet file of a TPC-DS SF 0.1 table, or skips b
// without the data.
func tpcdsTable(b *testing.B, table string) *file.Reader {
	dir, err := tpcds.FindData()
	if err != nil {
		b.Skip(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, table, table+".parquet"))
	if err != nil {
		b.Skip(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	return pf
}
