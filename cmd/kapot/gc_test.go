package main

import (
	"math"
	"runtime/debug"
	"testing"
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
