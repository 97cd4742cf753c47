package cluster

import (
	"testing"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestTaskFailureTransitions: what each kind of failure does to a task and
// its job.
func TestTaskFailureTransitions(t *testing.T) {
	retryable := &kapotv1.FailedTask{Error: "disk hiccup", Retryable: true, Reason: &kapotv1.FailedTask_IoError{IoError: &kapotv1.IoError{}}}
	for _, c := range []struct {
		name     string
		failure  *kapotv1.FailedTask
		times    int // failures in a row of stage 1 partition 0
		retries  int // Config.TaskRetries
		state    kapotv1.JobState
		attempts int
		phase    TaskPhase
		err      string // the job's error
	}{
		{"retryable, retried", retryable, 1, 3, kapotv1.JobState_JOB_STATE_RUNNING, 1, TaskPending, ""},
		{"retryable, out of retries", retryable, 4, 3, kapotv1.JobState_JOB_STATE_FAILED, 4, TaskPending,
			"stage 1 partition 0 failed after 4 attempt(s): disk hiccup"},
		{"retries 0", retryable, 1, 0, kapotv1.JobState_JOB_STATE_FAILED, 1, TaskPending, "stage 1 partition 0 failed after 1 attempt(s): disk hiccup"},
		// A deterministic failure ends the job at the first attempt, with
		// its own message: no "after N attempt(s)".
		{"not retryable", &kapotv1.FailedTask{Error: "bad cast", Reason: &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}},
			1, 3, kapotv1.JobState_JOB_STATE_FAILED, 1, TaskPending, "stage 1 partition 0: bad cast"},
		{"not found, not retried", &kapotv1.FailedTask{Error: "scan /t/a.csv: object not found", Reason: &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}},
			3, 3, kapotv1.JobState_JOB_STATE_FAILED, 1, TaskPending, "stage 1 partition 0: scan /t/a.csv: object not found"},
		{"killed (drain, cancel): not a failure", &kapotv1.FailedTask{Error: "killed", Retryable: true, Reason: &kapotv1.FailedTask_TaskKilled{TaskKilled: &kapotv1.TaskKilled{}}},
			5, 0, kapotv1.JobState_JOB_STATE_RUNNING, 0, TaskPending, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, func(cfg *Config) { cfg.TaskRetries = c.retries }, "a")
			for i := 0; i < c.times; i++ {
				var d *kapotv1.TaskDefinition
				for _, x := range m.assign("a", 2) {
					if x.GetStageId() == 1 && x.GetPartition() == 0 {
						d = x
					} else {
						m.keep(m.s.Requeue(x.GetTaskId()))
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
			if task := m.task(1, 0); task.Attempts != c.attempts || task.Phase != c.phase {
				t.Fatalf("task: %d failed attempts, phase %d; want %d, %d", task.Attempts, task.Phase, c.attempts, c.phase)
			}
			j := m.s.jobs[m.job]
			if got := j.Err; got != c.err {
				t.Fatalf("job error %q, want %q", got, c.err)
			}
			failed := 0 // as /api/jobs counts a stage's failed attempts
			for _, task := range j.Stages[1].Tasks {
				failed += task.Attempts
			}
			if failed != c.attempts {
				t.Fatalf("stage 1 shows %d failed attempts, want %d", failed, c.attempts)
			}
			if c.state == kapotv1.JobState_JOB_STATE_FAILED {
				if !j.DataRemoved || !j.Released || len(effectsOf[DropTasks](m.fx)) == 0 || len(effectsOf[Summarize](m.fx)) != 1 {
					t.Fatal("a failed job keeps its data, plan or task records, or is not summarized once")
				}
			}
		})
	}
}

