package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// age sets path's mtime (not following symlinks) to d ago.
func age(t *testing.T, path string, d time.Duration) {
	t.Helper()
	ts := time.Now().Add(-d)
	tv := []unix.Timeval{unix.NsecToTimeval(ts.UnixNano()), unix.NsecToTimeval(ts.UnixNano())}
	if err := unix.Lutimes(path, tv); err != nil {
		t.Fatal(err)
	}
}

func mkfile(t *testing.T, path string, old time.Duration) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	age(t, path, old)
}

func TestJanitor(t *testing.T) {
	work := t.TempDir()
	outside := t.TempDir()
	hour := time.Hour
	// expired: everything old.
	mkfile(t, filepath.Join(work, "expired", "1", "0.data"), 2*hour)
	// fresh: old except one deeply nested file.
	mkfile(t, filepath.Join(work, "fresh", "1", "0.data"), 2*hour)
	mkfile(t, filepath.Join(work, "fresh", "2", "deep", "0.data"), 0)
	// linked: old, with a symlink to a fresh file outside; the link is old.
	mkfile(t, filepath.Join(work, "linked", "1", "0.data"), 2*hour)
	mkfile(t, filepath.Join(outside, "target"), 0)
	if err := os.Symlink(filepath.Join(outside, "target"), filepath.Join(work, "linked", "1", "link")); err != nil {
		t.Fatal(err)
	}
	age(t, filepath.Join(work, "linked", "1", "link"), 2*hour)
	// active: old but its job has running tasks.
	mkfile(t, filepath.Join(work, "active", "1", "0.data"), 2*hour)
	// a plain file and a symlink to a directory at top level are skipped.
	mkfile(t, filepath.Join(work, "stray.txt"), 2*hour)
	if err := os.Symlink(outside, filepath.Join(work, "dirlink")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"expired/1", "expired", "fresh/1", "fresh/2/deep", "fresh/2", "fresh", "linked/1", "linked", "active/1", "active"} {
		age(t, filepath.Join(work, d), 2*hour)
	}
	age(t, filepath.Join(work, "dirlink"), 2*hour)

	j := &Janitor{WorkDir: work, TTL: hour, Log: zerolog.Nop(), Active: func(job string) bool { return job == "active" }}
	removed, err := j.CleanExpired()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{"expired", "linked"}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	for _, kept := range []string{"fresh", "active", "stray.txt", "dirlink"} {
		if _, err := os.Lstat(filepath.Join(work, kept)); err != nil {
			t.Errorf("%s was removed", kept)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "target")); err != nil {
		t.Error("symlink target outside the work dir was removed")
	}
	if err := j.CleanAll(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(work)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"dirlink", "stray.txt"}; !slices.Equal(left, want) {
		t.Fatalf("after CleanAll: %v, want %v", left, want)
	}
	if _, err := os.Stat(filepath.Join(outside, "target")); err != nil {
		t.Error("CleanAll followed a symlink")
	}
}

// TestJanitorJobLogs: per-job log directories go with their job's data, and
// on their own once expired; fresh or active jobs keep theirs.
func TestJanitorJobLogs(t *testing.T) {
	work, logs := t.TempDir(), t.TempDir()
	hour := time.Hour
	mkfile(t, filepath.Join(work, "done", "1", "0.data"), 2*hour)
	mkfile(t, filepath.Join(logs, "done", "1-0.log"), 0) // fresh log, but its data expired
	mkfile(t, filepath.Join(logs, "orphan", "1-0.log"), 2*hour)
	mkfile(t, filepath.Join(logs, "recent", "1-0.log"), 0)
	mkfile(t, filepath.Join(logs, "active", "1-0.log"), 2*hour)
	for _, d := range []string{filepath.Join(work, "done", "1"), filepath.Join(work, "done"), filepath.Join(logs, "orphan"), filepath.Join(logs, "active")} {
		age(t, d, 2*hour)
	}
	j := &Janitor{WorkDir: work, TTL: hour, Log: zerolog.Nop(), JobLogDir: logs, Active: func(job string) bool { return job == "active" }}
	removed, err := j.CleanExpired()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{"done", "orphan"}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	entries, _ := os.ReadDir(logs)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"active", "recent"}; !slices.Equal(left, want) {
		t.Fatalf("job logs left %v, want %v", left, want)
	}
}

