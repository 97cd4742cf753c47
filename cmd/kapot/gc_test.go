package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC(250, 0)
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("GC percent %d, want 250", got)
	}
	machine := debug.SetMemoryLimit(-1)
	if machine == math.MaxInt64 || machine <= 0 {
		t.Errorf("no soft memory limit set: %d", machine)
	}

	// A memory pool bounds the heap: the pool plus 512 MiB, unless the
	// machine's limit is lower.
	tuneGC(250, 1<<30)
	if limit := debug.SetMemoryLimit(-1); limit != min(machine, 1<<30+512<<20) {
		t.Errorf("memory limit %d with a 1 GiB pool, want %d", limit, min(machine, 1<<30+512<<20))
	}

	// GOGC set by the user: left alone.
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOGC", "150")
	tuneGC(250, 1<<30)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want it untouched (100)", got)
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		t.Errorf("memory limit %d with GOGC set, want it untouched", limit)
	}
}

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		max            int
		headroom, live uint64
		want           int
	}{
		{400, 768 << 20, 0, 400},
		{400, 768 << 20, 100 << 20, 400},        // 768 % > 400 %
		{400, 768 << 20, 384 << 20, 200},        // 768 MiB over 384 MiB live
		{400, 768 << 20, 1536 << 20, 50},        // a large live heap: 768 MiB more at most
		{400, 768 << 20, 8 << 30, minGCPercent}, // never back to back
		{100, 768 << 20, 512 << 20, 100},
	} {
		if got := gcPercentFor(c.max, c.headroom, c.live); got != c.want {
			t.Errorf("gcPercentFor(%d, %d, %d) = %d, want %d", c.max, c.headroom, c.live, got, c.want)
		}
	}
}

// TestGCTunerFollowsLiveHeap: after collections with 64 MiB live and 16
// MiB of headroom, the tuner has lowered the GC percent to 25.
func TestGCTunerFollowsLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	tu := newGCTuner(400, 16<<20)
	tu.arm()
	defer tu.stopped.Store(true)
	live := make([]byte, 64<<20)
	for i := range live {
		live[i] = byte(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tu.last.Load() != minGCPercent && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // finalizers run on their own goroutine
	}
	runtime.KeepAlive(live)
	if got := tu.last.Load(); got != minGCPercent {
		t.Fatalf("GC percent %d with 64 MiB live and 16 MiB headroom, want %d", got, minGCPercent)
	}
}
