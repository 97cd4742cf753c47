package cluster

import (
	"testing"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// machine drives a State directly: no executors run, tasks are launched
// by Assign and finished by the statuses a test sends, and the clock is
// the test's. Every effect the state returned is kept in fx.
type machine struct {
	t   *testing.T
	s   *State
	now time.Time
	job string
	fx  []Effect
}

// testConfig is the scheduler's default configuration.
func testConfig() Config {
	return Config{TaskRetries: 3, MaxFetchFailures: 16, MaxTaskBytes: 8 << 20, Speculation: true, SpeculationMultiplier: 1.5,
		SpeculationQuantile: 0.75, SpeculationMinRuntime: 500 * time.Millisecond, ExecutorTimeout: 30 * time.Second,
		AbandonedJobTimeout: 30 * time.Second, FinishedJobDataCleanUpDelay: 300 * time.Second, FinishedJobTTL: time.Hour, MaxSessionJobs: 32}
}

// newMachine is a state of cfg (as mod changes it) with pull-staged
// executors (the state queues what it would send them, where a test can
// read it) and the example job submitted.
func newMachine(t *testing.T, mod func(*Config), executors ...string) *machine {
	t.Helper()
	return newMachineWith(t, mod, kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED, executors...)
}

// newMachineWith is newMachine with executors of policy.
func newMachineWith(t *testing.T, mod func(*Config), policy kapotv1.TaskSchedulingPolicy, executors ...string) *machine {
	t.Helper()
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	m := &machine{t: t, s: New(cfg, 1000), now: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)}
	for _, id := range executors {
		m.register(id, policy)
	}
	m.job = m.submit("job1", "")
	return m
}

// register registers executor id with two task slots.
func (m *machine) register(id string, policy kapotv1.TaskSchedulingPolicy) {
	_, fx := m.s.Register(reg(id, policy), nil, nil, m.now)
	m.keep(fx)
}

func reg(id string, policy kapotv1.TaskSchedulingPolicy) *kapotv1.ExecutorRegistration {
	return &kapotv1.ExecutorRegistration{Id: id, Host: "127.0.0.1", FlightPort: 1, GrpcPort: 1,
		Resources: &kapotv1.ExecutorResources{TaskSlots: 2}, Policy: policy}
}

// exampleJob is the example plan's job: stage 1 has two tasks (one per
// CSV file) each writing two hash partitions, stage 2 (final) two tasks,
// one per hash partition, each reading stage 1.
func exampleJob(id, owner string, now time.Time) *Job {
	writer := func(stage uint32, input *kapotv1.PhysicalPlanNode) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleWriter{ShuffleWriter: &kapotv1.ShuffleWriterNode{JobId: id, StageId: stage, Input: input}}}
	}
	read := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_UnresolvedShuffle{UnresolvedShuffle: &kapotv1.UnresolvedShuffleNode{StageId: 1, OutputPartitionCount: 2}}}
	j := NewJob(id)
	j.Name, j.Owner, j.Final, j.Queued, j.Start, j.LastPoll, j.Planned = "example", owner, 2, now, now, now, now
	j.Plan = writer(0, nil)
	j.AddStage(&StagePlan{ID: 1, Plan: writer(1, nil), NumTasks: 2, OutParts: 2})
	j.AddStage(&StagePlan{ID: 2, Plan: writer(2, read), Inputs: []uint32{1}, NumTasks: 2, OutParts: 1})
	return j
}

// submit adds the example job as id of owner.
func (m *machine) submit(id, owner string) string {
	m.t.Helper()
	if err := m.s.Admit(owner, nil); err != nil {
		m.t.Fatal(err)
	}
	got, fx := m.s.Submit(exampleJob(id, owner, m.now))
	m.keep(fx)
	return got
}

// keep records effects and returns them.
func (m *machine) keep(fx []Effect) []Effect {
	m.fx = append(m.fx, fx...)
	return fx
}

// assign launches up to n tasks on executor id and returns them.
func (m *machine) assign(id string, n int) []*kapotv1.TaskDefinition {
	defs, fx := m.s.Assign(id, n, m.now)
	m.keep(fx)
	return defs
}

func (m *machine) succeed(executor string, d *kapotv1.TaskDefinition) []Effect {
	return m.report(executor, d, &kapotv1.TaskStatus_Successful{Successful: &kapotv1.SuccessfulTask{
		Partitions: []*kapotv1.ShuffleWritePartition{{Stats: &kapotv1.PartitionStats{NumRows: 1}}, {Stats: &kapotv1.PartitionStats{NumRows: 1}}}}})
}

func (m *machine) fail(executor string, d *kapotv1.TaskDefinition) []Effect {
	return m.failWith(executor, d, &kapotv1.FailedTask{Error: "boom", Retryable: true})
}

// failWith reports a failed task with reason f.
func (m *machine) failWith(executor string, d *kapotv1.TaskDefinition, f *kapotv1.FailedTask) []Effect {
	return m.report(executor, d, &kapotv1.TaskStatus_Failed{Failed: f})
}

func (m *machine) report(executor string, d *kapotv1.TaskDefinition, st any) []Effect {
	ts := &kapotv1.TaskStatus{TaskId: d.GetTaskId(), JobId: d.GetJobId(), StageId: d.GetStageId(), Partition: d.GetPartition(), ExecutorId: executor}
	switch v := st.(type) {
	case *kapotv1.TaskStatus_Successful:
		ts.Status = v
	case *kapotv1.TaskStatus_Failed:
		ts.Status = v
	}
	return m.keep(m.s.UpdateStatuses(executor, []*kapotv1.TaskStatus{ts}, m.now))
}

// finish runs the job to its end on executor id.
func (m *machine) finish(id string) {
	m.t.Helper()
	for m.state() == kapotv1.JobState_JOB_STATE_RUNNING {
		defs := m.assign(id, 2)
		if len(defs) == 0 {
			m.t.Fatal("the job is stuck")
		}
		for _, d := range defs {
			m.succeed(id, d)
		}
	}
}

// task is the state of one task of the job.
func (m *machine) task(stage uint32, p int) *Task {
	return m.s.jobs[m.job].Stages[stage].Tasks[p]
}

// age pretends task (stage, p) has run for d.
func (m *machine) age(stage uint32, p int, d time.Duration) {
	m.task(stage, p).Started = m.now.Add(-d)
}

func (m *machine) stragglers() int {
	n, fx := m.s.MarkStragglers(m.now)
	m.keep(fx)
	return n
}

func (m *machine) state() kapotv1.JobState { return m.s.jobs[m.job].State }

// effectsOf are the effects of type E among fx.
func effectsOf[E Effect](fx []Effect) []E {
	var out []E
	for _, f := range fx {
		if e, ok := f.(E); ok {
			out = append(out, e)
		}
	}
	return out
}
