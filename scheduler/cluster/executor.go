package cluster

import (
	"fmt"
	"slices"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Executor is a registered executor (or one a recovered job expects).
type Executor struct {
	Reg      *kapotv1.ExecutorRegistration
	Metrics  *kapotv1.ExecutorMetrics // from its last heartbeat or poll
	LastSeen time.Time
	State    kapotv1.ExecutorState
	Running  map[uint64]struct{}
	// FairTask is the task on the executor's fair-share slot (0: free),
	// one of Running.
	FairTask uint64
	// LinkGen numbers the executor's links; Linked is set while the
	// latest is open.
	LinkGen uint64
	Linked  bool
	// Suspect executors get no new tasks until a probe clears them;
	// Probing while the probe is in flight.
	Suspect bool
	Probing bool
	// Expected executors held outputs of jobs this scheduler recovered
	// and have not registered with it yet.
	Expected bool
	// For pull executors: work to hand over at the next poll.
	CancelQueue []*kapotv1.RunningTaskInfo
	RemoveQueue []string

	gone chan struct{} // closed when the executor is declared lost
}

// Gone is closed when the executor is declared lost: it ends its link.
func (e *Executor) Gone() <-chan struct{} { return e.gone }

// configuredTags are the executor's tags other than its hostname.
func (e *Executor) configuredTags() []string {
	var out []string
	for _, t := range e.Reg.GetTags() {
		if t != e.Reg.GetHostname() {
			out = append(out, t)
		}
	}
	return out
}

// Allows reports whether a job with placement p may run on e: a tag match
// for MATCH_TAG (the hostname counts), and for ANY and NO_TAG an executor
// without configured tags (tagged executors take only work that asks for
// their tags).
func (e *Executor) Allows(p *kapotv1.PlacementPolicy) bool {
	if tag := p.GetMatchTag(); tag != "" {
		return slices.Contains(e.Reg.GetTags(), tag)
	}
	return len(e.configuredTags()) == 0
}

// PlacementString names a placement policy.
func PlacementString(p *kapotv1.PlacementPolicy) string {
	switch {
	case p.GetMatchTag() != "":
		return fmt.Sprintf("MATCH_TAG(%s)", p.GetMatchTag())
	case p.GetNoTag() != nil:
		return "NO_TAG"
	}
	return "ANY"
}

// Meta is where the executor is, as tasks and locations name it.
func (e *Executor) Meta() *kapotv1.ExecutorMetadata {
	return &kapotv1.ExecutorMetadata{Id: e.Reg.GetId(), Host: e.Reg.GetHost(), FlightPort: e.Reg.GetFlightPort(), GrpcPort: e.Reg.GetGrpcPort(), WorkDir: e.Reg.GetWorkDir()}
}

// FreeSlots is how many more tasks the executor takes now.
func (e *Executor) FreeSlots() int {
	if e.State != kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE || e.Suspect {
		return 0
	}
	busy := len(e.Running)
	if e.FairTask != 0 {
		busy-- // on the slot beyond the task slots
	}
	return max(0, int(e.Reg.GetResources().GetTaskSlots())-busy)
}

// forget takes a task that ended, or was moved, off the executor.
func (e *Executor) forget(taskID uint64) {
	delete(e.Running, taskID)
	if e.FairTask == taskID {
		e.FairTask = 0
	}
}

// Push reports whether the scheduler sends the executor its work (push
// staged) rather than handing it over at polls.
func (e *Executor) Push() bool {
	return e.Reg.GetPolicy() != kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED
}
