package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/store"
	"github.com/kapot-go/kapot/wire"
)

// Jobs: submission (a plan split into stages), waiting, status, cancel,
// ownership and the clean-up of finished jobs' data.

// cancelAbandoned cancels attached jobs whose client stopped asking for
// their status. Called with mu held.
func (s *Scheduler) cancelAbandoned(now time.Time) {
	if s.cfg.AbandonedJobTimeout <= 0 {
		return
	}
	for _, id := range s.jobOrder {
		j := s.jobs[id]
		if j.finished() || j.detached || j.polls > 0 || now.Sub(j.lastPoll) < s.cfg.AbandonedJobTimeout {
			continue
		}
		s.endJob(j, kapotv1.JobState_JOB_STATE_CANCELLED, fmt.Sprintf("cancelled: its client has not asked for its status for %s (submit detached to run without one)",
			now.Sub(j.lastPoll).Round(time.Second)))
		s.log.Info().Str("job", id).Msg("job abandoned by its client; cancelled")
	}
}

// authorize checks that the caller may see and cancel a job: its own
// session, or a caller with the scheduler secret. Others are told the job
// does not exist.
func (s *Scheduler) authorize(ctx context.Context, jobID string) error {
	if security.NodeFrom(ctx) == security.Scheduler {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok || j.owner != security.SessionFrom(ctx) {
		return errUnknownJob
	}
	return nil
}

// polling records that a status call of the job's client starts (+1) or
// ends (-1).
func (s *Scheduler) polling(jobID string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[jobID]; ok {
		j.polls += d
		j.lastPoll = time.Now()
	}
}

// cleanFinishedJobs asks executors to drop finished jobs' data after the
// clean-up delay and forgets jobs past their TTL. Called with mu held.
func (s *Scheduler) cleanFinishedJobs(now time.Time) {
	keep := s.jobOrder[:0]
	for _, id := range s.jobOrder {
		j := s.jobs[id]
		if j.finished() && !j.dataRemoved && now.Sub(j.end) >= s.cfg.FinishedJobDataCleanUpDelay {
			j.dataRemoved = true
			s.removeJobData(j.id)
			s.dropTasks(j.id)
			j.release()
			s.persistJob(j)
		}
		if j.finished() && now.Sub(j.end) > s.cfg.FinishedJobTTL {
			delete(s.jobs, id)
			if j.request != "" {
				delete(s.requests, j.request)
			}
			s.forgetJob(id)
			continue
		}
		keep = append(keep, id)
	}
	s.jobOrder = keep
}

// removeJobData tells every executor to delete a job's data. Called with mu held.
func (s *Scheduler) removeJobData(jobID string) {
	for id, e := range s.executors {
		if !e.push() {
			e.remove = append(e.remove, jobID)
			continue
		}
		s.spawn(func(ctx context.Context) {
			c, err := s.client(id)
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := c.RemoveJobData(ctx, &kapotv1.RemoveJobDataRequest{JobId: jobID}); err != nil {
				s.log.Debug().Err(err).Str("executor", id).Str("job", jobID).Msg("remove job data")
			}
		})
	}
}

// requestKey names a session's submission request ("" without an id).
func requestKey(owner, requestID string) string {
	if requestID == "" {
		return ""
	}
	return owner + "\x00" + requestID
}

// requested returns the job a request key created, if any.
func (s *Scheduler) requested(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.requests[key]
	return id, ok
}

// addJob makes j known. Called with mu held.
func (s *Scheduler) addJob(j *jobState) {
	s.jobs[j.id] = j
	s.jobOrder = append(s.jobOrder, j.id)
	if j.request != "" {
		s.requests[j.request] = j.id
	}
}

// newJob splits req's plan into the stages of job id (all tasks pending).
// Splitting builds the plan's operators (engine code, over a client's
// plan): a panic there refuses this job with an internal error, on a gRPC
// handler or while a new leader recovers jobs, and the scheduler lives on.
func (s *Scheduler) newJob(ctx context.Context, id string, req *kapotv1.SubmitJobRequest, owner string, w *writeJob) (_ *jobState, err error) {
	defer func() {
		if p := recover(); p != nil {
			e := panics.From(p)
			panics.Log(s.log.With().Str("job", id).Logger(), e, "planning a job panicked")
			err = e
		}
	}()
	plans, final, schema, err := splitStages(id, req.GetPlan(), engine.BuildOptions{Ctx: ctx, Store: s.store, Properties: req.GetSessionProperties()})
	if err != nil {
		return nil, err
	}
	for sid := uint32(1); sid <= final; sid++ {
		p := plans[sid]
		if n := max(p.tasks, p.outParts); n > s.cfg.MaxStagePartitions {
			return nil, fmt.Errorf("%w: stage %d has %d partitions; this scheduler runs at most %d per stage (--max-stage-partitions)",
				errTooLarge, sid, n, s.cfg.MaxStagePartitions)
		}
	}
	now := time.Now()
	timeout, err := s.queryTimeout(req.GetSessionProperties())
	if err != nil {
		return nil, err
	}
	name := req.GetJobName()
	if len(name) > maxJobName {
		// Shown in logs, the web UI and listings: a client's name is cut.
		name = strings.ToValidUTF8(name[:maxJobName], "") + "…"
	}
	j := &jobState{id: id, name: name, state: kapotv1.JobState_JOB_STATE_RUNNING, stages: map[uint32]*stageState{}, done: make(chan struct{}),
		final: final, props: req.GetSessionProperties(), resultSchema: schema, queued: now, start: now, placement: req.GetPlacement(),
		owner: owner, detached: req.GetDetached() || owner == ownerFlightSQL, lastPoll: now, write: w, plan: req.GetPlan(), planned: plannedAt(ctx)}
	if timeout > 0 {
		j.deadline = now.Add(timeout)
	}
	for sid := uint32(1); sid <= final; sid++ {
		p := plans[sid]
		st := &stageState{stagePlan: p, tasks: make([]*taskState, p.tasks)}
		for i := range st.tasks {
			st.tasks[i] = &taskState{}
		}
		j.stages[sid] = st
		j.order = append(j.order, sid)
	}
	return j, nil
}

func newJobID() string { return strings.ReplaceAll(uuid.NewString(), "-", "")[:16] }

// submit plans req as a job owned by owner (a session digest).
func (s *Scheduler) submit(ctx context.Context, req *kapotv1.SubmitJobRequest, owner string) (string, error) {
	return s.submitJob(ctx, req, owner, nil)
}

// submitJob is submit of a job that may write (w: its commit).
func (s *Scheduler) submitJob(ctx context.Context, req *kapotv1.SubmitJobRequest, owner string, w *writeJob) (string, error) {
	if s.store.Restricted() {
		// Every location the plan names, not only those opened to type
		// it here, is checked against the roots before the job exists.
		var forbidden error
		wire.WalkFiles(req.GetPlan(), func(p *string) {
			if forbidden == nil {
				forbidden = s.store.Allowed(*p)
			}
		})
		if forbidden != nil {
			return "", forbidden
		}
	}
	key := requestKey(owner, req.GetRequestId())
	if id, ok := s.requested(key); ok {
		return id, nil // nothing of this write was staged yet
	}
	id := newJobID()
	j, err := s.newJob(ctx, id, req, owner, w)
	if err != nil {
		return "", err
	}
	j.request = key
	name := j.name
	s.mu.Lock()
	if err := s.admit(owner); err != nil {
		s.mu.Unlock()
		return "", err
	}
	// Fail fast when executors are up but none may run the job; with none
	// up yet the job waits for one to register.
	live, fits := 0, 0
	for _, e := range s.executors {
		if e.state != kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
			continue
		}
		live++
		if e.allows(j.placement) {
			fits++
		}
	}
	if live > 0 && fits == 0 {
		s.mu.Unlock()
		return "", fmt.Errorf("%w: none of the %d live executors satisfies placement %s", errNoPlacement, live, placementString(j.placement))
	}
	s.mu.Unlock()
	if w != nil {
		// Recorded before anything is written: a scheduler that stops
		// mid-write removes the staged files when it starts again.
		if err := s.state.Put(ctx, store.Writes, w.w.ID, []byte(w.w.Cleanup)); err != nil {
			return "", fmt.Errorf("record the write in the state store: %w", err)
		}
		s.cleanStaging(j.done, id, w)
	}
	s.mu.Lock()
	if other, ok := s.requests[key]; ok && key != "" {
		// The same request, submitted twice at once: one job.
		j.ended() // its staging record goes (cleanStaging)
		s.mu.Unlock()
		return other, nil
	}
	s.addJob(j)
	// Answered once durable: a client told of a job finds it on the next
	// leader, or after a restart.
	durable := make(chan error, 1)
	s.persistJobDone(j, durable)
	s.mu.Unlock()
	if s.persisting.Load() {
		select {
		case err := <-durable:
			if err != nil {
				s.log.Warn().Err(err).Str("job", id).Msg("job not recorded in the state store")
			}
		case <-ctx.Done():
		}
	}
	s.log.Info().Str("job", id).Str("name", name).Int("stages", len(j.order)).Msg("job submitted")
	s.wake()
	return id, nil
}

