package cluster

import (
	"slices"
	"testing"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestRecoveryReconciles: a state given a recovered job (partition 0 of
// stage 1 done on a, partition 1 running there when the predecessor
// stopped) expects a back; a's registration keeps what it holds, runs
// again what it does not, adopts the task it runs and cancels the one of
// no job.
func TestRecoveryReconciles(t *testing.T) {
	for _, c := range []struct {
		name  string
		holds bool
	}{{"output-held", true}, {"output-gone", false}} {
		t.Run(c.name, func(t *testing.T) {
			now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
			s := New(testConfig(), 5000)
			j := exampleJob("job1", "", now)
			done := j.Stages[1].Tasks[0]
			done.Phase, done.Executor = TaskDone, &kapotv1.ExecutorMetadata{Id: "a", Host: "127.0.0.1"}
			fx := s.Recover([]*Job{j}, now)
			if got := describeAll(fx); !slices.Equal(got, []string{"persist job1", "count 2 kept 1", "wake"}) {
				t.Fatalf("recovery effects %q", got)
			}
			e, ok := s.Executor("a")
			if !ok || !e.Expected || e.FreeSlots() != 0 {
				t.Fatalf("executor a is not expected back: %+v", e)
			}
			// Its heartbeats and link are answered "register again": the
			// registration names what it holds.
			if ok, _ := s.Touch("a", nil, now); ok {
				t.Fatal("a heartbeat of an expected executor was accepted without its registration")
			}
			if _, _, ok := s.OpenLink("a"); ok {
				t.Fatal("the link of an expected executor was opened without its registration")
			}
			var held []*kapotv1.HeldOutputs
			if c.holds {
				held = []*kapotv1.HeldOutputs{{JobId: "job1", StageId: 1, MapPartitions: []uint32{0}}}
			}
			running := []*kapotv1.RunningTaskInfo{
				{TaskId: 9000, JobId: "job1", StageId: 1, Partition: 1},
				{TaskId: 7, JobId: "nosuchjob", StageId: 1, Partition: 0},
			}
			cancel, _ := s.Register(reg("a", kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED), running, held, now)
			if !slices.Equal(cancel, []uint64{7}) {
				t.Fatalf("cancel %v, want [7] (the task of no job)", cancel)
			}
			t0, t1 := j.Stages[1].Tasks[0], j.Stages[1].Tasks[1]
			if t1.Phase != TaskRunning || t1.TaskID != 9000 || s.RunningOn(9000) != "a" {
				t.Fatalf("the running task was not adopted: %+v", t1)
			}
			if c.holds && t0.Phase != TaskDone {
				t.Fatal("a completed task whose output is held runs again")
			}
			if !c.holds && (t0.Phase != TaskPending || j.Stages[1].Attempt != 1) {
				t.Fatal("a completed task whose output is gone was kept")
			}
			if s.LastTaskID() < 9000 {
				t.Fatal("task ids of the new scheduler may collide with the adopted task's")
			}
		})
	}
}

// TestRecoveryGrace: an expected executor that does not come back is lost
// after RecoveryGrace, and what it held runs again.
func TestRecoveryGrace(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	cfg := testConfig()
	cfg.AbandonedJobTimeout = 0
	s := New(cfg, 5000)
	j := exampleJob("job1", "", now)
	done := j.Stages[1].Tasks[0]
	done.Phase, done.Executor = TaskDone, &kapotv1.ExecutorMetadata{Id: "a"}
	s.Recover([]*Job{j}, now)
	if fx := s.Tick(now.Add(RecoveryGrace - time.Second)); len(fx) != 0 {
		t.Fatalf("lost before the grace: %q", describeAll(fx))
	}
	s.Tick(now.Add(RecoveryGrace + time.Second))
	if _, ok := s.Executor("a"); ok || done.Phase != TaskPending {
		t.Fatal("an expected executor that did not come back is kept, with its outputs")
	}
}

// TestRecoverFinishedJobs: recovered jobs that ended are summarized (and
// a failed one's task records dropped); one whose every task was done
// succeeds; a job known already is skipped.
func TestRecoverFinishedJobs(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	s := New(testConfig(), 5000)
	failed := exampleJob("failed", "", now)
	failed.State, failed.Err = kapotv1.JobState_JOB_STATE_FAILED, "boom"
	complete := exampleJob("complete", "", now)
	for _, st := range complete.Stages {
		for _, t := range st.Tasks {
			t.Phase, t.Executor = TaskDone, &kapotv1.ExecutorMetadata{Id: "a"}
		}
	}
	got := describeAll(s.Recover([]*Job{failed, complete}, now))
	want := []string{"persist failed", "drop failed", "summarize failed", "persist complete", "summarize complete", "persist complete", "count 2 kept 4", "wake"}
	if !slices.Equal(got, want) {
		t.Fatalf("effects\n %q\nwant\n %q", got, want)
	}
	if complete.State != kapotv1.JobState_JOB_STATE_SUCCESSFUL || !isClosed(complete.Done()) {
		t.Fatalf("a job whose every task was done is %s", complete.State)
	}
	if fx := s.Recover([]*Job{exampleJob("complete", "", now)}, now); len(effectsOf[PersistJob](fx)) != 0 {
		t.Fatal("a job known already was recovered again")
	}
}

// TestFinishedJobsReleasePlans: once a finished job's data is removed, its
// plan and its stages' plans are released (a finished job is kept an hour:
// plans of megabytes, long IN lists, piled up in the scheduler's memory
// and state store), and its record is written without a plan; a failed
// job releases at once.
func TestFinishedJobsReleasePlans(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.FinishedJobDataCleanUpDelay = 0 }, "a")
	m.finish("a")
	j := m.s.jobs[m.job]
	if j.Plan == nil || j.Stages[j.Final].Plan == nil {
		t.Fatal("plans released while the job's results may still be read")
	}
	fx := m.s.Tick(m.now.Add(time.Second))
	released := j.Plan == nil && j.Released
	for _, st := range j.Stages {
		released = released && st.Plan == nil
	}
	if !released {
		t.Fatal("a finished job with its data removed keeps its plans")
	}
	if p := effectsOf[PersistJob](fx); len(p) != 1 || string(p[0].Record) == "" {
		t.Fatalf("the released job's record was not written: %v", p)
	}
	// A failed job: at once.
	failed := m.submit("job2", "")
	m.keep(m.s.Fail(failed, "boom", m.now))
	if fj := m.s.jobs[failed]; fj.Plan != nil || !fj.Released || fj.State != kapotv1.JobState_JOB_STATE_FAILED {
		t.Fatal("a failed job keeps its plan")
	}
}

// TestRequestKeys: a submission with a request key another job holds gets
// that job; the key goes with the job.
func TestRequestKeys(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.AbandonedJobTimeout = 0; c.ExecutorTimeout = 2 * time.Hour }, "a")
	j := exampleJob("job2", "s1", m.now)
	j.Request = RequestKey("s1", "r1")
	m.s.Submit(j)
	if id, ok := m.s.Requested(RequestKey("s1", "r1")); !ok || id != "job2" {
		t.Fatalf("request r1 of s1: %q %v", id, ok)
	}
	if _, ok := m.s.Requested(RequestKey("s2", "r1")); ok {
		t.Fatal("another session's request id found a job")
	}
	if RequestKey("s1", "") != "" {
		t.Fatal("a request without an id has a key")
	}
	m.s.Fail("job2", "boom", m.now)
	m.s.Tick(m.now.Add(time.Hour + time.Minute))
	if _, ok := m.s.Requested(RequestKey("s1", "r1")); ok {
		t.Fatal("a forgotten job's request key is kept")
	}
}
