package scheduler

import (
	"context"
	"math"
	"slices"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Speculative execution (--speculation, on by default), as Spark's
// spark.speculation: once SpeculationQuantile of a stage's tasks are done,
// a task of that stage running longer than SpeculationMultiplier times
// their median (and at least SpeculationMinRuntime) is a straggler. A free
// slot on another executor, when no task waits, runs a copy of it; the
// first copy to succeed wins, the other is cancelled and its output is
// never read (shuffle output lives in each executor's own work dir, and
// only the winner's location is recorded). A copy's failure leaves the
// original running; the original's failure cancels the copy and counts as
// the task's. A copy only takes a slot no waiting task wants.

// speculationPeriod is how often running tasks are checked for stragglers.
const speculationPeriod = 200 * time.Millisecond

// speculationLoop marks stragglers until ctx ends.
func (s *Scheduler) speculationLoop(ctx context.Context) {
	t := time.NewTicker(speculationPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.markStragglers(time.Now()) > 0 {
			s.wake()
		}
		s.mu.Unlock()
	}
}

// markStragglers marks the running tasks that should get a copy and
// returns how many it marked. Called with mu held.
func (s *Scheduler) markStragglers(now time.Time) int {
	if !s.cfg.Speculation {
		return 0
	}
	marked := 0
	for _, jid := range s.jobOrder {
		j := s.jobs[jid]
		if j.state != kapotv1.JobState_JOB_STATE_RUNNING {
			continue
		}
		for _, sid := range j.order {
			st := j.stages[sid]
			var took []time.Duration
			for _, t := range st.tasks {
				if t.phase == taskDone && t.took > 0 {
					took = append(took, t.took)
				}
			}
			if len(st.tasks) < 2 || len(took) < int(math.Ceil(s.cfg.SpeculationQuantile*float64(len(st.tasks)))) || len(took) == len(st.tasks) {
				continue
			}
			slices.Sort(took)
			limit := max(time.Duration(float64(took[len(took)/2])*s.cfg.SpeculationMultiplier), s.cfg.SpeculationMinRuntime)
			for p, t := range st.tasks {
				if t.phase != taskRunning || t.copyID != 0 || t.straggler || now.Sub(t.started) <= limit {
					continue
				}
				t.straggler = true
				marked++
				s.log.Info().Str("job", j.id).Uint32("stage", sid).Int("partition", p).Str("executor", t.executor.GetId()).
					Dur("running_for", now.Sub(t.started)).Dur("stage_median", took[len(took)/2]).Msg("straggler: the task will get a speculative copy")
			}
		}
	}
	return marked
}

// nextCopy finds a straggler executor e may run a copy of: not one
// running there already. Called with mu held.
func (s *Scheduler) nextCopy(e *executorState) (*jobState, uint32, int) {
	for _, jid := range s.jobOrder {
		j := s.jobs[jid]
		if j.state != kapotv1.JobState_JOB_STATE_RUNNING || !e.allows(j.placement) {
			continue
		}
		for _, sid := range j.order {
			for p, t := range j.stages[sid].tasks {
				if t.straggler && t.phase == taskRunning && t.copyID == 0 && t.executor.GetId() != e.reg.GetId() {
					return j, sid, p
				}
			}
		}
	}
	return nil, 0, -1
}
