package scheduler

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
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
	return s.conns.get(executorID, func() (*grpc.ClientConn, error) {
		dial, err := s.cfg.Security.DialOptions(security.Scheduler)
		if err != nil {
			return nil, err
		}
		return grpc.NewClient(addr, append(dial, grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))...)
	})
}

func (s *Scheduler) dropConn(executorID string) {
	s.spawn(func(context.Context) { s.conns.drop(executorID) })
}

// connPool holds the scheduler's connections to executors, by executor
// id.
type connPool struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// get returns executor id's connection, made by dial on first use.
func (p *connPool) get(id string, dial func() (*grpc.ClientConn, error)) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[id]; ok {
		return c, nil
	}
	c, err := dial()
	if err != nil {
		return nil, err
	}
	if p.conns == nil {
		p.conns = map[string]*grpc.ClientConn{}
	}
	p.conns[id] = c
	return c, nil
}

// drop closes and forgets executor id's connection.
func (p *connPool) drop(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[id]; ok {
		c.Close()
		delete(p.conns, id)
	}
}

// closeAll closes every connection.
func (p *connPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, c := range p.conns {
		c.Close()
		delete(p.conns, id)
	}
}
