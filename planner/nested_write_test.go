package planner

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine"
)

// TestNestedCopy: COPY of nested columns to Parquet writes them as they
// are (read back: the same rows); to CSV, or partitioned by one, it is
// refused (arrow's CSV writer has no nested types).
func TestNestedCopy(t *testing.T) {
	cat, _ := nestedCatalog(t)
	dir := filepath.Join(t.TempDir(), "n2")
	st, err := ParseStatement("COPY (SELECT * FROM n) TO '" + dir + "'")
	if err != nil {
		t.Fatal(err)
	}
	wp, err := PlanWrite(context.Background(), cat, st, nil, Options{TargetPartitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tc := &engine.TaskContext{JobID: "t", WorkDir: t.TempDir(), Mem: mem, Properties: map[string]string{}}
	bs, err := RunInProcess(context.Background(), &Plan{Root: wp.Node(dir)}, tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		b.Release()
	}
	def, err := Classify("CREATE EXTERNAL TABLE n2 STORED AS PARQUET LOCATION '" + dir + "'")
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Register(def.Table); err != nil {
		t.Fatal(err)
	}
	got, want := runRecycled(t, cat, "select * from n2 order by k"), runRecycled(t, cat, "select * from n order by k")
	if !slices.Equal(got, want) || len(want) != 6 {
		t.Fatalf("read back %q, wrote %q", got, want)
	}
	for _, c := range []struct{ sql, want string }{
		{"COPY (SELECT k, li FROM n) TO '/tmp/x.csv' (FORMAT csv)", `writing LIST values to CSV (column "li")`},
		{"COPY (SELECT k, s FROM n) TO '/tmp/x' (PARTITION_BY (s))", `PARTITION_BY a STRUCT column ("s")`},
	} {
		st, err := ParseStatement(c.sql)
		if err != nil {
			t.Fatal(err)
		}
		_, err = PlanWrite(context.Background(), cat, st, nil, Options{})
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want not supported yet: %s", c.sql, err, c.want)
		}
	}
}
