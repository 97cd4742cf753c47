package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/store"
)

// Job recovery: a scheduler that becomes leader (elected on etcd, or
// restarted on its state dir) reloads the jobs its predecessor had not
// cleaned up. Each is split into stages again from its plan as submitted;
// its completed tasks count as done where their executor still holds
// their output. Executors that held outputs are expected back: they
// re-register within moments (their link to the old leader broke), naming
// the outputs they hold and the tasks they run, which the new leader
// adopts (registerExecutor). One that does not come back within
// recoveryGrace is lost, and what it held runs again.

// recoveryGrace is how long a recovered job waits for an executor that held
// its outputs to register with the new leader.
const recoveryGrace = 10 * time.Second

// recoverJobs reloads the store's jobs. Jobs that cannot be carried on
// (writes, whose commit lived in the old leader; plans that no longer
// split) end failed with the reason, so no job stays RUNNING forever.
func (s *Scheduler) recoverJobs(ctx context.Context) error {
	kvs, err := s.state.List(ctx, store.Running)
	if err != nil {
		return err
	}
	var recovered []*jobState
	for _, kv := range kvs {
		var rec jobRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil || rec.ID != kv.Key {
			s.log.Warn().Err(err).Str("job", kv.Key).Msg("unreadable job record in the state store; dropped")
			s.forgetJob(kv.Key)
			continue
		}
		j := s.recoverJob(ctx, &rec)
		recovered = append(recovered, j)
	}
	slices.SortFunc(recovered, func(a, b *jobState) int { return a.queued.Compare(b.queued) })
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := 0
	for _, j := range recovered {
		if _, dup := s.jobs[j.id]; dup {
			continue
		}
		s.addJob(j)
		s.persistJob(j)
		if j.finished() {
			if j.state != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
				s.dropTasks(j.id)
			}
			s.recordJob(j)
			continue
		}
		for _, st := range j.stages {
			for _, t := range st.tasks {
				if t.phase == taskDone {
					s.expectExecutor(t.executor)
					kept++
				}
			}
		}
		if j.write == nil && j.stages[j.final].complete() {
			// Every task was done; the predecessor died before it
			// recorded the job's success.
			s.succeed(j)
		}
	}
	if len(recovered) > 0 {
		s.prom.recovered.WithLabelValues("kept").Add(float64(kept))
		s.log.Info().Int("jobs", len(recovered)).Int("kept_tasks", kept).Msg("jobs recovered from the state store")
	}
	s.wake()
	return nil
}

// recoverJob rebuilds one job from its record and its task records.
func (s *Scheduler) recoverJob(ctx context.Context, rec *jobRecord) *jobState {
	j := s.rebuildJob(ctx, rec)
	j.request = rec.Request
	return j
}

func (s *Scheduler) rebuildJob(ctx context.Context, rec *jobRecord) *jobState {
	now := time.Now()
	failed := func(msg string) *jobState {
		j := &jobState{id: rec.ID, name: rec.Name, owner: rec.Owner, detached: rec.Detached, props: rec.Props, queued: rec.Queued, start: rec.Start,
			state: kapotv1.JobState_JOB_STATE_FAILED, err: msg, end: now, done: make(chan struct{}), stages: map[uint32]*stageState{}, dataRemoved: true, released: true, lastPoll: now}
		j.ended()
		s.log.Warn().Str("job", rec.ID).Str("error", msg).Msg("job not recovered")
		return j
	}
	finished := rec.State == kapotv1.JobState_JOB_STATE_SUCCESSFUL || rec.State == kapotv1.JobState_JOB_STATE_FAILED || rec.State == kapotv1.JobState_JOB_STATE_CANCELLED
	if finished && rec.DataRemoved && len(rec.Plan) == 0 {
		// Released (see jobState.release): its status is all that is left.
		j := &jobState{id: rec.ID, name: rec.Name, owner: rec.Owner, detached: rec.Detached, props: rec.Props, queued: rec.Queued, start: rec.Start,
			state: rec.State, err: rec.Err, end: rec.End, done: make(chan struct{}), dataRemoved: true, released: true, lastPoll: now,
			stages: map[uint32]*stageState{0: {stagePlan: &stagePlan{}}}}
		if rec.Write {
			j.write = &writeJob{rows: rec.RowsWritten}
		}
		j.ended()
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
		j.state, j.end = rec.State, rec.End
		return j
	}
	j, err := s.newJob(ctx, rec.ID, req, rec.Owner, nil)
	if err != nil {
		return failed("the scheduler changed and the job could not be planned again: " + err.Error())
	}
	j.queued, j.start, j.lastPoll = rec.Queued, rec.Start, now
	// Planned before it was queued: it holds what was current then.
	j.planned = rec.Queued
	if rec.Write {
		// Committed already: never run again (see reopenLost).
		j.write = &writeJob{rows: rec.RowsWritten}
	}
	if finished {
		j.state, j.err, j.end, j.dataRemoved = rec.State, rec.Err, rec.End, rec.DataRemoved
		j.ended()
	}
	if j.dataRemoved {
		return j
	}
	kvs, err := s.state.List(ctx, store.TaskBucket(rec.ID))
	if err != nil {
		s.log.Warn().Err(err).Str("job", rec.ID).Msg("completed tasks of a recovered job not read; they run again")
		kvs = nil
	}
	for _, kv := range kvs {
		sidText, pText, _ := strings.Cut(kv.Key, "/")
		sid, err1 := strconv.ParseUint(sidText, 10, 32)
		p, err2 := strconv.Atoi(pText)
		st, ok := j.stages[uint32(sid)]
		if err1 != nil || err2 != nil || !ok || p < 0 || p >= len(st.tasks) {
			continue
		}
		var tr taskRecord
		ex, ok2 := &kapotv1.ExecutorMetadata{}, &kapotv1.SuccessfulTask{}
		if json.Unmarshal(kv.Value, &tr) != nil || proto.Unmarshal(tr.Executor, ex) != nil || proto.Unmarshal(tr.Success, ok2) != nil || ex.GetId() == "" {
			continue
		}
		t := st.tasks[p]
		t.phase, t.executor, t.outputs, t.metrics, t.written, t.took = taskDone, ex, ok2.GetPartitions(), ok2.GetOperatorMetrics(), ok2.GetWrittenFiles(), time.Duration(tr.TookMs)*time.Millisecond
	}
	if finished && !j.stages[j.final].complete() {
		// Its result was not all recorded: the result partitions missing
		// run again when its client asks (as for a lost executor).
		j.state, j.end, j.done = kapotv1.JobState_JOB_STATE_RUNNING, time.Time{}, make(chan struct{})
	}
	return j
}

