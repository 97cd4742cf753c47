package scheduler

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/version"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/shuffle"
	"github.com/kapot-go/kapot/wire"
)

// service is the scheduler's gRPC SchedulerService.
type service struct {
	kapotv1.UnimplementedSchedulerServiceServer
	s *Scheduler
}

func (v *service) checkRegistration(reg *kapotv1.ExecutorRegistration) error {
	switch {
	case reg == nil || reg.GetId() == "":
		return status.Error(codes.InvalidArgument, "registration without executor id")
	case reg.GetProtocolVersion() != version.Protocol:
		return status.Errorf(codes.FailedPrecondition, "executor speaks protocol version %d, scheduler speaks %d", reg.GetProtocolVersion(), version.Protocol)
	case reg.GetResources().GetTaskSlots() == 0:
		return status.Error(codes.InvalidArgument, "executor offers no task slots")
	case reg.GetHost() == "" || reg.GetFlightPort() == 0:
		return status.Error(codes.InvalidArgument, "executor registration lacks host or Flight port")
	}
	want := v.s.cfg.Policy
	got := "push-staged"
	if reg.GetPolicy() == kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED {
		got = "pull-staged"
	}
	if want != "" && want != got {
		return status.Errorf(codes.FailedPrecondition, "executor uses %s but this scheduler expects %s", got, want)
	}
	return nil
}

func (v *service) RegisterExecutor(_ context.Context, r *kapotv1.RegisterExecutorRequest) (*kapotv1.RegisterExecutorResponse, error) {
	if err := v.checkRegistration(r.GetRegistration()); err != nil {
		return nil, err
	}
	cancel := v.s.registerExecutor(r.GetRegistration(), r.GetTasks(), r.GetHeld())
	return &kapotv1.RegisterExecutorResponse{SchedulerId: v.s.id, CancelTasks: cancel, Warehouse: v.s.warehouseRoot()}, nil
}

func (v *service) HeartbeatFromExecutor(_ context.Context, r *kapotv1.HeartbeatRequest) (*kapotv1.HeartbeatResponse, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	known, fx := s.cl.Heartbeat(r.GetExecutorId(), r.GetStatus(), r.GetMetrics(), time.Now())
	s.apply(fx)
	if !known {
		return &kapotv1.HeartbeatResponse{Reregister: r.GetStatus().GetState() != kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING}, nil
	}
	return &kapotv1.HeartbeatResponse{}, nil
}

func (v *service) PollWork(_ context.Context, r *kapotv1.PollWorkRequest) (*kapotv1.PollWorkResponse, error) {
	s := v.s
	reg := r.GetRegistration()
	s.mu.Lock()
	defer s.mu.Unlock()
	known, fx := s.cl.Touch(reg.GetId(), r.GetStatus(), time.Now())
	s.apply(fx)
	if !known {
		if r.GetStatus().GetState() == kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING {
			return &kapotv1.PollWorkResponse{}, nil
		}
		if err := v.checkRegistration(reg); err != nil {
			return nil, err
		}
		_, fx := s.cl.Register(reg, nil, nil, time.Now())
		s.apply(fx)
	}
	resp, ok, fx := s.cl.Poll(reg.GetId(), r.GetMetrics(), r.GetTaskStatuses(), int(r.GetFreeSlots()), time.Now())
	s.apply(fx)
	if !ok {
		return &kapotv1.PollWorkResponse{Reregister: true}, nil
	}
	return resp, nil
}

func (v *service) UpdateTaskStatus(_ context.Context, r *kapotv1.UpdateTaskStatusRequest) (*kapotv1.UpdateTaskStatusResponse, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	known, fx := s.cl.Touch(r.GetExecutorId(), nil, now)
	s.apply(fx)
	if !known {
		return &kapotv1.UpdateTaskStatusResponse{Reregister: true}, nil
	}
	s.apply(s.cl.UpdateStatuses(r.GetExecutorId(), r.GetTaskStatuses(), now))
	return &kapotv1.UpdateTaskStatusResponse{}, nil
}

func (v *service) ExecutorStopped(_ context.Context, r *kapotv1.ExecutorStoppedRequest) (*kapotv1.ExecutorStoppedResponse, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply(s.cl.Stopped(r.GetExecutorId(), r.GetReason()))
	return &kapotv1.ExecutorStoppedResponse{}, nil
}

// ExecutorLink holds an executor's link open until the executor goes
// away (the stream breaks: the executor becomes suspect and is probed),
// is declared lost, or the scheduler stops.
func (v *service) ExecutorLink(r *kapotv1.ExecutorLinkRequest, stream grpc.ServerStreamingServer[kapotv1.ExecutorLinkEvent]) error {
	s, id := v.s, r.GetExecutorId()
	gen, gone, ok := s.openLink(id)
	if !ok {
		stream.Send(&kapotv1.ExecutorLinkEvent{Reregister: true})
		return status.Errorf(codes.FailedPrecondition, "executor %q is not registered", id)
	}
	if err := stream.Send(&kapotv1.ExecutorLinkEvent{Linked: true}); err != nil {
		s.linkBroke(id, gen, err.Error())
		return err
	}
	select {
	case <-stream.Context().Done():
		s.linkBroke(id, gen, context.Cause(stream.Context()).Error())
		return nil
	case <-gone:
		stream.Send(&kapotv1.ExecutorLinkEvent{Reregister: true})
		return status.Error(codes.FailedPrecondition, "this executor was declared lost; register again")
	case <-s.linksDone:
		return status.Error(codes.Unavailable, "scheduler stopping")
	}
}

