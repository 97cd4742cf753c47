package cluster

import (
	"errors"
	"strings"
	"testing"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestAdmit: the session's job cap and placement.
func TestAdmit(t *testing.T) {
	tagged := func(m *machine) {
		r := reg("t", kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED)
		r.Tags = []string{"gpu"}
		m.s.Register(r, nil, nil, m.now)
	}
	for _, c := range []struct {
		name      string
		executors []string
		setup     func(m *machine)
		owner     string
		placement *kapotv1.PlacementPolicy
		want      error
	}{
		{"under the cap", []string{"a"}, nil, "s1", nil, nil},
		{"at the cap", []string{"a"}, func(m *machine) { m.submit("job2", "s1"); m.submit("job3", "s1") }, "s1", nil, ErrSessionBusy},
		{"another session", []string{"a"}, func(m *machine) { m.submit("job2", "s1") }, "s2", nil, nil},
		{"anonymous: no cap", []string{"a"}, func(m *machine) { m.submit("job2", ""); m.submit("job3", "") }, "", nil, nil},
		{"flight sql: no cap", []string{"a"}, func(m *machine) { m.submit("job2", OwnerFlightSQL) }, OwnerFlightSQL, nil, nil},
		{"a finished job does not count", []string{"a"}, func(m *machine) { m.submit("job2", "s1"); m.s.Fail("job2", "x", m.now) }, "s1", nil, nil},
		{"no executor yet: the job waits", nil, nil, "", &kapotv1.PlacementPolicy{Policy: &kapotv1.PlacementPolicy_MatchTag{MatchTag: "gpu"}}, nil},
		{"no executor has the tag", []string{"a"}, nil, "", &kapotv1.PlacementPolicy{Policy: &kapotv1.PlacementPolicy_MatchTag{MatchTag: "gpu"}}, ErrNoPlacement},
		{"a tagged executor", []string{"a"}, tagged, "", &kapotv1.PlacementPolicy{Policy: &kapotv1.PlacementPolicy_MatchTag{MatchTag: "gpu"}}, nil},
		{"only tagged executors, no tag asked", nil, tagged, "", nil, ErrNoPlacement},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, func(cfg *Config) { cfg.MaxSessionJobs = 2 }, c.executors...)
			if c.setup != nil {
				c.setup(m)
			}
			if err := m.s.Admit(c.owner, c.placement); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("admit: %v, want %v", err, c.want)
			}
		})
	}
}

// TestAssignShares: which job a free slot goes to, fair or fifo, and the
// fair-share slot of a push executor all of whose slots are taken.
func TestAssignShares(t *testing.T) {
	for _, c := range []struct {
		name string
		fifo bool
		// jobs to submit after job1 (owner of each), and the job of each
		// of the first three launches on a's two slots and b's fair slot.
		owners []string
		want   []string
	}{
		// job1 (session s0) takes a's first slot; the next goes to the
		// job running the fewest tasks.
		{"fair between jobs", false, []string{"s1"}, []string{"job1", "job2"}},
		{"fifo: the oldest job first", true, []string{"s1"}, []string{"job1", "job1"}},
		// A session with two jobs gets no more than one with one.
		{"fair between sessions", false, []string{"s1", "s1", "s2"}, []string{"job1", "job2", "job4"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, func(cfg *Config) { cfg.FIFO = c.fifo }, "a")
			m.s.jobs["job1"].Owner = "s0"
			for i, o := range c.owners {
				m.submit("job"+string(rune('2'+i)), o)
			}
			var got []string
			for range c.want {
				for _, d := range m.assign("a", 1) {
					got = append(got, d.GetJobId())
				}
				m.s.executors["a"].Reg.Resources.TaskSlots++ // room for the next
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("launched %v, want %v", got, c.want)
			}
		})
	}
}

// TestFairShareSlot: a push executor whose task slots are all taken gives
// its fair-share slot to a session that runs nothing, never to one that
// runs something; fifo has none.
func TestFairShareSlot(t *testing.T) {
	for _, c := range []struct {
		name  string
		fifo  bool
		owner string // of the second job
		want  int    // tasks on the fair-share slot
	}{
		{"a session waiting", false, "s2", 1},
		{"the same session", false, "s1", 0},
		{"fifo", true, "s2", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachineWith(t, func(cfg *Config) { cfg.FIFO = c.fifo }, kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PUSH_STAGED, "p")
			m.s.jobs["job1"].Owner = "s1"
			if l := effectsOf[Launch](m.s.Offer(m.now)); len(l) != 1 || len(l[0].Tasks) != 2 {
				t.Fatalf("first offer: %v", l)
			}
			m.submit("job2", c.owner)
			fair := 0
			for _, l := range effectsOf[Launch](m.s.Offer(m.now)) {
				for _, d := range l.Tasks {
					if !d.GetFairShareSlot() || d.GetJobId() != "job2" {
						t.Fatalf("launched %v beyond the task slots", d)
					}
					fair++
				}
			}
			if fair != c.want {
				t.Fatalf("%d tasks on the fair-share slot, want %d", fair, c.want)
			}
		})
	}
}

// TestTaskTooLarge: a stage whose task plan is over MaxTaskBytes fails
// its job instead of being sent.
func TestTaskTooLarge(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.MaxTaskBytes = 5 }, "a")
	if defs := m.assign("a", 2); len(defs) != 0 {
		t.Fatalf("launched %v", defs)
	}
	if j := m.s.jobs[m.job]; j.State != kapotv1.JobState_JOB_STATE_FAILED || !strings.Contains(j.Err, "--max-task-bytes") {
		t.Fatalf("job %s: %s", j.State, j.Err)
	}
}
