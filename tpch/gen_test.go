package tpch

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// readTable returns the rows of a generated table, formatted and sorted.
func readTable(t *testing.T, dir, table, format string) []string {
	t.Helper()
	files, err := Files(dir, table)
	if err != nil {
		t.Fatal(err)
	}
	var n *kapotv1.PhysicalPlanNode
	if format == "csv" {
		schema, err := wire.SchemaToProto(Schema(table))
		if err != nil {
			t.Fatal(err)
		}
		n = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: files}}, HasHeader: true, Schema: schema}}}
	} else {
		n = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: files}}}}}
	}
	p, err := engine.FromProto(n)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	bs, err := engine.ExecuteCollect(context.Background(), p, &engine.TaskContext{Mem: mem, Properties: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	rows := engine.FormatRows(bs, "|")
	for _, b := range bs {
		b.Release()
	}
	slices.Sort(rows)
	return rows
}

func TestGenerateSF001(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(context.Background(), Options{SF: 0.01, Dir: dir, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	tables := map[string][]string{}
	for _, tb := range Tables {
		tables[tb] = readTable(t, dir, tb, "parquet")
	}
	for tb, want := range map[string]int{"region": 5, "nation": 25, "supplier": 100, "customer": 1500, "part": 2000, "partsupp": 8000, "orders": 15000} {
		if got := len(tables[tb]); got != want {
			t.Errorf("%s: %d rows, want %d", tb, got, want)
		}
	}
	if n := len(tables["lineitem"]); n < 15000 || n > 105000 || n < 55000 || n > 65000 {
		t.Errorf("lineitem: %d rows, want about 60000", n)
	}
	field := func(row string, i int) string { return strings.Split(row, "|")[i] }
	// Orders: sparse keys, customers not divisible by 3, status from lines.
	orders := map[string]string{}
	for _, r := range tables["orders"] {
		orders[field(r, 0)] = r
		var ck int
		fmt.Sscan(field(r, 1), &ck)
		if ck%3 == 0 || ck < 1 || ck > 1500 {
			t.Fatalf("order %s has customer %d", field(r, 0), ck)
		}
	}
	partsupp := map[string]bool{}
	for _, r := range tables["partsupp"] {
		partsupp[field(r, 0)+"/"+field(r, 1)] = true
	}
	statuses := map[string]map[string]bool{}
	for _, r := range tables["lineitem"] {
		ok := field(r, 0)
		if _, found := orders[ok]; !found {
			t.Fatalf("lineitem of missing order %s", ok)
		}
		if !partsupp[field(r, 1)+"/"+field(r, 2)] {
			t.Fatalf("lineitem part %s supplier %s is not in partsupp", field(r, 1), field(r, 2))
		}
		if statuses[ok] == nil {
			statuses[ok] = map[string]bool{}
		}
		statuses[ok][field(r, 9)] = true
		ship, receipt, flag := field(r, 10), field(r, 12), field(r, 8)
		if (receipt <= "1995-06-17") != (flag != "N") || (ship > "1995-06-17") != (field(r, 9) == "O") {
			t.Fatalf("lineitem flags inconsistent with dates: %s", r)
		}
	}
	for ok, st := range statuses {
		want := "P"
		if len(st) == 1 && st["F"] {
			want = "F"
		} else if len(st) == 1 && st["O"] {
			want = "O"
		}
		if got := field(orders[ok], 2); got != want {
			t.Fatalf("order %s status %s, lines say %s", ok, got, want)
		}
	}
	// Comments use the grammar's words; Q13 and Q16 find their patterns.
	var special, complaints int
	for _, r := range tables["orders"] {
		if c := field(r, 8); strings.Contains(c, "special") && strings.Contains(c[strings.Index(c, "special"):], "requests") {
			special++
		}
	}
	for _, r := range tables["supplier"] {
		if strings.Contains(field(r, 6), "Customer") {
			complaints++
		}
	}
	if special == 0 || special > 3000 {
		t.Errorf("%d of 15000 orders match %%special%%requests%%", special)
	}
	t.Logf("special requests: %d, customer mentions: %d", special, complaints)

	// Deterministic whatever the partitioning, and in CSV too.
	dir2 := t.TempDir()
	if err := Generate(context.Background(), Options{SF: 0.01, Dir: dir2, Partitions: 1, Format: "csv", Tables: []string{"orders", "lineitem", "part"}}); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []string{"orders", "lineitem", "part"} {
		a, b := tables[tb], readTable(t, dir2, tb, "csv")
		if sha256.Sum256([]byte(strings.Join(a, "\n"))) != sha256.Sum256([]byte(strings.Join(b, "\n"))) {
			t.Fatalf("%s differs between 3 Parquet partitions and 1 CSV file (%d vs %d rows)", tb, len(a), len(b))
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	for name, o := range map[string]Options{
		"zero sf":       {SF: 0, Dir: t.TempDir()},
		"bad format":    {SF: 0.01, Dir: t.TempDir(), Format: "orc"},
		"unknown table": {SF: 0.01, Dir: t.TempDir(), Tables: []string{"lineitems"}},
		"bad codec":     {SF: 0.01, Dir: t.TempDir(), Compression: "lzo"},
	} {
		if err := Generate(context.Background(), o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestGenerateCompression writes the tables with each codec: the files
// carry it, and the rows are the same.
func TestGenerateCompression(t *testing.T) {
	base := t.TempDir()
	if err := Generate(context.Background(), Options{SF: 0.01, Dir: base, Tables: []string{"part"}}); err != nil {
		t.Fatal(err)
	}
	want := readTable(t, base, "part", "parquet")
	for name, codec := range map[string]compress.Compression{"lz4": compress.Codecs.Lz4Raw, "zstd": compress.Codecs.Zstd, "none": compress.Codecs.Uncompressed} {
		dir := t.TempDir()
		if err := Generate(context.Background(), Options{SF: 0.01, Dir: dir, Tables: []string{"part"}, Compression: name}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files, err := Files(dir, "part")
		if err != nil {
			t.Fatal(err)
		}
		r, err := file.OpenParquetFile(files[0], false)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := r.MetaData().RowGroup(0).ColumnChunk(0)
		if err != nil {
			t.Fatal(err)
		}
		if got := cc.Compression(); got != codec {
			t.Errorf("%s: column chunk codec %v, want %v", name, got, codec)
		}
		r.Close()
		if got := readTable(t, dir, "part", "parquet"); !slices.Equal(got, want) {
			t.Errorf("%s: rows differ from snappy's", name)
		}
	}
}
