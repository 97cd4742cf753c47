package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/scheduler/store"
)

// apply carries out the effects a transition of the cluster state
// returned, in order: calls to executors and commits go to goroutines the
// scheduler owns, writes to the persist queue, lines to the log. It
// returns the outcome channel of the last PersistJob with Sync (nil:
// none). Called with mu held, right after the transition.
func (s *Scheduler) apply(fx []cluster.Effect) <-chan error {
	var synced <-chan error
	for _, f := range fx {
		switch f := f.(type) {
		case cluster.Launch:
			s.spawn(func(ctx context.Context) { s.pushTasks(ctx, f.Executor, f.Tasks) })
		case cluster.Cancel:
			s.spawn(func(ctx context.Context) { s.cancelTasks(ctx, f.Executor, f.Tasks) })
		case cluster.RemoveData:
			s.spawn(func(ctx context.Context) { s.removeJobData(ctx, f.Executor, f.Job) })
		case cluster.PersistJob:
			var done chan error
			if f.Sync {
				done = make(chan error, 1)
				synced = done
			}
			s.persist(persistOp{kind: opPut, bucket: store.Running, key: f.Job, value: f.Record, done: done})
		case cluster.PersistTask:
			s.persist(persistOp{kind: opPut, bucket: store.TaskBucket(f.Job), key: cluster.TaskKey(f.Stage, f.Partition), value: f.Record})
		case cluster.DropTasks:
			s.dropTasks(f.Job)
		case cluster.ForgetJob:
			s.forgetJob(f.Job)
		case cluster.Commit:
			s.commit(f)
		case cluster.Probe:
			s.probe(f.Executor, f.Reason)
		case cluster.Disconnect:
			s.dropConn(f.Executor)
		case cluster.Summarize:
			s.recordJob(f.Job)
		case cluster.Wake:
			s.wake()
		case cluster.Log:
			s.log.WithLevel(f.Level).Fields(f.Fields).Msg(f.Msg)
		case cluster.Count:
			s.count(f)
		}
	}
	return synced
}

// count adds to a Prometheus counter.
func (s *Scheduler) count(c cluster.Count) {
	switch c.Metric {
	case cluster.ExecutorsLost:
		s.prom.executorsLost.Add(c.N)
	case cluster.SpeculativeCopies:
		s.prom.speculative.WithLabelValues(c.Outcome).Add(c.N)
	case cluster.RecoveredTasks:
		s.prom.recovered.WithLabelValues(c.Outcome).Add(c.N)
	}
}

// cancelTasks asks push executor eid to cancel tasks.
func (s *Scheduler) cancelTasks(ctx context.Context, eid string, infos []*kapotv1.RunningTaskInfo) {
	c, err := s.client(eid)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.CancelTasks(ctx, &kapotv1.CancelTasksRequest{Tasks: infos}); err != nil {
		s.log.Warn().Err(err).Str("executor", eid).Msg("cancel tasks")
	}
}

// removeJobData asks push executor eid to delete a job's data.
func (s *Scheduler) removeJobData(ctx context.Context, eid, jobID string) {
	c, err := s.client(eid)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.RemoveJobData(ctx, &kapotv1.RemoveJobDataRequest{JobId: jobID}); err != nil {
		s.log.Debug().Err(err).Str("executor", eid).Str("job", jobID).Msg("remove job data")
	}
}

// commit commits a writing job's files off the lock, once the job's
// record says it commits (a scheduler taking over must know whether the
// commit may have begun), and reports the outcome to the state. Called
// with mu held.
func (s *Scheduler) commit(c cluster.Commit) {
	recorded := make(chan error, 1)
	if c.Record != nil {
		s.persist(persistOp{kind: opPut, bucket: store.Running, key: c.Job, value: c.Record, done: recorded})
	} else {
		recorded <- nil
	}
	w, _ := c.Write.Of.(*writeJob)
	s.spawn(func(ctx context.Context) {
		var err error
		select {
		case err = <-recorded:
		case <-ctx.Done():
			err = ctx.Err()
		}
		switch {
		case err != nil:
			err = fmt.Errorf("record the commit in the state store: %w", err)
		case w == nil:
			err = errs.New("the write has no commit (a recovered job)", errs.ErrInternal)
		default:
			err = w.commit(context.WithoutCancel(ctx), c.Files)
		}
		var rows int64
		for _, f := range c.Files {
			rows += f.GetRows()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.apply(s.cl.Committed(c.Job, err, rows, time.Now()))
	})
}
