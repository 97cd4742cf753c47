package executor

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"github.com/kapot-go/kapot/objstore"
)

func isIOError(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se) || errors.As(err, &errno) ||
		errors.Is(err, objstore.ErrIO) || errors.Is(err, objstore.ErrChanged) || errors.Is(err, objstore.ErrNotFound)
}
