package cluster

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// What a scheduler writes so that another (a follower taking over, or
// itself restarted) can carry its jobs on: each job's record and each
// completed task's. The state encodes them when a transition asks for
// them to be written (PersistJob, PersistTask, Commit).

// JobRecord is a job as the state store keeps it.
type JobRecord struct {
	ID        string            `json:"id"`
	Name      string            `json:"name,omitempty"`
	Owner     string            `json:"owner,omitempty"`
	Detached  bool              `json:"detached,omitempty"`
	Placement []byte            `json:"placement,omitempty"`
	Props     map[string]string `json:"props,omitempty"`
	Plan      []byte            `json:"plan"`
	Queued    time.Time         `json:"queued"`
	Request   string            `json:"request,omitempty"`
	Start     time.Time         `json:"start"`
	// Write jobs are not carried on (their commit lived in the old
	// leader); Committing says the old leader had begun committing.
	Write       bool  `json:"write,omitempty"`
	Committing  bool  `json:"committing,omitempty"`
	RowsWritten int64 `json:"rows_written,omitempty"`
	// The final state of a finished job (its result stays readable until
	// its data is cleaned up).
	State       kapotv1.JobState `json:"state"`
	Err         string           `json:"err,omitempty"`
	End         time.Time        `json:"end,omitempty"`
	DataRemoved bool             `json:"data_removed,omitempty"`
	// Adapted are the stages adaptive execution rewrote (Job.Adapted).
	Adapted []uint32 `json:"adapted,omitempty"`
}

// TaskRecord is a completed task as the state store keeps it.
type TaskRecord struct {
	Executor []byte `json:"executor"` // ExecutorMetadata
	Success  []byte `json:"success"`  // SuccessfulTask
	TookMs   int64  `json:"took_ms"`
}

// jobRecord encodes j's record; ok is false when there is nothing to
// write (a job without its plan that was never released: none is) or it
// cannot be encoded.
func jobRecord(j *Job) ([]byte, bool) {
	if j.Plan == nil && !j.Released {
		return nil, false
	}
	// A released job's record has no plan: nothing runs it again.
	var plan []byte
	if j.Plan != nil {
		var err error
		if plan, err = proto.Marshal(j.Plan); err != nil {
			return nil, false
		}
	}
	rec := JobRecord{ID: j.ID, Name: j.Name, Owner: j.Owner, Detached: j.Detached, Props: j.Props, Plan: plan, Request: j.Request,
		Queued: j.Queued, Start: j.Start, Write: j.Write != nil, Committing: j.Committing, State: j.State, Err: j.Err, End: j.End, DataRemoved: j.DataRemoved, Adapted: j.Adapted}
	if j.Placement != nil {
		rec.Placement, _ = proto.Marshal(j.Placement)
	}
	if j.Write != nil {
		rec.RowsWritten = j.Write.Rows
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, false
	}
	return b, true
}

// persistJob asks for j's record to be written.
func (s *State) persistJob(j *Job) {
	if b, ok := jobRecord(j); ok {
		s.emit(PersistJob{Job: j.ID, Record: b})
	}
}

// persistTask asks for the record of task p of stage sid of j, just
// completed, to be written.
func (s *State) persistTask(j *Job, sid uint32, p int, t *Task) {
	if j.Plan == nil || j.Released {
		return
	}
	ex, err1 := proto.Marshal(t.Executor)
	ok, err2 := proto.Marshal(&kapotv1.SuccessfulTask{Partitions: t.Outputs, OperatorMetrics: t.Metrics, WrittenFiles: t.Written})
	if err1 != nil || err2 != nil {
		return
	}
	b, err := json.Marshal(TaskRecord{Executor: ex, Success: ok, TookMs: t.Took.Milliseconds()})
	if err != nil {
		return
	}
	s.emit(PersistTask{Job: j.ID, Stage: sid, Partition: p, Record: b})
}

// TaskKey is the key of the record of task p of stage sid (in its job's
// bucket).
func TaskKey(sid uint32, p int) string { return fmt.Sprintf("%d/%d", sid, p) }

// RestoreTask marks done the task a completed task's record names (key as
// TaskKey, record an encoded TaskRecord), with the executor that holds
// its output; false when the record does not fit j.
func (j *Job) RestoreTask(key string, record []byte) bool {
	sidText, pText, _ := strings.Cut(key, "/")
	sid, err1 := strconv.ParseUint(sidText, 10, 32)
	p, err2 := strconv.Atoi(pText)
	st, ok := j.Stages[uint32(sid)]
	if err1 != nil || err2 != nil || !ok || p < 0 || p >= len(st.Tasks) {
		return false
	}
	var tr TaskRecord
	ex, done := &kapotv1.ExecutorMetadata{}, &kapotv1.SuccessfulTask{}
	if json.Unmarshal(record, &tr) != nil || proto.Unmarshal(tr.Executor, ex) != nil || proto.Unmarshal(tr.Success, done) != nil || ex.GetId() == "" {
		return false
	}
	t := st.Tasks[p]
	t.Phase, t.Executor, t.Outputs, t.Metrics, t.Written, t.Took = TaskDone, ex, done.GetPartitions(), done.GetOperatorMetrics(), done.GetWrittenFiles(),
		time.Duration(tr.TookMs)*time.Millisecond
	return true
}
