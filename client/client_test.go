package client

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
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
	return &kapotv1.CancelJobResponse{}, nil
}

// TestSubmitInterruptedCancelsJob: a caller that gives up while the
// scheduler is still accepting its job (Ctrl-C right after submitting)
// gets its context's error, and the job the scheduler went on to create is
// cancelled rather than left running without a client.
func TestSubmitInterruptedCancelsJob(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	sched := &slowScheduler{received: make(chan struct{}), release: make(chan struct{}), cancelled: make(chan string, 1)}
	kapotv1.RegisterSchedulerServiceServer(srv, sched)
	go srv.Serve(lis)
	defer srv.Stop()

	c, err := Dial(lis.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
