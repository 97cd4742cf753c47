package shuffle

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// Path is the file of one map task's output: in its job's directory, named
// by stage and map partition ("<stage>-<map>.data"). One directory per job,
// not per stage, and one file per map task: on the disks executors run on,
// creating a directory or a file costs far more than writing a small one
// (250 µs each on the development VM's ext4, 5-10 µs on tmpfs), and a task
// of a small stage wrote little else.
func Path(workDir, jobID string, stageID, mapPartition uint32) (string, error) {
	j, err := JobDir(workDir, jobID)
	if err != nil {
		return "", err
	}
	return filepath.Join(j, outputName(stageID, mapPartition)), nil
}

// outputName is the name of a map output's file in its job's directory.
func outputName(stageID, mapPartition uint32) string {
	return strconv.FormatUint(uint64(stageID), 10) + "-" + strconv.FormatUint(uint64(mapPartition), 10) + dataSuffix
}

// dataSuffix ends the name of every map output's file.
const dataSuffix = ".data"

// parseOutputName reads the stage and map partition of a map output's file
// name; ok is false for any other name (temporary and spill files start
// with a dot).
func parseOutputName(name string) (stageID, mapPartition uint32, ok bool) {
	base, found := strings.CutSuffix(name, dataSuffix)
	if !found {
		return 0, 0, false
	}
	st, mp, found := strings.Cut(base, "-")
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(st, 10, 32)
	m, err2 := strconv.ParseUint(mp, 10, 32)
	if err1 != nil || err2 != nil || outputName(uint32(s), uint32(m)) != name {
		return 0, 0, false
	}
	return uint32(s), uint32(m), true
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
// output's file (renamed into place whole, index included).
func Held(workDir string) []*kapotv1.HeldOutputs {
	var out []*kapotv1.HeldOutputs
	jobs, _ := os.ReadDir(workDir)
	for _, j := range jobs {
		if !j.IsDir() || ValidateJobID(j.Name()) != nil {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(workDir, j.Name()))
		byStage := map[uint32]*kapotv1.HeldOutputs{}
		for _, f := range files {
			sid, m, ok := parseOutputName(f.Name())
			if !ok || !f.Type().IsRegular() {
				continue
			}
			h := byStage[sid]
			if h == nil {
				h = &kapotv1.HeldOutputs{JobId: j.Name(), StageId: sid}
				byStage[sid] = h
				out = append(out, h)
			}
			h.MapPartitions = append(h.MapPartitions, m)
		}
	}
	for _, h := range out {
		slices.Sort(h.MapPartitions)
	}
	slices.SortFunc(out, func(a, b *kapotv1.HeldOutputs) int {
		if c := strings.Compare(a.JobId, b.JobId); c != 0 {
			return c
		}
		return cmp.Compare(a.StageId, b.StageId)
	})
	return out
}