func (v *service) SubmitJob(ctx context.Context, r *kapotv1.SubmitJobRequest) (*kapotv1.SubmitJobResponse, error) {
	if r.GetPlan() == nil {
		return nil, status.Error(codes.InvalidArgument, "submit without a plan")
	}
	if wire.Writes(r.GetPlan()) {
		return nil, status.Error(codes.PermissionDenied, "plans that write files are made by the scheduler's SQL front door (CREATE TABLE AS, INSERT, COPY): send the SQL with ExecuteSQL")
	}
	id, err := v.s.submit(ctx, r, security.SessionFrom(ctx))
	if err != nil {
		return nil, submitStatus(err)
	}
	return &kapotv1.SubmitJobResponse{JobId: id}, nil
}

// submitStatus is the gRPC status of a refused submission.
func submitStatus(err error) error {
	switch {
	case errors.Is(err, panics.ErrInternal):
		return status.Error(codes.Internal, err.Error())
	case errors.Is(err, errTooLarge):
		return status.Errorf(codes.InvalidArgument, "job rejected: %v", err)
	case errors.Is(err, cluster.ErrSessionBusy):
		return status.Errorf(codes.ResourceExhausted, "job rejected: %v", err)
	case errors.Is(err, cluster.ErrNoPlacement):
		return status.Errorf(codes.FailedPrecondition, "job rejected: %v", err)
	case errors.Is(err, objstore.ErrForbidden):
		return status.Errorf(codes.PermissionDenied, "job rejected: %v", err)
	case errors.Is(err, objstore.ErrNotFound):
		return status.Errorf(codes.NotFound, "plan reads a missing file: %v", err)
	case errors.Is(err, objstore.ErrIO):
		return status.Errorf(codes.Unavailable, "cannot read the plan's files: %v", err)
	}
	return status.Errorf(codes.InvalidArgument, "plan rejected: %v", err)
}

// ExecuteSQL plans and runs SQL in the scheduler, over the catalog Flight
// SQL clients share; a query becomes a job of the caller's session.
func (v *service) ExecuteSQL(ctx context.Context, r *kapotv1.ExecuteSQLRequest) (*kapotv1.ExecuteSQLResponse, error) {
	return v.s.executeSQL(ctx, r, security.SessionFrom(ctx), security.PrincipalFrom(ctx))
}

// maxStatusWaitMs bounds a GetJobStatus long poll.
const maxStatusWaitMs = 60_000

func (v *service) GetJobStatus(ctx context.Context, r *kapotv1.GetJobStatusRequest) (*kapotv1.GetJobStatusResponse, error) {
	if err := v.s.authorize(ctx, r.GetJobId()); err != nil {
		return nil, status.Errorf(codes.NotFound, "job %q not found", r.GetJobId())
	}
	v.s.polling(r.GetJobId(), 1)
	defer v.s.polling(r.GetJobId(), -1)
	if ids := r.GetUnreachableExecutors(); len(ids) > 0 {
		v.s.unreachable(ctx, r.GetJobId(), ids)
	}
	if w := r.GetWaitMs(); w > 0 {
		err := v.s.awaitJob(ctx, r.GetJobId(), time.Duration(min(w, maxStatusWaitMs))*time.Millisecond)
		if err != nil && !errors.Is(err, cluster.ErrUnknownJob) {
			return nil, status.FromContextError(err).Err()
		}
	}
	st, err := v.s.status(r.GetJobId())
	if errors.Is(err, cluster.ErrUnknownJob) {
		return nil, status.Errorf(codes.NotFound, "job %q not found", r.GetJobId())
	}
	return st, err
}

func (v *service) CancelJob(ctx context.Context, r *kapotv1.CancelJobRequest) (*kapotv1.CancelJobResponse, error) {
	if err := shuffle.ValidateJobID(r.GetJobId()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := v.s.authorize(ctx, r.GetJobId()); err != nil {
		return nil, status.Errorf(codes.NotFound, "job %q not found", r.GetJobId())
	}
	ok, err := v.s.cancel(r.GetJobId())
	if errors.Is(err, cluster.ErrUnknownJob) {
		return nil, status.Errorf(codes.NotFound, "job %q not found", r.GetJobId())
	}
	return &kapotv1.CancelJobResponse{Cancelled: ok}, err
}

func (v *service) ListExecutors(context.Context, *kapotv1.ListExecutorsRequest) (*kapotv1.ListExecutorsResponse, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &kapotv1.ListExecutorsResponse{}
	for _, e := range s.cl.Executors() {
		out.Executors = append(out.Executors, &kapotv1.ExecutorInfo{Registration: e.Reg, State: e.State,
			RunningTasks: uint32(len(e.Running)), LastSeenMs: e.LastSeen.UnixMilli()})
	}
	return out, nil
}
