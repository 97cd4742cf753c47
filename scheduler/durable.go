package scheduler

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/scheduler/store"
)

// What the scheduler keeps across restarts (--state-dir): the tables of its
// catalog, as the statements that created them, and the summaries of the
// last maxHistory finished jobs. Writes go to the store off the
// scheduler's lock; a restart replays the tables (listing their files
// again, so new files count) and lists the past jobs.

// maxHistory bounds the finished jobs the store keeps.
const maxHistory = 1000

// loadCatalog registers the tables the store holds. A table whose files
// cannot be read now is left out (and kept in the store) with a warning.
func (s *Scheduler) loadCatalog(ctx context.Context) error {
	kvs, err := s.state.List(ctx, store.Tables)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := s.restoreTable(ctx, kv); err != nil {
			s.log.Warn().Err(err).Str("table", kv.Key).Msg("table of the state store not restored")
			continue
		}
		s.log.Info().Str("table", kv.Key).Msg("table restored from the state store")
	}
	return nil
}

// restoreTable registers one entry of the store's tables.
func (s *Scheduler) restoreTable(ctx context.Context, kv store.KV) error {
	return s.tables.Restore(ctx, kv.Key, kv.Value)
}

// saveTable records the statement that created table name.
func (s *Scheduler) saveTable(ctx context.Context, name, sql string) error {
	return s.state.Put(ctx, store.Tables, name, []byte(sql))
}

// loadHistory reads the past jobs' summaries, newest first.
func (s *Scheduler) loadHistory(ctx context.Context) error {
	kvs, err := s.state.List(ctx, store.Jobs)
	if err != nil {
		return err
	}
	var past []JobView
	for _, kv := range kvs {
		var v JobView
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			s.log.Warn().Err(err).Str("job", kv.Key).Msg("unreadable job summary in the state store")
			continue
		}
		v.Past = true
		past = append(past, v)
	}
	sortNewestFirst(past)
	// The web UI reads the history under mu, and a follower taking over
	// serves it meanwhile.
	s.mu.Lock()
	s.past = past
	s.mu.Unlock()
	return nil
}

func sortNewestFirst(vs []JobView) {
	slices.SortFunc(vs, func(a, b JobView) int {
		if c := b.Queued.Compare(a.Queued); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// recordJob writes a finished job's summary to the store, and drops the
// oldest summaries beyond maxHistory. Called with mu held; the write runs
// on its own goroutine.
func (s *Scheduler) recordJob(j *cluster.Job) {
	v := s.jobView(j, false)
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.spawn(func(ctx context.Context) {
		s.historyMu.Lock()
		defer s.historyMu.Unlock()
		if err := s.state.Put(ctx, store.Jobs, v.ID, b); err != nil {
			s.log.Warn().Err(err).Str("job", v.ID).Msg("record the job in the state store")
			return
		}
		kvs, err := s.state.List(ctx, store.Jobs)
		if err != nil || len(kvs) <= maxHistory {
			return
		}
		type entry struct {
			key string
			end time.Time
		}
		var all []entry
		for _, kv := range kvs {
			var e struct {
				Queued time.Time `json:"queued"`
			}
			json.Unmarshal(kv.Value, &e)
			all = append(all, entry{kv.Key, e.Queued})
		}
		slices.SortFunc(all, func(a, b entry) int { return a.end.Compare(b.end) })
		for _, e := range all[:len(all)-maxHistory] {
			s.state.Delete(ctx, store.Jobs, e.key)
		}
	})
}
