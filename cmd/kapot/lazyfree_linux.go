package main

import (
	"os"
	"slices"
	"strings"
	"syscall"
)

// reexecLazyFree restarts this process (same PID, arguments and
// environment) with GODEBUG=madvdontneed=0 unless GODEBUG already chooses,
// so that the Go runtime hands memory it no longer needs back to Linux with
// MADV_FREE rather than MADV_DONTNEED. With DONTNEED every page the next
// query touches again costs a page fault and a zeroed page: on the VMs we
// measure on, about 3 ms per MiB, 0.5–2.5 s of system time per executor
// per TPC-H SF 10 query. With FREE the kernel takes such pages back only
// under memory pressure, and touching one that is still there costs
// nothing. (RSS then counts freed pages until the kernel reclaims them.)
// The setting is read once at start-up, hence the exec. It returns only when
// the exec was not needed or failed; GODEBUG=madvdontneed=1 opts out.
func reexecLazyFree() {
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(godebug, "madvdontneed=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
	env = append(env, "GODEBUG="+godebug+"madvdontneed=0")
	_ = syscall.Exec(exe, os.Args, env)
}
