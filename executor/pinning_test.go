package executor

import (
	"errors"
	"runtime"
	"slices"
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
		e.cleanup()
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

// TestResourceFlags checks over-provisioning, the exposed memory share and
// the GPU flag as the registration advertises them, and their validation.
func TestResourceFlags(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.BindHost, cfg.Port, cfg.GRPCPort = "127.0.0.1", 0, 0
	cfg.OverProvisioning, cfg.CPUMultiplier, cfg.MemoryMultiplier = true, 3, 2
	cfg.OSCores = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9} // ignored when over-provisioning
	cfg.MemoryPoolSize = 64 << 20
	cfg.EnableNvidiaGPU = true
	cfg.Tags = []string{"fast"}
	e, err := New(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer e.flightLis.Close()
	defer e.grpcLis.Close()
	defer e.cleanup()
	reg := e.registration()
	res := reg.GetResources()
	if int(res.GetCores()) != 3*runtime.NumCPU() || int(res.GetTaskSlots()) != 3*runtime.NumCPU() || res.GetMemoryBytes() != 128<<20 || !res.GetGpu() {
		t.Fatalf("advertised %+v", res)
	}
	if e.slotCores != nil {
		t.Fatal("over-provisioning left pinning on")
	}
	if !slices.Contains(reg.GetTags(), "gpu") || !slices.Contains(reg.GetTags(), "fast") || reg.GetHostname() == "" || !slices.Contains(reg.GetTags(), reg.GetHostname()) {
		t.Fatalf("tags %v, hostname %q", reg.GetTags(), reg.GetHostname())
	}
	for flag, mod := range map[string]func(*Config){
		"--exposed-mem-percentage": func(c *Config) { c.ExposedMemPercentage = 49 },
		"--cpu-multiplier":         func(c *Config) { c.CPUMultiplier = 21 },
		"--memory-multiplier":      func(c *Config) { c.MemoryMultiplier = 0 },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: got %v", flag, err)
		}
	}
}
