package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kapot-go/kapot/internal/version"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// machine drives a scheduler's state directly: no executors run, tasks
// are launched by assign and finished by the statuses a test sends.
// Executors are pull-staged, so the scheduler queues what it would send
// them (cancels) where a test can read it.
type machine struct {
	t   *testing.T
	s   *Scheduler
	job string
}

func newMachine(t *testing.T, mod func(*Config), executors ...string) *machine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BindHost, cfg.Port = "127.0.0.1", 0
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.lis.Close() })
	for _, id := range executors {
		s.registerExecutor(&kapotv1.ExecutorRegistration{Id: id, Host: "127.0.0.1", FlightPort: 1, GrpcPort: 1, ProtocolVersion: version.Protocol,
			Resources: &kapotv1.ExecutorResources{TaskSlots: 2}, Policy: kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED}, nil, nil)
	}
	// The example job: stage 1 has two tasks (one per CSV file), stage 2
	// two (one per hash partition).
	id, err := s.submit(context.Background(), &kapotv1.SubmitJobRequest{Plan: examplePlan(t)}, "")
	if err != nil {
		t.Fatal(err)
	}
	return &machine{t: t, s: s, job: id}
}

// assign launches up to n tasks on executor id and returns them.
func (m *machine) assign(id string, n int) []*kapotv1.TaskDefinition {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return m.s.assign(m.s.executors[id], n)
}

func (m *machine) succeed(executor string, d *kapotv1.TaskDefinition) {
	m.report(executor, d, &kapotv1.TaskStatus_Successful{Successful: &kapotv1.SuccessfulTask{
		Partitions: []*kapotv1.ShuffleWritePartition{{Stats: &kapotv1.PartitionStats{NumRows: 1}}, {Stats: &kapotv1.PartitionStats{NumRows: 1}}}}})
}

func (m *machine) fail(executor string, d *kapotv1.TaskDefinition) {
	m.report(executor, d, &kapotv1.TaskStatus_Failed{Failed: &kapotv1.FailedTask{Error: "boom", Retryable: true}})
}

func (m *machine) report(executor string, d *kapotv1.TaskDefinition, st any) {
	ts := &kapotv1.TaskStatus{TaskId: d.GetTaskId(), JobId: d.GetJobId(), StageId: d.GetStageId(), Partition: d.GetPartition(), ExecutorId: executor}
	switch v := st.(type) {
	case *kapotv1.TaskStatus_Successful:
		ts.Status = v
	case *kapotv1.TaskStatus_Failed:
		ts.Status = v
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	m.s.updateStatuses(executor, []*kapotv1.TaskStatus{ts})
}

// task is the scheduler's state of one task of the job.
func (m *machine) task(stage uint32, p int) *taskState {
	return m.s.jobs[m.job].stages[stage].tasks[p]
}

// age pretends task (stage, p) has run for d.
func (m *machine) age(stage uint32, p int, d time.Duration) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	m.task(stage, p).started = time.Now().Add(-d)
}

func (m *machine) stragglers() int {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return m.s.markStragglers(time.Now())
}

func (m *machine) state() kapotv1.JobState {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return m.s.jobs[m.job].state
}

func speculative(c *Config) {
	c.Speculation, c.SpeculationQuantile, c.SpeculationMinRuntime = true, 0.5, 0
}

// straggle launches stage 1's two tasks on "a", finishes the first at
// once and ages the second past its stage's median: it is a straggler,
// and "b" runs its copy.
func straggle(t *testing.T, m *machine) (orig, cp *kapotv1.TaskDefinition) {
	t.Helper()
	defs := m.assign("a", 2)
	if len(defs) != 2 {
		t.Fatalf("a got %d tasks, want 2", len(defs))
	}
	m.succeed("a", defs[0])
	m.age(1, 1, time.Second)
	if n := m.stragglers(); n != 1 {
		t.Fatalf("%d stragglers, want 1", n)
	}
	copies := m.assign("b", 2)
	if len(copies) != 1 || copies[0].GetStageId() != 1 || copies[0].GetPartition() != 1 || copies[0].GetTaskId() == defs[1].GetTaskId() {
		t.Fatalf("b got %v, want one copy of stage 1 partition 1", copies)
	}
	if again := m.assign("a", 1); len(again) != 0 {
		t.Fatalf("a got %v: a copy must not run beside its original", again)
	}
	return defs[1], copies[0]
}

