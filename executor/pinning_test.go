package executor

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kapot-go/kapot/internal/config"
)

// TestSlotsNeedCores checks that pinning more slots than usable cores is
// refused at start with an error naming the flag, and that disabling
// pinning or reserving OS cores behave as documented.
func TestSlotsNeedCores(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.BindHost, cfg.Port, cfg.GRPCPort = "127.0.0.1", 0, 0
	closeNew := func(e *Executor) {
		e.flightLis.Close()
		e.grpcLis.Close()
	}
	cfg.ConcurrentTasks = runtime.NumCPU() + 1
	_, err := New(cfg, nil, zerolog.Nop())
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "--concurrent-tasks") {
		t.Fatalf("got %v, want an invalid --concurrent-tasks error", err)
	}
	cfg.DisableNUMAPinning = true
	e, err := New(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatalf("unpinned: %v", err)
	}
	closeNew(e)
	if e.slotCores != nil {
		t.Fatalf("unpinned executor assigned cores %v", e.slotCores)
	}
	cfg.DisableNUMAPinning = false
	cfg.ConcurrentTasks = 1
	cfg.OSCores = []int{0}
	if runtime.NumCPU() > 1 {
		e, err := New(cfg, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		closeNew(e)
		for _, c := range e.slotCores[0] {
			if c == 0 {
				t.Fatalf("slot got reserved OS core 0: %v", e.slotCores)
			}
		}
	}
	cfg.OSCores = []int{-1}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--os-cores") {
		t.Fatalf("negative os core: %v", err)
	}
}
