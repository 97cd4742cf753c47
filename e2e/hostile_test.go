package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/config"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
)

// TestAllowedDataRoots: with --allowed-data-roots, a plan naming a file
// outside them fails its task once (not retried) with a clear error, and
// the executor keeps serving plans inside them; a scheduler with roots
// refuses, at submit, a plan whose files it would have to open.
func TestAllowedDataRoots(t *testing.T) {
	examples, err := filepath.Abs("../examples")
	if err != nil {
		t.Fatal(err)
	}
	s := startScheduler(t, 0, nil)
	var mu sync.Mutex
	var failed []*kapotv1.TaskStatus
	startExecutor(t, s.addr, "push-staged", func(c *executor.Config) {
		c.AllowedDataRoots = []string{examples}
		c.OnTaskDone = func(st *kapotv1.TaskStatus) {
			if st.GetFailed() != nil {
				mu.Lock()
				failed = append(failed, st)
				mu.Unlock()
			}
		}
	})
	// A plan with an explicit CSV schema: nothing is opened at submit, the
	// executor refuses the read.
	evil := groupByPlan(t)
	scan := evil.Plan.GetHashAggregate().GetInput().GetExchange().GetInput().GetHashAggregate().GetInput().GetCsvScan()
	scan.FileGroups = []*kapotv1.FileGroup{{Paths: []string{"/etc/passwd"}}}
	_, err = runJobErr(s.addr, evil)
	if err == nil || !strings.Contains(err.Error(), "outside the allowed data roots") {
		t.Fatalf("read outside the roots: %v", err)
	}
	mu.Lock()
	if len(failed) != 1 || failed[0].GetFailed().GetRetryable() {
		t.Fatalf("failed statuses %v: want one, not retryable", failed)
	}
	mu.Unlock()
	if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("plan inside the roots: %q", got)
	}

	// The scheduler types Parquet scans without a file schema by opening the
	// first file: with roots, one outside is refused at submit.
	s2 := startScheduler(t, 0, func(c *scheduler.Config) { c.AllowedDataRoots = []string{examples} })
	startExecutor(t, s2.addr, "push-staged", nil)
	pq := &kapotv1.SubmitJobRequest{Plan: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{"/etc/hostname"}}}}}}}
	if _, err := runJobErr(s2.addr, pq); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("scheduler with roots: %v, want PermissionDenied", err)
	}
	// A scan the scheduler would not open (an explicit CSV schema) is
	// refused at submit too.
	csvPlan := groupByPlan(t)
	csvPlan.Plan.GetHashAggregate().GetInput().GetExchange().GetInput().GetHashAggregate().GetInput().GetCsvScan().FileGroups =
		[]*kapotv1.FileGroup{{Paths: []string{"/etc/passwd"}}}
	if _, err := runJobErr(s2.addr, csvPlan); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("CSV plan outside the roots: %v, want PermissionDenied at submit", err)
	}
}

// TestOversizedMessagesRejected: a launch larger than the executor's
// --grpc-max-decoding-message-size is refused with ResourceExhausted and
// the executor keeps serving.
func TestOversizedMessagesRejected(t *testing.T) {
	s := startScheduler(t, 0, nil)
	e := startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.GRPCMaxDecodingMessageSize = config.ByteSize(64 << 10) })
	cc := dialRaw(t, e.GRPCAddr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := &kapotv1.LaunchTaskRequest{Tasks: []*kapotv1.TaskDefinition{{JobId: "j", Plan: make([]byte, 128<<10)}}}
	_, err := kapotv1.NewExecutorServiceClient(cc).LaunchTask(ctx, big, grpc.MaxCallSendMsgSize(1<<20))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized launch: %v, want ResourceExhausted", err)
	}
	if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("after an oversized call: %q", got)
	}
}
