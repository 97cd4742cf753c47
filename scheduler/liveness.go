package scheduler

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
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
// One answer clears it; probeAttempts unanswered probes declare it lost.
// Heartbeats (every 5 s by default) stay as the backstop: an executor
// silent for --executor-timeout-seconds (30 s) is lost too.
const (
	// probeAttempts unanswered probes declare a suspect executor lost.
	probeAttempts = 3
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
	e, ok := s.executors[id]
	if !ok || e.expected {
		return 0, nil, false // it registers first
	}
	e.linkGen++
	e.linked = true
	return e.linkGen, e.gone, true
}

// linkBroke handles the end of link gen of executor id: if it is still the
// executor's current link, the executor becomes suspect.
func (s *Scheduler) linkBroke(id string, gen uint64, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executors[id]
	if !ok || e.linkGen != gen {
		return
	}
	e.linked = false
	s.suspect(id, "its link broke ("+why+")")
}

// suspect stops giving executor id new tasks and probes it; a probe that
// goes unanswered declares it lost. Called with mu held.
func (s *Scheduler) suspect(id, reason string) {
	e, ok := s.executors[id]
	if !ok || e.probe != nil {
		return
	}
	if s.stopping.Load() {
		return
	}
	e.suspect = true
	done := make(chan struct{})
	e.probe = done
	s.log.Info().Str("executor", id).Str("reason", reason).Msg("executor suspect; probing it")
	s.spawn(func(ctx context.Context) {
		defer close(done)
		err := s.probeExecutor(ctx, id)
		s.mu.Lock()
		defer s.mu.Unlock()
		e, ok := s.executors[id]
		if !ok || ctx.Err() != nil {
			return
		}
		e.probe = nil
		if err == nil {
			e.suspect = false
			s.log.Info().Str("executor", id).Msg("executor answered its probe; it keeps its work")
			s.wake()
			return
		}
		s.executorLost(id, fmt.Sprintf("%s, and it did not answer %d probes (last: %v)", reason, probeAttempts, err))
	})
}

// probeExecutor asks executor id's health service, up to probeAttempts
// times; any answer (even NOT_SERVING, which a draining executor gives)
// proves it alive.
func (s *Scheduler) probeExecutor(ctx context.Context, id string) error {
	var err error
	for attempt := range probeAttempts {
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
	var done chan struct{}
	if e, ok := s.executors[id]; ok {
		done = e.probe
	}
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// executorLost forgets an executor: its running tasks go back to pending
// (not counted as failures: the task did nothing wrong) and its map
// outputs of unfinished jobs are re-run. Finished jobs whose results it
// held are re-run when their client next asks for them (reopenLost).
// Called with mu held.
func (s *Scheduler) executorLost(id, reason string) {
	e, ok := s.executors[id]
	if !ok {
		return
	}
	delete(s.executors, id)
	close(e.gone)
	s.prom.executorsLost.Inc()
	s.log.Warn().Str("executor", id).Str("reason", reason).Int("running_tasks", len(e.running)).Msg("executor lost")
	for _, j := range s.jobs {
		if j.finished() {
			continue
		}
		s.invalidate(j, id)
	}
	s.dropConn(id)
	s.wake()
}

// invalidate puts back to pending every task of j that ran or runs on
// executor id. Called with mu held.
func (s *Scheduler) invalidate(j *jobState, id string) {
	for _, st := range j.stages {
		invalidated := false
		for _, t := range st.tasks {
			if t.copyID != 0 && t.copyExecutor.GetId() == id {
				delete(s.tasks, t.copyID)
				t.clearCopy()
			}
			if t.executor.GetId() != id {
				continue
			}
			switch t.phase {
			case taskRunning:
				delete(s.tasks, t.taskID)
				if t.copyID != 0 {
					t.promoteCopy() // its copy runs on elsewhere
				} else {
					t.phase = taskPending
				}
			case taskDone:
				t.phase, t.outputs = taskPending, nil
				invalidated = true
			}
		}
		if invalidated {
			st.attempt++
		}
	}
}

// reopenLost runs a successful job again in part when executors that held
// its result partitions are lost, and its results are still wanted (not
// yet cleaned up): the partitions they held, and the map outputs those
// need, are computed again, and the job is RUNNING until they are. It
// reports whether the job was reopened. Called with mu held.
func (s *Scheduler) reopenLost(j *jobState) bool {
	if j.state != kapotv1.JobState_JOB_STATE_SUCCESSFUL || j.dataRemoved || j.write != nil {
		// A write committed: running its tasks again would write again.
		return false
	}
	var lost []string
	for _, t := range j.stages[j.final].tasks {
		id := t.executor.GetId()
		if _, ok := s.executors[id]; !ok && !slices.Contains(lost, id) {
			lost = append(lost, id)
		}
	}
	if len(lost) == 0 {
		return false
	}
	for _, id := range lost {
		s.invalidate(j, id)
	}
	j.state, j.end, j.done = kapotv1.JobState_JOB_STATE_RUNNING, time.Time{}, make(chan struct{})
	j.lastPoll = time.Now()
	j.reopened++
	s.persistJob(j)
	s.log.Warn().Str("job", j.id).Strs("executors", lost).Msg("result partitions lost with their executors; computing them again")
	s.wake()
	return true
}

// unreachable handles a client's report that it could not fetch job
// jobID's results from executors ids: each that holds one of the job's
// result partitions is probed (at most maxReported), and the call returns
// once the probes are done, so the status that follows already reflects a
// loss.
func (s *Scheduler) unreachable(ctx context.Context, jobID string, ids []string) {
	const maxReported = 16
	s.mu.Lock()
	j, ok := s.jobs[jobID]
	var probe []string
	if ok && j.state == kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		holds := map[string]bool{}
		for _, t := range j.stages[j.final].tasks {
			holds[t.executor.GetId()] = true
		}
		for _, id := range ids {
			if holds[id] && !slices.Contains(probe, id) && len(probe) < maxReported {
				probe = append(probe, id)
				s.suspect(id, "a client could not fetch a result partition from it")
			}
		}
	}
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
		now := time.Now()
		s.mu.Lock()
		for id, e := range s.executors {
			if now.Sub(e.lastSeen) > s.cfg.ExecutorTimeout {
				s.executorLost(id, fmt.Sprintf("no heartbeat for %s (--executor-timeout-seconds)", now.Sub(e.lastSeen).Round(time.Millisecond)))
			}
		}
		s.cleanFinishedJobs(now)
		s.cancelAbandoned(now)
		s.expireJobs(now)
		s.mu.Unlock()
	}
}