// failJob ends a job with an error and cancels its running tasks. Called with mu held.
func (s *Scheduler) failJob(j *jobState, msg string) {
	s.endJob(j, kapotv1.JobState_JOB_STATE_FAILED, msg)
	s.log.Error().Str("job", j.id).Str("error", msg).Msg("job failed")
}

func (s *Scheduler) endJob(j *jobState, state kapotv1.JobState, msg string) {
	if j.committing {
		// A write past its last stage commits; its outcome is the
		// commit's.
		s.log.Info().Str("job", j.id).Str("ignored", msg).Msg("job is committing its write; it ends with the commit")
		return
	}
	j.state, j.err, j.end = state, msg, time.Now()
	j.ended()
	s.recordJob(j)
	if state != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		j.dataRemoved = true
		s.dropTasks(j.id)
		j.release()
	}
	s.persistJob(j)
	byExec := map[string][]*kapotv1.RunningTaskInfo{}
	for tid, ref := range s.tasks {
		if ref.job != j.id {
			continue
		}
		byExec[ref.executor] = append(byExec[ref.executor], &kapotv1.RunningTaskInfo{TaskId: tid, JobId: j.id, StageId: ref.stage, Partition: uint32(ref.partition)})
	}
	for eid, infos := range byExec {
		s.cancelOn(eid, infos)
	}
	if state != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		s.removeJobData(j.id)
	}
}

