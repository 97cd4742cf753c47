package engine

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func writerNode(in *kapotv1.PhysicalPlanNode, dir string, mod func(*kapotv1.WriterNode)) *kapotv1.PhysicalPlanNode {
	w := &kapotv1.WriterNode{Input: in, Location: dir, Format: "parquet"}
	if mod != nil {
		mod(w)
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Writer{Writer: w}}
}

func parquetScanOf(files []string) *kapotv1.PhysicalPlanNode {
	var fg []*kapotv1.FileGroup
	for _, f := range files {
		fg = append(fg, &kapotv1.FileGroup{Paths: []string{f}})
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{FileGroups: fg}}}
}

// TestWriterRoundTrips writes the sales CSV (two partitions) as Parquet
// and CSV, flat and partitioned by region, with tiny file and open-file
// bounds, and reads every written file back: the same rows, every file
// recorded in the task with its row count, no Arrow memory leaked.
func TestWriterRoundTrips(t *testing.T) {
	src := salesCSV([]string{"testdata/sales.csv"}, []string{"testdata/sales.csv"})
	tc, _ := newTC(t)
	all := run(t, src, tc)
	cases := []struct {
		name string
		mod  func(*kapotv1.WriterNode)
		// dirs are the Hive directories expected (none: flat).
		dirs []string
	}{
		{"parquet", nil, nil},
		{"parquet, a file per batch", func(w *kapotv1.WriterNode) { w.MaxFileBytes = 1; w.Compression = "zstd" }, nil},
		{"csv", func(w *kapotv1.WriterNode) { w.Format, w.CsvHeader = "csv", true }, nil},
		{"partitioned", func(w *kapotv1.WriterNode) { w.PartitionBy = []uint32{0} },
			[]string{"region=NULL", "region=east", "region=north", "region=south"}},
		{"partitioned, one open file", func(w *kapotv1.WriterNode) { w.PartitionBy = []uint32{0}; w.MaxOpenFiles = 1 },
			[]string{"region=NULL", "region=east", "region=north", "region=south"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			tc, _ := newTC(t)
			counts := run(t, writerNode(src, dir, c.mod), tc)
			if !slices.Equal(counts, []string{"7", "7"}) {
				t.Fatalf("counts per partition %q, want 7 and 7", counts)
			}
			var rows int64
			var files []string
			for _, f := range tc.Written() {
				if !strings.HasPrefix(f.GetPath(), dir+"/") || f.GetBytes() == 0 {
					t.Fatalf("written file %+v", f)
				}
				rows += f.GetRows()
				files = append(files, f.GetPath())
			}
			if rows != 14 {
				t.Fatalf("files hold %d rows, want 14", rows)
			}
			if c.dirs != nil {
				var got []string
				ents, _ := os.ReadDir(dir)
				for _, e := range ents {
					got = append(got, e.Name())
				}
				if !slices.Equal(got, c.dirs) {
					t.Fatalf("directories %q, want %q", got, c.dirs)
				}
				return
			}
			if strings.Contains(c.name, "csv") {
				b, _ := os.ReadFile(files[0])
				if !strings.HasPrefix(string(b), "region,product,qty,price\n") {
					t.Fatalf("CSV file starts %q", string(b)[:40])
				}
				return
			}
			if strings.Contains(c.name, "per batch") && len(files) < 4 {
				t.Fatalf("a 1-byte bound made %d files", len(files))
			}
			back := run(t, parquetScanOf(files), tc)
			want := slices.Concat(all, nil)
			slices.Sort(want)
			if !slices.Equal(back, want) {
				t.Fatalf("read back %q\nwant %q", back, want)
			}
		})
	}
}

// TestWriterNotNull fails on a NULL in a NOT NULL column, removes the file
// it was writing and records none.
func TestWriterNotNull(t *testing.T) {
	dir := t.TempDir()
	tc, _ := newTC(t)
	n := writerNode(salesCSV([]string{"testdata/sales.csv"}), dir, func(w *kapotv1.WriterNode) { w.NotNull = []uint32{0}; w.Names = []string{"r", "p", "q", "x"} })
	plan, err := FromProto(n)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ExecuteCollect(t.Context(), plan, tc)
	if !errors.Is(err, ErrConstraint) || !strings.Contains(err.Error(), "column r") {
		t.Fatalf("err = %v, want a NOT NULL error naming column r", err)
	}
	if len(tc.Written()) != 0 {
		t.Fatalf("recorded %d files", len(tc.Written()))
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 0 {
		t.Fatalf("left %q", left)
	}
}

func TestWriterBadNodes(t *testing.T) {
	src := salesCSV([]string{"testdata/sales.csv"})
	for _, mod := range []func(*kapotv1.WriterNode){
		func(w *kapotv1.WriterNode) { w.Location = "" },
		func(w *kapotv1.WriterNode) { w.Format = "orc" },
		func(w *kapotv1.WriterNode) { w.Compression = "brotli9" },
		func(w *kapotv1.WriterNode) { w.PartitionBy = []uint32{9} },
		func(w *kapotv1.WriterNode) { w.NotNull = []uint32{4} },
		func(w *kapotv1.WriterNode) { w.Names = []string{"a"} },
		func(w *kapotv1.WriterNode) { w.PartitionBy = []uint32{0, 1, 2, 3} },
	} {
		if _, err := FromProto(writerNode(src, "/tmp/x", mod)); !errors.Is(err, ErrInvalidPlan) && !errors.Is(err, ErrNotSupported) {
			t.Errorf("%v: want an invalid-plan error", err)
		}
	}
}

func TestHiveEscape(t *testing.T) {
	for in, want := range map[string]string{"AIR": "AIR", "REG AIR": "REG AIR", "a/b": "a%2Fb", "..": "%2E.", "x=1%": "x%3D1%25", "tab\t": "tab%09"} {
		if got := HiveEscape(in); got != want {
			t.Errorf("HiveEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
