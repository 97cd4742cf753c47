package cluster

import (
	"testing"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

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
	m.now = m.now.Add(time.Millisecond)
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
	if n := len(effectsOf[Count](m.fx)); n == 0 {
		t.Fatal("the copy's start was not counted")
	}
	return defs[1], copies[0]
}

// TestSpeculation: what each outcome of a straggler and its copy does.
func TestSpeculation(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, m *machine, orig, cp *kapotv1.TaskDefinition)
	}{
		{"the copy wins", func(t *testing.T, m *machine, orig, cp *kapotv1.TaskDefinition) {
			fx := m.succeed("b", cp)
			task := m.task(1, 1)
			if task.Phase != TaskDone || task.Executor.GetId() != "b" || task.CopyID != 0 {
				t.Fatalf("after the copy won: phase %d on %s, copy %d", task.Phase, task.Executor.GetId(), task.CopyID)
			}
			if c := m.s.executors["a"].CancelQueue; len(c) != 1 || c[0].GetTaskId() != orig.GetTaskId() {
				t.Fatalf("cancels queued for a: %v, want the original %d", c, orig.GetTaskId())
			}
			if won := effectsOf[Count](fx); len(won) != 1 || won[0].Metric != SpeculativeCopies || won[0].Outcome != "won" {
				t.Fatalf("counted %v, want one copy won", won)
			}
			if len(m.s.executors["a"].Running) != 0 || len(m.s.executors["b"].Running) != 0 {
				t.Fatal("a finished or cancelled launch still holds a slot")
			}
			// The original's late success is ignored: the copy's output stands.
			if fx := m.succeed("a", orig); len(effectsOf[PersistTask](fx)) != 0 {
				t.Fatal("the loser's late report was persisted")
			}
			if task.Executor.GetId() != "b" {
				t.Fatal("the loser's late report replaced the winner's output")
			}
			// The job goes on: stage 2 runs and completes.
			for _, d := range m.assign("a", 2) {
				m.succeed("a", d)
			}
			if st := m.state(); st != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
				t.Fatalf("job %s", st)
			}
		}},
		{"the original wins and cancels the copy", func(t *testing.T, m *machine, orig, cp *kapotv1.TaskDefinition) {
			m.succeed("a", orig)
			if c := m.s.executors["b"].CancelQueue; len(c) != 1 || c[0].GetTaskId() != cp.GetTaskId() {
				t.Fatalf("cancels queued for b: %v, want the copy %d", c, cp.GetTaskId())
			}
			if task := m.task(1, 1); task.Phase != TaskDone || task.Executor.GetId() != "a" {
				t.Fatalf("phase %d on %s", task.Phase, task.Executor.GetId())
			}
		}},
		{"the copy's failure leaves the original", func(t *testing.T, m *machine, orig, cp *kapotv1.TaskDefinition) {
			m.fail("b", cp)
			task := m.task(1, 1)
			if task.Phase != TaskRunning || task.TaskID != orig.GetTaskId() || task.CopyID != 0 || task.Attempts != 0 {
				t.Fatalf("after the copy failed: phase %d, task %d, copy %d, failed attempts %d", task.Phase, task.TaskID, task.CopyID, task.Attempts)
			}
			m.succeed("a", orig)
			if task.Phase != TaskDone {
				t.Fatal("the original's success was not taken")
			}
		}},
		{"the original's failure cancels the copy and counts", func(t *testing.T, m *machine, orig, cp *kapotv1.TaskDefinition) {
			m.fail("a", orig)
			task := m.task(1, 1)
			if task.Phase != TaskPending || task.CopyID != 0 || task.Attempts != 1 {
				t.Fatalf("after the original failed: phase %d, copy %d, failed attempts %d", task.Phase, task.CopyID, task.Attempts)
			}
			if c := m.s.executors["b"].CancelQueue; len(c) != 1 || c[0].GetTaskId() != cp.GetTaskId() {
				t.Fatalf("cancels queued for b: %v, want the copy %d", c, cp.GetTaskId())
			}
		}},
		{"a lost executor promotes the copy", func(t *testing.T, m *machine, orig, cp *kapotv1.TaskDefinition) {
			fx := m.keep(m.s.Lost("a", "test"))
			task := m.task(1, 1)
			if task.Phase != TaskRunning || task.TaskID != cp.GetTaskId() || task.Executor.GetId() != "b" {
				t.Fatalf("after the original's executor was lost: phase %d, task %d on %s", task.Phase, task.TaskID, task.Executor.GetId())
			}
			if d := effectsOf[Disconnect](fx); len(d) != 1 || d[0].Executor != "a" {
				t.Fatalf("disconnects %v, want a", d)
			}
			// Partition 0 ran on a: its output is gone and it runs again;
			// the lost executor's tasks are not counted as failures.
			if p0 := m.task(1, 0); p0.Phase != TaskPending || p0.Attempts != 0 {
				t.Fatalf("partition 0 after its executor was lost: phase %d, attempts %d", p0.Phase, p0.Attempts)
			}
			m.succeed("b", cp)
			if task.Phase != TaskDone {
				t.Fatal("the promoted copy's success was not taken")
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, speculative, "a", "b")
			orig, cp := straggle(t, m)
			c.run(t, m, orig, cp)
		})
	}
}

// TestNoStragglers: when no task is a straggler.
func TestNoStragglers(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*Config)
		age  time.Duration
	}{
		{"speculation off", func(c *Config) { c.Speculation = false }, time.Hour},
		{"under the minimum runtime", func(c *Config) { c.SpeculationQuantile, c.SpeculationMinRuntime = 0.5, time.Minute }, 30 * time.Second},
		{"too few tasks done", func(c *Config) { c.SpeculationQuantile = 1 }, time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, c.mod, "a", "b")
			defs := m.assign("a", 2)
			m.now = m.now.Add(time.Millisecond)
			m.succeed("a", defs[0])
			m.age(1, 1, c.age)
			if n := m.stragglers(); n != 0 {
				t.Fatalf("%d stragglers marked", n)
			}
			if got := m.assign("b", 2); len(got) != 0 {
				t.Fatalf("b got %v with nothing pending and no straggler", got)
			}
		})
	}
}
