package catalog

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
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeKeys writes a Parquet file of one BIGINT column k holding keys, in
// row groups of rowGroup rows.
func writeKeys(t *testing.T, path string, keys []int64, rowGroup int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(keys, nil)
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(len(keys)))
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(rowGroup)), pqarrow.DefaultWriterProps())
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

func TestTablesAndViews(t *testing.T) {
	c := New()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if err := c.Register(&Table{Name: "T", Files: []string{"/x"}, Schema: schema, Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(&Table{Name: "nofiles", Schema: schema}); err == nil {
		t.Error("a table without files registered")
	}
	if err := c.RegisterView("v", "select 1", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterView("t", "select 1", ""); err == nil {
		t.Error("a view over a table's name registered")
	}
	if _, ok := c.Lookup("t"); !ok {
		t.Error("names are case-insensitive: t not found")
	}
	if q, ok := c.View("V"); !ok || q != "select 1" {
		t.Errorf("view: %q %v", q, ok)
	}
	want := []Entry{{Name: "t", Kind: "external table", Owner: "alice"}, {Name: "v", Kind: "view", Owner: "bob"}}
	if got := c.Entries(); !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	if got, err := c.Describe("t"); err != nil || len(got) != 1 || got[0] != [3]string{"k", "BIGINT", "false"} {
		t.Errorf("describe: %v %v", got, err)
	}
	if !c.Drop("t") || c.Drop("t") || !c.DropView("v") {
		t.Error("drop")
	}
	if n := c.Names(); len(n) != 0 {
		t.Errorf("left: %v", n)
	}
}

// TestParquetFooters reads what the planner needs from two files' footers:
// rows, the key's range in each file, that each file is sorted by it, and
// the column's uncompressed bytes.
func TestParquetFooters(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, filepath.Join(dir, "t", "a.parquet"), []int64{1, 2, 3, 4}, 2)
	writeKeys(t, filepath.Join(dir, "t", "b.parquet"), []int64{10, 11, 12}, 2)
	defs, err := ParquetDirDefs(dir, []string{"t"})
	if err != nil || len(defs) != 1 {
		t.Fatalf("defs %v, %v", defs, err)
	}
	tb, err := New().Resolve(context.Background(), defs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Rows != 7 || len(tb.Files) != 2 || tb.Format != "parquet" {
		t.Errorf("table %+v", tb)
	}
	if got := tb.Ranges["k"]; !slices.Equal(got, [][2]int64{{1, 4}, {10, 12}}) || !tb.Sorted["k"] {
		t.Errorf("ranges %v, sorted %v", got, tb.Sorted)
	}
	if tb.NDV["k"] != 7 {
		t.Errorf("ndv %v", tb.NDV)
	}
	// Seven 8-byte values and their pages' headers, in both files.
	if b := tb.Bytes["k"]; b < 7*8 || b > 1000 || len(tb.Bytes) != 1 {
		t.Errorf("bytes %v", tb.Bytes)
	}
}

// TestHivePartitions reads partition values from col=value directories.
func TestHivePartitions(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, filepath.Join(dir, "year=2024", "region=eu", "a.parquet"), []int64{1}, 10)
	writeKeys(t, filepath.Join(dir, "year=2025", "region=us%20east", "b.parquet"), []int64{2}, 10)
	d := &ExternalTable{Name: "p", Format: "parquet", Location: dir, PartitionBy: []string{"year", "region"}}
	tb, err := New().Resolve(context.Background(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tb.Partitions, []string{"year", "region"}) || tb.Schema.NumFields() != 3 {
		t.Fatalf("partitions %v, schema %v", tb.Partitions, tb.Schema)
	}
	if tb.Schema.Field(1).Type.ID() != arrow.INT64 || tb.Schema.Field(2).Type.ID() != arrow.STRING {
		t.Errorf("types: %v", tb.Schema)
	}
	if v := tb.PartitionValues[1]; *v[0] != "2025" || *v[1] != "us east" {
		t.Errorf("values of b: %q %q", *v[0], *v[1])
	}
	d.PartitionBy = []string{"month"}
	if _, err := New().Resolve(context.Background(), d, nil); err == nil {
		t.Error("a partition column without directories accepted")
	}
}

func TestLoadTableDefsRefuses(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown key":     "tables:\n  - name: x\n    locaton: /tmp\n",
		"no location":     "tables:\n  - name: x\n",
		"bad format":      "tables:\n  - name: x\n    format: orc\n    location: /tmp\n",
		"long delimiter":  "tables:\n  - name: x\n    format: csv\n    delimiter: ab\n    location: /tmp\n",
		"not a yaml list": "tables: 3\n",
	} {
		p := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadTableDefs(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestQuoteIdent(t *testing.T) {
	for in, want := range map[string]string{"lineitem": "lineitem", "Mixed": `"Mixed"`, "select": `"select"`, `a"b`: `"a""b"`, "1x": `"1x"`} {
		if got := QuoteIdent(in); got != want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", in, got, want)
		}
	}
	d := &ExternalTable{Name: "t", Format: "csv", Header: true, Delimiter: "|", Location: "/d/it's"}
	if got, want := d.SQL(), `CREATE EXTERNAL TABLE t STORED AS CSV WITH HEADER ROW DELIMITER '|' LOCATION '/d/it''s'`; got != want {
		t.Errorf("SQL %s, want %s", got, want)
	}
}
