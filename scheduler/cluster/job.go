package cluster

import (
	"cmp"
	"slices"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TaskPhase is where a task is.
type TaskPhase int

// The phases.
const (
	TaskPending TaskPhase = iota
	TaskRunning
	TaskDone
)

// Task is one partition of a stage.
type Task struct {
	Phase    TaskPhase
	TaskID   uint64 // current launch while running
	Executor *kapotv1.ExecutorMetadata
	Attempts int // failed attempts
	// LaunchFailures counts launches that failed in transport.
	LaunchFailures int
	Outputs        []*kapotv1.ShuffleWritePartition
	Written        []*kapotv1.WrittenFile // files the accepted launch wrote
	Metrics        []*kapotv1.OperatorMetrics
	Started        time.Time     // when the running launch began
	Took           time.Duration // how long the launch that succeeded ran
	// A speculative copy of the running task (CopyID 0: none); Straggler
	// is set when the task should get one.
	CopyID       uint64
	CopyExecutor *kapotv1.ExecutorMetadata
	CopyStarted  time.Time
	Straggler    bool
}

// clearCopy forgets the task's speculative copy.
func (t *Task) clearCopy() {
	t.CopyID, t.CopyExecutor, t.CopyStarted, t.Straggler = 0, nil, time.Time{}, false
}

// promoteCopy makes the speculative copy the task's running launch (the
// original is gone).
func (t *Task) promoteCopy() {
	t.TaskID, t.Executor, t.Started = t.CopyID, t.CopyExecutor, t.CopyStarted
	t.clearCopy()
}

// Stage is a stage of a job with its tasks.
type Stage struct {
	*StagePlan
	// Attempt counts how often the stage's outputs were lost and it ran
	// again in part.
	Attempt uint32
	Tasks   []*Task
}

// Complete reports whether every task of the stage is done.
func (s *Stage) Complete() bool {
	for _, t := range s.Tasks {
		if t.Phase != TaskDone {
			return false
		}
	}
	return true
}

// Counts are the stage's done and running tasks.
func (s *Stage) Counts() (done, running int) {
	for _, t := range s.Tasks {
		switch t.Phase {
		case TaskDone:
			done++
		case TaskRunning:
			running++
		}
	}
	return
}

// Metrics sums the operator metrics of the stage's completed tasks by
// node.
func (s *Stage) Metrics() []*kapotv1.OperatorMetrics {
	var out []*kapotv1.OperatorMetrics
	byNode := map[uint32]*kapotv1.OperatorMetrics{}
	for _, t := range s.Tasks {
		if t.Phase != TaskDone {
			continue
		}
		for _, m := range t.Metrics {
			sum, ok := byNode[m.GetNodeId()]
			if !ok {
				sum = &kapotv1.OperatorMetrics{NodeId: m.GetNodeId(), ParentId: m.ParentId, Name: m.GetName()}
				byNode[m.GetNodeId()] = sum
				out = append(out, sum)
			}
			sum.OutputRows += m.GetOutputRows()
			sum.OutputBatches += m.GetOutputBatches()
			sum.ElapsedComputeNs += m.GetElapsedComputeNs()
			sum.SpilledBytes += m.GetSpilledBytes()
			sum.SpillCount += m.GetSpillCount()
			for k, v := range m.GetCounters() {
				if sum.Counters == nil {
					sum.Counters = map[string]int64{}
				}
				sum.Counters[k] += v
			}
		}
	}
	slices.SortFunc(out, func(a, b *kapotv1.OperatorMetrics) int { return cmp.Compare(a.GetNodeId(), b.GetNodeId()) })
	return out
}

// Write marks a job that writes: its commit runs when its last stage
// completes, before the job succeeds.
type Write struct {
	// Rows is how many rows the commit wrote (set once committed).
	Rows int64
	// Of is the scheduler's handle of the write (how to commit it): the
	// state carries it and never looks inside.
	Of any
}

// OwnerFlightSQL owns the jobs the Flight SQL endpoint submits: no session
// of the SchedulerService can reach them.
const OwnerFlightSQL = "flight-sql"

// Job is a submitted plan split into stages.
type Job struct {
	ID, Name     string
	State        kapotv1.JobState
	Err          string
	Stages       map[uint32]*Stage
	Order        []uint32 // stage ids in creation (topological) order
	Final        uint32
	Props        map[string]string
	ResultSchema *kapotv1.Schema
	Queued       time.Time
	Start        time.Time
	// Deadline is when the job is cancelled for running too long (zero:
	// never).
	Deadline time.Time
	// Planned is when the job's statement began planning: the table
	// versions of that moment are what it reads.
	Planned       time.Time
	End           time.Time
	FetchFailures int
	DataRemoved   bool
	Placement     *kapotv1.PlacementPolicy
	// Owner is the digest of the submitting session (empty: anonymous);
	// OwnerFlightSQL for jobs of the Flight SQL endpoint.
	Owner string
	// Detached jobs run to their end without a client; attached ones are
	// cancelled once no status call is open and none came for
	// Config.AbandonedJobTimeout.
	Detached bool
	Polls    int       // status calls of its session in flight
	LastPoll time.Time // when the last one started or ended
	// Write is set for a job that writes: its commit runs when the last
	// stage completes (Committing meanwhile), before the job succeeds.
	Write      *Write
	Committing bool
	// Reopened counts how often the job ran again in part after
	// executors holding its results were lost.
	Reopened int
	// Plan is the plan as submitted: what a scheduler taking over splits
	// again. Released (with the stages' plans) once the job is finished
	// and its data removed: nothing runs it again then, and a finished
	// job is kept for Config.FinishedJobTTL (an hour), so plans of a
	// megabyte or more (long IN lists) would otherwise pile up in the
	// scheduler's memory and its state store.
	Plan     *kapotv1.PhysicalPlanNode
	Released bool
	// Request is the submission's request key ("": none; see RequestKey).
	Request string
	// Adapted are the stages turned into a broadcast join's probe at run
	// time (Config.Adapt), in order: a scheduler taking over splits the
	// plan again and adapts them the same way before it restores their
	// tasks.
	Adapted []uint32

	done chan struct{} // closed when the job ends
}

// NewJob is an empty running job with id: the caller adds its stages
// (AddStage) and fills in the rest.
func NewJob(id string) *Job {
	return &Job{ID: id, State: kapotv1.JobState_JOB_STATE_RUNNING, Stages: map[uint32]*Stage{}, done: make(chan struct{})}
}

// AddStage appends a stage of p's tasks, all pending.
func (j *Job) AddStage(p *StagePlan) {
	st := &Stage{StagePlan: p, Tasks: make([]*Task, p.NumTasks)}
	for i := range st.Tasks {
		st.Tasks[i] = &Task{}
	}
	j.Stages[p.ID] = st
	j.Order = append(j.Order, p.ID)
}

// Done is closed when the job ends (reopened jobs get a new one).
func (j *Job) Done() <-chan struct{} { return j.done }

// Ended records that j reached a final state: it closes Done.
func (j *Job) Ended() {
	select {
	case <-j.done:
	default:
		close(j.done)
	}
}

// Reopen makes a finished job run again (in part): it is RUNNING, with a
// new Done.
func (j *Job) Reopen() {
	j.State, j.End, j.done = kapotv1.JobState_JOB_STATE_RUNNING, time.Time{}, make(chan struct{})
}

// release drops what only running the job needs (its plan and its
// stages' plans) once it is finished and its data removed; its status,
// stages, tasks and metrics stay.
func (j *Job) release() {
	if !j.Finished() || !j.DataRemoved || j.Released {
		return
	}
	j.Plan, j.Released = nil, true
	for _, st := range j.Stages {
		st.Plan = nil
	}
}

// Finished reports whether the job is in a final state.
func (j *Job) Finished() bool {
	return j.State == kapotv1.JobState_JOB_STATE_SUCCESSFUL || j.State == kapotv1.JobState_JOB_STATE_FAILED || j.State == kapotv1.JobState_JOB_STATE_CANCELLED
}

// StageState names where s is: completed, running (its inputs are
// complete) or waiting.
func (j *Job) StageState(s *Stage) string {
	switch {
	case s.Complete():
		return "completed"
	case j.Runnable(s):
		return "running"
	}
	return "waiting"
}

// Runnable reports whether every input of s, and every stage it waits
// for (After), is complete.
func (j *Job) Runnable(s *Stage) bool {
	for _, in := range s.Inputs {
		if !j.Stages[in].Complete() {
			return false
		}
	}
	for _, in := range s.After {
		if st, ok := j.Stages[in]; ok && !st.Complete() {
			return false
		}
	}
	return true
}

// Started reports whether any task of s was ever launched (or its
// outputs were lost and it runs again).
func (s *Stage) Started() bool {
	if s.Attempt > 0 {
		return true
	}
	for _, t := range s.Tasks {
		if t.Phase != TaskPending || t.Attempts > 0 || t.LaunchFailures > 0 {
			return true
		}
	}
	return false
}

// RunsTasks reports whether any launch of the job may still be running.
func (j *Job) RunsTasks() bool {
	for _, st := range j.Stages {
		for _, t := range st.Tasks {
			if t.Phase == TaskRunning || t.CopyID != 0 {
				return true
			}
		}
	}
	return false
}

// pendingTask returns the first pending task of a runnable stage (stages in
// creation order), or partition -1.
func (j *Job) pendingTask() (uint32, int) {
	for _, sid := range j.Order {
		st := j.Stages[sid]
		if !j.Runnable(st) {
			continue
		}
		for p, t := range st.Tasks {
			if t.Phase == TaskPending {
				return sid, p
			}
		}
	}
	return 0, -1
}

// Locations lists where each map task of stage id wrote output partition p.
func (j *Job) Locations(id uint32, p int) []*kapotv1.PartitionLocation {
	s := j.Stages[id]
	out := make([]*kapotv1.PartitionLocation, 0, len(s.Tasks))
	for m, t := range s.Tasks {
		loc := &kapotv1.PartitionLocation{JobId: j.ID, StageId: id, MapPartition: uint32(m), OutputPartition: uint32(p), Executor: t.Executor}
		if p < len(t.Outputs) {
			loc.Stats = t.Outputs[p].GetStats()
		}
		out = append(out, loc)
	}
	return out
}
