package panics

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/errs"
)

// ErrInternal classifies every *Error: a bug of kapot's, not of the query
// or the data, that fails the same way on every attempt.
var ErrInternal = errs.ErrInternal

// Error is a recovered panic.
type Error struct {
	// Value is what the code panicked with.
	Value any
	// Stack is the panicking goroutine's stack, taken where it was
	// recovered: for the log, never for the client.
	Stack string
}

// Error is "internal error: <value>".
func (e *Error) Error() string { return fmt.Sprintf("internal error: %v", e.Value) }

// Is makes every *Error an ErrInternal.
func (e *Error) Is(target error) bool { return target == ErrInternal }

// Unwrap is the panic's value when it is an error (a runtime.Error, an
// error a library panicked with), so errors.As finds it.
func (e *Error) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// From is the error that p, a non-nil value recover returned, becomes. It
// must be called on the panicking goroutine (from the deferred function
// that recovered), where the stack is the panic's. A recovered *Error
// (re-panicked) stays itself, with its first stack.
func From(p any) *Error {
	if e, ok := p.(*Error); ok {
		return e
	}
	return &Error{Value: p, Stack: string(debug.Stack())}
}

// Catch, deferred, turns a panic of the function that deferred it into
// that function's error: defer panics.Catch(&err). It must be deferred
// itself (recover only stops a panic when a deferred function calls it).
func Catch(err *error) {
	if p := recover(); p != nil {
		*err = From(p)
	}
}

// Log writes a recovered panic to log at error level, with its stack.
func Log(log zerolog.Logger, e *Error, msg string) {
	log.Error().Str("panic", fmt.Sprint(e.Value)).Str("stack", e.Stack).Msg(msg)
}

// LogIf logs err's panic, if err carries one (see Log).
func LogIf(log zerolog.Logger, err error, msg string) {
	var e *Error
	if errors.As(err, &e) {
		Log(log, e, msg)
	}
}

// ServerOptions are interceptors that recover a panic in any unary or
// streaming handler of a gRPC server (and in the interceptors after them):
// the call fails with codes.Internal "internal error: <value>", the panic
// and its stack go to log, and the server keeps serving. Put them first, so
// that they see every other interceptor's panics too.
func ServerOptions(log zerolog.Logger) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
			defer recoverCall(log, info.FullMethod, &err)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
			defer recoverCall(log, info.FullMethod, &err)
			return h(srv, ss)
		}),
	}
}

// recoverCall is the interceptors' deferred recover.
func recoverCall(log zerolog.Logger, method string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	e := From(p)
	Log(log.With().Str("method", method).Logger(), e, "call panicked")
	*err = Status(e)
}

// Status is e as the gRPC status a client sees: codes.Internal with e's
// message, without the stack.
func Status(e *Error) error { return status.Error(codes.Internal, e.Error()) }
