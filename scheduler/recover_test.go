package scheduler

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kapot-go/kapot/internal/version"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// restart writes out what m's scheduler queued, closes its state store and
// starts another scheduler on the same state dir.
func restart(t *testing.T, m *machine, dir string) *Scheduler {
	t.Helper()
	if !m.s.drainPersist(context.Background()) {
		t.Fatal("persist: deposed")
	}
	m.s.bgStop()
	m.s.bg.Wait()
	if err := m.s.state.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.BindHost, cfg.Port, cfg.StateDir = "127.0.0.1", 0, dir
	s, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.lis.Close(); s.state.Close() })
	return s
}

func pullReg(id string) *kapotv1.ExecutorRegistration {
	return &kapotv1.ExecutorRegistration{Id: id, Host: "127.0.0.1", FlightPort: 1, GrpcPort: 1, ProtocolVersion: version.Protocol,
		Resources: &kapotv1.ExecutorResources{TaskSlots: 2}, Policy: kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED}
}

// TestRecoveryReconciles: a scheduler restarted on its state dir carries on
// the running job: a completed task whose executor still holds its output
// stays done, a task still running on its executor is adopted, and what
// the executor no longer holds, or runs for no job, is run again or
// cancelled.
func TestRecoveryReconciles(t *testing.T) {
	for _, holds := range []bool{true, false} {
		name := "output-held"
		if !holds {
			name = "output-gone"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			m := newMachine(t, func(c *Config) { c.StateDir = dir }, "a")
			defs := m.assign("a", 2)
			if len(defs) != 2 || defs[0].GetStageId() != 1 || defs[1].GetStageId() != 1 {
				t.Fatalf("launched %v, want stage 1's two tasks", defs)
			}
			m.succeed("a", defs[0])
			s := restart(t, m, dir)

			s.mu.Lock()
			j, ok := s.jobs[m.job]
			if !ok || j.state != kapotv1.JobState_JOB_STATE_RUNNING {
				s.mu.Unlock()
				t.Fatalf("job after the restart: %v", j)
			}
			p0, p1 := int(defs[0].GetPartition()), int(defs[1].GetPartition())
			if t0, t1 := j.stages[1].tasks[p0], j.stages[1].tasks[p1]; t0.phase != taskDone || t0.executor.GetId() != "a" || t1.phase != taskPending {
				s.mu.Unlock()
				t.Fatalf("stage 1 after the restart: %v %v", t0.phase, t1.phase)
			}
			if e := s.executors["a"]; e == nil || !e.expected || e.freeSlots() != 0 {
				s.mu.Unlock()
				t.Fatalf("executor a is not expected back: %+v", e)
			}
			// Its heartbeats and link are answered "register again": the
			// registration names what it holds.
			if s.touch("a", nil) {
				s.mu.Unlock()
				t.Fatal("a heartbeat of an expected executor was accepted without its registration")
			}
			s.mu.Unlock()
			if _, _, ok := s.openLink("a"); ok {
				t.Fatal("the link of an expected executor was opened without its registration")
			}

			var held []*kapotv1.HeldOutputs
			if holds {
				held = []*kapotv1.HeldOutputs{{JobId: m.job, StageId: 1, MapPartitions: []uint32{uint32(p0)}}}
			}
			running := []*kapotv1.RunningTaskInfo{
				{TaskId: defs[1].GetTaskId(), JobId: m.job, StageId: 1, Partition: uint32(p1)},
				{TaskId: 7, JobId: "nosuchjob", StageId: 1, Partition: 0},
			}
			cancel := s.registerExecutor(pullReg("a"), running, held)
			if !slices.Equal(cancel, []uint64{7}) {
				t.Fatalf("cancel %v, want [7] (the task of no job)", cancel)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			t0, t1 := j.stages[1].tasks[p0], j.stages[1].tasks[p1]
			if t1.phase != taskRunning || t1.taskID != defs[1].GetTaskId() || s.tasks[t1.taskID].executor != "a" {
				t.Fatalf("the running task was not adopted: %+v", t1)
			}
			if holds && t0.phase != taskDone {
				t.Fatal("a completed task whose output is held runs again")
			}
			if !holds && t0.phase != taskPending {
				t.Fatal("a completed task whose output is gone was kept")
			}
			if s.lastTaskID < defs[1].GetTaskId() {
				t.Fatal("task ids of the new scheduler may collide with the adopted task's")
			}
		})
	}
}

