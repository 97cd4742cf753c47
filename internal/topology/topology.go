package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Node is one NUMA node and the usable CPUs on it, ascending.
type Node struct {
	ID   int
	CPUs []int
}

// Topology is the machine as this process may use it.
type Topology struct {
	Nodes []Node
}

// CPUs lists every usable CPU, ascending.
func (t *Topology) CPUs() []int {
	var out []int
	for _, n := range t.Nodes {
		out = append(out, n.CPUs...)
	}
	sort.Ints(out)
	return out
}

// ParseCPUList parses the kernel's cpulist syntax: comma-separated CPUs and
// ranges ("0-3,8,10-11"), with an optional stride ("0-15:2"); whitespace and
// an empty list are allowed.
func ParseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	var out []int
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		rng, stride := part, 1
		if r, st, ok := strings.Cut(part, ":"); ok {
			rng = r
			v, err := strconv.Atoi(st)
			if err != nil || v < 1 {
				return nil, fmt.Errorf("cpulist %q: bad stride in %q", s, part)
			}
			stride = v
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpulist %q: bad cpu %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("cpulist %q: bad range %q", s, rng)
			}
		}
		for c := a; c <= b; c += stride {
			out = append(out, c)
		}
	}
	sort.Ints(out)
	return slices.Compact(out), nil
}

var nodeDir = regexp.MustCompile(`^node(\d+)$`)

// Discover reads the NUMA nodes under root (normally "/") from
// sys/devices/system/node/node*/cpulist, keeps the online CPUs that allowed
// contains (nil: all), and falls back to one node of all online CPUs when
// the kernel exposes no nodes.
func Discover(root string, allowed []int) (*Topology, error) {
	online, err := readCPUList(filepath.Join(root, "sys/devices/system/cpu/online"))
	if err != nil {
		return nil, err
	}
	keep := map[int]bool{}
	for _, c := range online {
		keep[c] = true
	}
	if allowed != nil {
		ok := map[int]bool{}
		for _, c := range allowed {
			ok[c] = true
		}
		for c := range keep {
			if !ok[c] {
				delete(keep, c)
			}
		}
	}
	filter := func(cpus []int) []int {
		var out []int
		for _, c := range cpus {
			if keep[c] {
				out = append(out, c)
			}
		}
		return out
	}
	t := &Topology{}
	entries, _ := os.ReadDir(filepath.Join(root, "sys/devices/system/node"))
	for _, e := range entries {
		m := nodeDir.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		id, _ := strconv.Atoi(m[1])
		cpus, err := readCPUList(filepath.Join(root, "sys/devices/system/node", e.Name(), "cpulist"))
		if err != nil {
			return nil, err
		}
		if cpus = filter(cpus); len(cpus) > 0 {
			t.Nodes = append(t.Nodes, Node{ID: id, CPUs: cpus})
		}
	}
	if len(t.Nodes) == 0 {
		cpus := filter(online)
		if len(cpus) == 0 {
			return nil, fmt.Errorf("topology: no usable CPU (online %v, allowed %v)", online, allowed)
		}
		t.Nodes = []Node{{ID: 0, CPUs: cpus}}
	}
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].ID < t.Nodes[j].ID })
	return t, nil
}

func readCPUList(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return ParseCPUList(string(b))
}

// Allowed is the CPU set this process may run on (sched_getaffinity).
func Allowed() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	return cpusOf(&set), nil
}

func cpusOf(set *unix.CPUSet) []int {
	var out []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}

// Assign gives each of slots task slots its own cores, never one of
// osCores, never shared between slots. Every slot gets the same number of
// cores (the usable cores divided by the slots); a slot's cores come from
// one NUMA node when they fit in one.
func Assign(t *Topology, slots int, osCores []int) ([][]int, error) {
	reserved := map[int]bool{}
	for _, c := range osCores {
		reserved[c] = true
	}
	var free [][]int // per node
	total := 0
	for _, n := range t.Nodes {
		var cpus []int
		for _, c := range n.CPUs {
			if !reserved[c] {
				cpus = append(cpus, c)
			}
		}
		free = append(free, cpus)
		total += len(cpus)
	}
	if slots < 1 {
		return nil, fmt.Errorf("topology: %d task slots", slots)
	}
	if total < slots {
		return nil, fmt.Errorf("topology: %d task slots need at least %d cores, only %d are usable (os-cores %v reserved)", slots, slots, total, osCores)
	}
	per := total / slots
	out := make([][]int, 0, slots)
	// First give whole slots from single nodes, then fill across nodes.
	for i := range free {
		for len(free[i]) >= per && len(out) < slots {
			out = append(out, append([]int(nil), free[i][:per]...))
			free[i] = free[i][per:]
		}
	}
	var rest []int
	for _, f := range free {
		rest = append(rest, f...)
	}
	for len(out) < slots {
		out = append(out, append([]int(nil), rest[:per]...))
		rest = rest[per:]
	}
	return out, nil
}

// Pin locks the calling goroutine to its OS thread and restricts that
// thread to cpus. The returned function restores the thread's former
// affinity and unlocks it; call it from the same goroutine.
func Pin(cpus []int) (func(), error) {
	runtime.LockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("sched_setaffinity %v: %w", cpus, err)
	}
	return func() {
		_ = unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}, nil
}

// ThreadAffinity reads the CPUs the calling thread may run on, as the
// kernel reports them in /proc/self/task/<tid>/status.
func ThreadAffinity() ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", unix.Gettid()))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return ParseCPUList(v)
		}
	}
	return nil, fmt.Errorf("no Cpus_allowed_list in thread status")
}
