package topology

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Memory policy modes of set_mempolicy(2).
const (
	mpolDefault   = 0
	mpolPreferred = 1
)

// maskBits is the node mask size passed to the kernel (enough for any
// MAX_NUMNODES a distribution kernel is built with).
const maskBits = 1024

// PreferNode makes the calling thread allocate memory from node when it can
// (MPOL_PREFERRED: other nodes when it is full). Call it on a thread locked
// with runtime.LockOSThread (Pin does that); the returned function restores
// the default policy. Containers often forbid the call (EPERM); callers treat
// that as "runs without a memory policy", not as an error of the task.
func PreferNode(node int) (func(), error) {
	if node < 0 || node >= maskBits {
		return nil, fmt.Errorf("NUMA node %d out of range", node)
	}
	var mask [maskBits / 64]uint64
	mask[node/64] |= 1 << (node % 64)
	if _, _, errno := unix.Syscall(unix.SYS_SET_MEMPOLICY, mpolPreferred, uintptr(unsafe.Pointer(&mask[0])), maskBits+1); errno != 0 {
		return nil, fmt.Errorf("set_mempolicy(MPOL_PREFERRED, node %d): %w", node, errno)
	}
	return func() { unix.Syscall(unix.SYS_SET_MEMPOLICY, mpolDefault, 0, 0) }, nil
}

// ThreadMemPolicy reads the calling thread's memory policy: whether it
// prefers a node, and which nodes its mask names.
func ThreadMemPolicy() (preferred bool, nodes []int, err error) {
	var mode int32
	var mask [maskBits / 64]uint64
	if _, _, errno := unix.Syscall6(unix.SYS_GET_MEMPOLICY, uintptr(unsafe.Pointer(&mode)), uintptr(unsafe.Pointer(&mask[0])), maskBits+1, 0, 0, 0); errno != 0 {
		return false, nil, fmt.Errorf("get_mempolicy: %w", errno)
	}
	for i := 0; i < maskBits; i++ {
		if mask[i/64]&(1<<(i%64)) != 0 {
			nodes = append(nodes, i)
		}
	}
	return mode == mpolPreferred, nodes, nil
}

// NodeOf is the NUMA node holding cpu, or -1.
func (t *Topology) NodeOf(cpu int) int {
	for _, n := range t.Nodes {
		for _, c := range n.CPUs {
			if c == cpu {
				return n.ID
			}
		}
	}
	return -1
}
