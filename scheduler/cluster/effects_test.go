package cluster

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// describe is an effect in a line (nil for log lines, which tests do not
// pin down).
func describe(f Effect) []string {
	switch f := f.(type) {
	case Launch:
		return []string{fmt.Sprintf("launch %s %d", f.Executor, len(f.Tasks))}
	case Cancel:
		return []string{fmt.Sprintf("cancel %s %d", f.Executor, len(f.Tasks))}
	case RemoveData:
		return []string{fmt.Sprintf("remove %s %s", f.Executor, f.Job)}
	case PersistJob:
		if f.Sync {
			return []string{"persist " + f.Job + " sync"}
		}
		return []string{"persist " + f.Job}
	case PersistTask:
		return []string{fmt.Sprintf("persist %s %d/%d", f.Job, f.Stage, f.Partition)}
	case DropTasks:
		return []string{"drop " + f.Job}
	case ForgetJob:
		return []string{"forget " + f.Job}
	case Commit:
		return []string{fmt.Sprintf("commit %s %d", f.Job, len(f.Files))}
	case Probe:
		return []string{"probe " + f.Executor}
	case Disconnect:
		return []string{"disconnect " + f.Executor}
	case Summarize:
		return []string{"summarize " + f.Job.ID}
	case Wake:
		return []string{"wake"}
	case Count:
		return []string{fmt.Sprintf("count %d %s %g", f.Metric, f.Outcome, f.N)}
	}
	return nil
}

func describeAll(fx []Effect) []string {
	var out []string
	for _, f := range fx {
		out = append(out, describe(f)...)
	}
	return out
}

// runAll launches and finishes every task of the job on push executor p,
// the last report's effects returned.
func runAll(m *machine) []Effect {
	var last []Effect
	for m.state() == kapotv1.JobState_JOB_STATE_RUNNING {
		launches := effectsOf[Launch](m.keep(m.s.Offer(m.now)))
		if len(launches) == 0 {
			break // committing, or stuck
		}
		for _, l := range launches {
			for _, d := range l.Tasks {
				m.now = m.now.Add(time.Millisecond)
				last = m.succeed(l.Executor, d)
			}
		}
	}
	return last
}

