package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/tpch"
)

// TestTPCHOnCluster plans TPC-H queries and runs them on a cluster of two
// executors in both scheduling policies; the answers must equal those of
// the same plans run in one process (which the planner's oracle test
// checks against DuckDB).
func TestTPCHOnCluster(t *testing.T) {
	dir := t.TempDir()
	if err := tpch.Generate(context.Background(), tpch.Options{SF: 0.01, Dir: dir, Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	cat := planner.NewCatalog()
	if err := cat.RegisterTPCH(dir); err != nil {
		t.Fatal(err)
	}
	queries := []int{1, 3, 5, 6, 10, 12, 13}
	want := map[int][]string{}
	plans := map[int]*planner.Plan{}
	for _, n := range queries {
		text, _ := tpch.Query(n)
		p, err := planner.PlanQuery(cat, text, planner.Options{TargetPartitions: 3})
		if err != nil {
			t.Fatalf("q%d: %v", n, err)
		}
		plans[n] = p
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		bs, err := planner.RunInProcess(context.Background(), p, &engine.TaskContext{JobID: "local", WorkDir: t.TempDir(), Mem: mem, Properties: map[string]string{}})
		if err != nil {
			t.Fatalf("q%d in process: %v", n, err)
		}
		want[n] = engine.FormatRows(bs, "|")
		for _, b := range bs {
			b.Release()
		}
	}
	for _, policy := range []string{"push-staged", "pull-staged"} {
		t.Run(policy, func(t *testing.T) {
			s := startScheduler(t, 0, nil)
			startExecutorWith(t, s.addr, policy, executor.ArrowEngine{}, nil)
			startExecutorWith(t, s.addr, policy, executor.ArrowEngine{}, nil)
			cl, err := client.Dial(s.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			for _, n := range queries {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				_, bs, err := cl.Run(ctx, &kapotv1.SubmitJobRequest{Plan: plans[n].Root, JobName: "tpch"})
				cancel()
				if err != nil {
					t.Fatalf("q%d: %v", n, err)
				}
				got := engine.FormatRows(bs, "|")
				for _, b := range bs {
					b.Release()
				}
				if !slices.Equal(got, want[n]) {
					t.Fatalf("q%d on the cluster: %d rows differ from in-process (%d rows)\n%q\n%q", n, len(got), len(want[n]), got, want[n])
				}
			}
		})
	}
}