// expectExecutor records an executor that held outputs of a recovered job
// and has not registered with this scheduler yet: it takes no tasks, and
// is lost (its outputs run again) unless it registers within
// recoveryGrace. Called with mu held.
func (s *Scheduler) expectExecutor(m *kapotv1.ExecutorMetadata) {
	if _, ok := s.executors[m.GetId()]; ok {
		return
	}
	s.executors[m.GetId()] = &executorState{
		reg:      &kapotv1.ExecutorRegistration{Id: m.GetId(), Host: m.GetHost(), FlightPort: m.GetFlightPort(), GrpcPort: m.GetGrpcPort(), WorkDir: m.GetWorkDir()},
		lastSeen: time.Now().Add(min(recoveryGrace, s.cfg.ExecutorTimeout) - s.cfg.ExecutorTimeout),
		state:    kapotv1.ExecutorState_EXECUTOR_STATE_UNSPECIFIED, running: map[uint64]struct{}{}, gone: make(chan struct{}), expected: true,
	}
}

// reconcile applies an executor's registration to the jobs: completed tasks
// it no longer holds the output of run again, and the tasks it runs (or
// ran, their status on its way) that a job still wants are adopted. It
// returns the tasks the executor should cancel. Called with mu held.
func (s *Scheduler) reconcile(e *executorState, tasks []*kapotv1.RunningTaskInfo, held []*kapotv1.HeldOutputs) []uint64 {
	id := e.reg.GetId()
	has := map[string]bool{}
	for _, h := range held {
		for _, m := range h.GetMapPartitions() {
			has[fmt.Sprintf("%s/%d/%d", h.GetJobId(), h.GetStageId(), m)] = true
		}
	}
	for _, j := range s.jobs {
		if j.finished() {
			continue
		}
		for _, sid := range j.order {
			st := j.stages[sid]
			gone := false
			for p, t := range st.tasks {
				if t.phase == taskDone && t.executor.GetId() == id && !has[fmt.Sprintf("%s/%d/%d", j.id, sid, p)] {
					t.phase, t.outputs = taskPending, nil
					gone = true
					s.prom.recovered.WithLabelValues("rerun").Inc()
				}
			}
			if gone {
				st.attempt++
				s.log.Info().Str("job", j.id).Uint32("stage", sid).Str("executor", id).Msg("map outputs missing on their executor; they run again")
			}
		}
	}
	var cancel []uint64
	adopted := 0
	now := time.Now()
	for _, info := range tasks {
		tid := info.GetTaskId()
		if ref, ok := s.tasks[tid]; ok {
			if ref.executor != id {
				cancel = append(cancel, tid)
			}
			continue
		}
		j, ok := s.jobs[info.GetJobId()]
		var st *stageState
		if ok && !j.finished() {
			st = j.stages[info.GetStageId()]
		}
		p := int(info.GetPartition())
		if st == nil || p >= len(st.tasks) || st.tasks[p].phase != taskPending || !j.runnable(st) {
			cancel = append(cancel, tid)
			continue
		}
		t := st.tasks[p]
		t.phase, t.taskID, t.executor, t.started = taskRunning, tid, e.meta(), now
		s.tasks[tid] = taskRef{job: j.id, stage: info.GetStageId(), partition: p, executor: id}
		e.running[tid] = struct{}{}
		s.lastTaskID = max(s.lastTaskID, tid)
		adopted++
	}
	if adopted > 0 {
		s.prom.recovered.WithLabelValues("adopted").Add(float64(adopted))
		s.log.Info().Str("executor", id).Int("adopted_tasks", adopted).Msg("running tasks of recovered jobs adopted")
	}
	return cancel
}
