package scheduler

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"google.golang.org/grpc"
)

// Executors: registration and the gRPC connections the scheduler keeps to
// each executor (the cluster state decides when one is lost).

// registerExecutor records an executor's registration, with the tasks it
// runs and the outputs it holds; it returns the tasks the executor should
// cancel.
func (s *Scheduler) registerExecutor(reg *kapotv1.ExecutorRegistration, tasks []*kapotv1.RunningTaskInfo, held []*kapotv1.HeldOutputs) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	cancel, fx := s.cl.Register(reg, tasks, held, time.Now())
	s.apply(fx)
	return cancel
}

func (s *Scheduler) client(executorID string) (kapotv1.ExecutorServiceClient, error) {
	c, err := s.conn(executorID)
	if err != nil {
		return nil, err
	}
	return kapotv1.NewExecutorServiceClient(c), nil
}

// conn is the scheduler's connection to an executor's gRPC server, made
// on first use.
func (s *Scheduler) conn(executorID string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	e, ok := s.cl.Executor(executorID)
	var addr string
	if ok {
		addr = net.JoinHostPort(e.Reg.GetHost(), strconv.Itoa(int(e.Reg.GetGrpcPort())))
	}
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("executor %s unknown", executorID)
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	c, ok := s.conns[executorID]
	if !ok {
		var err error
		dial, err := s.cfg.Security.DialOptions(security.Scheduler)
		if err != nil {
			return nil, err
		}
		c, err = grpc.NewClient(addr, append(dial, grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))...)
		if err != nil {
			return nil, err
		}
		s.conns[executorID] = c
	}
	return c, nil
}

func (s *Scheduler) dropConn(executorID string) {
	s.spawn(func(context.Context) {
		s.connMu.Lock()
		defer s.connMu.Unlock()
		if c, ok := s.conns[executorID]; ok {
			c.Close()
			delete(s.conns, executorID)
		}
	})
}
