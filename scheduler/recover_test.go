package scheduler

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kapot-go/kapot/internal/version"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/scheduler/store"
)

// These tests drive a scheduler on a state dir without a listener (the
// cluster state's own transitions are tested in package cluster): what it
// writes to its store, and what a scheduler restarted on that store
// carries on.

// machine is a scheduler with pull-staged executors and the example job
// submitted; tasks are launched by assign and finished by the statuses a
// test sends.
type machine struct {
	t   *testing.T
	s   *Scheduler
	job string
}

// newScheduler builds a scheduler of DefaultConfig (as mod changes it)
// without a listener.
func newScheduler(t *testing.T, mod func(*Config)) *Scheduler {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BindHost, cfg.Port = "127.0.0.1", 0
	if mod != nil {
		mod(&cfg)
	}
	s, err := build(cfg, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.bgStop(); s.bg.Wait(); s.state.Close() })
	return s
}

func newMachine(t *testing.T, mod func(*Config), executors ...string) *machine {
	t.Helper()
	s := newScheduler(t, mod)
	for _, id := range executors {
		s.registerExecutor(pullReg(id), nil, nil)
	}
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
	defs, fx := m.s.cl.Assign(id, n, time.Now())
	m.s.apply(fx)
	return defs
}

func (m *machine) succeed(executor string, d *kapotv1.TaskDefinition) {
	ts := &kapotv1.TaskStatus{TaskId: d.GetTaskId(), JobId: d.GetJobId(), StageId: d.GetStageId(), Partition: d.GetPartition(), ExecutorId: executor,
		Status: &kapotv1.TaskStatus_Successful{Successful: &kapotv1.SuccessfulTask{
			Partitions: []*kapotv1.ShuffleWritePartition{{Stats: &kapotv1.PartitionStats{NumRows: 1}}, {Stats: &kapotv1.PartitionStats{NumRows: 1}}}}}}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	m.s.apply(m.s.cl.UpdateStatuses(executor, []*kapotv1.TaskStatus{ts}, time.Now()))
}

func (m *machine) state() kapotv1.JobState {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	j, _ := m.s.cl.Job(m.job)
	return j.State
}

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
	return newScheduler(t, func(c *Config) { c.StateDir = dir })
}

