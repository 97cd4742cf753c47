package sysinfo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	write := func(root, path, s string) {
		p := filepath.Join(root, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	meminfo := "MemTotal:       16384 kB\nMemFree:        1000 kB\n"
	cases := []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"host only", map[string]string{"proc/meminfo": meminfo}, 16 << 20},
		{"cgroup v2 max", map[string]string{"proc/meminfo": meminfo, "sys/fs/cgroup/memory.max": "max\n"}, 16 << 20},
		{"cgroup v2 limit", map[string]string{"proc/meminfo": meminfo, "sys/fs/cgroup/memory.max": "4194304\n"}, 4 << 20},
		{"cgroup v1 limit", map[string]string{"proc/meminfo": meminfo, "sys/fs/cgroup/memory/memory.limit_in_bytes": "8388608"}, 8 << 20},
		{"cgroup above host", map[string]string{"proc/meminfo": meminfo, "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"}, 16 << 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for p, s := range c.files {
				write(root, p, s)
			}
			got, err := MemoryLimit(root)
			if err != nil || got != c.want {
				t.Fatalf("got %d, %v; want %d", got, err, c.want)
			}
		})
	}
	if _, err := MemoryLimit(t.TempDir()); err == nil {
		t.Fatal("no meminfo: want an error")
	}
	if got, err := MemoryLimit("/"); err != nil || got <= 0 {
		t.Fatalf("this machine: %d, %v", got, err)
	}
}
