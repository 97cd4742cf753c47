package scheduler

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/scheduler/cluster"
)

// How the scheduler tells a lost executor from a live one.
//
// Each registered executor holds a link open to the scheduler (the
// ExecutorLink stream). When its process dies the kernel closes the
// connection and the link breaks at once; when its host goes away or the
// process is stopped, the link's keepalive pings go unanswered and gRPC
// breaks it within KeepaliveTime+KeepaliveTimeout. A broken link, a fetch
// failure naming the executor, a failed launch or a client that cannot
// read a result from it make the executor suspect: it gets no new tasks,
// and the scheduler probes it (the gRPC health service on its task port).
// One answer clears it; cluster.ProbeAttempts unanswered probes declare it lost.
// Heartbeats (every 5 s by default) stay as the backstop: an executor
// silent for --executor-timeout-seconds (30 s) is lost too.
const (
	// probeTimeout bounds one probe: a live executor answers in
	// milliseconds, even when its task slots are busy.
	probeTimeout = 2 * time.Second
	// probeInterval separates probes.
	probeInterval = 250 * time.Millisecond
	// LinkKeepaliveTime is how often the scheduler pings an idle link;
	// LinkKeepaliveTimeout how long it waits for the answer before it
	// breaks the link.
	LinkKeepaliveTime    = 5 * time.Second
	LinkKeepaliveTimeout = 5 * time.Second
)

// openLink records a new link of executor id; ok is false when the
// scheduler does not know it. gen names the link, gone is closed when the
// executor is declared lost.
func (s *Scheduler) openLink(id string) (gen uint64, gone <-chan struct{}, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cl.OpenLink(id)
}

// linkBroke handles the end of link gen of executor id: if it is still the
// executor's current link, the executor becomes suspect.
func (s *Scheduler) linkBroke(id string, gen uint64, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply(s.cl.LinkBroke(id, gen, why))
}

// probe probes a suspect executor off the lock and reports the outcome to
// the state (a probe unanswered declares it lost). Called with mu held.
func (s *Scheduler) probe(id, reason string) {
	done := make(chan struct{})
	s.probes[id] = done
	s.spawn(func(ctx context.Context) {
		defer close(done)
		err := s.probeExecutor(ctx, id)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.probes[id] == done {
			delete(s.probes, id)
		}
		if ctx.Err() != nil {
			return
		}
		s.apply(s.cl.Probed(id, err, reason, time.Now()))
	})
}

// probeExecutor asks executor id's health service, up to probeAttempts
// times; any answer (even NOT_SERVING, which a draining executor gives)
// proves it alive.
func (s *Scheduler) probeExecutor(ctx context.Context, id string) error {
	var err error
	for attempt := range cluster.ProbeAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(probeInterval):
			}
		}
		err = func() error {
			c, err := s.conn(id)
			if err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			_, err = healthpb.NewHealthClient(c).Check(cctx, &healthpb.HealthCheckRequest{})
			switch status.Code(err) {
			case codes.OK:
				return nil
			case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
				return err
			}
			return nil // any answer of its own proves the process alive
		}()
		if err == nil {
			return nil
		}
	}
	return err
}

// probed waits until no probe of executor id is in flight, or ctx ends.
func (s *Scheduler) probed(ctx context.Context, id string) {
	s.mu.Lock()
	done := s.probes[id]
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// unreachable handles a client's report that it could not fetch job
// jobID's results from executors ids: each that holds one of the job's
// result partitions is probed (at most maxReported), and the call returns
// once the probes are done, so the status that follows already reflects a
// loss.
func (s *Scheduler) unreachable(ctx context.Context, jobID string, ids []string) {
	s.mu.Lock()
	probe, fx := s.cl.Unreachable(jobID, ids)
	s.apply(fx)
	s.mu.Unlock()
	for _, id := range probe {
		s.probed(ctx, id)
	}
}

// livenessLoop is the heartbeat backstop: it declares lost the executors
// silent for ExecutorTimeout, and cleans and cancels jobs.
func (s *Scheduler) livenessLoop(ctx context.Context) {
	period := min(s.cfg.ExecutorTimeout/4, time.Second)
	t := time.NewTicker(max(period, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.apply(s.cl.Tick(time.Now()))
		s.mu.Unlock()
	}
}
