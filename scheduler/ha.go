package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/kapot-go/kapot/internal/failover"
	"github.com/kapot-go/kapot/scheduler/store"
)

// High availability: with --state-store etcd several schedulers share the
// state and elect one leader (etcd's concurrency package: a lease kept
// alive by the leader, writes fenced by its key's revision). Followers
// refuse every call with failover.NotLeader naming the leader; clients and
// executors given all schedulers' addresses move to it. The elected one
// takes the state over (catalog, history, running jobs: recover.go) before
// it answers. A leader that loses its lease or finds its writes fenced
// stops: it can no longer tell that it is the only one.

// takeOver loads what the leader serves from the state store.
func (s *Scheduler) takeOver(ctx context.Context) error {
	if err := s.loadCatalog(ctx); err != nil {
		return fmt.Errorf("read the catalog: %w", err)
	}
	s.sweepWrites(ctx)
	if err := s.loadHistory(ctx); err != nil {
		return fmt.Errorf("read the job history: %w", err)
	}
	if err := s.recoverJobs(ctx); err != nil {
		return fmt.Errorf("read the running jobs: %w", err)
	}
	if err := s.loadRetired(ctx); err != nil {
		return fmt.Errorf("read the retired table files: %w", err)
	}
	return nil
}

// campaign waits to be elected, takes over and leads until the lease ends
// or ctx does.
func (s *Scheduler) campaign(ctx context.Context) {
	addr := s.advertised()
	s.log.Info().Str("advertised", addr).Dur("lease", s.cfg.LeaderLease).Msg("follower: waiting to be elected leader")
	l, err := s.etcd.Campaign(ctx, addr, s.cfg.LeaderLease)
	if err != nil {
		if ctx.Err() == nil {
			s.fail(err)
		}
		return
	}
	s.leadership = l
	start := time.Now()
	if err := s.takeOver(ctx); err != nil {
		s.fail(fmt.Errorf("take over as leader: %w", err))
		return
	}
	// An election won as the lease ran out (etcd was unreachable) is no
	// leadership: check it still holds before serving.
	select {
	case <-l.Lost():
		s.fail(errors.New("leadership lost while taking over: the etcd lease ended"))
		return
	default:
	}
	if err := s.etcd.Verify(ctx); err != nil {
		s.fail(fmt.Errorf("leadership lost while taking over: %w", err))
		return
	}
	s.leading.Store(true)
	s.wake()
	s.log.Info().Dur("took_over_in", time.Since(start)).Msg("elected leader; serving")
	// The leadership renews its lease itself, each try under a deadline
	// shorter than the lease and made again on another member when it
	// hangs (etcd electing a new raft leader): Lost closes once the lease
	// may have ended, by then a follower may have been elected. The
	// leader also checks its key (Verify) for fencing: a key that is gone
	// or another's ends it at once. A check that fails otherwise (etcd
	// busy, electing) is only logged: the lease says whether it leads.
	lease := s.cfg.LeaderLease
	tick := time.NewTicker(lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.Lost():
			s.fail(fmt.Errorf("leadership lost: %v (for --leader-lease-seconds %s); another scheduler may lead now", l.Err(), lease))
			return
		case <-tick.C:
		}
		vctx, cancel := context.WithTimeout(ctx, lease/3)
		err := s.etcd.Verify(vctx)
		cancel()
		switch {
		case errors.Is(err, store.ErrFenced):
			s.fail(fmt.Errorf("leadership lost: %w", err))
			return
		case err != nil && ctx.Err() == nil:
			s.log.Warn().Err(err).Msg("could not check the leader key in etcd; the lease still holds")
		}
	}
}

// advertised is the address followers name for this scheduler.
func (s *Scheduler) advertised() string {
	host := s.cfg.AdvertiseHost
	if host == "" {
		host = s.cfg.BindHost
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host, _ = os.Hostname()
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(s.lis.Addr().(*net.TCPAddr).Port))
}

// refuse is the follower's answer to a call of method (nil: serve it).
func (s *Scheduler) refuse(ctx context.Context, method string) error {
	if s.leading.Load() || strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	leader := ""
	if s.etcd != nil {
		leader, _ = s.etcd.Leader(lctx)
	}
	return failover.NotLeader(leader)
}

func (s *Scheduler) gateUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.refuse(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Scheduler) gateStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.refuse(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// Leading reports whether this scheduler serves as the leader.
func (s *Scheduler) Leading() bool { return s.leading.Load() }
