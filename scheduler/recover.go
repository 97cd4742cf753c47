package scheduler

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/scheduler/store"
)

// Job recovery: a scheduler that becomes leader (elected on etcd, or
// restarted on its state dir) reloads the jobs its predecessor had not
// cleaned up. Each is split into stages again from its plan as submitted;
// its completed tasks count as done where their executor still holds
// their output. Executors that held outputs are expected back: they
// re-register within moments (their link to the old leader broke), naming
// the outputs they hold and the tasks they run, which the new leader
// adopts (cluster.State.Register). One that does not come back within
// cluster.RecoveryGrace is lost, and what it held runs again.

// recoverJobs reloads the store's jobs. Jobs that cannot be carried on
// (writes, whose commit lived in the old leader; plans that no longer
// split) end failed with the reason, so no job stays RUNNING forever.
func (s *Scheduler) recoverJobs(ctx context.Context) error {
	kvs, err := s.state.List(ctx, store.Running)
	if err != nil {
		return err
	}
	var recovered []*cluster.Job
	for _, kv := range kvs {
		var rec cluster.JobRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil || rec.ID != kv.Key {
			s.log.Warn().Err(err).Str("job", kv.Key).Msg("unreadable job record in the state store; dropped")
			s.forgetJob(kv.Key)
			continue
		}
		recovered = append(recovered, s.recoverJob(ctx, &rec))
	}
	slices.SortFunc(recovered, func(a, b *cluster.Job) int { return a.Queued.Compare(b.Queued) })
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply(s.cl.Recover(recovered, time.Now()))
	return nil
}

// recoverJob rebuilds one job from its record and its task records.
func (s *Scheduler) recoverJob(ctx context.Context, rec *cluster.JobRecord) *cluster.Job {
	j := s.rebuildJob(ctx, rec)
	j.Request = rec.Request
	return j
}

func (s *Scheduler) rebuildJob(ctx context.Context, rec *cluster.JobRecord) *cluster.Job {
	now := time.Now()
	failed := func(msg string) *cluster.Job {
		j := s.pastJob(rec, now)
		j.State, j.Err, j.End = kapotv1.JobState_JOB_STATE_FAILED, msg, now
		j.Ended()
		s.log.Warn().Str("job", rec.ID).Str("error", msg).Msg("job not recovered")
		return j
	}
	finished := rec.State == kapotv1.JobState_JOB_STATE_SUCCESSFUL || rec.State == kapotv1.JobState_JOB_STATE_FAILED || rec.State == kapotv1.JobState_JOB_STATE_CANCELLED
	if finished && rec.DataRemoved && len(rec.Plan) == 0 {
		// Released (see cluster.Job.release): its status is all that is left.
		j := s.pastJob(rec, now)
		j.State, j.Err, j.End = rec.State, rec.Err, rec.End
		j.Stages[0] = &cluster.Stage{StagePlan: &cluster.StagePlan{}}
		if rec.Write {
			j.Write = &cluster.Write{Rows: rec.RowsWritten}
		}
		j.Ended()
		return j
	}
	plan := &kapotv1.PhysicalPlanNode{}
	if err := proto.Unmarshal(rec.Plan, plan); err != nil {
		return failed("the scheduler changed and the job's plan could not be read back: " + err.Error())
	}
	req := &kapotv1.SubmitJobRequest{Plan: plan, JobName: rec.Name, SessionProperties: rec.Props, Detached: rec.Detached}
	if len(rec.Placement) > 0 {
		req.Placement = &kapotv1.PlacementPolicy{}
		_ = proto.Unmarshal(rec.Placement, req.Placement)
	}
	if rec.Write && !finished {
		if rec.Committing {
			return failed("the scheduler changed while this write committed: whether it committed is unknown; check the table before running it again")
		}
		return failed("the scheduler changed while this write ran: nothing of it was committed; run it again")
	}
	if finished && rec.State != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		j := failed(rec.Err)
		j.State, j.End = rec.State, rec.End
		return j
	}
	j, err := s.newJob(ctx, rec.ID, req, rec.Owner, nil)
	if err != nil {
		return failed("the scheduler changed and the job could not be planned again: " + err.Error())
	}
	j.Queued, j.Start, j.LastPoll = rec.Queued, rec.Start, now
	// Planned before it was queued: it holds what was current then.
	j.Planned = rec.Queued
	if rec.Write {
		// Committed already: never run again (see cluster.State.ReopenLost).
		j.Write = &cluster.Write{Rows: rec.RowsWritten}
	}
	if finished {
		j.State, j.Err, j.End, j.DataRemoved = rec.State, rec.Err, rec.End, rec.DataRemoved
		j.Ended()
	}
	if j.DataRemoved {
		return j
	}
	readaptJoins(j, rec.Adapted)
	kvs, err := s.state.List(ctx, store.TaskBucket(rec.ID))
	if err != nil {
		s.log.Warn().Err(err).Str("job", rec.ID).Msg("completed tasks of a recovered job not read; they run again")
		kvs = nil
	}
	for _, kv := range kvs {
		j.RestoreTask(kv.Key, kv.Value) // a record that does not fit: the task runs again
	}
	if finished && !j.Stages[j.Final].Complete() {
		// Its result was not all recorded: the result partitions missing
		// run again when its client asks (as for a lost executor).
		j.Reopen()
	}
	return j
}

// pastJob is a job of rec that will not run: finished, its data removed
// and its plan released.
func (s *Scheduler) pastJob(rec *cluster.JobRecord, now time.Time) *cluster.Job {
	j := cluster.NewJob(rec.ID)
	j.Name, j.Owner, j.Detached, j.Props, j.Queued, j.Start = rec.Name, rec.Owner, rec.Detached, rec.Props, rec.Queued, rec.Start
	j.DataRemoved, j.Released, j.LastPoll = true, true, now
	return j
}
