package shuffle

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// MarkerFile is the file in an executor's work dir that names the executor
// owning it. A peer reads it before it trusts that a work dir path it was
// told is really that executor's directory on its own filesystem.
const MarkerFile = "executor.id"

// maxMarker bounds what is read of a marker file (an executor id).
const maxMarker = 256

// WriteMarker records executorID as the owner of workDir: written to a
// temporary file and renamed, so that a reader sees the whole id or none.
func WriteMarker(workDir, executorID string) error {
	tmp, err := os.CreateTemp(workDir, MarkerFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", MarkerFile, err)
	}
	_, err = tmp.WriteString(executorID)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(workDir, MarkerFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", MarkerFile, err)
	}
	return nil
}

// HostLocal finds the peers whose shuffle files this process can open
// straight from disk (Spark's host-local shuffle reads): executors on the
// same host, or sharing a volume, skip Flight, its copies and, when the
// whole cluster reads host-locally, compression. A peer qualifies when the
// work dir it registered holds a marker file with its own id: a path that
// names a different directory here (another host, another container's
// mount) fails that check, and its data is fetched over Flight as before.
// Results are remembered per executor. Safe for concurrent use; the zero
// value is ready, and a nil *HostLocal finds no peer.
type HostLocal struct {
	mu   sync.Mutex
	dirs map[hostLocalKey]bool
}

type hostLocalKey struct{ id, dir string }

// Dir returns the work dir of executor m when this process can read its
// shuffle files directly.
func (h *HostLocal) Dir(m *kapotv1.ExecutorMetadata) (string, bool) {
	if h == nil {
		return "", false
	}
	dir, id := m.GetWorkDir(), m.GetId()
	if dir == "" || id == "" || !filepath.IsAbs(dir) {
		return "", false
	}
	k := hostLocalKey{id, dir}
	h.mu.Lock()
	ok, seen := h.dirs[k]
	h.mu.Unlock()
	if seen {
		return dir, ok
	}
	ok = markerIs(dir, id)
	h.mu.Lock()
	if h.dirs == nil {
		h.dirs = map[hostLocalKey]bool{}
	}
	h.dirs[k] = ok
	h.mu.Unlock()
	return dir, ok
}

// markerIs reports whether dir's marker file names executor id.
func markerIs(dir, id string) bool {
	f, err := os.Open(filepath.Join(dir, MarkerFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(f, maxMarker+1))
	return err == nil && len(b) <= maxMarker && bytes.Equal(b, []byte(id))
}
