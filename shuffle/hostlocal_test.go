package shuffle

import (
	"os"
	"path/filepath"
	"testing"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func TestHostLocalChecksMarker(t *testing.T) {
	peer := t.TempDir()
	if err := WriteMarker(peer, "exec-b"); err != nil {
		t.Fatal(err)
	}
	asDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(asDir, MarkerFile), 0o755); err != nil {
		t.Fatal(err)
	}
	long := t.TempDir()
	if err := os.WriteFile(filepath.Join(long, MarkerFile), make([]byte, maxMarker+1), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		m    *kapotv1.ExecutorMetadata
		ok   bool
	}{
		{"marker names the executor", &kapotv1.ExecutorMetadata{Id: "exec-b", WorkDir: peer}, true},
		{"marker names another executor", &kapotv1.ExecutorMetadata{Id: "exec-c", WorkDir: peer}, false},
		{"id is a prefix of the marker", &kapotv1.ExecutorMetadata{Id: "exec-", WorkDir: peer}, false},
		{"no marker", &kapotv1.ExecutorMetadata{Id: "exec-b", WorkDir: t.TempDir()}, false},
		{"missing dir", &kapotv1.ExecutorMetadata{Id: "exec-b", WorkDir: filepath.Join(peer, "nope")}, false},
		{"relative dir", &kapotv1.ExecutorMetadata{Id: "exec-b", WorkDir: "work"}, false},
		{"no dir registered", &kapotv1.ExecutorMetadata{Id: "exec-b"}, false},
		{"no id", &kapotv1.ExecutorMetadata{WorkDir: peer}, false},
		{"marker is a directory", &kapotv1.ExecutorMetadata{Id: "exec-b", WorkDir: asDir}, false},
		{"marker too long", &kapotv1.ExecutorMetadata{Id: string(make([]byte, maxMarker+1)), WorkDir: long}, false},
	}
	h := &HostLocal{}
	for _, c := range cases {
		for range 2 { // the second answer comes from the cache
			dir, ok := h.Dir(c.m)
			if ok != c.ok || (ok && dir != c.m.GetWorkDir()) {
				t.Errorf("%s: Dir = %q, %v; want ok %v", c.name, dir, ok, c.ok)
			}
		}
	}
	var none *HostLocal
	if _, ok := none.Dir(cases[0].m); ok {
		t.Error("nil HostLocal found a peer")
	}
	// A marker rewritten by a new executor in the same dir: the old id is
	// remembered as local, the new id is checked afresh.
	if err := WriteMarker(peer, "exec-d"); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Dir(&kapotv1.ExecutorMetadata{Id: "exec-d", WorkDir: peer}); !ok {
		t.Error("new owner of the dir not found")
	}
	if entries, _ := os.ReadDir(peer); len(entries) != 1 {
		t.Errorf("work dir holds %d entries after two markers, want 1 (no temporary files left)", len(entries))
	}
}