func (s *Scheduler) cancel(jobID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok {
		return false, errUnknownJob
	}
	if j.finished() || j.committing {
		return false, nil
	}
	s.endJob(j, kapotv1.JobState_JOB_STATE_CANCELLED, "cancelled by user")
	s.log.Info().Str("job", jobID).Msg("job cancelled")
	return true, nil
}

var errUnknownJob = errors.New("unknown job")

// maxJobName bounds the job name a client gives.
const maxJobName = 1024

// errTooLarge marks a job over one of the scheduler's size limits.
var errTooLarge = errors.New("job too large")

// errNoPlacement marks a job no live executor may run.
var errNoPlacement = errors.New("no executor for the placement policy")

// jobDone returns a channel closed when the job ends.
func (s *Scheduler) jobDone(jobID string) (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok {
		return nil, errUnknownJob
	}
	return j.done, nil
}

// awaitJob waits until the job ends, wait passes or ctx is done, whichever
// comes first.
func (s *Scheduler) awaitJob(ctx context.Context, jobID string, wait time.Duration) error {
	done, err := s.jobDone(jobID)
	if err != nil {
		return err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-s.linksDone: // stopping: answer now, so the stop does not wait on long polls
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (s *Scheduler) status(jobID string) (*kapotv1.GetJobStatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok {
		return nil, errUnknownJob
	}
	s.reopenLost(j)
	r := &kapotv1.GetJobStatusResponse{JobId: j.id, State: j.state, Error: j.err, ResultSchema: j.resultSchema,
		QueuedAtMs: j.queued.UnixMilli(), StartedAtMs: j.start.UnixMilli()}
	if !j.end.IsZero() {
		r.EndedAtMs = j.end.UnixMilli()
	}
	for _, sid := range j.order {
		st := j.stages[sid]
		done, running := st.counts()
		r.Stages = append(r.Stages, &kapotv1.StageStatus{StageId: sid, Attempt: st.attempt, Partitions: uint32(len(st.tasks)),
			Completed: uint32(done), Running: uint32(running), State: j.stageState(st), OperatorMetrics: st.stageMetrics()})
	}
	if j.state == kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		if j.write != nil {
			r.RowsWritten = j.write.rows
		}
		r.ResultLocations = j.locations(j.final, 0)
		// Result tickets last as long as the results are kept, and a
		// little longer for clock skew.
		exp := time.Now().Add(s.cfg.FinishedJobDataCleanUpDelay + 5*time.Minute)
		for _, loc := range r.ResultLocations {
			s.signer.Sign(loc, exp)
		}
	}
	return r, nil
}
