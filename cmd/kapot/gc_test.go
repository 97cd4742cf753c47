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
	tuneGC(250)
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("GC percent %d, want 250", got)
	}
	if limit := debug.SetMemoryLimit(-1); limit == math.MaxInt64 || limit <= 0 {
		t.Errorf("no soft memory limit set: %d", limit)
	}

	// GOGC set by the user: left alone.
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOGC", "150")
	tuneGC(250)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want it untouched (100)", got)
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		t.Errorf("memory limit %d with GOGC set, want it untouched", limit)
	}
}
