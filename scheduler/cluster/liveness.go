package cluster

import (
	"fmt"
	"slices"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Executors and their liveness: registration, heartbeats and polls, links,
// suspicion and probes, and what losing an executor does to the jobs. A
// broken link, a fetch failure naming the executor, a failed launch or a
// client that cannot read a result from it make the executor suspect: it
// gets no new tasks and the scheduler probes it (Probe); one answer clears
// it, no answer declares it lost (Probed). An executor silent for
// Config.ExecutorTimeout is lost too (Tick).

// Register records an executor's registration, with the tasks it runs and
// the outputs it holds (see reconcile); it returns the tasks the executor
// should cancel.
func (s *State) Register(reg *kapotv1.ExecutorRegistration, tasks []*kapotv1.RunningTaskInfo, held []*kapotv1.HeldOutputs, now time.Time) ([]uint64, []Effect) {
	e, ok := s.executors[reg.GetId()]
	if ok && e.Expected {
		e.Expected = false
		s.logInfo("executor holding outputs of recovered jobs registered", "executor", reg.GetId())
	}
	if !ok {
		e = &Executor{Running: map[uint64]struct{}{}, gone: make(chan struct{})}
		s.executors[reg.GetId()] = e
		s.logInfo("executor registered", "executor", reg.GetId(), "host", reg.GetHost(), "flight_port", reg.GetFlightPort(),
			"slots", reg.GetResources().GetTaskSlots(), "policy", reg.GetPolicy().String())
	}
	e.Reg, e.LastSeen, e.State = reg, now, kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE
	cancel := s.reconcile(e, tasks, held, now)
	s.emit(Wake{})
	return cancel, s.take()
}

// Touch records a sign of life (st, when set, the executor's own status);
// it returns false for unknown executors, and for those a recovered job
// expects that have not registered yet (they must, naming what they
// hold).
func (s *State) Touch(id string, st *kapotv1.ExecutorStatus, now time.Time) (bool, []Effect) {
	e, ok := s.executors[id]
	if !ok || e.Expected {
		return false, s.take()
	}
	e.LastSeen = now
	if st.GetState() == kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING && e.State == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
		s.logInfo("executor is terminating", "executor", id, "reason", st.GetReason())
		e.State = kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING
	}
	return true, s.take()
}

// Heartbeat applies an executor's heartbeat; false: it must register
// (again).
func (s *State) Heartbeat(id string, st *kapotv1.ExecutorStatus, metrics *kapotv1.ExecutorMetrics, now time.Time) (bool, []Effect) {
	if ok, _ := s.Touch(id, st, now); !ok {
		return false, s.take()
	}
	e := s.executors[id]
	if metrics != nil {
		e.Metrics = metrics
	}
	if st.GetState() == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE && e.State != kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
		e.State = kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE
		s.emit(Wake{})
	}
	return true, s.take()
}

// Stopped records that an executor stops (it takes no new tasks).
func (s *State) Stopped(id, reason string) []Effect {
	if e, ok := s.executors[id]; ok {
		e.State = kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING
		s.logInfo("executor stopping", "executor", id, "reason", reason)
	}
	return s.take()
}

// OpenLink records a new link of executor id; ok is false when the state
// does not know it. gen names the link, gone is closed when the executor
// is declared lost.
func (s *State) OpenLink(id string) (gen uint64, gone <-chan struct{}, ok bool) {
	e, ok := s.executors[id]
	if !ok || e.Expected {
		return 0, nil, false // it registers first
	}
	e.LinkGen++
	e.Linked = true
	return e.LinkGen, e.gone, true
}

// LinkBroke handles the end of link gen of executor id: if it is still
// the executor's current link, the executor becomes suspect.
func (s *State) LinkBroke(id string, gen uint64, why string) []Effect {
	e, ok := s.executors[id]
	if !ok || e.LinkGen != gen {
		return nil
	}
	e.Linked = false
	s.suspect(id, "its link broke ("+why+")")
	return s.take()
}

// suspect stops giving executor id new tasks and asks for a probe
// (Probe), unless one is in flight.
func (s *State) suspect(id, reason string) {
	e, ok := s.executors[id]
	if !ok || e.Probing || s.Stopping {
		return
	}
	e.Suspect, e.Probing = true, true
	s.logInfo("executor suspect; probing it", "executor", id, "reason", reason)
	s.emit(Probe{Executor: id, Reason: reason})
}

// Probed applies the outcome of a Probe of executor id (err nil: it
// answered; reason: why it was probed).
func (s *State) Probed(id string, err error, reason string, now time.Time) []Effect {
	e, ok := s.executors[id]
	if !ok {
		return nil
	}
	e.Probing = false
	if err == nil {
		e.Suspect = false
		s.logInfo("executor answered its probe; it keeps its work", "executor", id)
		s.emit(Wake{})
		return s.take()
	}
	s.executorLost(id, fmt.Sprintf("%s, and it did not answer %d probes (last: %v)", reason, ProbeAttempts, err))
	return s.take()
}