func TestSpeculativeCopyWins(t *testing.T) {
	m := newMachine(t, speculative, "a", "b")
	orig, cp := straggle(t, m)
	m.succeed("b", cp)
	task := m.task(1, 1)
	if task.phase != taskDone || task.executor.GetId() != "b" || task.copyID != 0 {
		t.Fatalf("after the copy won: phase %d on %s, copy %d", task.phase, task.executor.GetId(), task.copyID)
	}
	if c := m.s.executors["a"].cancel; len(c) != 1 || c[0].GetTaskId() != orig.GetTaskId() {
		t.Fatalf("cancels queued for a: %v, want the original %d", c, orig.GetTaskId())
	}
	if len(m.s.executors["a"].running) != 0 || len(m.s.executors["b"].running) != 0 {
		t.Fatal("a finished or cancelled launch still holds a slot")
	}
	// The original's late success is ignored: the copy's output stands.
	m.succeed("a", orig)
	if task.executor.GetId() != "b" {
		t.Fatal("the loser's late report replaced the winner's output")
	}
	// The job goes on: stage 2 runs and completes.
	for _, d := range m.assign("a", 2) {
		m.succeed("a", d)
	}
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("job %s", st)
	}
}

func TestOriginalWinsCancelsCopy(t *testing.T) {
	m := newMachine(t, speculative, "a", "b")
	orig, cp := straggle(t, m)
	m.succeed("a", orig)
	if c := m.s.executors["b"].cancel; len(c) != 1 || c[0].GetTaskId() != cp.GetTaskId() {
		t.Fatalf("cancels queued for b: %v, want the copy %d", c, cp.GetTaskId())
	}
	if task := m.task(1, 1); task.phase != taskDone || task.executor.GetId() != "a" {
		t.Fatalf("phase %d on %s", task.phase, task.executor.GetId())
	}
}

func TestCopyFailureLeavesOriginal(t *testing.T) {
	m := newMachine(t, speculative, "a", "b")
	orig, cp := straggle(t, m)
	m.fail("b", cp)
	task := m.task(1, 1)
	if task.phase != taskRunning || task.taskID != orig.GetTaskId() || task.copyID != 0 || task.attempts != 0 {
		t.Fatalf("after the copy failed: phase %d, task %d, copy %d, failed attempts %d", task.phase, task.taskID, task.copyID, task.attempts)
	}
	m.succeed("a", orig)
	if task.phase != taskDone {
		t.Fatal("the original's success was not taken")
	}
}

func TestLostExecutorPromotesCopy(t *testing.T) {
	m := newMachine(t, speculative, "a", "b")
	_, cp := straggle(t, m)
	m.s.mu.Lock()
	m.s.executorLost("a", "test")
	m.s.mu.Unlock()
	task := m.task(1, 1)
	if task.phase != taskRunning || task.taskID != cp.GetTaskId() || task.executor.GetId() != "b" {
		t.Fatalf("after the original's executor was lost: phase %d, task %d on %s", task.phase, task.taskID, task.executor.GetId())
	}
	// Partition 0 ran on a: its output is gone and it runs again; the lost
	// executor's tasks are not counted as failures.
	if p0 := m.task(1, 0); p0.phase != taskPending || p0.attempts != 0 {
		t.Fatalf("partition 0 after its executor was lost: phase %d, attempts %d", p0.phase, p0.attempts)
	}
	m.succeed("b", cp)
	if task.phase != taskDone {
		t.Fatal("the promoted copy's success was not taken")
	}
}

func TestNoCopiesWithSpeculationOff(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Speculation = false }, "a", "b")
	if !DefaultConfig().Speculation {
		t.Fatal("speculation is off by default")
	}
	defs := m.assign("a", 2)
	m.succeed("a", defs[0])
	m.age(1, 1, time.Hour)
	if n := m.stragglers(); n != 0 {
		t.Fatalf("%d stragglers marked with speculation off", n)
	}
	if got := m.assign("b", 2); len(got) != 0 {
		t.Fatalf("b got %v with nothing pending and speculation off", got)
	}
}

