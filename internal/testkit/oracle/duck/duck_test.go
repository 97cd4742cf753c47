package duck

import (
	"context"
	"runtime"
	"testing"

	"github.com/kapot-go/kapot/tpcds"
	"github.com/kapot-go/kapot/tpch"
)

// The speed reference runs DuckDB on every CPU and the oracle on one, and
// each reports what DuckDB itself says: a benchmark that timed the oracle
// (as the fifth and sixth performance rounds did) compared kapot on every
// core with DuckDB on one.
func TestReferenceThreads(t *testing.T) {
	dir := t.TempDir()
	if err := tpch.Generate(context.Background(), tpch.Options{SF: 0.001, Dir: dir, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	ref, err := OpenTPCHReference(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if got := ref.Threads(); got != runtime.NumCPU() {
		t.Fatalf("reference runs with %d thread(s), want %d (the CPUs)", got, runtime.NumCPU())
	}
	ora, err := OpenTPCH(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ora.Close()
	if got := ora.Threads(); got != 1 {
		t.Fatalf("oracle runs with %d thread(s), want 1", got)
	}
	want, err := ora.Rows("select count(*) from nation")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ref.Rows("select count(*) from nation")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "25" || want[0] != got[0] {
		t.Fatalf("count(*) of nation: reference %q, oracle %q, want 25", got, want)
	}
}

// The TPC-DS views cover the 24 tables of the workspace's SF 0.1 data
// (skipped without it), at full strength and on one thread.
func TestTPCDSViews(t *testing.T) {
	dir, err := tpcds.FindData()
	if err != nil {
		t.Skip(err)
	}
	ref, err := OpenTPCDSReference(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	ora, err := OpenTPCDS(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ora.Close()
	if ref.Threads() != runtime.NumCPU() || ora.Threads() != 1 {
		t.Fatalf("threads: reference %d, oracle %d; want %d and 1", ref.Threads(), ora.Threads(), runtime.NumCPU())
	}
	for _, table := range tpcds.Tables {
		q := "select count(*) > 0 from " + table
		got, err := ref.Rows(q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ora.Rows(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != "true" || want[0] != got[0] {
			t.Fatalf("%s: reference %q, oracle %q", table, got, want)
		}
	}
}
