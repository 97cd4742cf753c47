package failover_test

import (
	"context"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/internal/failover"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// sched is a scheduler stand-in: a follower refuses naming leader, a
// leader answers; unavailable makes it fail as a scheduler that received
// the call and then broke.
type sched struct {
	kapotv1.UnimplementedSchedulerServiceServer
	leader      atomic.Pointer[string] // nil: this one leads
	unavailable atomic.Bool
	calls       atomic.Int32
}

func (s *sched) answer() error {
	s.calls.Add(1)
	if s.unavailable.Load() {
		return status.Error(codes.Unavailable, "transport is closing")
	}
	if l := s.leader.Load(); l != nil {
		return failover.NotLeader(*l)
	}
	return nil
}

func (s *sched) ListExecutors(context.Context, *kapotv1.ListExecutorsRequest) (*kapotv1.ListExecutorsResponse, error) {
	if err := s.answer(); err != nil {
		return nil, err
	}
	return &kapotv1.ListExecutorsResponse{}, nil
}

func (s *sched) SubmitJob(context.Context, *kapotv1.SubmitJobRequest) (*kapotv1.SubmitJobResponse, error) {
	if err := s.answer(); err != nil {
		return nil, err
	}
	return &kapotv1.SubmitJobResponse{JobId: "j1"}, nil
}

func serve(t *testing.T) (*sched, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	s := &sched{}
	kapotv1.RegisterSchedulerServiceServer(srv, s)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return s, lis.Addr().String()
}

func dial(t *testing.T, addrs ...string) *failover.Conn {
	t.Helper()
	c, err := failover.Dial(addrs, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Once = func(m string, args any) bool {
		r, ok := args.(*kapotv1.SubmitJobRequest)
		return m == kapotv1.SchedulerService_SubmitJob_FullMethodName && ok && r.GetRequestId() == ""
	}
	return c
}

func TestNotLeaderRoundTrip(t *testing.T) {
	if l, ok := failover.LeaderOf(failover.NotLeader("h:1")); !ok || l != "h:1" {
		t.Fatalf("LeaderOf(NotLeader(h:1)) = %q %v", l, ok)
	}
	if l, ok := failover.LeaderOf(failover.NotLeader("")); !ok || l != "" {
		t.Fatalf("LeaderOf(NotLeader()) = %q %v", l, ok)
	}
	if _, ok := failover.LeaderOf(status.Error(codes.Unavailable, "this scheduler is a follower; the leader is at h:1")); ok {
		t.Fatal("a plain Unavailable read as a follower's refusal")
	}
}

func TestAddresses(t *testing.T) {
	got, err := failover.Addresses(" 127.0.0.1:1, 127.0.0.2 ,,127.0.0.1:1", 50050)
	if err != nil || !slices.Equal(got, []string{"127.0.0.1:1", "127.0.0.2:50050"}) {
		t.Fatalf("Addresses: %q %v", got, err)
	}
	if _, err := failover.Addresses("127.0.0.2", 0); err == nil {
		t.Fatal("a host without a port and no default port was accepted")
	}
	if _, err := failover.Addresses(" , ", 1); err == nil {
		t.Fatal("an empty list was accepted")
	}
}

// TestConnFollowsTheLeader: a call refused by a follower goes to the
// leader it names; when leadership moves, calls follow.
func TestConnFollowsTheLeader(t *testing.T) {
	a, aAddr := serve(t)
	b, bAddr := serve(t)
	a.leader.Store(&bAddr)
	c := dial(t, aAddr, bAddr)
	cl := kapotv1.NewSchedulerServiceClient(c)
	ctx := context.Background()
	if _, err := cl.ListExecutors(ctx, &kapotv1.ListExecutorsRequest{}); err != nil {
		t.Fatal(err)
	}
	if c.Target() != bAddr || a.calls.Load() != 1 || b.calls.Load() != 1 {
		t.Fatalf("target %s, calls a=%d b=%d", c.Target(), a.calls.Load(), b.calls.Load())
	}
	// Leadership moves to a; b refuses, naming no leader for a while.
	none := ""
	b.leader.Store(&none)
	a.leader.Store(nil)
	if r, err := cl.SubmitJob(ctx, &kapotv1.SubmitJobRequest{}); err != nil || r.GetJobId() != "j1" {
		t.Fatalf("submit after the move: %v %v", r, err)
	}
	if c.Target() != aAddr {
		t.Fatalf("target %s after the move, want %s", c.Target(), aAddr)
	}
}

// TestConnNeverSubmitsTwice: a submission that may have reached a
// scheduler (it failed after arriving) is not sent to another; a status
// call is.
func TestConnNeverSubmitsTwice(t *testing.T) {
	a, aAddr := serve(t)
	b, bAddr := serve(t)
	a.unavailable.Store(true)
	c := dial(t, aAddr, bAddr)
	cl := kapotv1.NewSchedulerServiceClient(c)
	ctx := context.Background()
	if _, err := cl.SubmitJob(ctx, &kapotv1.SubmitJobRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("submit to a broken scheduler: %v, want Unavailable", err)
	}
	if b.calls.Load() != 0 {
		t.Fatal("a submission that may have arrived was sent again")
	}
	// With a request id the scheduler answers a repeat with the first
	// job: it may be sent again.
	if r, err := cl.SubmitJob(ctx, &kapotv1.SubmitJobRequest{RequestId: "r1"}); err != nil || r.GetJobId() != "j1" {
		t.Fatalf("submit with a request id: %v %v", r, err)
	}
	b.calls.Store(0)
	if _, err := cl.ListExecutors(ctx, &kapotv1.ListExecutorsRequest{}); err != nil {
		t.Fatalf("a status call is asked again elsewhere: %v", err)
	}
	if b.calls.Load() != 1 {
		t.Fatalf("b got %d calls, want 1", b.calls.Load())
	}
}

// TestConnWaitsForAnElection: while every scheduler refuses, a call waits
// (within its deadline) and succeeds once one leads.
func TestConnWaitsForAnElection(t *testing.T) {
	a, aAddr := serve(t)
	none := ""
	a.leader.Store(&none)
	c := dial(t, aAddr)
	cl := kapotv1.NewSchedulerServiceClient(c)
	elected := make(chan struct{})
	go func() {
		for a.calls.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		a.leader.Store(nil)
		close(elected)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cl.ListExecutors(ctx, &kapotv1.ListExecutorsRequest{}); err != nil {
		t.Fatalf("call across an election: %v", err)
	}
	<-elected
	// A refused call past its deadline fails with the refusal.
	a.leader.Store(&none)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := cl.ListExecutors(ctx2, &kapotv1.ListExecutorsRequest{}); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call with no leader: %v", err)
	}
}

func TestAddressesKeepLocalhost(t *testing.T) {
	got, err := failover.Addresses("localhost", 50050)
	if err != nil || !slices.Equal(got, []string{"localhost:50050"}) {
		t.Fatalf("Addresses(localhost): %q %v", got, err)
	}
}
