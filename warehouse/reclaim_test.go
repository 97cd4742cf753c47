package warehouse

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// A retired location goes once the retention has passed and no job
// planned at or before its retirement may still read it; a failed removal
// is tried again; saved entries come back with Load.
func TestReclaimer(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var oldest time.Time
	busy := false
	var removed []string
	failing := true
	saved := map[string][]byte{}
	r := &Reclaimer{Retention: time.Minute, Now: func() time.Time { return now },
		Oldest: func() (time.Time, bool) { return oldest, busy },
		Remove: func(_ context.Context, loc string) error {
			if loc == "flaky" && failing {
				return errors.New("disk said no")
			}
			removed = append(removed, loc)
			return nil
		},
		Save:   func(_ context.Context, k string, v []byte) error { saved[k] = v; return nil },
		Forget: func(_ context.Context, k string) error { delete(saved, k); return nil }}
	sweep := func(want ...string) {
		t.Helper()
		removed = nil
		_, _ = r.Sweep(ctx)
		slices.Sort(removed)
		if !slices.Equal(removed, want) {
			t.Fatalf("at %s removed %q, want %q", now.Format(time.TimeOnly), removed, want)
		}
	}
	// A reader planned a second before the retirement is still running.
	oldest, busy = now.Add(-time.Second), true
	if err := r.Retire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	sweep() // the reader runs on
	// Only readers planned after it remain.
	oldest = now.Add(-time.Second)
	sweep("a")
	// Within the retention nothing goes, even without readers.
	busy = false
	_ = r.Retire(ctx, "b")
	_ = r.Retire(ctx, "flaky")
	now = now.Add(30 * time.Second)
	sweep()
	now = now.Add(31 * time.Second)
	sweep("b")
	if len(saved) != 1 || len(r.Pending()) != 1 {
		t.Fatalf("after a failed removal: saved %d, pending %v", len(saved), r.Pending())
	}
	// A scheduler that takes over loads the saved entry and removes it.
	r2 := &Reclaimer{Retention: time.Minute, Now: r.Now, Oldest: r.Oldest, Remove: r.Remove, Forget: r.Forget}
	for k, v := range saved {
		if err := r2.Load(k, v); err != nil {
			t.Fatal(err)
		}
	}
	failing = false
	r = r2
	sweep("flaky")
	if len(saved) != 0 || len(r.Pending()) != 0 {
		t.Fatalf("saved %d, pending %v after the last removal", len(saved), r.Pending())
	}
	if err := r.Load("x", []byte("{")); err == nil {
		t.Fatal("an unreadable entry loaded")
	}
}
