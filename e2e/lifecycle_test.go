package e2e

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/version"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
)

// blockingEngine runs tasks of jobs with the session property test.block
// until they are cancelled, announcing each start; others run normally.
type blockingEngine struct {
	started chan uint64
}

func (b blockingEngine) RunTask(ctx context.Context, t *executor.Task) (*kapotv1.SuccessfulTask, error) {
	if t.Def.GetSessionProperties()["test.block"] == "true" {
		b.started <- t.Def.GetTaskId()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return executor.ArrowEngine{}.RunTask(ctx, t)
}

func dialScheduler(t *testing.T, addr string) *client.Client {
	t.Helper()
	cl, err := client.Dial(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

type statusLog struct {
	ch chan *kapotv1.TaskStatus
}

func newStatusLog() *statusLog { return &statusLog{ch: make(chan *kapotv1.TaskStatus, 100)} }

func (l *statusLog) hook(st *kapotv1.TaskStatus) { l.ch <- st }

func (l *statusLog) next(t *testing.T) *kapotv1.TaskStatus {
	t.Helper()
	select {
	case st := <-l.ch:
		return st
	case <-time.After(30 * time.Second):
		t.Fatal("no task status in 30s")
		return nil
	}
}

func TestCancelJob(t *testing.T) {
	s := startScheduler(t, 0, nil)
	eng := blockingEngine{started: make(chan uint64, 10)}
	log := newStatusLog()
	startExecutorWith(t, s.addr, "push-staged", eng, func(c *executor.Config) { c.OnTaskDone = log.hook })
	cl := dialScheduler(t, s.addr)
	ctx := context.Background()
	req := groupByPlan(t)
	req.SessionProperties = map[string]string{"test.block": "true"}
	id, err := cl.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	<-eng.started
	r, err := cl.Scheduler().CancelJob(ctx, &kapotv1.CancelJobRequest{JobId: id})
	if err != nil || !r.GetCancelled() {
		t.Fatalf("cancel: %v %v", r, err)
	}
	st := log.next(t)
	if st.GetFailed().GetTaskKilled() == nil {
		t.Fatalf("cancelled task reported %v, want killed", st)
	}
	js, err := cl.Wait(ctx, id)
	if !errors.Is(err, client.ErrJobFailed) || js.GetState() != kapotv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("job state %v err %v", js.GetState(), err)
	}
	// The executor keeps serving.
	if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("after cancel: got %q", got)
	}
	if _, err := cl.Scheduler().CancelJob(ctx, &kapotv1.CancelJobRequest{JobId: "nosuchjob"}); status.Code(err) != codes.NotFound {
		t.Fatalf("cancel unknown job: %v", err)
	}
}

func executorClient(t *testing.T, e *testExecutor) kapotv1.ExecutorServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(e.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return kapotv1.NewExecutorServiceClient(conn)
}

func TestMalformedPlanFailsTaskOnly(t *testing.T) {
	s := startScheduler(t, 0, nil)
	log := newStatusLog()
	e := startExecutor(t, s.addr, "push-staged", func(c *executor.Config) { c.OnTaskDone = log.hook })
	ec := executorClient(t, e)
	ctx := context.Background()
	for i, plan := range [][]byte{[]byte("\xff\xff not a plan"), {}, []byte{0x0a, 0x02, 0x0a, 0x00}} {
		_, err := ec.LaunchTask(ctx, &kapotv1.LaunchTaskRequest{Tasks: []*kapotv1.TaskDefinition{{TaskId: uint64(1000 + i), JobId: "badjob", StageId: 1, Plan: plan}}})
		if err != nil {
			t.Fatalf("launch: %v", err)
		}
		st := log.next(t)
		f := st.GetFailed()
		if f == nil || f.GetExecutionError() == nil || f.GetRetryable() || !strings.Contains(f.GetError(), "plan") {
			t.Fatalf("plan %d: status %v, want a non-retryable execution error about the plan", i, st)
		}
	}
	// A task whose job id is a path is refused outright.
	_, err := ec.LaunchTask(ctx, &kapotv1.LaunchTaskRequest{Tasks: []*kapotv1.TaskDefinition{{TaskId: 7, JobId: "../../etc"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("path job id: %v", err)
	}
	if got := runJob(t, s.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("after bad plans: got %q", got)
	}
}

func TestSchedulerRestartReregisters(t *testing.T) {
	s := startScheduler(t, 0, nil)
	host, port := splitAddr(t, s.addr)
	e := startExecutor(t, s.addr, "push-staged", nil)
	s.stop()
	// A new scheduler on the same address knows nothing of the executor.
	var s2 *testScheduler
	deadline := time.Now().Add(20 * time.Second)
	for s2 == nil {
		lis, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			lis.Close()
			s2 = startScheduler(t, port, nil)
		} else if time.Now().After(deadline) {
			t.Fatalf("port %d not free: %v", port, err)
		}
	}
	cl := dialScheduler(t, s2.addr)
	for {
		r, err := cl.Scheduler().ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
		if err == nil && len(r.GetExecutors()) == 1 && r.GetExecutors()[0].GetRegistration().GetId() == e.ID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("executor did not re-register: %v %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := runJob(t, s2.addr, groupByPlan(t)); !slices.Equal(got, expectedGroupBy) {
		t.Fatalf("after restart: got %q", got)
	}
}

// TestSchedulerStopsWithAQueryWaiting: a scheduler told to stop while
// clients wait for jobs no executor can run (none registered) still stops,
// within its grace period, and the clients get no answer: a query (which
// waits for a scheduler to come back until its caller gives up) and an
// EXPLAIN ANALYZE, whose wait on the scheduler spun and held the stop off
// for good.
func TestSchedulerStopsWithAQueryWaiting(t *testing.T) {
	s := startScheduler(t, 0, nil)
	cl := dialScheduler(t, s.addr)
	qctx, qcancel := context.WithCancel(context.Background())
	defer qcancel()
	errc := make(chan error, 2)
	go func() {
		_, err := cl.Query(qctx, "select 1", nil)
		errc <- err
	}()
	go func() {
		_, err := cl.ExecuteSQL(qctx, "explain analyze select 2", nil)
		errc <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(s.Jobs()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the query's job was never submitted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.cancel()
	select {
	case <-s.done:
		s.done <- nil // for the cleanup's stop
	case <-time.After(60 * time.Second):
		t.Fatal("the scheduler did not stop in 60 s with a query waiting")
	}
	qcancel()
	for range 2 {
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("a waiting query answered after its scheduler stopped")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a waiting query did not end after its scheduler stopped")
		}
	}
}

func TestProtocolMismatchRejected(t *testing.T) {
	s := startScheduler(t, 0, func(c *scheduler.Config) { c.Policy = "pull-staged" })
	cl := dialScheduler(t, s.addr)
	reg := &kapotv1.ExecutorRegistration{Id: "x", Host: "127.0.0.1", FlightPort: 1, GrpcPort: 2,
		Resources: &kapotv1.ExecutorResources{TaskSlots: 1}, ProtocolVersion: 999,
		Policy: kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED}
	_, err := cl.Scheduler().RegisterExecutor(context.Background(), &kapotv1.RegisterExecutorRequest{Registration: reg})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("protocol mismatch: %v", err)
	}
	reg.ProtocolVersion = version.Protocol
	reg.Policy = kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PUSH_STAGED
	_, err = cl.Scheduler().RegisterExecutor(context.Background(), &kapotv1.RegisterExecutorRequest{Registration: reg})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("policy mismatch: %v", err)
	}
}

func TestTerminatingRefusesLaunch(t *testing.T) {
	s := startScheduler(t, 0, nil)
	eng := blockingEngine{started: make(chan uint64, 10)}
	e := startExecutorWith(t, s.addr, "push-staged", eng, func(c *executor.Config) { c.DrainTimeout = 200 * time.Millisecond })
	cl := dialScheduler(t, s.addr)
	req := groupByPlan(t)
	req.SessionProperties = map[string]string{"test.block": "true"}
	if _, err := cl.Submit(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	<-eng.started
	ec := executorClient(t, e)
	e.cancel() // graceful shutdown begins; the blocked task keeps running
	for !e.Terminating() {
		time.Sleep(time.Millisecond)
	}
	_, err := ec.LaunchTask(context.Background(), &kapotv1.LaunchTaskRequest{Tasks: []*kapotv1.TaskDefinition{{TaskId: 99, JobId: "late", StageId: 1}}})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("launch while terminating: %v, want Unavailable", err)
	}
}
