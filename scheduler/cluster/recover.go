package cluster

import (
	"fmt"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Recovery: a scheduler that becomes leader rebuilds its predecessor's
// jobs from their records (the scheduler splits their plans again) and
// hands them to Recover. Completed tasks count as done where their
// executor still holds their output: such executors are expected back
// and re-register within moments, naming the outputs they hold and the
// tasks they run, which are adopted (reconcile). One that does not come
// back within RecoveryGrace is lost, and what it held runs again.

// RecoveryGrace is how long a recovered job waits for an executor that
// held its outputs to register with the new leader.
const RecoveryGrace = 10 * time.Second

// Recover adds jobs rebuilt from the state store (oldest first); jobs
// known already are skipped.
func (s *State) Recover(recovered []*Job, now time.Time) []Effect {
	kept := 0
	for _, j := range recovered {
		if _, dup := s.jobs[j.ID]; dup {
			continue
		}
		s.addJob(j)
		s.persistJob(j)
		if j.Finished() {
			if j.State != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
				s.emit(DropTasks{j.ID})
			}
			s.emit(Summarize{j})
			continue
		}
		for _, st := range j.Stages {
			for _, t := range st.Tasks {
				if t.Phase == TaskDone {
					s.expectExecutor(t.Executor, now)
					kept++
				}
			}
		}
		if j.Write == nil && j.Stages[j.Final].Complete() {
			// Every task was done; the predecessor died before it
			// recorded the job's success.
			s.succeed(j, now)
		}
	}
	if len(recovered) > 0 {
		s.emit(Count{Metric: RecoveredTasks, Outcome: "kept", N: float64(kept)})
		s.logInfo("jobs recovered from the state store", "jobs", len(recovered), "kept_tasks", kept)
	}
	s.emit(Wake{})
	return s.take()
}

// expectExecutor records an executor that held outputs of a recovered job
// and has not registered with this scheduler yet: it takes no tasks, and
// is lost (its outputs run again) unless it registers within
// RecoveryGrace.
func (s *State) expectExecutor(m *kapotv1.ExecutorMetadata, now time.Time) {
	if _, ok := s.executors[m.GetId()]; ok {
		return
	}
	s.executors[m.GetId()] = &Executor{
		Reg:      &kapotv1.ExecutorRegistration{Id: m.GetId(), Host: m.GetHost(), FlightPort: m.GetFlightPort(), GrpcPort: m.GetGrpcPort(), WorkDir: m.GetWorkDir()},
		LastSeen: now.Add(min(RecoveryGrace, s.cfg.ExecutorTimeout) - s.cfg.ExecutorTimeout),
		State:    kapotv1.ExecutorState_EXECUTOR_STATE_UNSPECIFIED, Running: map[uint64]struct{}{}, gone: make(chan struct{}), Expected: true,
	}
}

// reconcile applies an executor's registration to the jobs: completed tasks
// it no longer holds the output of run again, and the tasks it runs (or
// ran, their status on its way) that a job still wants are adopted. It
// returns the tasks the executor should cancel.
func (s *State) reconcile(e *Executor, tasks []*kapotv1.RunningTaskInfo, held []*kapotv1.HeldOutputs, now time.Time) []uint64 {
	id := e.Reg.GetId()
	has := map[string]bool{}
	for _, h := range held {
		for _, m := range h.GetMapPartitions() {
			has[fmt.Sprintf("%s/%d/%d", h.GetJobId(), h.GetStageId(), m)] = true
		}
	}
	for _, j := range s.jobs {
		if j.Finished() {
			continue
		}
		for _, sid := range j.Order {
			st := j.Stages[sid]
			gone := false
			for p, t := range st.Tasks {
				if t.Phase == TaskDone && t.Executor.GetId() == id && !has[fmt.Sprintf("%s/%d/%d", j.ID, sid, p)] {
					t.Phase, t.Outputs = TaskPending, nil
					gone = true
					s.emit(Count{Metric: RecoveredTasks, Outcome: "rerun", N: 1})
				}
			}
			if gone {
				st.Attempt++
				s.logInfo("map outputs missing on their executor; they run again", "job", j.ID, "stage", sid, "executor", id)
			}
		}
	}
	var cancel []uint64
	adopted := 0
	for _, info := range tasks {
		tid := info.GetTaskId()
		if ref, ok := s.tasks[tid]; ok {
			if ref.executor != id {
				cancel = append(cancel, tid)
			}
			continue
		}
		j, ok := s.jobs[info.GetJobId()]
		var st *Stage
		if ok && !j.Finished() {
			st = j.Stages[info.GetStageId()]
		}
		p := int(info.GetPartition())
		if st == nil || p >= len(st.Tasks) || st.Tasks[p].Phase != TaskPending || !j.Runnable(st) {
			cancel = append(cancel, tid)
			continue
		}
		t := st.Tasks[p]
		t.Phase, t.TaskID, t.Executor, t.Started = TaskRunning, tid, e.Meta(), now
		s.tasks[tid] = taskRef{job: j.ID, stage: info.GetStageId(), partition: p, executor: id}
		e.Running[tid] = struct{}{}
		s.lastTaskID = max(s.lastTaskID, tid)
		adopted++
	}
	if adopted > 0 {
		s.emit(Count{Metric: RecoveredTasks, Outcome: "adopted", N: float64(adopted)})
		s.logInfo("running tasks of recovered jobs adopted", "executor", id, "adopted_tasks", adopted)
	}
	return cancel
}
