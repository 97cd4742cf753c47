//go:build duckdb

package main

import (
	"context"
	"runtime"
	"testing"

	"github.com/kapot-go/kapot/tpch"
)

// What `kapot tpch bench --compare duckdb` times is DuckDB on every CPU,
// and what settles answers is the one-thread oracle (make test runs this
// with -tags duckdb).
func TestBenchReferenceAtFullStrength(t *testing.T) {
	dir := t.TempDir()
	if err := tpch.Generate(context.Background(), tpch.Options{SF: 0.001, Dir: dir, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	refs := duckDBReferences()
	ref, err := refs.TPCH(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if ref.Threads() < runtime.NumCPU() {
		t.Fatalf("the reference runs with %d threads on %d CPUs", ref.Threads(), runtime.NumCPU())
	}
	settle, err := refs.TPCHOracle(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer settle.Close()
	if settle.Threads() != 1 {
		t.Fatalf("the oracle runs with %d threads, want 1", settle.Threads())
	}
}
