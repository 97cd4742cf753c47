package scheduler

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Launching: the cluster state assigns tasks to free slots (package
// cluster); this loop offers them and pushes the launches to push-staged
// executors.

// launchLoop pushes pending tasks to push-staged executors with free slots.
func (s *Scheduler) launchLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
		s.mu.Lock()
		s.apply(s.cl.Offer(time.Now()))
		s.mu.Unlock()
	}
}

func (s *Scheduler) pushTasks(ctx context.Context, executorID string, defs []*kapotv1.TaskDefinition) {
	// One request carries up to MaxTaskBytes of plans, so no launch is
	// larger than the biggest single task (which assignment bounds).
	for len(defs) > 0 {
		n, size := 0, 0
		for n < len(defs) && (n == 0 || size+len(defs[n].GetPlan()) <= int(s.cfg.MaxTaskBytes)) {
			size += len(defs[n].GetPlan())
			n++
		}
		s.launch(ctx, executorID, defs[:n])
		defs = defs[n:]
	}
}

func (s *Scheduler) launch(ctx context.Context, executorID string, defs []*kapotv1.TaskDefinition) {
	err := func() error {
		c, err := s.client(executorID)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = c.LaunchTask(cctx, &kapotv1.LaunchTaskRequest{SchedulerId: s.id, Tasks: defs})
		return err
	}()
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply(s.cl.LaunchFailed(executorID, defs, deterministicLaunchError(err), err, status.Convert(err).Message(), time.Now()))
}

// deterministicLaunchError tells a launch refused for its content from one
// that failed on the way (executor gone, terminating, slow).
func deterministicLaunchError(err error) bool {
	switch status.Code(err) {
	case codes.ResourceExhausted, codes.InvalidArgument, codes.Unimplemented, codes.OutOfRange:
		return true
	}
	return false
}
