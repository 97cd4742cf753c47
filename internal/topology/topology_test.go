package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{
		"0-3,8,10-11\n": {0, 1, 2, 3, 8, 10, 11},
		"":              {},
		" 5 ":           {5},
		"0-7:2":         {0, 2, 4, 6},
		"3,1,1-2":       {1, 2, 3},
	} {
		got, err := ParseCPUList(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"a", "3-1", "1-", "0-4:0", "-1"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// fakeSysfs writes a sysfs tree: online CPUs and per-node cpulists.
func fakeSysfs(t *testing.T, online string, nodes map[int]string) string {
	t.Helper()
	root := t.TempDir()
	write := func(p, s string) {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sys/devices/system/cpu/online", online)
	for id, list := range nodes {
		write(fmt.Sprintf("sys/devices/system/node/node%d/cpulist", id), list)
	}
	os.MkdirAll(filepath.Join(root, "sys/devices/system/node/power"), 0o755) // not a node
	return root
}

func TestDiscover(t *testing.T) {
	// Two NUMA nodes × 40 hyper-threaded cores: node 0 has CPUs 0-39 and
	// their siblings 80-119, node 1 has 40-79 and 120-159.
	big := fakeSysfs(t, "0-159", map[int]string{0: "0-39,80-119", 1: "40-79,120-159"})
	topo, err := Discover(big, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Nodes) != 2 || len(topo.Nodes[0].CPUs) != 80 || topo.Nodes[1].CPUs[0] != 40 || len(topo.CPUs()) != 160 {
		t.Fatalf("topology %+v", topo.Nodes)
	}
	// Offline CPUs and a restricted allowed set are left out.
	topo, err = Discover(fakeSysfs(t, "0-5,7", map[int]string{0: "0-3", 1: "4-7"}), []int{1, 2, 3, 4, 5, 6, 7})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int{{1, 2, 3}, {4, 5, 7}}; len(topo.Nodes) != 2 || !slices.Equal(topo.Nodes[0].CPUs, want[0]) || !slices.Equal(topo.Nodes[1].CPUs, want[1]) {
		t.Fatalf("topology %+v", topo.Nodes)
	}
	// No node directories: one node of all online CPUs.
	topo, err = Discover(fakeSysfs(t, "0-3", nil), nil)
	if err != nil || len(topo.Nodes) != 1 || !slices.Equal(topo.Nodes[0].CPUs, []int{0, 1, 2, 3}) {
		t.Fatalf("fallback: %+v, %v", topo, err)
	}
	// A node whose CPUs are all disallowed disappears.
	topo, err = Discover(fakeSysfs(t, "0-3", map[int]string{0: "0-1", 1: "2-3"}), []int{2, 3})
	if err != nil || len(topo.Nodes) != 1 || topo.Nodes[0].ID != 1 {
		t.Fatalf("allowed set: %+v, %v", topo, err)
	}
	if _, err := Discover(t.TempDir(), nil); err == nil {
		t.Fatal("no sysfs: want an error")
	}
	// This machine.
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if topo, err := Discover("/", allowed); err != nil || len(topo.CPUs()) == 0 {
		t.Fatalf("this machine: %v, %v", topo, err)
	}
}

func TestAssign(t *testing.T) {
	two := &Topology{Nodes: []Node{{0, []int{0, 1, 2, 3, 4, 5, 6, 7}}, {1, []int{8, 9, 10, 11, 12, 13, 14, 15}}}}
	cases := []struct {
		name    string
		topo    *Topology
		slots   int
		osCores []int
		want    [][]int
	}{
		{"one core each", two, 16, nil, [][]int{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}, {12}, {13}, {14}, {15}}},
		{"four cores, one node each", two, 4, nil, [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}, {12, 13, 14, 15}}},
		{"os cores reserved", two, 2, []int{0, 8}, [][]int{{1, 2, 3, 4, 5, 6, 7}, {9, 10, 11, 12, 13, 14, 15}}},
		{"slots stay in one node when they fit", two, 3, []int{0, 1}, [][]int{{2, 3, 4, 5}, {8, 9, 10, 11}, {12, 13, 14, 15}}},
		{"a slot spans nodes only when it must", &Topology{Nodes: []Node{{0, []int{0, 1, 2, 3, 4}}, {1, []int{5, 6, 7, 8, 9}}}}, 3, nil, [][]int{{0, 1, 2}, {5, 6, 7}, {3, 4, 8}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Assign(c.topo, c.slots, c.osCores)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v\nwant %v", got, c.want)
			}
		})
	}
	if _, err := Assign(two, 17, nil); err == nil {
		t.Fatal("17 slots on 16 cores accepted")
	}
	if _, err := Assign(two, 15, []int{0, 1}); err == nil {
		t.Fatal("15 slots on 14 usable cores accepted")
	}
}

// TestPinReadBack pins a goroutine's thread to one CPU of this machine and
// reads the affinity back from the kernel.
func TestPinReadBack(t *testing.T) {
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	target := []int{allowed[len(allowed)-1]}
	done := make(chan error)
	go func() {
		unpin, err := Pin(target)
		if err != nil {
			done <- err
			return
		}
		got, err := ThreadAffinity()
		unpin()
		if err == nil && !slices.Equal(got, target) {
			err = fmt.Errorf("thread affinity %v, pinned to %v", got, target)
		}
		if after, _ := ThreadAffinity(); err == nil && !slices.Equal(after, allowed) {
			err = fmt.Errorf("after unpin: %v, want %v", after, allowed)
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPreferNode sets and reads back a real thread's memory policy.
func TestPreferNode(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	restore, err := PreferNode(0)
	if err != nil {
		t.Skipf("memory policy not permitted here: %v", err)
	}
	preferred, nodes, err := ThreadMemPolicy()
	if err != nil || !preferred || !slices.Equal(nodes, []int{0}) {
		t.Fatalf("policy preferred=%v nodes=%v err=%v", preferred, nodes, err)
	}
	restore()
	if preferred, _, err := ThreadMemPolicy(); err != nil || preferred {
		t.Fatalf("after restore preferred=%v err=%v", preferred, err)
	}
	if _, err := PreferNode(-1); err == nil {
		t.Fatal("node -1 accepted")
	}
}
