package executor

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
)

// Janitor deletes job directories under a work dir.
type Janitor struct {
	WorkDir string
	TTL     time.Duration
	Log     zerolog.Logger
	// Lock is held while a job's liveness is checked and its directory
	// removed, so a task that registers its job under the same lock never
	// writes into a directory being deleted.
	Lock func() func()
	// Active reports whether a job has running tasks; called under Lock.
	Active func(jobID string) bool
	now    func() time.Time
}

// CleanExpired deletes every job directory whose newest entry (recursively,
// never following symlinks) is older than the TTL and whose job has no
// running task. Non-directories are skipped with a warning. It returns the
// job ids it removed.
func (j *Janitor) CleanExpired() ([]string, error) {
	now := time.Now
	if j.now != nil {
		now = j.now
	}
	cutoff := now().Add(-j.TTL)
	entries, err := os.ReadDir(j.WorkDir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		path := filepath.Join(j.WorkDir, e.Name())
		info, err := os.Lstat(path)
		if err != nil {
			j.Log.Warn().Err(err).Str("path", path).Msg("janitor: stat failed")
			continue
		}
		if !info.IsDir() {
			j.Log.Warn().Str("path", path).Msg("janitor: not a directory, ignored")
			continue
		}
		fresh, err := newerThan(path, cutoff)
		if err != nil {
			j.Log.Warn().Err(err).Str("path", path).Msg("janitor: cannot check ttl")
			continue
		}
		if fresh {
			continue
		}
		if j.removeIfIdle(e.Name(), path) {
			removed = append(removed, e.Name())
		}
	}
	if len(removed) > 0 {
		j.Log.Info().Strs("jobs", removed).Dur("ttl", j.TTL).Msg("janitor: removed expired job data")
	}
	return removed, nil
}

func (j *Janitor) removeIfIdle(job, path string) bool {
	if j.Lock != nil {
		defer j.Lock()()
	}
	if j.Active != nil && j.Active(job) {
		j.Log.Debug().Str("job", job).Msg("janitor: job has running tasks, kept")
		return false
	}
	if err := os.RemoveAll(path); err != nil {
		j.Log.Error().Err(err).Str("path", path).Msg("janitor: remove failed")
		return false
	}
	return true
}

// CleanAll deletes every job directory (used at shutdown).
func (j *Janitor) CleanAll() error {
	entries, err := os.ReadDir(j.WorkDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(j.WorkDir, e.Name())
		if info, err := os.Lstat(path); err == nil && info.IsDir() {
			if err := os.RemoveAll(path); err != nil {
				j.Log.Error().Err(err).Str("path", path).Msg("remove job data")
			}
		}
	}
	return nil
}

// newerThan reports whether dir or anything beneath it was modified after
// cutoff. Symlinks are judged by their own mtime and never followed.
func newerThan(dir string, cutoff time.Time) (bool, error) {
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.ModTime().After(cutoff) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found, err
}
