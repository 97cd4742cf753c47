package alloc

import (
	"errors"

	"github.com/kapot-go/kapot/internal/panics"
)

// Recovered is the error that p, a non-nil value recover returned on a
// goroutine running operator code, becomes: an allocation refused for
// want of memory (an allocator cannot return an error, so it panics with
// one) stays that ErrResourcesExhausted error; anything else is a bug, a
// *panics.Error "internal error: <value>" that holds the stack.
func Recovered(p any) error {
	if err, ok := p.(error); ok && errors.Is(err, ErrResourcesExhausted) {
		return err
	}
	return panics.From(p)
}

// Catch, deferred on a goroutine the engine starts, turns its panic into
// the goroutine's error: defer Catch(&err). Whoever waits for the
// goroutine returns that error from the operator's Next, so the task
// fails and the process lives on.
func Catch(err *error) {
	if p := recover(); p != nil {
		*err = Recovered(p)
	}
}