func TestSpeculationOnByDefault(t *testing.T) {
	if !DefaultConfig().Speculation {
		t.Fatal("speculation is off by default")
	}
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
			j, ok := s.cl.Job(m.job)
			if !ok || j.State != kapotv1.JobState_JOB_STATE_RUNNING {
				s.mu.Unlock()
				t.Fatalf("job after the restart: %v", j)
			}
			p0, p1 := int(defs[0].GetPartition()), int(defs[1].GetPartition())
			if t0, t1 := j.Stages[1].Tasks[p0], j.Stages[1].Tasks[p1]; t0.Phase != cluster.TaskDone || t0.Executor.GetId() != "a" || t1.Phase != cluster.TaskPending {
				s.mu.Unlock()
				t.Fatalf("stage 1 after the restart: %v %v", t0.Phase, t1.Phase)
			}
			if e, _ := s.cl.Executor("a"); e == nil || !e.Expected || e.FreeSlots() != 0 {
				s.mu.Unlock()
				t.Fatalf("executor a is not expected back: %+v", e)
			}
			// Its heartbeats and link are answered "register again": the
			// registration names what it holds.
			if ok, _ := s.cl.Touch("a", nil, time.Now()); ok {
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
			t0, t1 := j.Stages[1].Tasks[p0], j.Stages[1].Tasks[p1]
			if t1.Phase != cluster.TaskRunning || t1.TaskID != defs[1].GetTaskId() || s.cl.RunningOn(t1.TaskID) != "a" {
				t.Fatalf("the running task was not adopted: %+v", t1)
			}
			if holds && t0.Phase != cluster.TaskDone {
				t.Fatal("a completed task whose output is held runs again")
			}
			if !holds && t0.Phase != cluster.TaskPending {
				t.Fatal("a completed task whose output is gone was kept")
			}
			if s.cl.LastTaskID() < defs[1].GetTaskId() {
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
	other, err := m.s.submit(context.Background(), &kapotv1.SubmitJobRequest{Plan: examplePlan(t)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := m.s.cancel(other); !ok || err != nil {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	// The record of the first job says it writes, as a write's does.
	ctx := context.Background()
	if !m.s.drainPersist(ctx) {
		t.Fatal("persist: deposed")
	}
	kvs, err := m.s.state.List(ctx, store.Running)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		var rec cluster.JobRecord
		if kv.Key != m.job || json.Unmarshal(kv.Value, &rec) != nil {
			continue
		}
		rec.Write = true
		b, _ := json.Marshal(rec)
		if err := m.s.state.Put(ctx, store.Running, kv.Key, b); err != nil {
			t.Fatal(err)
		}
	}
	s := restart(t, m, dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	w, _ := s.cl.Job(m.job)
	if w == nil || w.State != kapotv1.JobState_JOB_STATE_FAILED || !strings.Contains(w.Err, "nothing of it was committed") {
		t.Fatalf("write after the restart: %+v", w)
	}
	c, _ := s.cl.Job(other)
	if c == nil || c.State != kapotv1.JobState_JOB_STATE_CANCELLED || c.Err != "cancelled by user" {
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
	j, _ := m.s.cl.Job(m.job)
	if j.Plan == nil || j.Stages[j.Final].Plan == nil {
		m.s.mu.Unlock()
		t.Fatal("plans released while the job's results may still be read")
	}
	m.s.apply(m.s.cl.Tick(time.Now().Add(time.Second)))
	released := j.Plan == nil && j.Released
	for _, st := range j.Stages {
		released = released && st.Plan == nil
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
	fj, _ := m.s.cl.Job(failed)
	m.s.apply(m.s.cl.Fail(failed, "boom", time.Now()))
	if fj.Plan != nil || !fj.Released {
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
	if j, _ := s.cl.Job(m.job); j == nil || !j.Released || j.Plan != nil {
		t.Fatalf("the restarted scheduler holds %+v", j)
	}
	// A client's report of an unreachable result holder finds no stage to
	// probe (and does not panic).
	s.mu.Unlock()
	s.unreachable(context.Background(), m.job, []string{"a"})
	s.mu.Lock()
}

// TestLateCancelWaitsForTheCommit: a client that goes away while its
// write is committing does not cancel it (a commit cannot be undone), and
// waitJob answers with the write's real outcome, never "cancelled".
func TestLateCancelWaitsForTheCommit(t *testing.T) {
	m := newMachine(t, nil, "a")
	m.s.mu.Lock()
	j, _ := m.s.cl.Job(m.job)
	j.Write, j.Committing = &cluster.Write{}, true
	m.s.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	type result struct {
		st  *kapotv1.GetJobStatusResponse
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := m.s.waitJob(ctx, m.job)
		done <- result{st, err}
	}()
	// The cancel is refused while the job commits: waitJob keeps waiting.
	select {
	case r := <-done:
		t.Fatalf("waitJob answered %v, %v before the commit ended", r.st.GetState(), r.err)
	case <-time.After(100 * time.Millisecond):
	}
	m.s.mu.Lock()
	m.s.apply(m.s.cl.Committed(m.job, nil, 7, time.Now()))
	m.s.mu.Unlock()
	r := <-done
	if r.err != nil || r.st.GetState() != kapotv1.JobState_JOB_STATE_SUCCESSFUL || r.st.GetRowsWritten() != 7 {
		t.Fatalf("after the commit: %v, %v (rows %d), want a success of 7 rows", r.st.GetState(), r.err, r.st.GetRowsWritten())
	}
}

// TestWaitingClientKeepsItsJob: a job whose client waits through the
// scheduler (a SQL front door's statement, EXPLAIN ANALYZE: waitJob) is
// not cancelled as abandoned, however long past
// --abandoned-job-timeout-seconds it runs; once nobody waits, it is.
func TestWaitingClientKeepsItsJob(t *testing.T) {
	m := newMachine(t, nil, "a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := m.s.waitJob(ctx, m.job)
		done <- err
	}()
	waitFor(t, func() bool {
		m.s.mu.Lock()
		defer m.s.mu.Unlock()
		j, _ := m.s.cl.Job(m.job)
		return j.Polls > 0
	})
	m.s.mu.Lock()
	m.s.apply(m.s.cl.Tick(time.Now().Add(2 * m.s.cfg.AbandonedJobTimeout)))
	j, _ := m.s.cl.Job(m.job)
	state := j.State
	m.s.mu.Unlock()
	if state == kapotv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("a job its client waits for was cancelled: %s", j.Err)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("waitJob answered nil for a client gone")
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if j, _ := m.s.cl.Job(m.job); j.State != kapotv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("after its client went away the job is %v, want cancelled", j.State)
	}
}

// waitFor waits (up to a minute) until cond holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(time.Millisecond)
	}
}
