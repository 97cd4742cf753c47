package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortedRuns feeds sortedRuns keys in ascending runs (repeats within
// and across runs, keys met in earlier runs and new ones): each key must
// get one group, the one it got first, until a run past maxSortedRuns,
// which it refuses without change; each then reports every group once.
func TestSortedRuns(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		var s sortedRuns
		s.reset()
		seen := map[int64]int32{}
		next := int32(0)
		runs := 1 + rnd.IntN(maxSortedRuns+3)
		refused := false
	feed:
		for run := range runs {
			n := rnd.IntN(50)
			keys := make([]int64, n)
			for i := range keys {
				keys[i] = int64(rnd.IntN(40))
			}
			slices.Sort(keys)
			if run > 0 && n > 0 && s.some && keys[0] >= s.last {
				keys[0] = s.last - 1 // starts a run
			}
			for _, k := range keys {
				id, isNew, ok := s.group(k, next)
				if !ok {
					if run < maxSortedRuns {
						t.Fatalf("trial %d: run %d refused", trial, run+1)
					}
					refused = true
					break feed
				}
				want, had := seen[k]
				switch {
				case had && (isNew || id != want):
					t.Fatalf("trial %d: key %d got group %d (new %v), want %d", trial, k, id, isNew, want)
				case !had && (!isNew || id != next):
					t.Fatalf("trial %d: new key %d got group %d (new %v), want %d", trial, k, id, isNew, next)
				case !had:
					seen[k] = id
					next++
				}
			}
		}
		if !refused && s.runs > maxSortedRuns {
			t.Fatalf("trial %d: %d runs kept", trial, s.runs)
		}
		got := map[int64]int32{}
		s.each(func(k int64, id int32) {
			if _, dup := got[k]; dup {
				t.Fatalf("trial %d: key %d reported twice", trial, k)
			}
			got[k] = id
		})
		if len(got) != len(seen) || s.len() != len(seen) {
			t.Fatalf("trial %d: %d groups reported (len %d), want %d", trial, len(got), s.len(), len(seen))
		}
		for k, id := range seen {
			if got[k] != id {
				t.Fatalf("trial %d: key %d reported with group %d, want %d", trial, k, got[k], id)
			}
		}
	}
}
