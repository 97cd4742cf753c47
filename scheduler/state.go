package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

type taskPhase int

const (
	taskPending taskPhase = iota
	taskRunning
	taskDone
)

// taskState is one partition of a stage.
type taskState struct {
	phase    taskPhase
	taskID   uint64 // current launch while running
	executor *kapotv1.ExecutorMetadata
	attempts int // failed attempts
	// launchFailures counts launches that failed in transport.
	launchFailures int
	outputs        []*kapotv1.ShuffleWritePartition
	written        []*kapotv1.WrittenFile // files the accepted launch wrote
	metrics        []*kapotv1.OperatorMetrics
	started        time.Time     // when the running launch began
	took           time.Duration // how long the launch that succeeded ran
	// A speculative copy of the running task (copyID 0: none); straggler
	// is set when the task should get one.
	copyID       uint64
	copyExecutor *kapotv1.ExecutorMetadata
	copyStarted  time.Time
	straggler    bool
}

// clearCopy forgets the task's speculative copy.
func (t *taskState) clearCopy() {
	t.copyID, t.copyExecutor, t.copyStarted, t.straggler = 0, nil, time.Time{}, false
}

// promoteCopy makes the speculative copy the task's running launch (the
// original is gone).
func (t *taskState) promoteCopy() {
	t.taskID, t.executor, t.started = t.copyID, t.copyExecutor, t.copyStarted
	t.clearCopy()
}

