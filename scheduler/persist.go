package scheduler

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/kapot-go/kapot/scheduler/store"
)

// What a scheduler writes so that another (a follower taking over on etcd,
// or itself restarted on its state dir) can carry its jobs on: each job's
// record (cluster.JobRecord: its plan as submitted, owner, state) in
// store.Running, and each completed task (cluster.TaskRecord: which
// executor holds its output, the output's statistics) in
// store.TaskBucket(job). The cluster state encodes them (effects
// PersistJob, PersistTask, Commit); the writes leave the scheduler's lock
// in order through one queue: a record lost with a dying leader only
// makes its successor run that task again.

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

// persistQueue is the ordered queue of writes of the durable job state:
// filled under the scheduler's lock (apply), drained by persistLoop.
type persistQueue struct {
	mu   sync.Mutex
	ops  []persistOp
	kick chan struct{} // has a value when ops may be waiting
}

func newPersistQueue() *persistQueue { return &persistQueue{kick: make(chan struct{}, 1)} }

// push queues op.
func (q *persistQueue) push(op persistOp) {
	q.mu.Lock()
	q.ops = append(q.ops, op)
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// take empties the queue.
func (q *persistQueue) take() []persistOp {
	q.mu.Lock()
	defer q.mu.Unlock()
	ops := q.ops
	q.ops = nil
	return ops
}

// persist queues a write of the durable job state. Safe with mu held.
func (s *Scheduler) persist(op persistOp) { s.pq.push(op) }

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
		case <-s.pq.kick:
		}
		if !s.drainPersist(ctx) {
			return
		}
	}
}

// drainPersist applies the queue; false when this scheduler was deposed.
func (s *Scheduler) drainPersist(ctx context.Context) bool {
	for {
		q := s.pq.take()
		if len(q) == 0 {
			return true
		}
		for i, op := range q {
			err := s.writeOp(ctx, op)
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

// writeOp makes one write, retrying while the store is unreachable.
func (s *Scheduler) writeOp(ctx context.Context, op persistOp) error {
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
