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

// Executors: registration, heartbeats and the gRPC connections the
// scheduler keeps to each executor (liveness.go decides when one is lost).

// registerExecutor records an executor's registration, with the tasks it
// runs and the outputs it holds (see reconcile); it returns the tasks the
// executor should cancel.
func (s *Scheduler) registerExecutor(reg *kapotv1.ExecutorRegistration, tasks []*kapotv1.RunningTaskInfo, held []*kapotv1.HeldOutputs) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executors[reg.GetId()]
	if ok && e.expected {
		e.expected = false
		s.log.Info().Str("executor", reg.GetId()).Msg("executor holding outputs of recovered jobs registered")
	}
	if !ok {
		e = &executorState{running: map[uint64]struct{}{}, gone: make(chan struct{})}
		s.executors[reg.GetId()] = e
		s.log.Info().Str("executor", reg.GetId()).Str("host", reg.GetHost()).Uint32("flight_port", reg.GetFlightPort()).
			Uint32("slots", reg.GetResources().GetTaskSlots()).Str("policy", reg.GetPolicy().String()).Msg("executor registered")
	}
	e.reg, e.lastSeen, e.state = reg, time.Now(), kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE
	cancel := s.reconcile(e, tasks, held)
	s.wake()
	return cancel
}

// touch records a sign of life; it returns false for unknown executors,
// and for those a recovered job expects that have not registered yet (they
// must, naming what they hold).
func (s *Scheduler) touch(id string, st *kapotv1.ExecutorStatus) bool {
	e, ok := s.executors[id]
	if !ok || e.expected {
		return false
	}
	e.lastSeen = time.Now()
	if st.GetState() == kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING && e.state == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
		s.log.Info().Str("executor", id).Str("reason", st.GetReason()).Msg("executor is terminating")
		e.state = kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING
	}
	return true
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
	e, ok := s.executors[executorID]
	var addr string
	if ok {
		addr = net.JoinHostPort(e.reg.GetHost(), strconv.Itoa(int(e.reg.GetGrpcPort())))
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
