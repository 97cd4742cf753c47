package executor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/kapot-go/kapot/shuffle"
)

// LockFile is the file an executor holds an exclusive lock on while it
// owns its work dir; the kernel drops the lock when the process dies.
const LockFile = "executor.lock"

// errWorkDirInUse marks a work dir a live executor holds.
var errWorkDirInUse = errors.New("in use by another running executor")

// claimWorkDir locks dir for this process and removes the job directories
// an earlier executor left there (killed before it could clean up: its
// outputs are unreachable, since a restarted executor has a new id). A dir
// another live executor holds is refused, so two executors never share one.
// It returns the lock's file, to close when the executor is done, and how
// many job directories it removed.
func claimWorkDir(dir string) (*os.File, int, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, 0, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, 0, errWorkDirInUse
		}
		return nil, 0, fmt.Errorf("lock %s: %w", LockFile, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	removed := 0
	for _, en := range entries {
		if !en.IsDir() || shuffle.ValidateJobID(en.Name()) != nil {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, en.Name())); err != nil {
			f.Close()
			return nil, removed, fmt.Errorf("remove an earlier executor's job data: %w", err)
		}
		removed++
	}
	return f, removed, nil
}
