package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestJobStatusLongPoll checks GetJobStatus's wait_ms: without executors a
// job cannot end, so a short long poll answers RUNNING once its wait is
// over; once an executor joins, a long poll answers with the final state as
// soon as the job ends, well before its wait. Unknown jobs are NotFound at
// once, waiting or not.
func TestJobStatusLongPoll(t *testing.T) {
	s := startScheduler(t, 0, nil)
	cl, err := client.Dial(s.addr, memory.NewGoAllocator())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := cl.Submit(ctx, groupByPlan(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st, err := cl.Scheduler().GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: id, WaitMs: 200})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetState() == kapotv1.JobState_JOB_STATE_SUCCESSFUL || st.GetState() == kapotv1.JobState_JOB_STATE_FAILED {
		t.Fatalf("job ended without executors: %v", st.GetState())
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("long poll answered after %v, before its 200 ms wait, with the job still %v", waited, st.GetState())
	}

	// The 60 s wait ends when the job does.
	polled := make(chan *kapotv1.GetJobStatusResponse, 1)
	go func() {
		st, err := cl.Scheduler().GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: id, WaitMs: 60_000})
		if err != nil {
			t.Error(err)
		}
		polled <- st
	}()
	startExecutor(t, s.addr, "push-staged", nil)
	select {
	case st := <-polled:
		if st.GetState() != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
			t.Fatalf("long poll answered %v (%s), want SUCCESSFUL", st.GetState(), st.GetError())
		}
	case <-ctx.Done():
		t.Fatal("the long poll did not answer when the job ended")
	}

	for _, wait := range []uint32{0, 5000} {
		start := time.Now()
		_, err := cl.Scheduler().GetJobStatus(ctx, &kapotv1.GetJobStatusRequest{JobId: "no-such-job", WaitMs: wait})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("unknown job, wait %d ms: %v, want NotFound", wait, err)
		}
		if time.Since(start) > 4*time.Second {
			t.Fatalf("unknown job, wait %d ms: answered after %v", wait, time.Since(start))
		}
	}
}
