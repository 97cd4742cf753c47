package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// gcHeadroom is the most the collector lets an executor's heap grow past
// its live heap between collections (see gcTuner). At 768 MiB the
// executors of a TPC-H SF 10 run peaked at 1.9 GiB RSS (live hash tables
// of ~570 MiB in Q9, Q18 and Q21, the headroom, the recycler's cache); at
// 512 MiB (and a 128 MiB cache) at 1.57 GiB, at 384 MiB at 1.47 GiB, the
// 22 queries' time the same (50.1 s against 49.8 s).
const gcHeadroom = 384 << 20

// minGCPercent keeps the collector from running back to back over a
// large live heap.
const minGCPercent = 25

// gcTuner keeps the heap's growth between collections at most percent %
// of the live heap and at most headroom bytes: after each collection it
// sets the GC percent to min(percent, headroom / live). A small live heap
// (batch buffers churning) gets the cheap high percentage; a large one
// (a hash table of a few hundred MiB) no longer lets the heap reach five
// times it. TPC-H SF 10's Q10 peaked at 1.8 GiB RSS with GOGC=400 alone.
type gcTuner struct {
	max      int
	headroom uint64
	last     atomic.Int64 // the percent last set
	stopped  atomic.Bool
	sample   []metrics.Sample
}

// sentinel is garbage whose finalizer runs once per collection (a
// pointer field keeps it out of the tiny allocator, whose blocks hold
// several objects and are freed together).
type sentinel struct {
	_ *int
	_ [16]byte
}

// startGCTuner starts tuning after each collection; stop ends it (at the
// next collection).
func startGCTuner(percent int, headroom uint64) (stop func()) {
	t := newGCTuner(percent, headroom)
	t.arm()
	return func() { t.stopped.Store(true) }
}

func newGCTuner(percent int, headroom uint64) *gcTuner {
	t := &gcTuner{max: percent, headroom: headroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.last.Store(int64(percent))
	return t
}

func (t *gcTuner) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if t.stopped.Load() {
			return
		}
		t.tune()
		t.arm()
	})
}

// tune sets the GC percent for the live heap the last collection left.
func (t *gcTuner) tune() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	if p := gcPercentFor(t.max, t.headroom, t.sample[0].Value.Uint64()); int64(p) != t.last.Load() {
		debug.SetGCPercent(p)
		t.last.Store(int64(p))
	}
}

// gcPercentFor is the GC percent that lets a heap of live bytes grow by at
// most max % and at most headroom bytes (but by minGCPercent % at least).
func gcPercentFor(max int, headroom, live uint64) int {
	if live == 0 {
		return max
	}
	p := headroom * 100 / live
	if p >= uint64(max) {
		return max
	}
	if p < minGCPercent {
		return minGCPercent
	}
	return int(p)
}
