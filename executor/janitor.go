package executor

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
	// JobLogDir, if set, holds per-job log directories (<JobLogDir>/<job>):
	// each goes with its job's data, and on its own once older than the TTL.
	JobLogDir string
	now       func() time.Time
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
	removed = j.sweep(j.WorkDir, entries, cutoff, removed)
	if j.JobLogDir != "" {
		logs, err := os.ReadDir(j.JobLogDir)
		if err != nil && !os.IsNotExist(err) {
			return removed, err
		}
		removed = j.sweep(j.JobLogDir, logs, cutoff, removed)
	}
	if len(removed) > 0 {
		j.Log.Info().Strs("jobs", removed).Dur("ttl", j.TTL).Msg("janitor: removed expired job data")
	}
	return removed, nil
}

// sweep removes the expired, idle job directories among entries of dir and
// appends their job ids to removed (once per job).
func (j *Janitor) sweep(dir string, entries []os.DirEntry, cutoff time.Time, removed []string) []string {
	for _, e := range entries {
		if slices.Contains(removed, e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
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
	return removed
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
	if j.JobLogDir != "" {
		if err := os.RemoveAll(filepath.Join(j.JobLogDir, job)); err != nil {
			j.Log.Error().Err(err).Str("job", job).Msg("janitor: remove job logs failed")
		}
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
