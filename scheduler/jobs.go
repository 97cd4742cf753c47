package scheduler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/scheduler/store"
	"github.com/kapot-go/kapot/wire"
)

// Jobs: submission (a plan split into stages, then handed to the cluster
// state), waiting, status, cancel and ownership. What happens to a job
// once submitted is the cluster state's (package cluster).

// authorize checks that the caller may see and cancel a job: its own
// session, or a caller with the scheduler secret. Others are told the job
// does not exist.
func (s *Scheduler) authorize(ctx context.Context, jobID string) error {
	if security.NodeFrom(ctx) == security.Scheduler {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.cl.Job(jobID)
	if !ok || j.Owner != security.SessionFrom(ctx) {
		return cluster.ErrUnknownJob
	}
	return nil
}

// polling records that a status call of the job's client starts (+1) or
// ends (-1).
func (s *Scheduler) polling(jobID string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cl.Polling(jobID, d, time.Now())
}

// requested returns the job a request key created, if any.
func (s *Scheduler) requested(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cl.Requested(key)
}

// newJob splits req's plan into the stages of job id (all tasks pending).
// Splitting builds the plan's operators (engine code, over a client's
// plan): a panic there refuses this job with an internal error, on a gRPC
// handler or while a new leader recovers jobs, and the scheduler lives on.
func (s *Scheduler) newJob(ctx context.Context, id string, req *kapotv1.SubmitJobRequest, owner string, w *writeJob) (_ *cluster.Job, err error) {
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
	if s.cfg.Adaptive {
		holdAdaptive(plans)
	}
	for sid := uint32(1); sid <= final; sid++ {
		p := plans[sid]
		if n := max(p.NumTasks, p.OutParts); n > s.cfg.MaxStagePartitions {
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
	j := cluster.NewJob(id)
	j.Name, j.Final, j.Props, j.ResultSchema, j.Queued, j.Start, j.Placement = name, final, req.GetSessionProperties(), schema, now, now, req.GetPlacement()
	j.Owner, j.Detached, j.LastPoll, j.Plan, j.Planned = owner, req.GetDetached() || owner == cluster.OwnerFlightSQL, now, req.GetPlan(), plannedAt(ctx)
	if w != nil {
		j.Write = &cluster.Write{Of: w}
	}
	if timeout > 0 {
		j.Deadline = now.Add(timeout)
	}
	for sid := uint32(1); sid <= final; sid++ {
		j.AddStage(plans[sid])
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
	key := cluster.RequestKey(owner, req.GetRequestId())
	if id, ok := s.requested(key); ok {
		return id, nil // nothing of this write was staged yet
	}
	id := newJobID()
	j, err := s.newJob(ctx, id, req, owner, w)
	if err != nil {
		return "", err
	}
	j.Request = key
	s.mu.Lock()
	err = s.cl.Admit(owner, j.Placement)
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	if w != nil {
		// Recorded before anything is written: a scheduler that stops
		// mid-write removes the staged files when it starts again.
		if err := s.state.Put(ctx, store.Writes, w.w.ID, []byte(w.w.Cleanup)); err != nil {
			return "", fmt.Errorf("record the write in the state store: %w", err)
		}
		s.cleanStaging(j.Done(), id, w)
	}
	s.mu.Lock()
	got, fx := s.cl.Submit(j)
	// Answered once durable: a client told of a job finds it on the next
	// leader, or after a restart.
	durable := s.apply(fx)
	s.mu.Unlock()
	if got != id {
		return got, nil // the same request, submitted twice at once: one job
	}
	if durable != nil && s.persisting.Load() {
		select {
		case err := <-durable:
			if err != nil {
				s.log.Warn().Err(err).Str("job", id).Msg("job not recorded in the state store")
			}
		case <-ctx.Done():
		}
	}
	return id, nil
}

func (s *Scheduler) cancel(jobID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, fx, err := s.cl.Cancel(jobID, time.Now())
	s.apply(fx)
	return ok, err
}

// maxJobName bounds the job name a client gives.
const maxJobName = 1024

// jobDone returns a channel closed when the job ends.
func (s *Scheduler) jobDone(jobID string) (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.cl.Job(jobID)
	if !ok {
		return nil, cluster.ErrUnknownJob
	}
	return j.Done(), nil
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
	j, ok := s.cl.Job(jobID)
	if !ok {
		return nil, cluster.ErrUnknownJob
	}
	_, fx := s.cl.ReopenLost(j, time.Now())
	s.apply(fx)
	r := &kapotv1.GetJobStatusResponse{JobId: j.ID, State: j.State, Error: j.Err, ResultSchema: j.ResultSchema,
		QueuedAtMs: j.Queued.UnixMilli(), StartedAtMs: j.Start.UnixMilli()}
	if !j.End.IsZero() {
		r.EndedAtMs = j.End.UnixMilli()
	}
	for _, sid := range j.Order {
		st := j.Stages[sid]
		done, running := st.Counts()
		r.Stages = append(r.Stages, &kapotv1.StageStatus{StageId: sid, Attempt: st.Attempt, Partitions: uint32(len(st.Tasks)),
			Completed: uint32(done), Running: uint32(running), State: j.StageState(st), OperatorMetrics: st.Metrics()})
	}
	if j.State == kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		if j.Write != nil {
			r.RowsWritten, r.Wrote = j.Write.Rows, true
		}
		r.ResultLocations = j.Locations(j.Final, 0)
		// Result tickets last as long as the results are kept, and a
		// little longer for clock skew.
		exp := time.Now().Add(s.cfg.FinishedJobDataCleanUpDelay + 5*time.Minute)
		for _, loc := range r.ResultLocations {
			s.signer.Sign(loc, exp)
		}
	}
	return r, nil
}
