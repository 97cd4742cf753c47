package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/tpcds"
)

// TestParquetIntegerBackedTypes reads dates and decimals stored as Parquet
// INT32/INT64 (which the scan decodes as integers and converts itself) and
// a decimal stored as fixed-length bytes (which pqarrow converts), with
// nulls, negative values and batches that split row groups.
func TestParquetIntegerBackedTypes(t *testing.T) {
	dec9 := &arrow.Decimal128Type{Precision: 9, Scale: 2}
	dec15 := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	dec25 := &arrow.Decimal128Type{Precision: 25, Scale: 3}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "d9", Type: dec9, Nullable: true},
		{Name: "d15", Type: dec15, Nullable: true},
		{Name: "d25", Type: dec25},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	}, nil)
	path := filepath.Join(t.TempDir(), "ints.parquet")
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	days := []arrow.Date32{-1, 0, 0, 19000, 365}
	for i, s := range []string{"-12.34", "0.05", "", "9999999.99", "-0.01"} {
		if s == "" {
			bld.Field(0).AppendNull()
			bld.Field(1).AppendNull()
			bld.Field(3).AppendNull()
		} else {
			if err := bld.Field(0).(*array.Decimal128Builder).AppendValueFromString(s); err != nil {
				t.Fatal(err)
			}
			if err := bld.Field(1).(*array.Decimal128Builder).AppendValueFromString(s); err != nil {
				t.Fatal(err)
			}
			bld.Field(3).(*array.Date32Builder).Append(days[i])
		}
		if err := bld.Field(2).(*array.Decimal128Builder).AppendValueFromString("123456789012345678901.5"); err != nil {
			t.Fatal(err)
		}
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	writeParquet(t, path, rec, parquet.WithStoreDecimalAsInteger(true), parquet.WithMaxRowGroupLength(3))
	rec.Release()

	tc, _ := newTC(t)
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
	got := runOrdered(t, plan, tc)
	want := []string{
		"-12.34|-12.34|123456789012345678901.500|1969-12-31",
		"0.05|0.05|123456789012345678901.500|1970-01-01",
		"NULL|NULL|123456789012345678901.500|NULL",
		"9999999.99|9999999.99|123456789012345678901.500|2022-01-08",
		"-0.01|-0.01|123456789012345678901.500|1971-01-01",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}

	// The batches carry the file's types, not the integers they were read as.
	p, err := FromProto(plan)
	if err != nil {
		t.Fatal(err)
	}
	op, err := p.Execute(context.Background(), 0, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	b, err := op.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	for i, fl := range schema.Fields() {
		if !arrow.TypeEqual(b.Column(i).DataType(), fl.Type) || !arrow.TypeEqual(b.Schema().Field(i).Type, fl.Type) {
			t.Errorf("column %s: type %s (schema %s), want %s", fl.Name, b.Column(i).DataType(), b.Schema().Field(i).Type, fl.Type)
		}
	}
}

// TestParquetDictionaryStrings reads string columns that are dictionary
// encoded (read as Arrow dictionaries and expanded by the scan: short
// values, long values, nulls, a new dictionary per row group, batches
// across row groups) and one written plain (read as strings).
func TestParquetDictionaryStrings(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "short", Type: arrow.BinaryTypes.String},
		{Name: "long", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "plain", Type: arrow.BinaryTypes.String},
	}, nil)
	path := filepath.Join(t.TempDir(), "dict.parquet")
	shorts := []string{"A", "", "R", "AIR", "REG AIR", "A", "12345678", "N"}
	longs := []string{"DELIVER IN PERSON", "", "-", "TAKE BACK RETURN", "", "DELIVER IN PERSON", "x", "NONE OF THE ABOVE!"}
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	var want []string
	for i := range 40 * len(shorts) {
		s := shorts[i%len(shorts)]
		bld.Field(0).(*array.StringBuilder).Append(s)
		long := longs[i%len(longs)]
		if i%3 == 1 {
			bld.Field(1).AppendNull()
			long = "NULL"
		} else {
			bld.Field(1).(*array.StringBuilder).Append(long)
		}
		bld.Field(2).(*array.StringBuilder).Append(s + "!")
		want = append(want, s+"|"+long+"|"+s+"!")
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	writeParquet(t, path, rec, parquet.WithMaxRowGroupLength(100), parquet.WithCompression(compress.Codecs.Snappy), parquet.WithDictionaryFor("plain", false))
	rec.Release()

	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	dict := slices.Collect(dictionaryColumns(rdr.MetaData()))
	rdr.Close()
	if !slices.Equal(dict, []int{0, 1}) {
		t.Fatalf("dictionary-encoded columns %v, want [0 1]", dict)
	}
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
	for _, batch := range []int{7, 64, 1000} {
		tc, _ := newTC(t)
		tc.BatchSize = batch
		if got := runOrdered(t, plan, tc); !slices.Equal(got, want) {
			t.Fatalf("batch size %d: got  %q\nwant %q", batch, got, want)
		}
	}
}

// writeParquet writes rec to a new Parquet file at path with the writer
// properties props.
func writeParquet(t *testing.T, path string, rec arrow.RecordBatch, props ...parquet.WriterProperty) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(props...), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDictionaryColumnsWithoutEncodingStats reads the dictionary-encoded
// string columns of a file DuckDB wrote (no page encoding statistics, one
// encoding per column chunk) as dictionaries, and its plain ones as
// strings: TPC-DS's customer_demographics and item at SF 0.1.
func TestDictionaryColumnsWithoutEncodingStats(t *testing.T) {
	dir, err := tpcds.FindData()
	if err != nil {
		t.Skip(err)
	}
	for table, want := range map[string][]string{
		"customer_demographics": {"cd_gender", "cd_marital_status", "cd_education_status", "cd_credit_rating"},
		"item":                  {"i_class", "i_category", "i_size", "i_color", "i_units", "i_container"},
	} {
		rdr, err := file.OpenParquetFile(filepath.Join(dir, table, table+".parquet"), false)
		if err != nil {
			t.Fatal(err)
		}
		md := rdr.MetaData()
		var got []string
		for c := range dictionaryColumns(md) {
			if cc, err := md.RowGroup(0).ColumnChunk(c); err != nil || len(cc.EncodingStats()) > 0 {
				t.Errorf("%s: column %d has encoding statistics: not the file this test is about", table, c)
			}
			got = append(got, md.Schema.Column(c).Name())
		}
		rdr.Close()
		if !slices.Equal(got, want) {
			t.Errorf("%s: dictionary columns %v, want %v", table, got, want)
		}
	}
}
