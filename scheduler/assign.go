package scheduler

import (
	"context"
	"fmt"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Assignment: which task goes to which executor slot (fair between jobs,
// locality first), and launching them on push-mode executors.

// assign picks up to n pending runnable tasks for executor e, marks them
// running and returns their definitions. In the fair mode (the default)
// each slot goes to the job with the fewest running tasks (ties: the
// oldest), so a job of many tasks cannot hold every slot while another
// waits; in the fifo mode the oldest job takes every slot it can use.
// Called with mu held.
func (s *Scheduler) assign(e *executorState, n int) []*kapotv1.TaskDefinition {
	return s.assignTo(e, n, false)
}

// assignFair gives executor e's fair-share slot, when free, a task of a
// session that runs no task at all while every slot is taken: its job
// does not wait behind other sessions' long tasks (push executors only;
// fair mode only). Called with mu held.
func (s *Scheduler) assignFair(e *executorState) []*kapotv1.TaskDefinition {
	if e.fairTask != 0 || s.cfg.SchedulingMode == ModeFIFO || !e.push() || e.freeSlots() > 0 ||
		e.state != kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE || e.suspect {
		return nil
	}
	return s.assignTo(e, 1, true)
}

// assignTo is assign; fair picks only a job of a session that runs no
// task, for the fair-share slot.
func (s *Scheduler) assignTo(e *executorState, n int, fair bool) []*kapotv1.TaskDefinition {
	var out []*kapotv1.TaskDefinition
	running := map[string]int{}  // tasks running per job
	sessions := map[string]int{} // and per session (jobs' owner)
	if s.cfg.SchedulingMode != ModeFIFO {
		for _, ref := range s.tasks {
			running[ref.job]++
			if j, ok := s.jobs[ref.job]; ok {
				sessions[j.owner]++
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
		if fair && j != nil && sessions[j.owner] > 0 {
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
		st := j.stages[sid]
		key := stageKey{j.id, sid}
		planBytes, ok := plans[key]
		if !ok {
			resolved := resolve(st.plan, j.locations)
			b, err := proto.Marshal(resolved)
			if err != nil {
				s.failJob(j, fmt.Sprintf("serialize stage %d: %v", sid, err))
				continue
			}
			if len(b) > int(s.cfg.MaxTaskBytes) {
				// It can never be sent: fail the job, not the executor.
				s.failJob(j, fmt.Sprintf("stage %d's task plan is %d bytes, over the %d-byte limit on a task (--max-task-bytes); "+
					"use fewer partitions or files", sid, len(b), s.cfg.MaxTaskBytes))
				continue
			}
			planBytes, plans[key] = b, b
		}
		t := st.tasks[p]
		s.lastTaskID++
		id := s.lastTaskID
		if isCopy {
			t.copyID, t.copyExecutor, t.copyStarted, t.straggler = id, e.meta(), time.Now(), false
			s.prom.speculative.WithLabelValues("started").Inc()
			s.log.Info().Str("job", j.id).Uint32("stage", sid).Int("partition", p).Str("original_on", t.executor.GetId()).
				Str("copy_on", e.reg.GetId()).Dur("running_for", time.Since(t.started)).Msg("straggler: a speculative copy starts")
		} else {
			t.phase, t.taskID, t.executor, t.started = taskRunning, id, e.meta(), time.Now()
		}
		s.tasks[id] = taskRef{job: j.id, stage: sid, partition: p, executor: e.reg.GetId()}
		e.running[id] = struct{}{}
		running[j.id]++
		sessions[j.owner]++
		if fair {
			e.fairTask = id
		}
		out = append(out, &kapotv1.TaskDefinition{
			TaskId: id, JobId: j.id, StageId: sid, StageAttempt: st.attempt, Partition: uint32(p),
			TaskAttempt: uint32(t.attempts), Plan: planBytes, SessionProperties: j.props, LaunchTimeMs: time.Now().UnixMilli(),
			FairShareSlot: fair,
		})
	}
	return out
}

// nextTask picks the next pending task executor e may run: in the fair
// mode, of the session running the fewest tasks, then of its job running
// the fewest (ties: the oldest); in the fifo mode, of the oldest job.
// running and sessions count the tasks running per job and per session.
// Called with mu held.
func (s *Scheduler) nextTask(e *executorState, running, sessions map[string]int) (*jobState, uint32, int) {
	var best *jobState
	var bestStage uint32
	bestPart := -1
	for _, jid := range s.jobOrder {
		j := s.jobs[jid]
		if j.state != kapotv1.JobState_JOB_STATE_RUNNING || !e.allows(j.placement) {
			continue
		}
		if best != nil {
			bs, js := sessions[best.owner], sessions[j.owner]
			if js > bs || js == bs && running[jid] >= running[best.id] {
				continue
			}
		}
		sid, p := j.pendingTask()
		if p < 0 {
			continue
		}
		best, bestStage, bestPart = j, sid, p
		if s.cfg.SchedulingMode == ModeFIFO || sessions[j.owner] == 0 {
			break
		}
	}
	return best, bestStage, bestPart
}

// launchLoop pushes pending tasks to push-staged executors with free slots.
func (s *Scheduler) launchLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
		type batch struct {
			executor string
			tasks    []*kapotv1.TaskDefinition
		}
		var batches []batch
		s.mu.Lock()
		for id, e := range s.executors {
			if !e.push() {
				continue
			}
			var defs []*kapotv1.TaskDefinition
			if free := e.freeSlots(); free > 0 {
				defs = s.assign(e, free)
			}
			defs = append(defs, s.assignFair(e)...)
			if len(defs) > 0 {
				batches = append(batches, batch{id, defs})
			}
		}
		s.mu.Unlock()
		for _, b := range batches {
			s.spawn(func(ctx context.Context) { s.pushTasks(ctx, b.executor, b.tasks) })
		}
	}
}

func (s *Scheduler) pushTasks(ctx context.Context, executorID string, defs []*kapotv1.TaskDefinition) {
	// One request carries up to MaxTaskBytes of plans, so no launch is
	// larger than the biggest single task (which assign bounds).
	for len(defs) > 0 {
		n, size := 0, 0
		for n < len(defs) && (n == 0 || size+len(defs[n].GetPlan()) <= int(s.cfg.MaxTaskBytes)) {
			size += len(defs[n].GetPlan())
			n++
		}
		s.launch(ctx, executorID, defs[:n])
		defs = defs[n:]
	}
}

// maxLaunchFailures is how many launches of one task may fail with a
// transport error before its job fails.
const maxLaunchFailures = 8

func (s *Scheduler) launch(ctx context.Context, executorID string, defs []*kapotv1.TaskDefinition) {
	err := func() error {
		c, err := s.client(executorID)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = c.LaunchTask(cctx, &kapotv1.LaunchTaskRequest{SchedulerId: s.id, Tasks: defs})
		return err
	}()
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.wake()
	if deterministicLaunchError(err) {
		// The executor refused these tasks for what they are (too large,
		// malformed): launching them again, anywhere, fails the same way.
		s.log.Warn().Err(err).Str("executor", executorID).Int("tasks", len(defs)).Msg("launch refused; failing the job")
		for _, d := range defs {
			s.requeue(d.GetTaskId())
			if j, ok := s.jobs[d.GetJobId()]; ok && !j.finished() {
				s.failJob(j, fmt.Sprintf("executor %s refused stage %d's task: %s", executorID, d.GetStageId(), status.Convert(err).Message()))
			}
		}
		return
	}
	s.log.Warn().Err(err).Str("executor", executorID).Int("tasks", len(defs)).Msg("launch failed; tasks rescheduled")
	for _, d := range defs {
		s.requeue(d.GetTaskId())
		j, ok := s.jobs[d.GetJobId()]
		if !ok || j.finished() {
			continue
		}
		t := j.stages[d.GetStageId()].tasks[d.GetPartition()]
		if t.launchFailures++; t.launchFailures >= maxLaunchFailures {
			s.failJob(j, fmt.Sprintf("stage %d partition %d could not be launched %d times; last: %v", d.GetStageId(), d.GetPartition(), t.launchFailures, err))
		}
	}
	if e, ok := s.executors[executorID]; ok {
		// A refusing executor is terminating or gone: stop sending it work
		// until it heartbeats as active again, and find out which.
		e.state = kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING
		s.suspect(executorID, "a task launch failed")
	}
}

// deterministicLaunchError tells a launch refused for its content from one
// that failed on the way (executor gone, terminating, slow).
func deterministicLaunchError(err error) bool {
	switch status.Code(err) {
	case codes.ResourceExhausted, codes.InvalidArgument, codes.Unimplemented, codes.OutOfRange:
		return true
	}
	return false
}
