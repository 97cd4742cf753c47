package scheduler

import (
	"context"
	"fmt"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The task state machine: task statuses from executors move tasks, stages
// and jobs forward; failures re-queue, retry or fail the job; map outputs
// lost with an executor or a fetch failure are computed again. It does no
// I/O: launches and cancels it decides are handed to goroutines.

// requeue puts a running task back to pending. Called with mu held.
func (s *Scheduler) requeue(taskID uint64) {
	ref, ok := s.tasks[taskID]
	if !ok {
		return
	}
	delete(s.tasks, taskID)
	if e, ok := s.executors[ref.executor]; ok {
		e.forget(taskID)
	}
	if j, ok := s.jobs[ref.job]; ok {
		t := j.stages[ref.stage].tasks[ref.partition]
		switch {
		case t.copyID == taskID:
			t.clearCopy()
		case t.phase == taskRunning && t.taskID == taskID && t.copyID != 0:
			t.promoteCopy()
		case t.phase == taskRunning && t.taskID == taskID:
			t.phase = taskPending
		}
	}
}

// updateStatuses applies task statuses. Called with mu held.
func (s *Scheduler) updateStatuses(executorID string, statuses []*kapotv1.TaskStatus) {
	for _, st := range statuses {
		s.updateStatus(executorID, st)
	}
	s.wake()
}

func (s *Scheduler) updateStatus(executorID string, st *kapotv1.TaskStatus) {
	if st.GetRunning() != nil {
		return
	}
	ref, ok := s.tasks[st.GetTaskId()]
	if !ok || ref.executor != executorID {
		return // stale: the task was re-queued or its executor declared lost
	}
	delete(s.tasks, st.GetTaskId())
	if e, ok := s.executors[executorID]; ok {
		e.forget(st.GetTaskId())
	}
	j, ok := s.jobs[ref.job]
	if !ok {
		return
	}
	stage := j.stages[ref.stage]
	t := stage.tasks[ref.partition]
	isCopy := t.copyID != 0 && t.copyID == st.GetTaskId()
	if !isCopy && (t.taskID != st.GetTaskId() || t.phase != taskRunning) {
		return
	}
	if j.finished() {
		if isCopy {
			t.clearCopy()
		} else {
			t.phase = taskPending
		}
		return
	}
	if ok := st.GetSuccessful(); ok != nil {
		took := time.Since(t.started)
		switch {
		case isCopy:
			// The copy finished first: the original is cancelled and its
			// output, if it ever writes one, is never read.
			s.log.Info().Str("job", j.id).Uint32("stage", ref.stage).Int("partition", ref.partition).Str("executor", executorID).
				Msg("straggler: the speculative copy finished first; the original is cancelled")
			s.cancelTask(t.taskID, t.executor.GetId(), j.id, ref.stage, ref.partition)
			s.prom.speculative.WithLabelValues("won").Inc()
			took = time.Since(t.copyStarted)
			t.promoteCopy()
		case t.copyID != 0:
			s.cancelTask(t.copyID, t.copyExecutor.GetId(), j.id, ref.stage, ref.partition)
		}
		t.clearCopy()
		t.phase, t.outputs, t.metrics, t.took, t.written = taskDone, ok.GetPartitions(), ok.GetOperatorMetrics(), took, ok.GetWrittenFiles()
		s.persistTask(j, ref.stage, ref.partition, t)
		if ref.stage == j.final && stage.complete() {
			if j.write != nil {
				s.commitJob(j)
				return
			}
			s.succeed(j)
		}
		return
	}
	if isCopy {
		// The original runs on: a copy's failure changes nothing.
		s.log.Info().Str("job", j.id).Uint32("stage", ref.stage).Int("partition", ref.partition).Str("error", st.GetFailed().GetError()).
			Msg("straggler: the speculative copy failed; the original runs on")
		t.clearCopy()
		return
	}
	if t.copyID != 0 {
		s.cancelTask(t.copyID, t.copyExecutor.GetId(), j.id, ref.stage, ref.partition)
		t.clearCopy()
	}
	f := st.GetFailed()
	t.phase = taskPending
	switch {
	case f.GetFetchPartitionError() != nil:
		fe := f.GetFetchPartitionError()
		j.fetchFailures++
		s.log.Warn().Str("job", j.id).Uint32("map_stage", fe.GetMapStageId()).Uint32("map_partition", fe.GetMapPartition()).
			Str("from", fe.GetExecutorId()).Msg("fetch failure: re-running lost map output")
		s.suspect(fe.GetExecutorId(), "a task could not fetch its map output")
		if j.fetchFailures > s.cfg.MaxFetchFailures {
			s.failJob(j, fmt.Sprintf("too many fetch failures (%d); last: %s", j.fetchFailures, f.GetError()))
			return
		}
		if ms, ok := j.stages[fe.GetMapStageId()]; ok {
			invalidated := false
			for _, mt := range ms.tasks {
				if mt.phase == taskDone && mt.executor.GetId() == fe.GetExecutorId() {
					mt.phase, mt.outputs = taskPending, nil
					invalidated = true
				}
			}
			if invalidated {
				ms.attempt++
			}
		}
	case f.GetTaskKilled() != nil:
		// Killed by a drain or cancel: run it again elsewhere.
		s.log.Info().Str("job", j.id).Uint32("stage", ref.stage).Int("partition", ref.partition).Str("executor", ref.executor).Msg("task killed; it runs again")
	default:
		t.attempts++
		if !f.GetRetryable() {
			// Deterministic (not found, refused, an invalid plan or
			// target, the data's own error): every attempt would fail
			// alike, so the job fails at once with the task's message.
			s.failJob(j, fmt.Sprintf("stage %d partition %d: %s", ref.stage, ref.partition, f.GetError()))
			return
		}
		if t.attempts > s.cfg.TaskRetries {
			s.failJob(j, fmt.Sprintf("stage %d partition %d failed after %d attempt(s): %s", ref.stage, ref.partition, t.attempts, f.GetError()))
			return
		}
		s.log.Warn().Str("job", j.id).Uint32("stage", ref.stage).Int("partition", ref.partition).Int("attempt", t.attempts).Str("error", f.GetError()).Msg("task failed; retrying")
	}
}

// cancelOn asks executor eid to cancel tasks (at once for push
// executors, at its next poll for pull ones). Called with mu held.
func (s *Scheduler) cancelOn(eid string, infos []*kapotv1.RunningTaskInfo) {
	e, ok := s.executors[eid]
	if !ok {
		return
	}
	if !e.push() {
		e.cancel = append(e.cancel, infos...)
		return
	}
	s.spawn(func(ctx context.Context) {
		c, err := s.client(eid)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := c.CancelTasks(ctx, &kapotv1.CancelTasksRequest{Tasks: infos}); err != nil {
			s.log.Warn().Err(err).Str("executor", eid).Msg("cancel tasks")
		}
	})
}

// cancelTask stops one launch of a task that is no longer wanted (the
// other copy won): the scheduler forgets it and asks its executor to
// cancel it. Called with mu held.
func (s *Scheduler) cancelTask(taskID uint64, eid, jobID string, stage uint32, partition int) {
	delete(s.tasks, taskID)
	if e, ok := s.executors[eid]; ok {
		e.forget(taskID)
	}
	s.cancelOn(eid, []*kapotv1.RunningTaskInfo{{TaskId: taskID, JobId: jobID, StageId: stage, Partition: uint32(partition)}})
}

// succeed ends job j successfully. Called with mu held.
func (s *Scheduler) succeed(j *jobState) {
	j.state, j.end = kapotv1.JobState_JOB_STATE_SUCCESSFUL, time.Now()
	j.ended()
	s.recordJob(j)
	s.persistJob(j)
	s.log.Info().Str("job", j.id).Dur("elapsed", j.end.Sub(j.start)).Msg("job succeeded")
}

// commitJob commits the files a writing job's accepted launches wrote
// (never a failed attempt's or a losing copy's) off the lock; the job
// succeeds once they are visible, or fails if the commit does. Meanwhile
// it can no longer be cancelled. Called with mu held.
func (s *Scheduler) commitJob(j *jobState) {
	if j.committing {
		return
	}
	j.committing = true
	var files []*kapotv1.WrittenFile
	for _, sid := range j.order {
		for _, t := range j.stages[sid].tasks {
			files = append(files, t.written...)
		}
	}
	w := j.write
	// A scheduler taking over must know whether the commit may have begun.
	recorded := make(chan error, 1)
	s.persistJobDone(j, recorded)
	s.spawn(func(ctx context.Context) {
		var err error
		select {
		case err = <-recorded:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			err = fmt.Errorf("record the commit in the state store: %w", err)
		} else {
			err = w.commit(context.WithoutCancel(ctx), files)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		j.committing = false
		if j.finished() {
			return
		}
		if err != nil {
			s.failJob(j, "commit: "+err.Error())
			return
		}
		for _, f := range files {
			w.rows += f.GetRows()
		}
		s.succeed(j)
	})
}