// TestLostResultsReopenJob: a finished job whose result partition lived
// on an executor since lost runs that partition again when its client
// asks, and only that one.
func TestLostResultsReopenJob(t *testing.T) {
	m := newMachine(t, nil, "a", "b")
	for _, d := range m.assign("a", 2) {
		m.succeed("a", d)
	}
	final := m.assign("a", 1)
	final = append(final, m.assign("b", 1)...)
	for _, d := range final {
		m.succeed(m.s.tasks[d.GetTaskId()].executor, d)
	}
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("job %s", st)
	}
	m.s.mu.Lock()
	m.s.executorLost("b", "test")
	m.s.mu.Unlock()
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("a finished job changed (%s) before anyone asked for its results", st)
	}
	st, err := m.s.status(m.job)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetState() != kapotv1.JobState_JOB_STATE_RUNNING || len(st.GetResultLocations()) != 0 {
		t.Fatalf("status after the result holder was lost: %s with %d locations", st.GetState(), len(st.GetResultLocations()))
	}
	// Stage 1 ran on a (kept); of stage 2 only b's partition runs again.
	if m.task(1, 0).phase != taskDone || m.task(1, 1).phase != taskDone {
		t.Fatal("map outputs on a live executor were re-run")
	}
	again := m.assign("a", 2)
	if len(again) != 1 || again[0].GetStageId() != 2 {
		t.Fatalf("re-run %v, want the one lost result partition", again)
	}
	m.succeed("a", again[0])
	st, _ = m.s.status(m.job)
	if st.GetState() != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("job %s after the lost partition was recomputed", st.GetState())
	}
	for _, loc := range st.GetResultLocations() {
		if loc.GetExecutor().GetId() != "a" {
			t.Fatalf("result location on %s, want a", loc.GetExecutor().GetId())
		}
	}
}

// failWith reports a failed task with reason r.
func (m *machine) failWith(executor string, d *kapotv1.TaskDefinition, f *kapotv1.FailedTask) {
	m.report(executor, d, &kapotv1.TaskStatus_Failed{Failed: f})
}

// TestTaskFailureTransitions: what each kind of failure does to a task and
// its job.
func TestTaskFailureTransitions(t *testing.T) {
	retryable := &kapotv1.FailedTask{Error: "disk hiccup", Retryable: true, Reason: &kapotv1.FailedTask_IoError{IoError: &kapotv1.IoError{}}}
	for _, c := range []struct {
		name     string
		failure  *kapotv1.FailedTask
		times    int // failures in a row of stage 1 partition 0
		retries  int // --task-retries
		state    kapotv1.JobState
		attempts int
		phase    taskPhase
		err      string // the job's error
	}{
		{"retryable, retried", retryable, 1, 3, kapotv1.JobState_JOB_STATE_RUNNING, 1, taskPending, ""},
		{"retryable, out of retries", retryable, 4, 3, kapotv1.JobState_JOB_STATE_FAILED, 4, taskPending,
			"stage 1 partition 0 failed after 4 attempt(s): disk hiccup"},
		{"retries 0", retryable, 1, 0, kapotv1.JobState_JOB_STATE_FAILED, 1, taskPending, "stage 1 partition 0 failed after 1 attempt(s): disk hiccup"},
		// A deterministic failure ends the job at the first attempt, with
		// its own message: no "after N attempt(s)".
		{"not retryable", &kapotv1.FailedTask{Error: "bad cast", Reason: &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}},
			1, 3, kapotv1.JobState_JOB_STATE_FAILED, 1, taskPending, "stage 1 partition 0: bad cast"},
		{"not found, not retried", &kapotv1.FailedTask{Error: "scan /t/a.csv: object not found", Reason: &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}},
			3, 3, kapotv1.JobState_JOB_STATE_FAILED, 1, taskPending, "stage 1 partition 0: scan /t/a.csv: object not found"},
		{"killed (drain, cancel): not a failure", &kapotv1.FailedTask{Error: "killed", Retryable: true, Reason: &kapotv1.FailedTask_TaskKilled{TaskKilled: &kapotv1.TaskKilled{}}},
			5, 0, kapotv1.JobState_JOB_STATE_RUNNING, 0, taskPending, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, func(cfg *Config) { cfg.TaskRetries = c.retries }, "a")
			for i := 0; i < c.times; i++ {
				var d *kapotv1.TaskDefinition
				for _, x := range m.assign("a", 2) {
					if x.GetStageId() == 1 && x.GetPartition() == 0 {
						d = x
					} else {
						m.s.mu.Lock()
						m.s.requeue(x.GetTaskId())
						m.s.mu.Unlock()
					}
				}
				if d == nil {
					if m.state() != kapotv1.JobState_JOB_STATE_RUNNING {
						break
					}
					t.Fatalf("failure %d: stage 1 partition 0 was not launched again", i+1)
				}
				m.failWith("a", d, c.failure)
			}
			if st := m.state(); st != c.state {
				t.Fatalf("job %s, want %s", st, c.state)
			}
			if task := m.task(1, 0); task.attempts != c.attempts || task.phase != c.phase {
				t.Fatalf("task: %d failed attempts, phase %d; want %d, %d", task.attempts, task.phase, c.attempts, c.phase)
			}
			if got := m.s.jobs[m.job].err; got != c.err {
				t.Fatalf("job error %q, want %q", got, c.err)
			}
			if v, _ := m.s.Job(m.job); v.Stages[0].FailedAttempts != c.attempts {
				t.Fatalf("/api/jobs shows %d failed attempts of stage 1, want %d", v.Stages[0].FailedAttempts, c.attempts)
			}
		})
	}
}

