package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kapot-go/kapot/tpch"
)

func TestParseLayout(t *testing.T) {
	for _, c := range []struct{ in, want, dir string }{
		{"one-file", "one-file", "one-file"},
		{"files=4", "files=4", "files-4"},
		{"files=1", "one-file", "one-file"},
		{"unsorted", "unsorted", "unsorted"},
		{"unsorted,files=3", "unsorted,files=3", "unsorted-files-3"},
		{"small-files", "small-files", "small-files"},
	} {
		l, err := parseLayout(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if l.String() != c.want || l.dirName() != c.dir {
			t.Fatalf("%q: %s in %s, want %s in %s", c.in, l, l.dirName(), c.want, c.dir)
		}
	}
	for _, bad := range []string{"", "sorted", "files=", "files=0", "files=x", "one-file,files=2", "unsorted,x", "unsorted,files=-1", "small-files=3"} {
		if l, err := parseLayout(bad); err == nil {
			t.Fatalf("%q: accepted as %s", bad, l)
		}
	}
}

// Each layout at SF 0.001 has the files it promises, all with the same
// rows; unsorted's keys are in no order.
func TestLayoutFiles(t *testing.T) {
	base := t.TempDir()
	const sf = 0.001
	want := map[string]map[string]int{
		"one-file":         {"region": 1, "nation": 1, "supplier": 1, "customer": 1, "part": 1, "partsupp": 1, "orders": 1, "lineitem": 1},
		"files=3":          {"region": 1, "nation": 1, "supplier": 3, "customer": 3, "part": 3, "partsupp": 3, "orders": 3, "lineitem": 3},
		"unsorted":         {"region": 1, "nation": 1, "supplier": 1, "customer": 1, "part": 1, "partsupp": 1, "orders": 1, "lineitem": 1},
		"unsorted,files=2": {"region": 1, "nation": 1, "supplier": 2, "customer": 2, "part": 2, "partsupp": 2, "orders": 2, "lineitem": 2},
		// SF 0.001: 150 customers, 200 parts, 1,500 orders.
		"small-files": {"region": 1, "nation": 1, "supplier": 1, "customer": 150, "part": 200, "partsupp": 200, "orders": 200, "lineitem": 200},
	}
	var oneFileKeys []int64
	for _, name := range []string{"one-file", "files=3", "unsorted", "unsorted,files=2", "small-files"} {
		l, err := parseLayout(name)
		if err != nil {
			t.Fatal(err)
		}
		dir, files, err := prepareLayout(context.Background(), io.Discard, base, sf, l)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if dir != filepath.Join(base, l.dirName()) {
			t.Fatalf("%s: data in %s", name, dir)
		}
		for table, n := range want[name] {
			if files[table] != n {
				t.Errorf("%s: %s has %d files, want %d", name, table, files[table], n)
			}
		}
		var m layoutMarker
		if b, err := os.ReadFile(filepath.Join(dir, "layout.json")); err != nil || json.Unmarshal(b, &m) != nil || m.Layout != l.String() || m.SF != sf {
			t.Fatalf("%s: layout.json %+v (%v)", name, m, err)
		}
		keys := readKeys(t, dir, "lineitem", "l_orderkey")
		sorted := isSorted(keys)
		switch {
		case name == "one-file":
			oneFileKeys = keys
			if !sorted {
				t.Fatalf("%s: lineitem not in key order as generated", name)
			}
		case l.kind == layoutUnsorted && sorted:
			t.Fatalf("%s: l_orderkey is sorted", name)
		case l.kind != layoutUnsorted && !sorted:
			t.Fatalf("%s: l_orderkey is not sorted", name)
		}
		if len(keys) != len(oneFileKeys) || sum(keys) != sum(oneFileKeys) {
			t.Fatalf("%s: %d rows (key sum %d), one-file has %d (%d)", name, len(keys), sum(keys), len(oneFileKeys), sum(oneFileKeys))
		}
		if l.kind == layoutUnsorted && isSorted(readKeys(t, dir, "orders", "o_orderkey")) {
			t.Fatalf("%s: o_orderkey is sorted", name)
		}
	}
	// A second run finds the data; another scale factor is refused.
	l, _ := parseLayout("unsorted")
	if _, _, err := prepareLayout(context.Background(), io.Discard, base, sf, l); err != nil {
		t.Fatal(err)
	}
	if _, _, err := prepareLayout(context.Background(), io.Discard, base, 0.002, l); err == nil {
		t.Fatal("SF 0.002 over SF 0.001 data: accepted")
	}
}

// readKeys reads an int64 column of every file of a table, files in name
// order (part-10 after part-1: the order does not matter for sums, and
// the sorted layouts are checked with at most 3 files or all in one).
func readKeys(t *testing.T, dir, table, col string) []int64 {
	t.Helper()
	paths, err := tpch.Files(dir, table)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) > 9 {
		// Files part-0 … part-N: read them in number order.
		for i := range paths {
			paths[i] = filepath.Join(dir, table, fmt.Sprintf("part-%d.parquet", i))
		}
	}
	var out []int64
	for _, p := range paths {
		pf, err := file.OpenParquetFile(p, false)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		idx := tbl.Schema().FieldIndices(col)
		if len(idx) != 1 {
			t.Fatalf("%s: no column %s", p, col)
		}
		for _, c := range tbl.Column(idx[0]).Data().Chunks() {
			out = append(out, c.(*array.Int64).Int64Values()...)
		}
		tbl.Release()
		pf.Close()
	}
	return out
}

func isSorted(xs []int64) bool {
	for i := 1; i < len(xs); i++ {
		if xs[i] < xs[i-1] {
			return false
		}
	}
	return true
}

func sum(xs []int64) (s int64) {
	for _, x := range xs {
		s += x
	}
	return s
}
