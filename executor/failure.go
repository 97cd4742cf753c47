package executor

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// failure classifies a task error into the wire's failure reasons and
// says whether the scheduler may run the task again (FailedTask.retryable).
//
// The rule: a retry is for what a later attempt, here or on another
// executor, may not meet — a lost peer's shuffle data, an I/O or network
// error, a timeout, an unavailable service, memory or disk that another
// executor may have. What fails the same way on every attempt (see
// permanent) fails the job at once with its own message, and so does an
// error nobody classified: it is the data or the plan that made it.
func failure(ctx context.Context, err error) *kapotv1.FailedTask {
	f := &kapotv1.FailedTask{Error: errorText(err)}
	var fe *shuffle.FetchError
	var pe interface{ Timeout() bool }
	switch {
	case errors.As(err, &fe):
		// Whatever the peer said, the map task runs again (elsewhere).
		f.Retryable = true
		f.Reason = &kapotv1.FailedTask_FetchPartitionError{FetchPartitionError: &kapotv1.FetchPartitionError{
			ExecutorId: fe.ExecutorID, MapStageId: fe.MapStageID, MapPartition: fe.MapPartition}}
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ctx.Err())):
		f.Retryable = true
		f.Reason = &kapotv1.FailedTask_TaskKilled{TaskKilled: &kapotv1.TaskKilled{}}
	case permanent(err):
		f.Retryable = false
		f.Reason = &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}
	case isIOError(err) || errors.As(err, &pe) || transientRPC(err):
		f.Retryable = true
		f.Reason = &kapotv1.FailedTask_IoError{IoError: &kapotv1.IoError{}}
	case errors.Is(err, engine.ErrResourcesExhausted):
		// Another executor, or this one later, may have the memory;
		// unless the task alone held most of it (a memory bomb fails
		// in one attempt, not after --task-retries more).
		var me *alloc.MemoryExhaustedError
		f.Retryable = !errors.As(err, &me) || !me.Alone()
		f.Reason = &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}
	default:
		// What the data or the plan makes fail (a bad cast, a corrupt
		// file, an overflow) fails the same way on every attempt: the job
		// fails at once instead of after --task-retries more runs.
		f.Retryable = false
		f.Reason = &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}
	}
	return f
}

// permanent reports an error that no retry, on any executor, changes:
//   - not found: a missing file or object (a table's file deleted, a
//     missing S3 key or bucket);
//   - permission: a location outside the data roots, a file the process
//     may not read or write, an object store's 401/403;
//   - invalid target: a write whose path cannot exist (a file where a
//     directory must be, a name too long, a read-only file system, a
//     symlink loop, a file that is already there);
//   - invalid or unsupported plans and ids, a broken constraint, and a
//     panic of the engine (an internal error: the same plan over the same
//     data panics again).
//
// It is checked before isIOError: these errors are *fs.PathError and
// syscall.Errno values too, which alone would make them look like I/O.
func permanent(err error) bool {
	switch {
	case errors.Is(err, objstore.ErrNotFound), errors.Is(err, fs.ErrNotExist),
		errors.Is(err, objstore.ErrForbidden), errors.Is(err, fs.ErrPermission),
		errors.Is(err, fs.ErrExist), errors.Is(err, errors.ErrUnsupported),
		errors.Is(err, engine.ErrInvalidPlan), errors.Is(err, engine.ErrNotSupported), errors.Is(err, engine.ErrConstraint),
		errors.Is(err, shuffle.ErrInvalidID), errors.Is(err, shuffle.ErrPathEscape),
		errors.Is(err, panics.ErrInternal):
		return true
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOTDIR, syscall.EISDIR, syscall.EROFS, syscall.ENAMETOOLONG, syscall.ELOOP, syscall.EINVAL, syscall.EXDEV:
			return true
		}
	}
	// An object store's HTTP answer (the S3 SDK's response errors) that
	// refuses the credentials or the request: asking again is refused
	// again. 5xx, 429 and the rest stay retryable.
	var hs interface{ HTTPStatusCode() int }
	if errors.As(err, &hs) {
		switch hs.HTTPStatusCode() {
		case http.StatusUnauthorized, http.StatusForbidden:
			return true
		}
	}
	return false
}

// isIOError reports a failure of the disk, the network or an object store
// that may not recur: checked after permanent.
func isIOError(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se) || errors.As(err, &errno) ||
		errors.Is(err, objstore.ErrIO) || errors.Is(err, objstore.ErrChanged)
}

// transientRPC reports a gRPC error that another attempt may not meet
// (a peer or service unavailable, a deadline, an abort).
func transientRPC(err error) bool {
	st, ok := status.FromError(err) // unwraps
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}
