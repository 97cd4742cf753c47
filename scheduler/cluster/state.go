package cluster

import (
	"fmt"
	"iter"
	"time"

	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Config is what the state's decisions depend on (the scheduler's flags).
type Config struct {
	// FIFO gives the oldest job every slot it can use; otherwise (fair)
	// each slot goes to the session running the fewest tasks, then to its
	// job running the fewest.
	FIFO bool
	// TaskRetries is how many times a failed task is retried.
	TaskRetries int
	// MaxFetchFailures bounds map-output re-runs per job.
	MaxFetchFailures int
	// MaxTaskBytes is the largest encoded task plan.
	MaxTaskBytes int
	// Speculation runs a copy of straggling tasks; SpeculationMultiplier,
	// SpeculationQuantile and SpeculationMinRuntime say what a straggler
	// is (see speculation.go).
	Speculation           bool
	SpeculationMultiplier float64
	SpeculationQuantile   float64
	SpeculationMinRuntime time.Duration
	// ExecutorTimeout declares an executor lost after this long without a
	// heartbeat or poll.
	ExecutorTimeout time.Duration
	// AbandonedJobTimeout cancels an attached job whose client has not
	// asked for its status this long (0: never).
	AbandonedJobTimeout time.Duration
	// FinishedJobDataCleanUpDelay is how long a finished job's data stays;
	// FinishedJobTTL how long the job is kept.
	FinishedJobDataCleanUpDelay time.Duration
	FinishedJobTTL              time.Duration
	// MaxSessionJobs caps the jobs one session has running or queued (0:
	// no cap).
	MaxSessionJobs int
	// Adapt, when set, is called when stage done of a running job
	// completes: it may rewrite the plans of stages that have not started
	// (adaptive execution) and reports whether it did (the job's record
	// is written again with its Adapted stages). It does no I/O.
	Adapt func(j *Job, done uint32) bool
}

// State is the cluster as the scheduler knows it. It is not safe for
// concurrent use: the scheduler calls it under one mutex.
type State struct {
	cfg        Config
	executors  map[string]*Executor
	jobs       map[string]*Job
	jobOrder   []string
	tasks      map[uint64]taskRef
	lastTaskID uint64 // the last task id given out
	// requests maps a session's submission request key to the job it
	// created: a retried submission gets the same job.
	requests map[string]string
	// Stopping is set while the scheduler stops: executors are no longer
	// made suspect (nothing would probe them).
	Stopping bool

	fx []Effect // of the transition in progress
}

// taskRef is where a running launch belongs.
type taskRef struct {
	job       string
	stage     uint32
	partition int
	executor  string
}

// New is an empty state; task ids given out start after firstTaskID.
func New(cfg Config, firstTaskID uint64) *State {
	return &State{cfg: cfg, executors: map[string]*Executor{}, jobs: map[string]*Job{}, tasks: map[uint64]taskRef{}, requests: map[string]string{},
		lastTaskID: firstTaskID}
}

// The errors of the state's refusals.
var (
	// ErrUnknownJob: no job of that id (or not the caller's).
	ErrUnknownJob = errs.New("unknown job", errs.ErrInvalidArgument)
	// ErrSessionBusy: a submission over the session's job cap.
	ErrSessionBusy = errs.New("session busy", errs.ErrResourcesExhausted)
	// ErrNoPlacement: a job no live executor may run.
	ErrNoPlacement = errs.New("no executor for the placement policy", errs.ErrInvalidArgument)
)

// Job is the job of id.
func (s *State) Job(id string) (*Job, bool) {
	j, ok := s.jobs[id]
	return j, ok
}

// Jobs are the jobs held, oldest first.
func (s *State) Jobs() iter.Seq[*Job] {
	return func(yield func(*Job) bool) {
		for _, id := range s.jobOrder {
			if j, ok := s.jobs[id]; ok && !yield(j) {
				return
			}
		}
	}
}

// NumJobs is how many jobs are held.
func (s *State) NumJobs() int { return len(s.jobOrder) }

// Executor is the executor of id.
func (s *State) Executor(id string) (*Executor, bool) {
	e, ok := s.executors[id]
	return e, ok
}

// Executors are the executors known, in no order.
func (s *State) Executors() iter.Seq2[string, *Executor] {
	return func(yield func(string, *Executor) bool) {
		for id, e := range s.executors {
			if !yield(id, e) {
				return
			}
		}
	}
}

// NumExecutors is how many executors are known.
func (s *State) NumExecutors() int { return len(s.executors) }

// LastTaskID is the last task id given out (or adopted).
func (s *State) LastTaskID() uint64 { return s.lastTaskID }

// RunningOn names the executor running launch taskID ("": none).
func (s *State) RunningOn(taskID uint64) string { return s.tasks[taskID].executor }

// ActiveSlots counts the task slots of active executors that are not
// suspect.
func (s *State) ActiveSlots() int {
	slots := 0
	for _, e := range s.executors {
		if e.State == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE && !e.Suspect {
			slots += int(e.Reg.GetResources().GetTaskSlots())
		}
	}
	return slots
}

// RequestKey names a session's submission request ("" without an id).
func RequestKey(owner, requestID string) string {
	if requestID == "" {
		return ""
	}
	return owner + "\x00" + requestID
}

// Requested returns the job a request key created, if any.
func (s *State) Requested(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	id, ok := s.requests[key]
	return id, ok
}