// TestEffects: what each transition asks the scheduler to do, with one
// push-staged executor p and the example job.
func TestEffects(t *testing.T) {
	noAbandon := func(c *Config) { c.AbandonedJobTimeout = 0 }
	quiet := func(c *Config) { c.AbandonedJobTimeout, c.ExecutorTimeout = 0, 2*time.Hour }
	for _, c := range []struct {
		name string
		mod  func(*Config)
		run  func(m *machine) []Effect
		want []string
	}{
		{"submit", nil, func(m *machine) []Effect {
			_, fx := m.s.Submit(exampleJob("job2", "", m.now))
			return fx
		}, []string{"persist job2 sync", "wake"}},
		{"the same request twice", nil, func(m *machine) []Effect {
			j := exampleJob("job2", "", m.now)
			j.Request = RequestKey("s", "r1")
			m.s.Submit(j)
			again := exampleJob("job3", "", m.now)
			again.Request = j.Request
			id, fx := m.s.Submit(again)
			if id != "job2" || !isClosed(again.Done()) {
				m.t.Fatalf("the second submission got %q", id)
			}
			return fx
		}, nil},
		{"offer", nil, func(m *machine) []Effect { return m.s.Offer(m.now) }, []string{"launch p 2"}},
		{"a map task succeeds", nil, func(m *machine) []Effect {
			l := effectsOf[Launch](m.s.Offer(m.now))[0]
			return m.succeed("p", l.Tasks[0])
		}, []string{"persist job1 1/0", "wake"}},
		{"the last task succeeds", nil, runAll, []string{"persist job1 2/1", "summarize job1", "persist job1", "wake"}},
		{"cancel", nil, func(m *machine) []Effect {
			m.s.Offer(m.now)
			_, fx, _ := m.s.Cancel(m.job, m.now)
			return fx
		}, []string{"summarize job1", "drop job1", "persist job1", "cancel p 2", "remove p job1"}},
		{"a write's last stage commits", nil, func(m *machine) []Effect {
			m.s.jobs[m.job].Write = &Write{}
			return runAll(m)
		}, []string{"persist job1 2/1", "commit job1 0", "wake"}},
		{"a write is cancelled while it commits", nil, func(m *machine) []Effect {
			m.s.jobs[m.job].Write = &Write{}
			runAll(m)
			if ok, _, _ := m.s.Cancel(m.job, m.now); ok {
				m.t.Fatal("a committing write was cancelled")
			}
			return m.s.Committed(m.job, nil, 7, m.now)
		}, []string{"summarize job1", "persist job1"}},
		{"a commit fails", nil, func(m *machine) []Effect {
			m.s.jobs[m.job].Write = &Write{}
			runAll(m)
			return m.s.Committed(m.job, errors.New("disk full"), 0, m.now)
		}, []string{"summarize job1", "drop job1", "persist job1", "remove p job1"}},
		{"a launch refused", nil, func(m *machine) []Effect {
			l := effectsOf[Launch](m.s.Offer(m.now))[0]
			// The first task's failure ends the job, which cancels the
			// second, still running until its own turn.
			return m.s.LaunchFailed("p", l.Tasks, true, errors.New("too large"), "too large", m.now)
		}, []string{"wake", "summarize job1", "drop job1", "persist job1", "cancel p 1", "remove p job1"}},
		{"a launch lost on the way", nil, func(m *machine) []Effect {
			l := effectsOf[Launch](m.s.Offer(m.now))[0]
			fx := m.s.LaunchFailed("p", l.Tasks, false, errors.New("unavailable"), "unavailable", m.now)
			if e := m.s.executors["p"]; e.FreeSlots() != 0 || m.task(1, 0).Phase != TaskPending {
				m.t.Fatal("the executor a launch failed on takes work, or its tasks stay running")
			}
			return fx
		}, []string{"wake", "probe p"}},
		{"a link breaks, the probe is answered", nil, func(m *machine) []Effect {
			gen, _, _ := m.s.OpenLink("p")
			fx := m.s.LinkBroke("p", gen, "EOF")
			if m.s.LinkBroke("p", gen, "EOF") != nil {
				m.t.Fatal("a second probe of a probed executor")
			}
			return append(fx, m.s.Probed("p", nil, "", m.now)...)
		}, []string{"probe p", "wake"}},
		{"a link breaks, the probe is not answered", nil, func(m *machine) []Effect {
			gen, gone, _ := m.s.OpenLink("p")
			fx := m.s.LinkBroke("p", gen, "EOF")
			fx = append(fx, m.s.Probed("p", errors.New("unavailable"), "its link broke", m.now)...)
			if !isClosed(gone) {
				m.t.Fatal("the lost executor's link stays open")
			}
			return fx
		}, []string{"probe p", fmt.Sprintf("count %d  1", ExecutorsLost), "disconnect p", "wake"}},
		{"no probes while stopping", nil, func(m *machine) []Effect {
			gen, _, _ := m.s.OpenLink("p")
			m.s.Stopping = true
			return m.s.LinkBroke("p", gen, "EOF")
		}, nil},
		{"a silent executor is lost", noAbandon, func(m *machine) []Effect {
			return m.s.Tick(m.now.Add(31 * time.Second))
		}, []string{fmt.Sprintf("count %d  1", ExecutorsLost), "disconnect p", "wake"}},
		{"an abandoned job is cancelled", func(c *Config) { c.ExecutorTimeout = time.Hour }, func(m *machine) []Effect {
			return m.s.Tick(m.now.Add(31 * time.Second))
		}, []string{"summarize job1", "drop job1", "persist job1", "remove p job1"}},
		{"a job past its deadline is cancelled", noAbandon, func(m *machine) []Effect {
			m.s.jobs[m.job].Deadline = m.now.Add(time.Second)
			m.s.Offer(m.now)
			return m.s.Tick(m.now.Add(2 * time.Second))
		}, []string{"summarize job1", "drop job1", "persist job1", "cancel p 2", "remove p job1"}},
		{"a finished job's data goes after the delay", quiet, func(m *machine) []Effect {
			runAll(m)
			if fx := m.s.Tick(m.now.Add(299 * time.Second)); len(fx) != 0 {
				m.t.Fatalf("before the delay: %v", describeAll(fx))
			}
			return m.s.Tick(m.now.Add(300 * time.Second))
		}, []string{"remove p job1", "drop job1", "persist job1"}},
		{"a finished job goes after its TTL", quiet, func(m *machine) []Effect {
			runAll(m)
			m.s.Tick(m.now.Add(300 * time.Second))
			fx := m.s.Tick(m.now.Add(time.Hour + time.Second))
			if _, ok := m.s.Job(m.job); ok {
				m.t.Fatal("the job is kept past its TTL")
			}
			return fx
		}, []string{"forget job1"}},
		{"stragglers", speculative, func(m *machine) []Effect {
			l := effectsOf[Launch](m.s.Offer(m.now))[0]
			m.now = m.now.Add(time.Millisecond)
			m.succeed("p", l.Tasks[0])
			m.age(1, 1, time.Second)
			_, fx := m.s.MarkStragglers(m.now)
			return fx
		}, []string{"wake"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachineWith(t, c.mod, kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PUSH_STAGED, "p")
			if got := describeAll(c.run(m)); !slices.Equal(got, c.want) {
				t.Fatalf("effects\n %q\nwant\n %q", got, c.want)
			}
		})
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
