package executor

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rs/zerolog"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// TestClaimWorkDir: a new executor removes the job directories a dead one
// left (and nothing else), and refuses a dir a live executor holds.
func TestClaimWorkDir(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"job1/1", "job-2/_spill", "not.a.job"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	lock, removed, err := claimWorkDir(dir)
	if err != nil || removed != 2 {
		t.Fatalf("claim: removed %d, %v", removed, err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{LockFile, "not.a.job", "notes.txt"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	if _, _, err := claimWorkDir(dir); !errors.Is(err, errWorkDirInUse) {
		t.Fatalf("second claim while held: %v", err)
	}
	lock.Close()
	lock2, _, err := claimWorkDir(dir)
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	lock2.Close()
}

// TestRemoveJobDataWaitsForTasks: a remove request that finds the job's
// tasks still running (a cancel racing its tasks' ends) is carried out when
// the last of them ends, not dropped.
func TestRemoveJobDataWaitsForTasks(t *testing.T) {
	e := newIdleExecutor(t)
	cfg := e.cfg
	cfg.WorkDir = e.workDir
	if _, err := New(cfg, nil, zerolog.Nop()); !errors.Is(err, errWorkDirInUse) {
		t.Fatalf("a second executor on the same work dir: %v", err)
	}
	defs := []*kapotv1.TaskDefinition{{TaskId: 1, JobId: "jobA"}, {TaskId: 2, JobId: "jobA"}}
	for _, d := range defs {
		if ok, err := e.addTask(d, func() {}); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	dir, _ := shuffle.JobDir(e.workDir, "jobA")
	os.MkdirAll(filepath.Join(dir, "1"), 0o755)
	if err := e.removeJobData("jobA"); err != nil {
		t.Fatal(err)
	}
	e.removeTask(defs[0])
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("removed while a task still runs: %v", err)
	}
	e.removeTask(defs[1])
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("job data after its last task ended: %v", err)
	}
}