// stageMetrics sums the operator metrics of a stage's completed tasks by
// node.
func (st *stageState) stageMetrics() []*kapotv1.OperatorMetrics {
	var out []*kapotv1.OperatorMetrics
	byNode := map[uint32]*kapotv1.OperatorMetrics{}
	for _, t := range st.tasks {
		if t.phase != taskDone {
			continue
		}
		for _, m := range t.metrics {
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

type stageState struct {
	*stagePlan
	attempt uint32
	tasks   []*taskState
}

func (s *stageState) complete() bool {
	for _, t := range s.tasks {
		if t.phase != taskDone {
			return false
		}
	}
	return true
}

func (s *stageState) counts() (done, running int) {
	for _, t := range s.tasks {
		switch t.phase {
		case taskDone:
			done++
		case taskRunning:
			running++
		}
	}
	return
}

type jobState struct {
	id, name      string
	state         kapotv1.JobState
	err           string
	stages        map[uint32]*stageState
	order         []uint32 // stage ids in creation (topological) order
	final         uint32
	props         map[string]string
	resultSchema  *kapotv1.Schema
	queued, start time.Time
	// deadline is when the job is cancelled for running too long (zero:
	// never; see admission.go).
	deadline time.Time
	// planned is when the job's statement began planning: the table
	// versions of that moment are what it reads (see snapshot.go).
	planned       time.Time
	end           time.Time
	fetchFailures int
	dataRemoved   bool
	placement     *kapotv1.PlacementPolicy
	done          chan struct{} // closed when the job ends
	// owner is the digest of the submitting session (empty: anonymous);
	// ownerFlightSQL for jobs of the Flight SQL endpoint.
	owner string
	// detached jobs run to their end without a client; attached ones are
	// cancelled once no status call is open and none came for
	// --abandoned-job-timeout-seconds.
	detached bool
	polls    int       // status calls of its session in flight
	lastPoll time.Time // when the last one started or ended
	// write is set for a job that writes: its commit runs when the last
	// stage completes (committing meanwhile), before the job succeeds.
	write      *writeJob
	committing bool
	// reopened counts how often the job ran again in part after
	// executors holding its results were lost.
	reopened int
	// plan is the plan as submitted: what a scheduler taking over splits
	// again (see recover.go). Released (with the stages' plans) once the
	// job is finished and its data removed: nothing runs it again then,
	// and a finished job is kept for --finished-job-ttl (an hour), so
	// plans of a megabyte or more (long IN lists) would otherwise pile up
	// in the scheduler's memory and its state store.
	plan     *kapotv1.PhysicalPlanNode
	released bool
	// request is the submission's requestKey ("": none).
	request string
}

// ownerFlightSQL owns the jobs the Flight SQL endpoint submits: no session
// of the SchedulerService can reach them.
const ownerFlightSQL = "flight-sql"

// ended records that j reached a final state: it wakes whoever waits on
// j.done. Called with the scheduler's mu held.
func (j *jobState) ended() {
	select {
	case <-j.done:
	default:
		close(j.done)
	}
}

// release drops what only running the job needs (its plan and its
// stages' plans) once it is finished and its data removed; its status,
// stages, tasks and metrics stay. Called with the scheduler's mu held.
func (j *jobState) release() {
	if !j.finished() || !j.dataRemoved || j.released {
		return
	}
	j.plan, j.released = nil, true
	for _, st := range j.stages {
		st.plan = nil
	}
}

func (j *jobState) finished() bool {
	return j.state == kapotv1.JobState_JOB_STATE_SUCCESSFUL || j.state == kapotv1.JobState_JOB_STATE_FAILED || j.state == kapotv1.JobState_JOB_STATE_CANCELLED
}

// stageState names where s is: completed, running (its inputs are
// complete) or waiting.
func (j *jobState) stageState(s *stageState) string {
	switch {
	case s.complete():
		return "completed"
	case j.runnable(s):
		return "running"
	}
	return "waiting"
}

// runnable reports whether every input of s is complete.
func (j *jobState) runnable(s *stageState) bool {
	for _, in := range s.inputs {
		if !j.stages[in].complete() {
			return false
		}
	}
	return true
}

// pendingTask returns the first pending task of a runnable stage (stages in
// creation order), or partition -1.
func (j *jobState) pendingTask() (uint32, int) {
	for _, sid := range j.order {
		st := j.stages[sid]
		if !j.runnable(st) {
			continue
		}
		for p, t := range st.tasks {
			if t.phase == taskPending {
				return sid, p
			}
		}
	}
	return 0, -1
}

// locations lists where each map task of stage id wrote output partition p.
func (j *jobState) locations(id uint32, p int) []*kapotv1.PartitionLocation {
	s := j.stages[id]
	out := make([]*kapotv1.PartitionLocation, 0, len(s.tasks))
	for m, t := range s.tasks {
		loc := &kapotv1.PartitionLocation{JobId: j.id, StageId: id, MapPartition: uint32(m), OutputPartition: uint32(p), Executor: t.executor}
		if p < len(t.outputs) {
			loc.Stats = t.outputs[p].GetStats()
		}
		out = append(out, loc)
	}
	return out
}

type taskRef struct {
	job       string
	stage     uint32
	partition int
	executor  string
}

type executorState struct {
	reg      *kapotv1.ExecutorRegistration
	metrics  *kapotv1.ExecutorMetrics // from its last heartbeat or poll
	lastSeen time.Time
	state    kapotv1.ExecutorState
	running  map[uint64]struct{}
	// fairTask is the task on the executor's fair-share slot (0: free), one
	// of running (see admission.go).
	fairTask uint64
	// linkGen numbers the executor's links; linked is set while the latest
	// is open.
	linkGen uint64
	linked  bool
	// suspect executors get no new tasks until a probe clears them; probe
	// is closed when the probe in flight ends (nil: none).
	suspect bool
	probe   chan struct{}
	// gone is closed when the executor is declared lost: it ends its link.
	gone chan struct{}
	// expected executors held outputs of jobs this scheduler recovered and
	// have not registered with it yet (see recover.go).
	expected bool
	// For pull executors: work to hand over at the next poll.
	cancel []*kapotv1.RunningTaskInfo
	remove []string
}

// configuredTags are the executor's tags other than its hostname.
func (e *executorState) configuredTags() []string {
	var out []string
	for _, t := range e.reg.GetTags() {
		if t != e.reg.GetHostname() {
			out = append(out, t)
		}
	}
	return out
}

// allows reports whether a job with placement p may run on e: a tag match
// for MATCH_TAG (the hostname counts), and for ANY and NO_TAG an executor
// without configured tags (tagged executors take only work that asks for
// their tags).
func (e *executorState) allows(p *kapotv1.PlacementPolicy) bool {
	if tag := p.GetMatchTag(); tag != "" {
		return slices.Contains(e.reg.GetTags(), tag)
	}
	return len(e.configuredTags()) == 0
}

func placementString(p *kapotv1.PlacementPolicy) string {
	switch {
	case p.GetMatchTag() != "":
		return fmt.Sprintf("MATCH_TAG(%s)", p.GetMatchTag())
	case p.GetNoTag() != nil:
		return "NO_TAG"
	}
	return "ANY"
}

func (e *executorState) meta() *kapotv1.ExecutorMetadata {
	return &kapotv1.ExecutorMetadata{Id: e.reg.GetId(), Host: e.reg.GetHost(), FlightPort: e.reg.GetFlightPort(), GrpcPort: e.reg.GetGrpcPort(), WorkDir: e.reg.GetWorkDir()}
}

func (e *executorState) freeSlots() int {
	if e.state != kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE || e.suspect {
		return 0
	}
	busy := len(e.running)
	if e.fairTask != 0 {
		busy-- // on the slot beyond the task slots
	}
	return max(0, int(e.reg.GetResources().GetTaskSlots())-busy)
}

// forget takes a task that ended, or was moved, off the executor.
func (e *executorState) forget(taskID uint64) {
	delete(e.running, taskID)
	if e.fairTask == taskID {
		e.fairTask = 0
	}
}

func (e *executorState) push() bool {
	return e.reg.GetPolicy() != kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED
}
