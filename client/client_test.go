package client

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"google.golang.org/grpc"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// slowScheduler accepts a job only once release is closed, and reports
// the jobs it is asked to cancel.
type slowScheduler struct {
	kapotv1.UnimplementedSchedulerServiceServer
	received  chan struct{}
	release   chan struct{}
	cancelled chan string
}

func (s *slowScheduler) SubmitJob(ctx context.Context, _ *kapotv1.SubmitJobRequest) (*kapotv1.SubmitJobResponse, error) {
	close(s.received)
	<-s.release
	return &kapotv1.SubmitJobResponse{JobId: "job-1"}, nil
}

func (s *slowScheduler) CancelJob(ctx context.Context, r *kapotv1.CancelJobRequest) (*kapotv1.CancelJobResponse, error) {
	s.cancelled <- r.GetJobId()
	return &kapotv1.CancelJobResponse{Cancelled: true}, nil
}

// serveScheduler serves sched on a loopback port for the test and returns
// a client of it; both stop when the test ends.
func serveScheduler(t *testing.T, sched kapotv1.SchedulerServiceServer) *Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	kapotv1.RegisterSchedulerServiceServer(srv, sched)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c, err := Dial(lis.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSubmitInterruptedCancelsJob: a caller that gives up while the
// scheduler is still accepting its job (Ctrl-C right after submitting)
// gets its context's error, and the job the scheduler went on to create is
// cancelled rather than left running without a client.
func TestSubmitInterruptedCancelsJob(t *testing.T) {
	sched := &slowScheduler{received: make(chan struct{}), release: make(chan struct{}), cancelled: make(chan string, 1)}
	c := serveScheduler(t, sched)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, &kapotv1.SubmitJobRequest{})
		errc <- err
	}()
	<-sched.received
	cancel()
	close(sched.release)
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Submit after its caller gave up: %v, want context.Canceled", err)
	}
	select {
	case id := <-sched.cancelled:
		if id != "job-1" {
			t.Fatalf("cancelled %q, want job-1", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the job accepted after the caller gave up was never cancelled")
	}
}

// committingScheduler runs one write job that is committing when its
// caller gives up: the cancel is refused, and the job then succeeds.
type committingScheduler struct {
	kapotv1.UnimplementedSchedulerServiceServer
	schema    *kapotv1.Schema
	waiting   chan struct{} // closed when the first status long poll is waiting
	committed chan struct{} // closed by the (refused) cancel
	once      sync.Once
	polls     sync.Once
}

func (s *committingScheduler) ExecuteSQL(context.Context, *kapotv1.ExecuteSQLRequest) (*kapotv1.ExecuteSQLResponse, error) {
	return &kapotv1.ExecuteSQLResponse{JobId: "job-2", Schema: s.schema}, nil
}

func (s *committingScheduler) GetJobStatus(ctx context.Context, r *kapotv1.GetJobStatusRequest) (*kapotv1.GetJobStatusResponse, error) {
	s.polls.Do(func() { close(s.waiting) })
	select {
	case <-s.committed:
		// No result location: a write's result comes with its status.
		return &kapotv1.GetJobStatusResponse{JobId: r.GetJobId(), State: kapotv1.JobState_JOB_STATE_SUCCESSFUL, ResultSchema: s.schema,
			Wrote: true, RowsWritten: 7}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *committingScheduler) CancelJob(context.Context, *kapotv1.CancelJobRequest) (*kapotv1.CancelJobResponse, error) {
	s.once.Do(func() { close(s.committed) })
	return &kapotv1.CancelJobResponse{Cancelled: false}, nil
}

// TestLateCancelKeepsTheOutcome: a caller that gives up while its write is
// committing (the scheduler refuses the cancel) is told the write's real
// outcome, success and its row count, never "cancelled" of a write that
// committed; the count comes with the job's status, not from an executor.
func TestLateCancelKeepsTheOutcome(t *testing.T) {
	schema, err := wire.SchemaToProto(arrow.NewSchema([]arrow.Field{{Name: "count", Type: arrow.PrimitiveTypes.Int64}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	sched := &committingScheduler{schema: schema, waiting: make(chan struct{}), committed: make(chan struct{})}
	c := serveScheduler(t, sched)

	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		rows *Rows
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rows, err := c.NewSession(nil).Query(ctx, "INSERT INTO t SELECT * FROM t")
		done <- result{rows, err}
	}()
	<-sched.waiting
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatalf("a write that committed after its caller gave up: %v, want its result", r.err)
	}
	defer r.rows.Release()
	var got []int64
	for r.rows.Next() {
		got = append(got, r.rows.RecordBatch().Column(0).(*array.Int64).Int64Values()...)
	}
	if err := r.rows.Err(); err != nil {
		t.Fatalf("reading the committed write's result: %v", err)
	}
	if name := r.rows.Schema().Field(0).Name; name != "count" || len(got) != 1 || got[0] != 7 {
		t.Fatalf("result %s %v, want count [7]", name, got)
	}
}
