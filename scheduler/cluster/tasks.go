package cluster

import (
	"fmt"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The task state machine: task statuses from executors move tasks, stages
// and jobs forward; failures re-queue, retry or fail the job; map outputs
// lost with an executor or a fetch failure are computed again.

// requeue puts a running launch back to pending.
func (s *State) requeue(taskID uint64) {
	ref, ok := s.tasks[taskID]
	if !ok {
		return
	}
	delete(s.tasks, taskID)
	if e, ok := s.executors[ref.executor]; ok {
		e.forget(taskID)
	}
	if j, ok := s.jobs[ref.job]; ok {
		t := j.Stages[ref.stage].Tasks[ref.partition]
		switch {
		case t.CopyID == taskID:
			t.clearCopy()
		case t.Phase == TaskRunning && t.TaskID == taskID && t.CopyID != 0:
			t.promoteCopy()
		case t.Phase == TaskRunning && t.TaskID == taskID:
			t.Phase = TaskPending
		}
	}
}

// Requeue puts running launches back to pending (their executor will not
// run them).
func (s *State) Requeue(taskIDs ...uint64) []Effect {
	for _, id := range taskIDs {
		s.requeue(id)
	}
	return s.take()
}

// UpdateStatuses applies the task statuses executorID reports.
func (s *State) UpdateStatuses(executorID string, statuses []*kapotv1.TaskStatus, now time.Time) []Effect {
	for _, st := range statuses {
		s.updateStatus(executorID, st, now)
	}
	s.emit(Wake{})
	return s.take()
}

func (s *State) updateStatus(executorID string, st *kapotv1.TaskStatus, now time.Time) {
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
	t := j.Stages[ref.stage].Tasks[ref.partition]
	isCopy := t.CopyID != 0 && t.CopyID == st.GetTaskId()
	if !isCopy && (t.TaskID != st.GetTaskId() || t.Phase != TaskRunning) {
		return
	}
	if j.Finished() {
		if isCopy {
			t.clearCopy()
		} else {
			t.Phase = TaskPending
		}
		return
	}
	if ok := st.GetSuccessful(); ok != nil {
		s.taskSucceeded(j, ref, t, isCopy, ok, now)
		return
	}
	if isCopy {
		// The original runs on: a copy's failure changes nothing.
		s.logInfo("straggler: the speculative copy failed; the original runs on",
			"job", j.ID, "stage", ref.stage, "partition", ref.partition, "error", st.GetFailed().GetError())
		t.clearCopy()
		return
	}
	if t.CopyID != 0 {
		s.cancelTask(t.CopyID, t.CopyExecutor.GetId(), j.ID, ref.stage, ref.partition)
		t.clearCopy()
	}
	t.Phase = TaskPending
	s.taskFailed(j, ref, t, st.GetFailed(), now)
}

// taskSucceeded takes the output of a launch (the original's or its
// copy's) that succeeded.
func (s *State) taskSucceeded(j *Job, ref taskRef, t *Task, isCopy bool, ok *kapotv1.SuccessfulTask, now time.Time) {
	took := now.Sub(t.Started)
	switch {
	case isCopy:
		// The copy finished first: the original is cancelled and its
		// output, if it ever writes one, is never read.
		s.logInfo("straggler: the speculative copy finished first; the original is cancelled",
			"job", j.ID, "stage", ref.stage, "partition", ref.partition, "executor", ref.executor)
		s.cancelTask(t.TaskID, t.Executor.GetId(), j.ID, ref.stage, ref.partition)
		s.emit(Count{Metric: SpeculativeCopies, Outcome: "won", N: 1})
		took = now.Sub(t.CopyStarted)
		t.promoteCopy()
	case t.CopyID != 0:
		s.cancelTask(t.CopyID, t.CopyExecutor.GetId(), j.ID, ref.stage, ref.partition)
	}
	t.clearCopy()
	t.Phase, t.Outputs, t.Metrics, t.Took, t.Written = TaskDone, ok.GetPartitions(), ok.GetOperatorMetrics(), took, ok.GetWrittenFiles()
	s.persistTask(j, ref.stage, ref.partition, t)
	if ref.stage != j.Final && s.cfg.Adapt != nil && j.Stages[ref.stage].Complete() && s.cfg.Adapt(j, ref.stage) {
		s.persistJob(j)
	}
	if ref.stage == j.Final && j.Stages[ref.stage].Complete() {
		if j.Write != nil {
			s.commitJob(j)
			return
		}
		s.succeed(j, now)
	}
}

// taskFailed decides what a failed launch (not a copy's) does: re-run
// lost map output, run it again, retry, or fail the job.
func (s *State) taskFailed(j *Job, ref taskRef, t *Task, f *kapotv1.FailedTask, now time.Time) {
	switch {
	case f.GetFetchPartitionError() != nil:
		fe := f.GetFetchPartitionError()
		j.FetchFailures++
		s.logWarn("fetch failure: re-running lost map output",
			"job", j.ID, "map_stage", fe.GetMapStageId(), "map_partition", fe.GetMapPartition(), "from", fe.GetExecutorId())
		s.suspect(fe.GetExecutorId(), "a task could not fetch its map output")
		if j.FetchFailures > s.cfg.MaxFetchFailures {
			s.failJob(j, fmt.Sprintf("too many fetch failures (%d); last: %s", j.FetchFailures, f.GetError()), now)
			return
		}
		if ms, ok := j.Stages[fe.GetMapStageId()]; ok {
			invalidated := false
			for _, mt := range ms.Tasks {
				if mt.Phase == TaskDone && mt.Executor.GetId() == fe.GetExecutorId() {
					mt.Phase, mt.Outputs = TaskPending, nil
					invalidated = true
				}
			}
			if invalidated {
				ms.Attempt++
			}
		}
	case f.GetTaskKilled() != nil:
		// Killed by a drain or cancel: run it again elsewhere.
		s.logInfo("task killed; it runs again", "job", j.ID, "stage", ref.stage, "partition", ref.partition, "executor", ref.executor)
	default:
		t.Attempts++
		if !f.GetRetryable() {
			// Deterministic (not found, refused, an invalid plan or
			// target, the data's own error): every attempt would fail
			// alike, so the job fails at once with the task's message.
			s.failJob(j, fmt.Sprintf("stage %d partition %d: %s", ref.stage, ref.partition, f.GetError()), now)
			return
		}
		if t.Attempts > s.cfg.TaskRetries {
			s.failJob(j, fmt.Sprintf("stage %d partition %d failed after %d attempt(s): %s", ref.stage, ref.partition, t.Attempts, f.GetError()), now)
			return
		}
		s.logWarn("task failed; retrying", "job", j.ID, "stage", ref.stage, "partition", ref.partition, "attempt", t.Attempts, "error", f.GetError())
	}
}

// cancelTask stops one launch of a task that is no longer wanted (the
// other copy won): the state forgets it and its executor is asked to
// cancel it.
func (s *State) cancelTask(taskID uint64, eid, jobID string, stage uint32, partition int) {
	delete(s.tasks, taskID)
	if e, ok := s.executors[eid]; ok {
		e.forget(taskID)
	}
	s.cancelOn(eid, []*kapotv1.RunningTaskInfo{{TaskId: taskID, JobId: jobID, StageId: stage, Partition: uint32(partition)}})
}

// commitJob asks for the files a writing job's accepted launches wrote
// (never a failed attempt's or a losing copy's) to be committed; the job
// succeeds once they are visible, or fails if the commit does
// (Committed). Meanwhile it can no longer be cancelled.
func (s *State) commitJob(j *Job) {
	if j.Committing {
		return
	}
	j.Committing = true
	var files []*kapotv1.WrittenFile
	for _, sid := range j.Order {
		for _, t := range j.Stages[sid].Tasks {
			files = append(files, t.Written...)
		}
	}
	// A scheduler taking over must know whether the commit may have begun.
	rec, _ := jobRecord(j)
	s.emit(Commit{Job: j.ID, Write: j.Write, Files: files, Record: rec})
}

// Committed applies the outcome of a Commit: the job succeeds with rows
// written, or fails with err.
func (s *State) Committed(jobID string, err error, rows int64, now time.Time) []Effect {
	j, ok := s.jobs[jobID]
	if !ok {
		return nil
	}
	j.Committing = false
	if j.Finished() {
		return s.take()
	}
	if err != nil {
		s.failJob(j, "commit: "+err.Error(), now)
		return s.take()
	}
	j.Write.Rows += rows
	s.succeed(j, now)
	return s.take()
}
