package executor

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// service is the executor's gRPC ExecutorService.
type service struct {
	kapotv1.UnimplementedExecutorServiceServer
	e *Executor
}

func (s *service) LaunchTask(_ context.Context, r *kapotv1.LaunchTaskRequest) (*kapotv1.LaunchTaskResponse, error) {
	for _, t := range r.GetTasks() {
		if err := s.e.launch(t); err != nil {
			return nil, err
		}
	}
	return &kapotv1.LaunchTaskResponse{}, nil
}

func (s *service) CancelTasks(_ context.Context, r *kapotv1.CancelTasksRequest) (*kapotv1.CancelTasksResponse, error) {
	ids := make([]uint64, len(r.GetTasks()))
	for i, t := range r.GetTasks() {
		ids[i] = t.GetTaskId()
	}
	return &kapotv1.CancelTasksResponse{Cancelled: uint32(s.e.cancelTasks(ids))}, nil
}

func (s *service) RemoveJobData(_ context.Context, r *kapotv1.RemoveJobDataRequest) (*kapotv1.RemoveJobDataResponse, error) {
	if err := s.e.removeJobData(r.GetJobId()); err != nil {
		if errors.Is(err, shuffle.ErrInvalidID) {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &kapotv1.RemoveJobDataResponse{}, nil
}

func (s *service) StopExecutor(_ context.Context, r *kapotv1.StopExecutorRequest) (*kapotv1.StopExecutorResponse, error) {
	if r.GetExecutorId() != "" && r.GetExecutorId() != s.e.id {
		return nil, status.Errorf(codes.InvalidArgument, "this is executor %s, not %s", s.e.id, r.GetExecutorId())
	}
	select {
	case s.e.stopReq <- r.GetReason():
	default:
	}
	return &kapotv1.StopExecutorResponse{}, nil
}
