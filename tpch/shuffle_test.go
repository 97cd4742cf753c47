package tpch

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Shuffle keeps every row and each table's file count, puts no table in
// key order (with several buckets, as at large scale factors), and gives
// the same files for the same seed.
func TestShuffle(t *testing.T) {
	src, a, b := t.TempDir(), t.TempDir(), t.TempDir()
	ctx := context.Background()
	if err := Generate(ctx, Options{SF: 0.001, Dir: src, Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	o := ShuffleOptions{Seed: 7, BucketRows: 1000}
	if err := Shuffle(ctx, src, a, o); err != nil {
		t.Fatal(err)
	}
	if err := Shuffle(ctx, src, b, o); err != nil {
		t.Fatal(err)
	}
	for _, table := range Tables {
		srcFiles, _ := Files(src, table)
		got, err := Files(a, table)
		if err != nil || len(got) != len(srcFiles) {
			t.Fatalf("%s: %d files (%v), want %d", table, len(got), err, len(srcFiles))
		}
		if left, _ := filepath.Glob(filepath.Join(a, table, ".bucket-*")); len(left) > 0 {
			t.Fatalf("%s: buckets left: %v", table, left)
		}
		if !slices.Equal(readTable(t, src, table, "parquet"), readTable(t, a, table, "parquet")) {
			t.Fatalf("%s: the shuffled rows differ from the generated ones", table)
		}
		for i, f := range got {
			if digest(t, f) != digest(t, filepath.Join(b, table, filepath.Base(f))) {
				t.Fatalf("%s: file %d differs between two runs with one seed", table, i)
			}
		}
	}
	for _, table := range []string{"orders", "lineitem", "part"} {
		if keys := firstColumn(t, a, table); slices.IsSorted(keys) {
			t.Fatalf("%s: the key is sorted after the shuffle", table)
		}
	}
}

// firstColumn reads the int64 first column of a table's files, in order.
func firstColumn(t *testing.T, dir, table string) []int64 {
	t.Helper()
	files, err := Files(dir, table)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, f := range files {
		err := readParquet(context.Background(), f, memory.DefaultAllocator, func(rec arrow.RecordBatch) error {
			out = append(out, rec.Column(0).(*array.Int64).Int64Values()...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func digest(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
