package engine

import (
	"slices"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/nestedfiles"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestParquetNestedDirtyMemory reads LIST, LIST<LIST>, STRUCT (with a
// LIST inside) and MAP columns with an allocator whose unzeroed memory is
// garbage: pqarrow leaves parts of a nested column's buffers unwritten, so
// the scan reads files with nested columns in zeroed memory (on a
// cluster, recycled bytes read as list offsets).
func TestParquetNestedDirtyMemory(t *testing.T) {
	path, err := nestedfiles.ArrowFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}}}}
	for _, batch := range []int{1, 2, 1024} {
		clean, _ := newTC(t)
		clean.BatchSize = batch
		want := runOrdered(t, plan, clean)
		if len(want) != 5 || want[2] != "3|NULL|NULL|NULL" || want[4] != "5|[[50], NULL, [50, 51, 52]]|{'x': 7.5, 'y': [s0, s1, s2, s3, s4], 'z': 2023-12-14}|{0=v0, 5=v1}" {
			t.Fatalf("batch size %d: clean read is wrong: %q", batch, want)
		}
		dirty, mem := newTC(t)
		dirty.BatchSize = batch
		dirty.Mem = dirtyAllocator{mem}
		if got := runOrdered(t, plan, dirty); !slices.Equal(got, want) {
			t.Fatalf("batch size %d: with dirty memory\n%q\nwith zeroed\n%q", batch, got, want)
		}
	}
}
