package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/store"
)

// What a scheduler writes so that another (a follower taking over on etcd,
// or itself restarted on its state dir) can carry its jobs on: each job's
// record (its plan as submitted, owner, state) in store.Running, and each
// completed task (which executor holds its output, the output's
// statistics) in store.TaskBucket(job). The writes leave the scheduler's
// lock in order through one queue: a record lost with a dying leader only
// makes its successor run that task again.

// jobRecord is a job as the state store keeps it.
type jobRecord struct {
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
}

// taskRecord is a completed task as the state store keeps it.
type taskRecord struct {
	Executor []byte `json:"executor"` // ExecutorMetadata
	Success  []byte `json:"success"`  // SuccessfulTask
	TookMs   int64  `json:"took_ms"`
}

type persistKind int

const (
	opPut persistKind = iota
	opDelete
	opDropBucket
)

type persistOp struct {
	kind        persistKind
	bucket, key string
	value       []byte
	done        chan<- error // told the outcome, if set
}

// persist queues a write of the durable job state. Safe with mu held.
func (s *Scheduler) persist(op persistOp) {
	s.pmu.Lock()
	s.pqueue = append(s.pqueue, op)
	s.pmu.Unlock()
	select {
	case s.pkick <- struct{}{}:
	default:
	}
}

// persistJob queues j's record. Called with mu held.
func (s *Scheduler) persistJob(j *jobState) { s.persistJobDone(j, nil) }

// persistJobDone queues j's record; done (if set) is told when it is
// written. Called with mu held.
func (s *Scheduler) persistJobDone(j *jobState, done chan<- error) {
	if j.plan == nil && !j.released {
		if done != nil {
			done <- nil
		}
		return
	}
	// A released job's record has no plan: nothing runs it again.
	var plan []byte
	if j.plan != nil {
		var err error
		if plan, err = proto.Marshal(j.plan); err != nil {
			return
		}
	}
	rec := jobRecord{ID: j.id, Name: j.name, Owner: j.owner, Detached: j.detached, Props: j.props, Plan: plan, Request: j.request,
		Queued: j.queued, Start: j.start, Write: j.write != nil, Committing: j.committing, State: j.state, Err: j.err, End: j.end, DataRemoved: j.dataRemoved}
	if j.placement != nil {
		rec.Placement, _ = proto.Marshal(j.placement)
	}
	if j.write != nil {
		rec.RowsWritten = j.write.rows
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	s.persist(persistOp{kind: opPut, bucket: store.Running, key: j.id, value: b, done: done})
}

// persistTask queues the record of task p of stage sid of j, just
// completed. Called with mu held.
func (s *Scheduler) persistTask(j *jobState, sid uint32, p int, t *taskState) {
	if j.plan == nil || j.released {
		return
	}
	ex, err1 := proto.Marshal(t.executor)
	ok, err2 := proto.Marshal(&kapotv1.SuccessfulTask{Partitions: t.outputs, OperatorMetrics: t.metrics, WrittenFiles: t.written})
	if err1 != nil || err2 != nil {
		return
	}
	b, err := json.Marshal(taskRecord{Executor: ex, Success: ok, TookMs: t.took.Milliseconds()})
	if err != nil {
		return
	}
	s.persist(persistOp{kind: opPut, bucket: store.TaskBucket(j.id), key: fmt.Sprintf("%d/%d", sid, p), value: b})
}

// dropTasks queues the removal of j's task records (its outputs are gone).
func (s *Scheduler) dropTasks(jobID string) {
	s.persist(persistOp{kind: opDropBucket, bucket: store.TaskBucket(jobID)})
}

// forgetJob queues the removal of everything kept of a job but its summary.
func (s *Scheduler) forgetJob(jobID string) {
	s.dropTasks(jobID)
	s.persist(persistOp{kind: opDelete, bucket: store.Running, key: jobID})
}

// persistLoop applies queued writes in order until ctx ends, then those
// still queued for a few seconds more. A write refused because another
// scheduler leads now ends this one (see fatal).
func (s *Scheduler) persistLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			if s.deposed.Load() {
				return // its writes would be refused
			}
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.drainPersist(dctx)
			cancel()
			return
		case <-s.pkick:
		}
		if !s.drainPersist(ctx) {
			return
		}
	}
}

// drainPersist applies the queue; false when this scheduler was deposed.
func (s *Scheduler) drainPersist(ctx context.Context) bool {
	for {
		s.pmu.Lock()
		q := s.pqueue
		s.pqueue = nil
		s.pmu.Unlock()
		if len(q) == 0 {
			return true
		}
		for i, op := range q {
			err := s.apply(ctx, op)
			if op.done != nil {
				op.done <- err
			}
			if err != nil {
				for _, rest := range q[i+1:] {
					if rest.done != nil {
						rest.done <- err
					}
				}
			}
			if errors.Is(err, store.ErrFenced) {
				s.fail(err)
				return false
			} else if err != nil {
				return true // ctx ended
			}
		}
	}
}

// apply makes one write, retrying while the store is unreachable.
func (s *Scheduler) apply(ctx context.Context, op persistOp) error {
	backoff := 100 * time.Millisecond
	for {
		var err error
		switch op.kind {
		case opPut:
			err = s.state.Put(ctx, op.bucket, op.key, op.value)
		case opDelete:
			err = s.state.Delete(ctx, op.bucket, op.key)
		case opDropBucket:
			err = s.state.DeleteBucket(ctx, op.bucket)
		}
		if err == nil || errors.Is(err, store.ErrFenced) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn().Err(err).Str("bucket", op.bucket).Str("key", op.key).Msg("state store write failed; retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// fail stops the scheduler with err (Run returns it).
func (s *Scheduler) fail(err error) {
	s.deposed.Store(true)
	select {
	case s.fatal <- err:
	default:
	}
}
