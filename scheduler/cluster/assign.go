package cluster

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Assignment: which task goes to which executor slot (fair between
// sessions and jobs, or the oldest job first), speculative copies on
// slots no waiting task wants, and what a failed launch does.
//
// Admission: a session (the owner of its jobs) has at most
// Config.MaxSessionJobs jobs running or queued (Admit); in the fair mode
// each free slot goes to the session running the fewest tasks, then to its
// job running the fewest (nextTask): a session with many jobs gets no
// more slots than one with one, and a job over its share yields slots as
// its tasks end. Every push executor also has a fair-share slot beyond
// its task slots, for a session that runs nothing while every slot is
// taken (assignFair).

// Offer assigns pending tasks to the free slots of push-staged executors
// and returns them as Launch effects.
func (s *State) Offer(now time.Time) []Effect {
	for id, e := range s.executors {
		if !e.Push() {
			continue
		}
		var defs []*kapotv1.TaskDefinition
		if free := e.FreeSlots(); free > 0 {
			defs = s.assignTo(e, free, false, now)
		}
		defs = append(defs, s.assignFair(e, now)...)
		if len(defs) > 0 {
			s.emit(Launch{Executor: id, Tasks: defs})
		}
	}
	return s.take()
}

// Assign picks up to n pending runnable tasks for executor id (at most
// its free slots), marks them running and returns their definitions: for
// a pull-staged executor's poll, or a test.
func (s *State) Assign(id string, n int, now time.Time) ([]*kapotv1.TaskDefinition, []Effect) {
	e, ok := s.executors[id]
	if !ok {
		return nil, s.take()
	}
	if n = min(n, e.FreeSlots()); n <= 0 {
		return nil, s.take()
	}
	return s.assignTo(e, n, false, now), s.take()
}

// Poll applies a pull-staged executor's poll (its metrics and task
// statuses) and hands it its queued cancels and removals and up to
// freeSlots tasks; ok is false for an executor the state does not know.
func (s *State) Poll(id string, metrics *kapotv1.ExecutorMetrics, statuses []*kapotv1.TaskStatus, freeSlots int, now time.Time) (*kapotv1.PollWorkResponse, bool, []Effect) {
	e, ok := s.executors[id]
	if !ok {
		return nil, false, s.take()
	}
	if metrics != nil {
		e.Metrics = metrics
	}
	for _, st := range statuses {
		s.updateStatus(id, st, now)
	}
	s.emit(Wake{})
	resp := &kapotv1.PollWorkResponse{CancelTasks: e.CancelQueue, RemoveJobs: e.RemoveQueue}
	e.CancelQueue, e.RemoveQueue = nil, nil
	if n := min(freeSlots, e.FreeSlots()); n > 0 {
		resp.Tasks = s.assignTo(e, n, false, now)
	}
	return resp, true, s.take()
}

// assignFair gives executor e's fair-share slot, when free, a task of a
// session that runs no task at all while every slot is taken: its job
// does not wait behind other sessions' long tasks (push executors only;
// fair mode only).
func (s *State) assignFair(e *Executor, now time.Time) []*kapotv1.TaskDefinition {
	if e.FairTask != 0 || s.cfg.FIFO || !e.Push() || e.FreeSlots() > 0 ||
		e.State != kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE || e.Suspect {
		return nil
	}
	return s.assignTo(e, 1, true, now)
}

// assignTo picks up to n pending runnable tasks for executor e, marks
// them running and returns their definitions. In the fair mode each slot
// goes to the job with the fewest running tasks (ties: the oldest), so a
// job of many tasks cannot hold every slot while another waits; in the
// fifo mode the oldest job takes every slot it can use. With fair it
// picks only a job of a session that runs no task, for the fair-share
// slot. A slot no pending task wants may run a straggler's copy.
func (s *State) assignTo(e *Executor, n int, fair bool, now time.Time) []*kapotv1.TaskDefinition {
	var out []*kapotv1.TaskDefinition
	running := map[string]int{}  // tasks running per job
	sessions := map[string]int{} // and per session (jobs' owner)
	if !s.cfg.FIFO {
		for _, ref := range s.tasks {
			running[ref.job]++
			if j, ok := s.jobs[ref.job]; ok {
				sessions[j.Owner]++
			}
		}
	}
	type stageKey struct {
		job   string
		stage uint32
	}
	plans := map[stageKey][]byte{}
	for len(out) < n {
		j, sid, p := s.nextTask(e, running, sessions)
		if fair && j != nil && sessions[j.Owner] > 0 {
			break // every session runs something: no one starves
		}
		isCopy := false
		if j == nil && fair {
			break
		}
		if j == nil {
			// No task waits: a free slot may run a straggler's copy.
			if j, sid, p = s.nextCopy(e); j == nil {
				break
			}
			isCopy = true
		}
		st := j.Stages[sid]
		key := stageKey{j.ID, sid}
		planBytes, ok := plans[key]
		if !ok {
			b, err := proto.Marshal(Resolve(st.Plan, j.Locations))
			if err != nil {
				s.failJob(j, fmt.Sprintf("serialize stage %d: %v", sid, err), now)
				continue
			}
			if len(b) > s.cfg.MaxTaskBytes {
				// It can never be sent: fail the job, not the executor.
				s.failJob(j, fmt.Sprintf("stage %d's task plan is %d bytes, over the %d-byte limit on a task (--max-task-bytes); "+
					"use fewer partitions or files", sid, len(b), s.cfg.MaxTaskBytes), now)
				continue
			}
			planBytes, plans[key] = b, b
		}
		t := st.Tasks[p]
		s.lastTaskID++
		id := s.lastTaskID
		if isCopy {
			t.CopyID, t.CopyExecutor, t.CopyStarted, t.Straggler = id, e.Meta(), now, false
			s.emit(Count{Metric: SpeculativeCopies, Outcome: "started", N: 1})
			s.logInfo("straggler: a speculative copy starts", "job", j.ID, "stage", sid, "partition", p, "original_on", t.Executor.GetId(),
				"copy_on", e.Reg.GetId(), "running_for", now.Sub(t.Started))
		} else {
			t.Phase, t.TaskID, t.Executor, t.Started = TaskRunning, id, e.Meta(), now
		}
		s.tasks[id] = taskRef{job: j.ID, stage: sid, partition: p, executor: e.Reg.GetId()}
		e.Running[id] = struct{}{}
		running[j.ID]++
		sessions[j.Owner]++
		if fair {
			e.FairTask = id
		}
		out = append(out, &kapotv1.TaskDefinition{
			TaskId: id, JobId: j.ID, StageId: sid, StageAttempt: st.Attempt, Partition: uint32(p),
			TaskAttempt: uint32(t.Attempts), Plan: planBytes, SessionProperties: j.Props, LaunchTimeMs: now.UnixMilli(),
			FairShareSlot: fair,
		})
	}
	return out
}

// nextTask picks the next pending task executor e may run: in the fair
// mode, of the session running the fewest tasks, then of its job running
// the fewest (ties: the oldest); in the fifo mode, of the oldest job.
// running and sessions count the tasks running per job and per session.
func (s *State) nextTask(e *Executor, running, sessions map[string]int) (*Job, uint32, int) {
	var best *Job
	var bestStage uint32
	bestPart := -1
	for _, jid := range s.jobOrder {
		j := s.jobs[jid]
		if j.State != kapotv1.JobState_JOB_STATE_RUNNING || !e.Allows(j.Placement) {
			continue
		}
		if best != nil {
			bs, js := sessions[best.Owner], sessions[j.Owner]
			if js > bs || js == bs && running[jid] >= running[best.ID] {
				continue
			}
		}
		sid, p := j.pendingTask()
		if p < 0 {
			continue
		}
		best, bestStage, bestPart = j, sid, p
		if s.cfg.FIFO || sessions[j.Owner] == 0 {
			break
		}
	}
	return best, bestStage, bestPart
}

// MaxLaunchFailures is how many launches of one task may fail with a
// transport error before its job fails.
const MaxLaunchFailures = 8

// LaunchFailed applies a failed Launch to executorID of defs. refused
// says the executor refused the tasks for what they are (too large,
// malformed): launching them again, anywhere, fails the same way, so
// their jobs fail; otherwise the tasks are rescheduled, and the executor
// (terminating or gone) gets no work until it heartbeats as active again
// and is probed.
func (s *State) LaunchFailed(executorID string, defs []*kapotv1.TaskDefinition, refused bool, err error, msg string, now time.Time) []Effect {
	s.emit(Wake{})
	if refused {
		s.logWarn("launch refused; failing the job", "error", err, "executor", executorID, "tasks", len(defs))
		for _, d := range defs {
			s.requeue(d.GetTaskId())
			if j, ok := s.jobs[d.GetJobId()]; ok && !j.Finished() {
				s.failJob(j, fmt.Sprintf("executor %s refused stage %d's task: %s", executorID, d.GetStageId(), msg), now)
			}
		}
		return s.take()
	}
	s.logWarn("launch failed; tasks rescheduled", "error", err, "executor", executorID, "tasks", len(defs))
	for _, d := range defs {
		s.requeue(d.GetTaskId())
		j, ok := s.jobs[d.GetJobId()]
		if !ok || j.Finished() {
			continue
		}
		t := j.Stages[d.GetStageId()].Tasks[d.GetPartition()]
		if t.LaunchFailures++; t.LaunchFailures >= MaxLaunchFailures {
			s.failJob(j, fmt.Sprintf("stage %d partition %d could not be launched %d times; last: %v", d.GetStageId(), d.GetPartition(), t.LaunchFailures, err), now)
		}
	}
	if e, ok := s.executors[executorID]; ok {
		e.State = kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING
		s.suspect(executorID, "a task launch failed")
	}
	return s.take()
}