// ProbeAttempts unanswered probes declare a suspect executor lost.
const ProbeAttempts = 3

// Lost declares executor id lost (see executorLost).
func (s *State) Lost(id, reason string) []Effect {
	s.executorLost(id, reason)
	return s.take()
}

// executorLost forgets an executor: its running tasks go back to pending
// (not counted as failures: the task did nothing wrong) and its map
// outputs of unfinished jobs are re-run. Finished jobs whose results it
// held are re-run when their client next asks for them (ReopenLost).
func (s *State) executorLost(id, reason string) {
	e, ok := s.executors[id]
	if !ok {
		return
	}
	delete(s.executors, id)
	close(e.gone)
	s.emit(Count{Metric: ExecutorsLost, N: 1})
	s.logWarn("executor lost", "executor", id, "reason", reason, "running_tasks", len(e.Running))
	for _, j := range s.jobs {
		if j.Finished() {
			continue
		}
		s.invalidate(j, id)
	}
	s.emit(Disconnect{id}, Wake{})
}

// invalidate puts back to pending every task of j that ran or runs on
// executor id.
func (s *State) invalidate(j *Job, id string) {
	for _, st := range j.Stages {
		invalidated := false
		for _, t := range st.Tasks {
			if t.CopyID != 0 && t.CopyExecutor.GetId() == id {
				delete(s.tasks, t.CopyID)
				t.clearCopy()
			}
			if t.Executor.GetId() != id {
				continue
			}
			switch t.Phase {
			case TaskRunning:
				delete(s.tasks, t.TaskID)
				if t.CopyID != 0 {
					t.promoteCopy() // its copy runs on elsewhere
				} else {
					t.Phase = TaskPending
				}
			case TaskDone:
				t.Phase, t.Outputs = TaskPending, nil
				invalidated = true
			}
		}
		if invalidated {
			st.Attempt++
		}
	}
}

// ReopenLost runs a successful job again in part when executors that held
// its result partitions are lost, and its results are still wanted (not
// yet cleaned up): the partitions they held, and the map outputs those
// need, are computed again, and the job is RUNNING until they are. It
// reports whether the job was reopened.
func (s *State) ReopenLost(j *Job, now time.Time) (bool, []Effect) {
	if j.State != kapotv1.JobState_JOB_STATE_SUCCESSFUL || j.DataRemoved || j.Write != nil {
		// A write committed: running its tasks again would write again.
		return false, s.take()
	}
	var lost []string
	for _, t := range j.Stages[j.Final].Tasks {
		id := t.Executor.GetId()
		if _, ok := s.executors[id]; !ok && !slices.Contains(lost, id) {
			lost = append(lost, id)
		}
	}
	if len(lost) == 0 {
		return false, s.take()
	}
	for _, id := range lost {
		s.invalidate(j, id)
	}
	j.Reopen()
	j.LastPoll = now
	j.Reopened++
	s.persistJob(j)
	s.logWarn("result partitions lost with their executors; computing them again", "job", j.ID, "executors", lost)
	s.emit(Wake{})
	return true, s.take()
}

// Unreachable applies a client's report that it could not fetch job
// jobID's results from executors ids: each that holds one of the job's
// result partitions is made suspect (at most maxReported); it returns
// those, for the caller to wait on their probes.
func (s *State) Unreachable(jobID string, ids []string) ([]string, []Effect) {
	const maxReported = 16
	j, ok := s.jobs[jobID]
	var probe []string
	if ok && j.State == kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		holds := map[string]bool{}
		for _, t := range j.Stages[j.Final].Tasks {
			holds[t.Executor.GetId()] = true
		}
		for _, id := range ids {
			if holds[id] && !slices.Contains(probe, id) && len(probe) < maxReported {
				probe = append(probe, id)
				s.suspect(id, "a client could not fetch a result partition from it")
			}
		}
	}
	return probe, s.take()
}

// Tick is the heartbeat backstop and the jobs' clock: it declares lost
// the executors silent for Config.ExecutorTimeout, cleans up finished
// jobs, and cancels abandoned jobs and those past their deadline.
func (s *State) Tick(now time.Time) []Effect {
	for id, e := range s.executors {
		if now.Sub(e.LastSeen) > s.cfg.ExecutorTimeout {
			s.executorLost(id, fmt.Sprintf("no heartbeat for %s (--executor-timeout-seconds)", now.Sub(e.LastSeen).Round(time.Millisecond)))
		}
	}
	s.cleanFinishedJobs(now)
	s.cancelAbandoned(now)
	s.expireJobs(now)
	return s.take()
}
