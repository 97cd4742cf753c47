package cluster

import (
	"slices"
	"testing"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestExecutorSignals: heartbeats, polls and stops, and what each does to
// an executor.
func TestExecutorSignals(t *testing.T) {
	active := &kapotv1.ExecutorStatus{State: kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE}
	terminating := &kapotv1.ExecutorStatus{State: kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING, Reason: "drain"}
	for _, c := range []struct {
		name  string
		run   func(m *machine) []Effect
		known bool
		state kapotv1.ExecutorState
		slots int
		want  []string
	}{
		{"a heartbeat", func(m *machine) []Effect {
			_, fx := m.s.Heartbeat("a", active, &kapotv1.ExecutorMetrics{MemoryPoolBytes: 7}, m.now.Add(time.Second))
			return fx
		}, true, kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE, 2, nil},
		{"a heartbeat of no executor", func(m *machine) []Effect {
			if ok, _ := m.s.Heartbeat("nosuch", active, nil, m.now); ok {
				m.t.Fatal("a heartbeat of no executor was taken")
			}
			return nil
		}, true, kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE, 2, nil},
		{"terminating", func(m *machine) []Effect {
			_, fx := m.s.Heartbeat("a", terminating, nil, m.now)
			return fx
		}, true, kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING, 0, nil},
		{"active again", func(m *machine) []Effect {
			m.s.Heartbeat("a", terminating, nil, m.now)
			_, fx := m.s.Heartbeat("a", active, nil, m.now)
			return fx
		}, true, kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE, 2, []string{"wake"}},
		{"stopped", func(m *machine) []Effect { return m.s.Stopped("a", "SIGTERM") },
			true, kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING, 0, nil},
		{"lost", func(m *machine) []Effect { return m.s.Lost("a", "test") },
			false, 0, 0, []string{"count 0  1", "disconnect a", "wake"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, nil, "a")
			if got := describeAll(c.run(m)); !slices.Equal(got, c.want) {
				t.Fatalf("effects %q, want %q", got, c.want)
			}
			e, ok := m.s.Executor("a")
			if ok != c.known {
				t.Fatalf("known %v, want %v", ok, c.known)
			}
			if ok && (e.State != c.state || e.FreeSlots() != c.slots) {
				t.Fatalf("executor %s with %d free slots, want %s with %d", e.State, e.FreeSlots(), c.state, c.slots)
			}
		})
	}
}

// TestPoll: a pull-staged executor's poll takes its statuses and hands it
// the cancels and removals queued for it and new tasks.
func TestPoll(t *testing.T) {
	m := newMachine(t, nil, "a")
	defs := m.assign("a", 2)
	ok, fx, _ := m.s.Cancel(m.job, m.now)
	if !ok || len(effectsOf[Cancel](fx)) != 0 {
		t.Fatal("a pull executor's cancels were sent, not queued")
	}
	other := m.submit("job2", "")
	st := &kapotv1.TaskStatus{TaskId: defs[0].GetTaskId(), JobId: m.job, Status: &kapotv1.TaskStatus_Failed{Failed: &kapotv1.FailedTask{Error: "killed",
		Reason: &kapotv1.FailedTask_TaskKilled{TaskKilled: &kapotv1.TaskKilled{}}}}}
	resp, ok, _ := m.s.Poll("a", nil, []*kapotv1.TaskStatus{st}, 1, m.now)
	if !ok || len(resp.GetCancelTasks()) != 2 || !slices.Equal(resp.GetRemoveJobs(), []string{m.job}) {
		t.Fatalf("poll answer %v", resp)
	}
	if len(resp.GetTasks()) != 1 || resp.GetTasks()[0].GetJobId() != other {
		t.Fatalf("poll gave %v, want one task of %s", resp.GetTasks(), other)
	}
	if again, _, _ := m.s.Poll("a", nil, nil, 0, m.now); len(again.GetCancelTasks()) != 0 || len(again.GetRemoveJobs()) != 0 {
		t.Fatal("queued work handed over twice")
	}
	if _, ok, _ := m.s.Poll("nosuch", nil, nil, 1, m.now); ok {
		t.Fatal("a poll of no executor was taken")
	}
}

// TestUnreachable: a client's report of a result holder it cannot reach
// probes the executors that hold the job's results, once each.
func TestUnreachable(t *testing.T) {
	m := newMachine(t, nil, "a", "b")
	m.finish("a")
	probe, fx := m.s.Unreachable(m.job, []string{"b", "a", "a"})
	if !slices.Equal(probe, []string{"a"}) || !slices.Equal(describeAll(fx), []string{"probe a"}) {
		t.Fatalf("probing %v with %q, want a (b holds nothing)", probe, describeAll(fx))
	}
	if probe, _ := m.s.Unreachable(m.job, []string{"a"}); len(probe) != 1 {
		t.Fatal("a second report does not wait on the probe in flight")
	}
	if probe, _ := m.s.Unreachable("nosuch", []string{"a"}); len(probe) != 0 {
		t.Fatal("a report on no job probed")
	}
}
