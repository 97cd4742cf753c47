package scheduler

import (
	"context"
	"time"

	"github.com/kapot-go/kapot/scheduler/store"
)

// Snapshot reads: a query reads the version of each table it was planned
// with. The files a DROP TABLE, a CREATE OR REPLACE or a compaction takes
// out of a managed table are retired (warehouse.Reclaimer), and go only
// once every job planned at or before their retirement has ended and no
// task of it runs, plus --table-retention.

// plannedKey carries when a statement began planning, so that the job it
// becomes counts as a reader of what was current then.
type plannedKey struct{}

// plannedAt is when ctx's statement began planning (now when unmarked: a
// plan submitted as it is).
func plannedAt(ctx context.Context) time.Time {
	if t, ok := ctx.Value(plannedKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

// oldestReader is when the oldest job that may still read table files was
// planned: one not ended, or whose tasks still run.
func (s *Scheduler) oldestReader() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest time.Time
	found := false
	for j := range s.cl.Jobs() {
		if j.Finished() && !j.RunsTasks() {
			continue
		}
		if !found || j.Planned.Before(oldest) {
			oldest, found = j.Planned, true
		}
	}
	return oldest, found
}

// reclaimLoop removes retired table files that no job reads any more,
// while this scheduler leads.
func (s *Scheduler) reclaimLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.leading.Load() {
			continue
		}
		n, err := s.reclaim.Sweep(ctx)
		if err != nil {
			s.log.Warn().Err(err).Msg("retired table files not removed; trying again")
		}
		if n > 0 {
			s.log.Info().Int("locations", n).Msg("retired table files removed")
		}
	}
}

// loadRetired takes over the retired locations of the state store (a
// restart, a new leader): the jobs carried on hold them as before.
func (s *Scheduler) loadRetired(ctx context.Context) error {
	if s.reclaim == nil {
		return nil
	}
	kvs, err := s.state.List(ctx, store.Retired)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := s.reclaim.Load(kv.Key, kv.Value); err != nil {
			s.log.Warn().Err(err).Msg("retired table files forgotten")
			_ = s.state.Delete(ctx, store.Retired, kv.Key)
		}
	}
	return nil
}