// TestFetchFailureRerunsMapOutput: a reduce task that cannot read a map
// output sends that map task back to pending (a new stage attempt), is
// not counted as failed, and the job finishes once both ran again.
func TestFetchFailureRerunsMapOutput(t *testing.T) {
	m := newMachine(t, nil, "a", "b")
	for _, d := range m.assign("a", 2) {
		m.succeed("a", d)
	}
	reduce := m.assign("b", 2)
	if len(reduce) != 2 || reduce[0].GetStageId() != 2 {
		t.Fatalf("reduce tasks: %v", reduce)
	}
	m.failWith("b", reduce[0], &kapotv1.FailedTask{Error: "fetch failed", Retryable: true, Reason: &kapotv1.FailedTask_FetchPartitionError{
		FetchPartitionError: &kapotv1.FetchPartitionError{ExecutorId: "a", MapStageId: 1, MapPartition: 0}}})
	stage1 := m.s.jobs[m.job].stages[1]
	if stage1.attempt != 1 || m.task(1, 0).phase != taskPending || m.task(2, 0).attempts != 0 {
		t.Fatalf("after a fetch failure: stage 1 attempt %d, map task phase %d, reduce failed attempts %d",
			stage1.attempt, m.task(1, 0).phase, m.task(2, 0).attempts)
	}
	// Every map output on a is suspect: both map tasks run again.
	if m.task(1, 1).phase != taskPending {
		t.Fatal("the other map output on the same executor was kept")
	}
	m.succeed("b", reduce[1])
	for m.state() == kapotv1.JobState_JOB_STATE_RUNNING {
		defs := m.assign("b", 2)
		if len(defs) == 0 {
			t.Fatal("the job is stuck")
		}
		for _, d := range defs {
			m.succeed("b", d)
		}
	}
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("job %s", st)
	}
}

// TestCancelJobCancelsRunningTasks: a cancelled job's running tasks are
// cancelled on their executors and their late statuses change nothing.
func TestCancelJobCancelsRunningTasks(t *testing.T) {
	m := newMachine(t, nil, "a")
	defs := m.assign("a", 2)
	if _, err := m.s.cancel(m.job); err != nil {
		t.Fatal(err)
	}
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("job %s", st)
	}
	if c := m.s.executors["a"].cancel; len(c) != 2 {
		t.Fatalf("cancels queued: %v, want both running tasks", c)
	}
	m.succeed("a", defs[0])
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("a late success changed the cancelled job to %s", st)
	}
	if got := m.assign("a", 2); len(got) != 0 {
		t.Fatalf("a cancelled job's tasks were launched: %v", got)
	}
}
