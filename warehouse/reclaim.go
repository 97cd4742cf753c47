package warehouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Reclaimer gives readers their snapshot: the files a DROP TABLE, a
// CREATE OR REPLACE or a compaction takes out of a table are retired, not
// removed, and go only once no job that may still read them runs (none
// planned before the retirement is still running or has tasks running)
// and the retention has passed since. A job planned after the retirement
// reads the table's new version, whose files stay. Retired locations are
// saved (Save/Forget) so that a scheduler that restarts, or one taking
// over, removes them in its turn. It is safe for concurrent use.
type Reclaimer struct {
	// Retention is the grace period after the retirement, and after the
	// last job planned before it (--table-retention).
	Retention time.Duration
	// Oldest reports when the oldest job that may still read table files
	// was planned: a job not ended, or one whose tasks still run. ok is
	// false when there is none.
	Oldest func() (planned time.Time, ok bool)
	// Remove removes a location and everything under it.
	Remove func(ctx context.Context, location string) error
	// Save and Forget persist the retired locations (nil: memory only).
	Save   func(ctx context.Context, key string, value []byte) error
	Forget func(ctx context.Context, key string) error
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu      sync.Mutex
	retired map[string]Retired
}

// Retired is a location taken out of a table at a time.
type Retired struct {
	Location string    `json:"location"`
	At       time.Time `json:"retired_at"`
}

func (r *Reclaimer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Retire takes location out of use: it goes once no reader may need it.
func (r *Reclaimer) Retire(ctx context.Context, location string) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	key := hex.EncodeToString(b[:])
	e := Retired{Location: location, At: r.now().UTC()}
	if r.Save != nil {
		v, _ := json.Marshal(e)
		if err := r.Save(ctx, key, v); err != nil {
			return fmt.Errorf("retire %s: %w", location, err)
		}
	}
	r.add(key, e)
	return nil
}

// Load takes back a saved retirement (a restart, a take-over).
func (r *Reclaimer) Load(key string, value []byte) error {
	var e Retired
	if err := json.Unmarshal(value, &e); err != nil || e.Location == "" {
		return fmt.Errorf("unreadable retired location %q: %v", key, err)
	}
	r.add(key, e)
	return nil
}

func (r *Reclaimer) add(key string, e Retired) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.retired == nil {
		r.retired = map[string]Retired{}
	}
	r.retired[key] = e
}

// Pending lists the retired locations not yet removed, oldest first.
func (r *Reclaimer) Pending() []Retired {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Retired, 0, len(r.retired))
	for _, e := range r.retired {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Sweep removes the retired locations no reader may need any more and
// returns how many went; a failed removal is tried again at the next
// sweep.
func (r *Reclaimer) Sweep(ctx context.Context) (int, error) {
	r.mu.Lock()
	idle := len(r.retired) == 0
	r.mu.Unlock()
	if idle {
		return 0, nil // nothing retired: no walk over the jobs
	}
	now := r.now()
	oldest, busy := time.Time{}, false
	if r.Oldest != nil {
		oldest, busy = r.Oldest()
	}
	r.mu.Lock()
	due := map[string]Retired{}
	for k, e := range r.retired {
		// A job planned at or before the retirement may read it.
		if now.Before(e.At.Add(r.Retention)) || busy && !oldest.After(e.At) {
			continue
		}
		due[k] = e
	}
	r.mu.Unlock()
	var firstErr error
	n := 0
	for k, e := range due {
		if err := r.Remove(ctx, e.Location); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("remove retired %s: %w", e.Location, err)
			}
			continue
		}
		if r.Forget != nil {
			if err := r.Forget(ctx, k); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("forget retired %s: %w", e.Location, err)
			}
		}
		r.mu.Lock()
		delete(r.retired, k)
		r.mu.Unlock()
		n++
	}
	return n, firstErr
}
