package cluster

import (
	"math"
	"slices"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Speculative execution, as Spark's spark.speculation: once
// SpeculationQuantile of a stage's tasks are done, a task of that stage
// running longer than SpeculationMultiplier times their median (and at
// least SpeculationMinRuntime) is a straggler. A free slot on another
// executor, when no task waits, runs a copy of it (assignTo); the first
// copy to succeed wins, the other is cancelled and its output is never
// read (shuffle output lives in each executor's own work dir, and only
// the winner's location is recorded). A copy's failure leaves the
// original running; the original's failure cancels the copy and counts as
// the task's. A copy only takes a slot no waiting task wants.

// MarkStragglers marks the running tasks that should get a copy and
// returns how many it marked (the scheduler offers slots when any).
func (s *State) MarkStragglers(now time.Time) (int, []Effect) {
	if !s.cfg.Speculation {
		return 0, nil
	}
	marked := 0
	for _, jid := range s.jobOrder {
		j := s.jobs[jid]
		if j.State != kapotv1.JobState_JOB_STATE_RUNNING {
			continue
		}
		for _, sid := range j.Order {
			marked += s.markStage(j, sid, now)
		}
	}
	if marked > 0 {
		s.emit(Wake{})
	}
	return marked, s.take()
}

// markStage marks the stragglers of stage sid of j.
func (s *State) markStage(j *Job, sid uint32, now time.Time) int {
	st := j.Stages[sid]
	var took []time.Duration
	for _, t := range st.Tasks {
		if t.Phase == TaskDone && t.Took > 0 {
			took = append(took, t.Took)
		}
	}
	if len(st.Tasks) < 2 || len(took) < int(math.Ceil(s.cfg.SpeculationQuantile*float64(len(st.Tasks)))) || len(took) == len(st.Tasks) {
		return 0
	}
	slices.Sort(took)
	limit := max(time.Duration(float64(took[len(took)/2])*s.cfg.SpeculationMultiplier), s.cfg.SpeculationMinRuntime)
	marked := 0
	for p, t := range st.Tasks {
		if t.Phase != TaskRunning || t.CopyID != 0 || t.Straggler || now.Sub(t.Started) <= limit {
			continue
		}
		t.Straggler = true
		marked++
		s.logInfo("straggler: the task will get a speculative copy", "job", j.ID, "stage", sid, "partition", p, "executor", t.Executor.GetId(),
			"running_for", now.Sub(t.Started), "stage_median", took[len(took)/2])
	}
	return marked
}

// nextCopy finds a straggler executor e may run a copy of: not one
// running there already.
func (s *State) nextCopy(e *Executor) (*Job, uint32, int) {
	for _, jid := range s.jobOrder {
		j := s.jobs[jid]
		if j.State != kapotv1.JobState_JOB_STATE_RUNNING || !e.Allows(j.Placement) {
			continue
		}
		for _, sid := range j.Order {
			for p, t := range j.Stages[sid].Tasks {
				if t.Straggler && t.Phase == TaskRunning && t.CopyID == 0 && t.Executor.GetId() != e.Reg.GetId() {
					return j, sid, p
				}
			}
		}
	}
	return nil, 0, -1
}
