package sysinfo

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MemoryLimit returns the bytes of memory this process may use: the cgroup
// limit (v2 memory.max or v1 memory.limit_in_bytes) when one is set below
// the host's memory, else the host's MemTotal. root is the filesystem root
// ("/" normally; tests pass a fake tree).
func MemoryLimit(root string) (int64, error) {
	host, err := memTotal(filepath.Join(root, "proc", "meminfo"))
	if err != nil {
		return 0, err
	}
	for _, p := range []string{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			continue
		}
		if v, err := strconv.ParseInt(s, 10, 64); err == nil && v > 0 && v < host {
			return v, nil
		}
	}
	return host, nil
}

func memTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read memory size: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: bad MemTotal %q", path, fields[1])
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("%s: no MemTotal line", path)
}
