package planner

import (
	"fmt"

	"github.com/kapot-go/kapot/errs"
)

// Errors of SQL planning.

// ErrNotSupported marks SQL the planner does not handle yet; the message
// names the feature.
var ErrNotSupported = errs.ErrNotSupported

// SQLError is a planning error at a position of the SQL text.
type SQLError struct {
	Pos int // byte offset in the statement, -1 if unknown
	Msg string
	Err error
}

func (e *SQLError) Error() string {
	if e.Pos >= 0 {
		return fmt.Sprintf("%s (at position %d)", e.Msg, e.Pos+1)
	}
	return e.Msg
}

// Unwrap is the error's class: errs.ErrInvalidSQL unless it has another.
func (e *SQLError) Unwrap() error {
	if e.Err == nil {
		return errs.ErrInvalidSQL
	}
	return e.Err
}

func errAt(pos int32, err error, format string, a ...any) error {
	return &SQLError{Pos: int(pos), Msg: fmt.Sprintf(format, a...), Err: err}
}

func notSupported(pos int32, feature string) error {
	return errAt(pos, ErrNotSupported, "not supported yet: %s", feature)
}

// NotSupported is the error of a feature kapot refuses:
// "not supported yet: <feature>".
func NotSupported(feature string) error { return notSupported(-1, feature) }