// TestFetchFailureRerunsMapOutput: a reduce task that cannot read a map
// output sends that map task back to pending (a new stage attempt), is
// not counted as failed, the executor is probed, and the job finishes
// once both ran again.
func TestFetchFailureRerunsMapOutput(t *testing.T) {
	m := newMachine(t, nil, "a", "b")
	for _, d := range m.assign("a", 2) {
		m.succeed("a", d)
	}
	reduce := m.assign("b", 2)
	if len(reduce) != 2 || reduce[0].GetStageId() != 2 {
		t.Fatalf("reduce tasks: %v", reduce)
	}
	fx := m.failWith("b", reduce[0], &kapotv1.FailedTask{Error: "fetch failed", Retryable: true, Reason: &kapotv1.FailedTask_FetchPartitionError{
		FetchPartitionError: &kapotv1.FetchPartitionError{ExecutorId: "a", MapStageId: 1, MapPartition: 0}}})
	stage1 := m.s.jobs[m.job].Stages[1]
	if stage1.Attempt != 1 || m.task(1, 0).Phase != TaskPending || m.task(2, 0).Attempts != 0 {
		t.Fatalf("after a fetch failure: stage 1 attempt %d, map task phase %d, reduce failed attempts %d",
			stage1.Attempt, m.task(1, 0).Phase, m.task(2, 0).Attempts)
	}
	if p := effectsOf[Probe](fx); len(p) != 1 || p[0].Executor != "a" || !m.s.executors["a"].Suspect {
		t.Fatalf("probes %v: the executor that lost the output is not suspect", p)
	}
	// Every map output on a is suspect: both map tasks run again.
	if m.task(1, 1).Phase != TaskPending {
		t.Fatal("the other map output on the same executor was kept")
	}
	m.succeed("b", reduce[1])
	m.finish("b")
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("job %s", st)
	}
}

// TestCancelJobCancelsRunningTasks: a cancelled job's running tasks are
// cancelled on their executors and their late statuses change nothing.
func TestCancelJobCancelsRunningTasks(t *testing.T) {
	m := newMachine(t, nil, "a")
	defs := m.assign("a", 2)
	ok, fx, err := m.s.Cancel(m.job, m.now)
	if err != nil || !ok {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	m.keep(fx)
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("job %s", st)
	}
	if c := m.s.executors["a"].CancelQueue; len(c) != 2 {
		t.Fatalf("cancels queued: %v, want both running tasks", c)
	}
	if r := m.s.executors["a"].RemoveQueue; len(r) != 1 || r[0] != m.job {
		t.Fatalf("removals queued: %v, want the job's data", r)
	}
	m.succeed("a", defs[0])
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("a late success changed the cancelled job to %s", st)
	}
	if got := m.assign("a", 2); len(got) != 0 {
		t.Fatalf("a cancelled job's tasks were launched: %v", got)
	}
	if ok, _, err := m.s.Cancel(m.job, m.now); ok || err != nil {
		t.Fatalf("cancelling a cancelled job: %v %v", ok, err)
	}
	if _, _, err := m.s.Cancel("nosuchjob", m.now); err != ErrUnknownJob {
		t.Fatalf("cancelling no job: %v", err)
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
		m.succeed(m.s.RunningOn(d.GetTaskId()), d)
	}
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("job %s", st)
	}
	m.keep(m.s.Lost("b", "test"))
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("a finished job changed (%s) before anyone asked for its results", st)
	}
	j := m.s.jobs[m.job]
	reopened, fx := m.s.ReopenLost(j, m.now)
	if !reopened || j.State != kapotv1.JobState_JOB_STATE_RUNNING || len(effectsOf[PersistJob](fx)) != 1 {
		t.Fatalf("after the result holder was lost: reopened %v, %s", reopened, j.State)
	}
	select {
	case <-j.Done():
		t.Fatal("the reopened job's Done is closed")
	default:
	}
	// Stage 1 ran on a (kept); of stage 2 only b's partition runs again.
	if m.task(1, 0).Phase != TaskDone || m.task(1, 1).Phase != TaskDone {
		t.Fatal("map outputs on a live executor were re-run")
	}
	again := m.assign("a", 2)
	if len(again) != 1 || again[0].GetStageId() != 2 {
		t.Fatalf("re-run %v, want the one lost result partition", again)
	}
	m.succeed("a", again[0])
	if reopened, _ := m.s.ReopenLost(j, m.now); reopened || j.State != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("job %s after the lost partition was recomputed", j.State)
	}
	for _, loc := range j.Locations(j.Final, 0) {
		if loc.GetExecutor().GetId() != "a" {
			t.Fatalf("result location on %s, want a", loc.GetExecutor().GetId())
		}
	}
}
