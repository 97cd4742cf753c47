package cluster

import (
	"github.com/rs/zerolog"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Effect is what a transition asks the scheduler to do outside the state:
// one of the types below. Effects are applied in the order they are
// returned, under the lock the transition ran under: an effect that names
// a *Job reads it as the transition left it.
type Effect interface{ effect() }

// Launch sends tasks to a push-staged executor (pull-staged executors get
// theirs in the answer to their poll).
type Launch struct {
	Executor string
	Tasks    []*kapotv1.TaskDefinition
}

// Cancel asks a push-staged executor to cancel tasks (pull-staged ones
// are told at their next poll: Executor.CancelQueue).
type Cancel struct {
	Executor string
	Tasks    []*kapotv1.RunningTaskInfo
}

// RemoveData asks a push-staged executor to delete a job's data.
type RemoveData struct {
	Executor, Job string
}

// PersistJob writes a job's record (a JobRecord, encoded) to the state
// store; Sync says the caller waits until it is written.
type PersistJob struct {
	Job    string
	Record []byte
	Sync   bool
}

// PersistTask writes the record of a completed task (a TaskRecord,
// encoded).
type PersistTask struct {
	Job       string
	Stage     uint32
	Partition int
	Record    []byte
}

// DropTasks removes a job's task records (its outputs are gone).
type DropTasks struct{ Job string }

// ForgetJob removes everything the store keeps of a job but its summary.
type ForgetJob struct{ Job string }

// Commit commits a writing job's files once Record (the job's record,
// marked committing) is written; the scheduler reports the outcome with
// State.Committed. Files are those of the accepted launches only.
type Commit struct {
	Job    string
	Write  *Write
	Files  []*kapotv1.WrittenFile
	Record []byte // nil: nothing to write first
}

// Probe asks an executor whether it is alive; the scheduler reports the
// answer with State.Probed.
type Probe struct {
	Executor, Reason string
}

// Disconnect closes the scheduler's connection to a lost executor.
type Disconnect struct{ Executor string }

// Summarize records the summary of a job that reached a final state in
// the job history.
type Summarize struct{ Job *Job }

// Wake asks the scheduler to offer free slots again (State.Offer) soon.
type Wake struct{}

// Log is a line for the scheduler's log: Fields are key, value pairs.
type Log struct {
	Level  zerolog.Level
	Msg    string
	Fields []any
}

// Metric names a counter of Count.
type Metric int

// The counters.
const (
	// ExecutorsLost counts executors declared lost.
	ExecutorsLost Metric = iota
	// SpeculativeCopies counts speculative copies, by outcome (started,
	// won).
	SpeculativeCopies
	// RecoveredTasks counts the tasks of recovered jobs, by outcome
	// (kept, adopted, rerun).
	RecoveredTasks
)

// Count adds N to a counter, with the label Outcome where it has one.
type Count struct {
	Metric  Metric
	Outcome string
	N       float64
}

func (Launch) effect()      {}
func (Cancel) effect()      {}
func (RemoveData) effect()  {}
func (PersistJob) effect()  {}
func (PersistTask) effect() {}
func (DropTasks) effect()   {}
func (ForgetJob) effect()   {}
func (Commit) effect()      {}
func (Probe) effect()       {}
func (Disconnect) effect()  {}
func (Summarize) effect()   {}
func (Wake) effect()        {}
func (Log) effect()         {}
func (Count) effect()       {}

// emit queues effects for the transition in progress.
func (s *State) emit(e ...Effect) { s.fx = append(s.fx, e...) }

// take returns the effects queued by the transition that ends.
func (s *State) take() []Effect {
	fx := s.fx
	s.fx = nil
	return fx
}

func (s *State) logInfo(msg string, kv ...any)  { s.emit(Log{zerolog.InfoLevel, msg, kv}) }
func (s *State) logWarn(msg string, kv ...any)  { s.emit(Log{zerolog.WarnLevel, msg, kv}) }
func (s *State) logError(msg string, kv ...any) { s.emit(Log{zerolog.ErrorLevel, msg, kv}) }
