package executor

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kapot-go/kapot/engine/alloc"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// goroutinePanicEngine runs tasks by their job id: "direct" panics on the task's
// goroutine, "spawned" on a goroutine the task starts (recovered there by
// alloc.Catch, as operators' goroutines are), anything else succeeds.
type goroutinePanicEngine struct{}

func (goroutinePanicEngine) RunTask(_ context.Context, t *Task) (*kapotv1.SuccessfulTask, error) {
	switch t.Def.GetJobId() {
	case "direct":
		var p *kapotv1.TaskDefinition
		_ = p.JobId // nil pointer dereference
	case "spawned":
		errc := make(chan error, 1)
		go func() {
			var err error
			defer func() { errc <- err }()
			defer alloc.Catch(&err)
			panic("operator goroutine broke")
		}()
		return nil, <-errc
	}
	return &kapotv1.SuccessfulTask{}, nil
}

// syncBuffer is a log sink safe for the tasks' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTaskPanics: a panic on a task's goroutine or on a goroutine it
// started fails that task with "internal error: <value>", not retried, its
// stack in the log at error level; the executor runs the next task.
func TestTaskPanics(t *testing.T) {
	var logs syncBuffer
	cfg := DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.BindHost, cfg.Port, cfg.GRPCPort = "127.0.0.1", 0, 0
	cfg.DisableNUMAPinning = true
	statuses := make(chan *kapotv1.TaskStatus, 8)
	cfg.OnTaskDone = func(st *kapotv1.TaskStatus) { statuses <- st }
	e, err := New(cfg, goroutinePanicEngine{}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.flightLis.Close(); e.grpcLis.Close(); e.cleanup() })
	run := func(job string, id uint64) *kapotv1.TaskStatus {
		t.Helper()
		if err := e.launch(&kapotv1.TaskDefinition{TaskId: id, JobId: job, StageId: 1}); err != nil {
			t.Fatal(err)
		}
		select {
		case st := <-statuses:
			return st
		case <-time.After(30 * time.Second):
			t.Fatalf("task %d of %s never finished", id, job)
			return nil
		}
	}
	for i, tc := range []struct{ job, msg, frame string }{
		{"direct", "internal error: runtime error: invalid memory address or nil pointer dereference", "goroutinePanicEngine.RunTask"},
		{"spawned", "internal error: operator goroutine broke", "goroutinePanicEngine.RunTask.func1"},
	} {
		st := run(tc.job, uint64(i+1))
		f := st.GetFailed()
		if f == nil || f.GetError() != tc.msg || f.GetRetryable() || f.GetExecutionError() == nil {
			t.Fatalf("%s: status %v, want a failure %q, not retryable", tc.job, st, tc.msg)
		}
		if log := logs.String(); !strings.Contains(log, `"level":"error"`) || !strings.Contains(log, tc.frame) {
			t.Fatalf("%s: no error line with the stack (%s) in the log:\n%s", tc.job, tc.frame, log)
		}
	}
	if st := run("fine", 3); st.GetSuccessful() == nil {
		t.Fatalf("the executor no longer runs tasks: %v", st)
	}
	if n := len(e.running); n != 0 {
		t.Fatalf("%d tasks still recorded as running", n)
	}
}

// TestInternalErrorNotRetried: the failure of a panic anywhere in a task
// (wrapped by the operators it passed through) is an execution error
// that fails the job at once.
func TestInternalErrorNotRetried(t *testing.T) {
	var err error
	func() {
		defer alloc.Catch(&err)
		panic("boom")
	}()
	f := failure(context.Background(), errors.Join(errors.New("evaluate x+1"), err))
	if f.GetRetryable() || f.GetExecutionError() == nil || !strings.Contains(f.GetError(), "internal error: boom") {
		t.Fatalf("failure %v", f)
	}
}
