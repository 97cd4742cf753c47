package shuffle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// ErrInvalidID marks job ids that could not be used safely as a directory name.
var ErrInvalidID = errors.New("invalid id")

// ErrPathEscape marks a path that resolves outside the work dir.
var ErrPathEscape = errors.New("path escapes work dir")

// MaxJobIDLen bounds job ids.
const MaxJobIDLen = 128

// ValidateJobID accepts ids of letters, digits, '-' and '_' that start with a
// letter or digit: nothing that a filesystem could read as a path.
func ValidateJobID(id string) error {
	if id == "" || len(id) > MaxJobIDLen {
		return fmt.Errorf("job id %q: length must be 1..%d: %w", id, MaxJobIDLen, ErrInvalidID)
	}
	for i, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_'))
		if !ok {
			return fmt.Errorf("job id %q: only letters, digits, '-' and '_' are allowed: %w", id, ErrInvalidID)
		}
	}
	return nil
}

// JobDir is the directory holding all of a job's data.
func JobDir(workDir, jobID string) (string, error) {
	if err := ValidateJobID(jobID); err != nil {
		return "", err
	}
	return filepath.Join(workDir, jobID), nil
}

// StageDir is the directory of one stage's map outputs.
func StageDir(workDir, jobID string, stageID uint32) (string, error) {
	j, err := JobDir(workDir, jobID)
	if err != nil {
		return "", err
	}
	return filepath.Join(j, strconv.FormatUint(uint64(stageID), 10)), nil
}

// Paths returns the data and index paths of one map task's output.
func Paths(workDir, jobID string, stageID, mapPartition uint32) (data, index string, err error) {
	s, err := StageDir(workDir, jobID, stageID)
	if err != nil {
		return "", "", err
	}
	base := filepath.Join(s, strconv.FormatUint(uint64(mapPartition), 10))
	return base + ".data", base + ".index", nil
}

// ResolveInside resolves symlinks in path and fails with ErrPathEscape unless
// the result lies inside root (itself resolved).
func ResolveInside(root, path string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolve work dir %s: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(realRoot, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(os.PathSeparator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%s: %w", path, ErrPathEscape)
	}
	return real, nil
}

// Held lists the map outputs under workDir by job and stage: each map
// partition whose index file (written last) exists.
func Held(workDir string) []*kapotv1.HeldOutputs {
	var out []*kapotv1.HeldOutputs
	jobs, _ := os.ReadDir(workDir)
	for _, j := range jobs {
		if !j.IsDir() || ValidateJobID(j.Name()) != nil {
			continue
		}
		stages, _ := os.ReadDir(filepath.Join(workDir, j.Name()))
		for _, s := range stages {
			sid, err := strconv.ParseUint(s.Name(), 10, 32)
			if err != nil || !s.IsDir() {
				continue
			}
			files, _ := os.ReadDir(filepath.Join(workDir, j.Name(), s.Name()))
			h := &kapotv1.HeldOutputs{JobId: j.Name(), StageId: uint32(sid)}
			for _, f := range files {
				name, ok := strings.CutSuffix(f.Name(), ".index")
				if !ok {
					continue
				}
				if m, err := strconv.ParseUint(name, 10, 32); err == nil {
					h.MapPartitions = append(h.MapPartitions, uint32(m))
				}
			}
			if len(h.MapPartitions) > 0 {
				out = append(out, h)
			}
		}
	}
	return out
}