// TestJanitorRacesTaskStart races the TTL janitor of a real Executor, with
// a clock that makes every file look expired, against tasks that register
// and start writing into the same jobs: a file written by a task is never
// gone while the task runs, yet the janitor does delete the jobs between
// tasks (so the race is exercised, not avoided). Run with -race.
func TestJanitorRacesTaskStart(t *testing.T) {
	e := newIdleExecutor(t)
	j := e.janitor()
	j.TTL = time.Hour
	j.now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	stop := make(chan struct{})
	janitorDone := make(chan struct{})
	var removed atomic.Int64
	go func() {
		defer close(janitorDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := j.CleanExpired()
			if err != nil {
				t.Errorf("janitor: %v", err)
			}
			removed.Add(int64(len(r)))
			runtime.Gosched()
		}
	}()
	var jobs []string
	for i := range 16 {
		jobs = append(jobs, fmt.Sprintf("job-%d", i))
	}
	var wg sync.WaitGroup
	var taskID atomic.Uint64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				def := &kapotv1.TaskDefinition{TaskId: taskID.Add(1), JobId: jobs[(w*7+i*3)%len(jobs)], StageId: 1, Partition: uint32(w)}
				started, err := e.addTask(def, func() {})
				if !started || err != nil {
					t.Errorf("addTask: %v %v", started, err)
					return
				}
				dir, err := shuffle.JobDir(e.workDir, def.GetJobId())
				if err != nil {
					t.Error(err)
					return
				}
				path := filepath.Join(dir, "1", fmt.Sprintf("%d-%d.data", w, i))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Errorf("task start: %v", err)
				} else if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
					t.Errorf("task write: %v", err)
				}
				for range 3 {
					runtime.Gosched()
					if _, err := os.Stat(path); err != nil {
						t.Errorf("a running task's file was deleted: %v", err)
					}
				}
				e.removeTask(def)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-janitorDone
	if removed.Load() == 0 {
		t.Fatal("the janitor never removed a job: the race was not exercised")
	}
	if len(e.running) != 0 || len(e.runningJobs) != 0 {
		t.Fatalf("left registered: %v %v", e.running, e.runningJobs)
	}
	if _, err := j.CleanExpired(); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(e.workDir)
	left = slices.DeleteFunc(left, func(d os.DirEntry) bool { return d.Name() == shuffle.MarkerFile || d.Name() == LockFile })
	if len(left) != 0 {
		t.Fatalf("idle expired jobs left: %v", left)
	}
	t.Logf("janitor removed %d job directories between tasks", removed.Load())
}

// newIdleExecutor is an executor made by New on a fresh work dir and never
// run; the test's cleanup releases what New took.
func newIdleExecutor(t *testing.T) *Executor {
	t.Helper()
	cfg := DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.BindHost, cfg.Port, cfg.GRPCPort = "127.0.0.1", 0, 0
	cfg.DisableNUMAPinning = true
	e, err := New(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.flightLis.Close(); e.grpcLis.Close(); e.cleanup() })
	return e
}

// TestRecyclerKeptBetweenTasks: the buffers a task freed stay in the
// recycler's cache when it ends (the next stage's task, milliseconds
// later, reuses them instead of fresh, zeroed memory), and go back once
// the executor stays idle.
func TestRecyclerKeptBetweenTasks(t *testing.T) {
	e := newIdleExecutor(t)
	if e.recycler == nil {
		t.Fatal("no recycler")
	}
	task := func(id uint64) {
		def := &kapotv1.TaskDefinition{TaskId: id, JobId: "job"}
		if ok, err := e.addTask(def, func() {}); !ok || err != nil {
			t.Fatalf("addTask: %v %v", ok, err)
		}
		e.recycler.Free(e.recycler.Allocate(1 << 16))
		e.removeTask(def)
	}
	e.mu.Lock()
	e.trimAfter = time.Hour
	e.mu.Unlock()
	task(1)
	if got := e.recycler.Stats().Cached; got != 1<<16 {
		t.Fatalf("cached %d bytes after the task, want %d", got, 1<<16)
	}
	e.mu.Lock()
	e.trimAfter = time.Millisecond
	e.mu.Unlock()
	task(2)
	deadline := time.Now().Add(10 * time.Second)
	for e.recycler.Stats().Cached != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d bytes cached while idle", e.recycler.Stats().Cached)
		}
		time.Sleep(time.Millisecond)
	}
}
