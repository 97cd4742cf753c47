package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/executor"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestPlacement runs jobs on a cluster of one tagged and one untagged
// executor: MATCH_TAG runs only on the tagged one, ANY only on the
// untagged one, and a tag no executor has is refused at submit.
func TestPlacement(t *testing.T) {
	s := startScheduler(t, 0, nil)
	gpu := startExecutorWith(t, s.addr, "push-staged", executor.ArrowEngine{}, func(c *executor.Config) { c.Tags = []string{"gpu"} })
	plain := startExecutorWith(t, s.addr, "push-staged", executor.ArrowEngine{}, nil)
	run := func(p *kapotv1.PlacementPolicy) []string {
		req := groupByPlan(t)
		req.Placement = p
		got := runJob(t, s.addr, req)
		if !slices.Equal(got, expectedGroupBy) {
			t.Fatalf("got %q", got)
		}
		return got
	}
	run(&kapotv1.PlacementPolicy{Policy: &kapotv1.PlacementPolicy_MatchTag{MatchTag: "gpu"}})
	if !hasStageOutput(gpu.WorkDir(), 1) || hasStageOutput(plain.WorkDir(), 1) {
		t.Fatalf("MATCH_TAG(gpu) ran outside the tagged executor (gpu=%v plain=%v)", hasStageOutput(gpu.WorkDir(), 1), hasStageOutput(plain.WorkDir(), 1))
	}
	run(nil) // ANY
	if n := countJobs(plain.WorkDir()); n != 1 {
		t.Fatalf("ANY: untagged executor holds %d jobs' data, want 1", n)
	}
	if n := countJobs(gpu.WorkDir()); n != 1 {
		t.Fatalf("ANY ran on the tagged executor (it holds %d jobs' data)", n)
	}
	cl, err := client.Dial(s.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := groupByPlan(t)
	req.Placement = &kapotv1.PlacementPolicy{Policy: &kapotv1.PlacementPolicy_MatchTag{MatchTag: "tpu"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cl.Submit(ctx, req)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "MATCH_TAG(tpu)") {
		t.Fatalf("unsatisfiable placement: got %v", err)
	}
}

// countJobs counts the job directories with shuffle output under dir.
func countJobs(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "*", "1-*.data"))
	jobs := map[string]bool{}
	for _, p := range m {
		jobs[filepath.Dir(p)] = true
	}
	return len(jobs)
}
