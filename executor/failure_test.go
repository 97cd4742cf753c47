package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// httpStatusError stands for the S3 SDK's response errors, which carry
// the HTTP status of the answer.
type httpStatusError int

func (e httpStatusError) Error() string {
	return fmt.Sprintf("https response error StatusCode: %d", int(e))
}
func (e httpStatusError) HTTPStatusCode() int { return int(e) }

// TestFailureClassification: what may succeed on a retry (a lost peer's
// shuffle data, I/O and network errors, timeouts, memory) is retryable;
// what fails alike on every attempt (not found, permission, an invalid
// plan or target, the data's own errors, a panic) is not, whatever error
// type carries it.
func TestFailureClassification(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, openMissing := os.Open(filepath.Join(dir, "missing.csv"))
	mkdirUnderFile := os.MkdirAll(filepath.Join(file, "sub"), 0o755) // ENOTDIR
	_, createExisting := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	_, openDirForWrite := os.OpenFile(dir, os.O_WRONLY, 0) // EISDIR
	var timeout net.Error = &net.DNSError{Err: "i/o timeout", IsTimeout: true}
	for _, c := range []struct {
		name      string
		err       error
		retryable bool
		reason    string
	}{
		// Deterministic: the job fails at once.
		{"object not found (local, S3, HTTP)", fmt.Errorf("scan: %w", fmt.Errorf("/t/a.csv: %w", objstore.ErrNotFound)), false, "execution"},
		{"a file deleted under a table", fmt.Errorf("scan: %w", openMissing), false, "execution"},
		{"a missing S3 key behind a wrapped I/O error", fmt.Errorf("s3://b/k: %w: %w", objstore.ErrIO, objstore.ErrNotFound), false, "execution"},
		{"outside the data roots", fmt.Errorf("/etc/x: %w", objstore.ErrForbidden), false, "execution"},
		{"permission denied", &os.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, false, "execution"},
		{"operation not permitted", &os.PathError{Op: "chmod", Path: "/x", Err: syscall.EPERM}, false, "execution"},
		{"S3 403", fmt.Errorf("s3://b/k: %w: %w", objstore.ErrIO, httpStatusError(403)), false, "execution"},
		{"S3 401", fmt.Errorf("s3://b/k: %w: %w", objstore.ErrIO, httpStatusError(401)), false, "execution"},
		{"COPY target under a file (ENOTDIR)", fmt.Errorf("COPY: %w", mkdirUnderFile), false, "execution"},
		{"COPY target is a directory (EISDIR)", fmt.Errorf("COPY: %w", openDirForWrite), false, "execution"},
		{"COPY target exists (EEXIST)", fmt.Errorf("COPY: %w", createExisting), false, "execution"},
		{"read-only file system", &os.PathError{Op: "open", Path: "/ro/x", Err: syscall.EROFS}, false, "execution"},
		{"name too long", &os.PathError{Op: "open", Path: "/x", Err: syscall.ENAMETOOLONG}, false, "execution"},
		{"invalid argument", &os.SyscallError{Syscall: "fallocate", Err: syscall.EINVAL}, false, "execution"},
		{"invalid plan", fmt.Errorf("filter: %w", engine.ErrInvalidPlan), false, "execution"},
		{"not supported", fmt.Errorf("window: %w", engine.ErrNotSupported), false, "execution"},
		{"NOT NULL violated", fmt.Errorf("write: %w", engine.ErrConstraint), false, "execution"},
		{"invalid shuffle id", fmt.Errorf("job ../x: %w", shuffle.ErrInvalidID), false, "execution"},
		{"a panic", fmt.Errorf("take: %w", &panics.Error{Value: "runtime error: index out of range [3] with length 3"}), false, "execution"},
		{"memory, the task alone over half the bound", fmt.Errorf("project: %w", &alloc.MemoryExhaustedError{Need: 64 << 20, Live: 900 << 20, Own: 800 << 20, Limit: 1 << 30}), false, "execution"},
		{"division by zero, a cast (unclassified)", errors.New("cast 'x' to INT: invalid syntax"), false, "execution"},

		// Transient: run it again.
		{"object store I/O", fmt.Errorf("s3://b/k: %w: %w", objstore.ErrIO, errors.New("connection reset by peer")), true, "io"},
		{"S3 503", fmt.Errorf("s3://b/k: %w: %w", objstore.ErrIO, httpStatusError(503)), true, "io"},
		{"object changed while read", fmt.Errorf("s3://b/k: %w", objstore.ErrChanged), true, "io"},
		{"connection reset", &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}, true, "io"},
		{"disk error", &os.PathError{Op: "read", Path: "/x", Err: syscall.EIO}, true, "io"},
		{"disk full (another executor may have room)", &os.PathError{Op: "write", Path: "/spill", Err: syscall.ENOSPC}, true, "io"},
		{"network timeout", fmt.Errorf("lookup: %w", timeout), true, "io"},
		{"service unavailable", status.Error(codes.Unavailable, "connection refused"), true, "io"},
		{"memory", fmt.Errorf("sort: %w", engine.ErrResourcesExhausted), true, "execution"},
		{"memory held by other tasks", fmt.Errorf("project: %w", &alloc.MemoryExhaustedError{Need: 64 << 20, Live: 900 << 20, Own: 100 << 20, Limit: 1 << 30}), true, "execution"},
		{"a lost peer's shuffle data, even not found", &shuffle.FetchError{ExecutorID: "e1", MapStageID: 1, MapPartition: 2, Err: shuffle.ErrNotFound}, true, "fetch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := failure(context.Background(), c.err)
			if f.GetRetryable() != c.retryable {
				t.Fatalf("%v: retryable %v, want %v", c.err, f.GetRetryable(), c.retryable)
			}
			if got := reasonName(f); got != c.reason {
				t.Fatalf("%v: reason %s, want %s", c.err, got, c.reason)
			}
			if f.GetError() != errorText(c.err) {
				t.Fatalf("error text %q, want the task's own %q", f.GetError(), errorText(c.err))
			}
		})
	}

	t.Run("a cancelled task is killed, not failed", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		f := failure(ctx, fmt.Errorf("scan: %w", context.Canceled))
		if !f.GetRetryable() || reasonName(f) != "killed" {
			t.Fatalf("got %v", f)
		}
	})
}

func reasonName(f *kapotv1.FailedTask) string {
	switch f.GetReason().(type) {
	case *kapotv1.FailedTask_ExecutionError:
		return "execution"
	case *kapotv1.FailedTask_IoError:
		return "io"
	case *kapotv1.FailedTask_FetchPartitionError:
		return "fetch"
	case *kapotv1.FailedTask_TaskKilled:
		return "killed"
	}
	return fmt.Sprintf("%T", f.GetReason())
}

// panicEngine panics in every task.
type panicEngine struct{}

func (panicEngine) RunTask(context.Context, *Task) (*kapotv1.SuccessfulTask, error) {
	panic("an engine bug")
}

// TestPanicIsNotRetried: safeRun turns an engine panic into an error that
// fails the job at once.
func TestPanicIsNotRetried(t *testing.T) {
	e := &Executor{engine: panicEngine{}}
	_, err := e.safeRun(context.Background(), &kapotv1.TaskDefinition{}, zerolog.Nop())
	if err == nil {
		t.Fatal("no error from a panicking task")
	}
	if f := failure(context.Background(), err); f.GetRetryable() {
		t.Fatalf("a panic is retryable: %v", f)
	}
}