// TestRecoveryEndsWrites: a write running when its scheduler stopped ends
// failed after the restart, saying nothing was committed; a finished job
// keeps its outcome.
func TestRecoveryEndsWrites(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, func(c *Config) { c.StateDir = dir }, "a")
	m.s.mu.Lock()
	m.s.jobs[m.job].write = &writeJob{}
	m.s.persistJob(m.s.jobs[m.job])
	m.s.mu.Unlock()
	other, err := m.s.submit(context.Background(), &kapotv1.SubmitJobRequest{Plan: examplePlan(t)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := m.s.cancel(other); !ok || err != nil {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	s := restart(t, m, dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.jobs[m.job]
	if w == nil || w.state != kapotv1.JobState_JOB_STATE_FAILED || !strings.Contains(w.err, "nothing of it was committed") {
		t.Fatalf("write after the restart: %+v", w)
	}
	c := s.jobs[other]
	if c == nil || c.state != kapotv1.JobState_JOB_STATE_CANCELLED || c.err != "cancelled by user" {
		t.Fatalf("cancelled job after the restart: %+v", c)
	}
}

// TestRequestIDs: a submission sent again with its request id (a retry
// after a lost answer) gets the job the first created, also from the
// scheduler that took over; another session's same id is its own.
func TestRequestIDs(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, func(c *Config) { c.StateDir = dir }, "a")
	ctx := context.Background()
	req := &kapotv1.SubmitJobRequest{Plan: examplePlan(t), RequestId: "r1"}
	first, err := m.s.submit(ctx, req, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.s.submit(ctx, req, "session-1")
	if err != nil || again != first {
		t.Fatalf("the same request again: %q %v, want %q", again, err, first)
	}
	other, err := m.s.submit(ctx, req, "session-2")
	if err != nil || other == first {
		t.Fatalf("another session's request: %q %v", other, err)
	}
	s := restart(t, m, dir)
	if got, err := s.submit(ctx, req, "session-1"); err != nil || got != first {
		t.Fatalf("the request after a restart: %q %v, want %q", got, err, first)
	}
}

// TestFinishedJobsReleasePlans: once a finished job's data is removed, its
// plan and its stages' plans are released (a finished job is kept an hour:
// plans of megabytes, long IN lists, piled up in the scheduler's memory
// and state store), its record is saved without a plan, and a scheduler
// restarted on that record still answers the job's status; a failed job
// releases at once.
func TestFinishedJobsReleasePlans(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, func(c *Config) { c.StateDir = dir; c.FinishedJobDataCleanUpDelay = 0 }, "a")
	for _, d := range m.assign("a", 2) {
		m.succeed("a", d)
	}
	for _, d := range m.assign("a", 2) {
		m.succeed("a", d)
	}
	if st := m.state(); st != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		t.Fatalf("job %s", st)
	}
	m.s.mu.Lock()
	j := m.s.jobs[m.job]
	if j.plan == nil || j.stages[j.final].plan == nil {
		m.s.mu.Unlock()
		t.Fatal("plans released while the job's results may still be read")
	}
	m.s.cleanFinishedJobs(time.Now().Add(time.Second))
	released := j.plan == nil && j.released
	for _, st := range j.stages {
		released = released && st.plan == nil
	}
	m.s.mu.Unlock()
	if !released {
		t.Fatal("a finished job with its data removed keeps its plans")
	}
	// A failed job: at once.
	failed, err := m.s.submit(context.Background(), &kapotv1.SubmitJobRequest{Plan: examplePlan(t)}, "")
	if err != nil {
		t.Fatal(err)
	}
	m.s.mu.Lock()
	fj := m.s.jobs[failed]
	m.s.failJob(fj, "boom")
	if fj.plan != nil || !fj.released {
		m.s.mu.Unlock()
		t.Fatal("a failed job keeps its plan")
	}
	m.s.mu.Unlock()

	s := restart(t, m, dir)
	for id, want := range map[string]kapotv1.JobState{m.job: kapotv1.JobState_JOB_STATE_SUCCESSFUL, failed: kapotv1.JobState_JOB_STATE_FAILED} {
		st, err := s.status(id)
		if err != nil {
			t.Fatalf("status of %s after the restart: %v", id, err)
		}
		if st.GetState() != want {
			t.Errorf("job %s after the restart: %s, want %s", id, st.GetState(), want)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[m.job]; j == nil || !j.released || j.plan != nil {
		t.Fatalf("the restarted scheduler holds %+v", j)
	}
	// A client's report of an unreachable result holder finds no stage to
	// probe (and does not panic).
	s.mu.Unlock()
	s.unreachable(context.Background(), m.job, []string{"a"})
	s.mu.Lock()
}