// Polling records that a status call of the job's client starts (+1) or
// ends (-1).
func (s *State) Polling(jobID string, d int, now time.Time) {
	if j, ok := s.jobs[jobID]; ok {
		j.Polls += d
		j.LastPoll = now
	}
}

// Admit checks a job of owner with placement p before it is added: the
// session's job cap, and that some live executor may run it (with none up
// yet the job waits for one to register).
func (s *State) Admit(owner string, p *kapotv1.PlacementPolicy) error {
	if s.cfg.MaxSessionJobs > 0 && owner != "" && owner != OwnerFlightSQL {
		n := 0
		for _, j := range s.jobs {
			if j.Owner == owner && !j.Finished() {
				n++
			}
		}
		if n >= s.cfg.MaxSessionJobs {
			return fmt.Errorf("%w: this session has %d jobs running or queued, the most one session may (--max-session-jobs); wait for one to end", ErrSessionBusy, n)
		}
	}
	live, fits := 0, 0
	for _, e := range s.executors {
		if e.State != kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
			continue
		}
		live++
		if e.Allows(p) {
			fits++
		}
	}
	if live > 0 && fits == 0 {
		return fmt.Errorf("%w: none of the %d live executors satisfies placement %s", ErrNoPlacement, live, PlacementString(p))
	}
	return nil
}

// Submit adds j. When j.Request names a request that made a job already
// (the same request, submitted twice at once), j is not added: that job's
// id is returned and j ended. The job's record is written (Sync: the
// client is answered once it is durable).
func (s *State) Submit(j *Job) (string, []Effect) {
	if other, ok := s.requests[j.Request]; ok && j.Request != "" {
		j.Ended()
		return other, s.take()
	}
	s.addJob(j)
	if b, ok := jobRecord(j); ok {
		s.emit(PersistJob{Job: j.ID, Record: b, Sync: true})
	}
	s.logInfo("job submitted", "job", j.ID, "name", j.Name, "stages", len(j.Order))
	s.emit(Wake{})
	return j.ID, s.take()
}

// addJob makes j known.
func (s *State) addJob(j *Job) {
	s.jobs[j.ID] = j
	s.jobOrder = append(s.jobOrder, j.ID)
	if j.Request != "" {
		s.requests[j.Request] = j.ID
	}
}

// Cancel cancels a job for its user; false when it ended already or is
// committing.
func (s *State) Cancel(jobID string, now time.Time) (bool, []Effect, error) {
	j, ok := s.jobs[jobID]
	if !ok {
		return false, nil, ErrUnknownJob
	}
	if j.Finished() || j.Committing {
		return false, nil, nil
	}
	s.endJob(j, kapotv1.JobState_JOB_STATE_CANCELLED, "cancelled by user", now)
	s.logInfo("job cancelled", "job", jobID)
	return true, s.take(), nil
}

// Fail ends job jobID with an error (a no-op for a finished job).
func (s *State) Fail(jobID, msg string, now time.Time) []Effect {
	if j, ok := s.jobs[jobID]; ok && !j.Finished() {
		s.failJob(j, msg, now)
	}
	return s.take()
}

// failJob ends a job with an error and cancels its running tasks.
func (s *State) failJob(j *Job, msg string, now time.Time) {
	s.endJob(j, kapotv1.JobState_JOB_STATE_FAILED, msg, now)
	s.logError("job failed", "job", j.ID, "error", msg)
}

func (s *State) endJob(j *Job, state kapotv1.JobState, msg string, now time.Time) {
	if j.Committing {
		// A write past its last stage commits; its outcome is the
		// commit's.
		s.logInfo("job is committing its write; it ends with the commit", "job", j.ID, "ignored", msg)
		return
	}
	j.State, j.Err, j.End = state, msg, now
	j.Ended()
	s.emit(Summarize{j})
	if state != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		j.DataRemoved = true
		s.emit(DropTasks{j.ID})
		j.release()
	}
	s.persistJob(j)
	byExec := map[string][]*kapotv1.RunningTaskInfo{}
	for tid, ref := range s.tasks {
		if ref.job != j.ID {
			continue
		}
		byExec[ref.executor] = append(byExec[ref.executor], &kapotv1.RunningTaskInfo{TaskId: tid, JobId: j.ID, StageId: ref.stage, Partition: uint32(ref.partition)})
	}
	for eid, infos := range byExec {
		s.cancelOn(eid, infos)
	}
	if state != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		s.removeJobData(j.ID)
	}
}

// succeed ends job j successfully.
func (s *State) succeed(j *Job, now time.Time) {
	j.State, j.End = kapotv1.JobState_JOB_STATE_SUCCESSFUL, now
	j.Ended()
	s.emit(Summarize{j})
	s.persistJob(j)
	s.logInfo("job succeeded", "job", j.ID, "elapsed", j.End.Sub(j.Start))
}

// cancelOn asks executor eid to cancel tasks (at once for push
// executors, at its next poll for pull ones).
func (s *State) cancelOn(eid string, infos []*kapotv1.RunningTaskInfo) {
	e, ok := s.executors[eid]
	if !ok {
		return
	}
	if !e.Push() {
		e.CancelQueue = append(e.CancelQueue, infos...)
		return
	}
	s.emit(Cancel{Executor: eid, Tasks: infos})
}

// removeJobData tells every executor to delete a job's data.
func (s *State) removeJobData(jobID string) {
	for id, e := range s.executors {
		if !e.Push() {
			e.RemoveQueue = append(e.RemoveQueue, jobID)
			continue
		}
		s.emit(RemoveData{Executor: id, Job: jobID})
	}
}
