package errs

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The classes.
var (
	// ErrNotSupported: a construct kapot refuses ("not supported yet:
	// <the construct>").
	ErrNotSupported = errors.New("not supported yet")
	// ErrInvalidPlan: a malformed plan or type on the wire.
	ErrInvalidPlan = errors.New("invalid plan")
	// ErrSyntax: SQL that does not parse.
	ErrSyntax = errors.New("syntax error")
	// ErrInvalidSQL: SQL that parses but is wrong (an unknown column or
	// function, a type mismatch).
	ErrInvalidSQL = errors.New("invalid statement")
	// ErrInvalidArgument: a bad value of a property, flag or parameter.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnknownTable: a table or view the catalog does not have.
	ErrUnknownTable = errors.New("unknown table")
	// ErrExists: a table, view or target that exists already.
	ErrExists = errors.New("already exists")
	// ErrPermission: what the principal may not do or reach.
	ErrPermission = errors.New("permission denied")
	// ErrResourcesExhausted: over a memory pool, a planning budget or
	// another bound.
	ErrResourcesExhausted = errors.New("resources exhausted")
	// ErrConstraint: data that breaks a table's constraint (NOT NULL).
	ErrConstraint = errors.New("constraint violated")
	// ErrCardinality: a value came from more rows than allowed (a scalar
	// subquery that returned several).
	ErrCardinality = errors.New("cardinality violation")
	// ErrInvalidColumnReference: SQL whose clauses refer to columns
	// inconsistently (SELECT DISTINCT ON expressions that do not match the
	// initial ORDER BY expressions).
	ErrInvalidColumnReference = errors.New("invalid column reference")
	// ErrUnavailable: a disk, network, object store or node that failed
	// (another attempt may succeed).
	ErrUnavailable = errors.New("unavailable")
	// ErrInternal: a bug of kapot's (a panic contained).
	ErrInternal = errors.New("internal error")
)

// New is an error with its own message that is of class (errors.Is).
func New(msg string, class error) error { return &classed{msg: msg, class: class} }

type classed struct {
	msg   string
	class error
}

func (e *classed) Error() string { return e.msg }
func (e *classed) Unwrap() error { return e.class }

// class is one row of the table: a class, its gRPC code and SQLSTATE.
type class struct {
	err      error
	code     codes.Code
	sqlstate string
}

// table maps the classes, in the order they are tried (the first that
// errors.Is matches wins: a resources error wrapped in a refusal is
// reported for resources).
var table = []class{
	{context.Canceled, codes.Canceled, "57014"},
	{context.DeadlineExceeded, codes.DeadlineExceeded, "57014"},
	{ErrResourcesExhausted, codes.ResourceExhausted, "53000"},
	{ErrInternal, codes.Internal, "XX000"},
	{ErrPermission, codes.PermissionDenied, "42501"},
	{fs.ErrPermission, codes.PermissionDenied, "42501"},
	{ErrNotSupported, codes.InvalidArgument, "0A000"},
	{ErrSyntax, codes.InvalidArgument, "42601"},
	{ErrUnknownTable, codes.NotFound, "42P01"},
	{ErrExists, codes.AlreadyExists, "42P07"},
	{ErrConstraint, codes.InvalidArgument, "23502"},
	{ErrCardinality, codes.InvalidArgument, "21000"},
	{ErrInvalidColumnReference, codes.InvalidArgument, "42P10"},
	{ErrInvalidSQL, codes.InvalidArgument, "42000"},
	{ErrInvalidPlan, codes.InvalidArgument, "42000"},
	{ErrInvalidArgument, codes.InvalidArgument, "22023"},
	{ErrUnavailable, codes.Unavailable, "58030"},
	{fs.ErrNotExist, codes.NotFound, "58P01"},
}

// unavailable is the row of a failed disk or network call of no other
// class (an *fs.PathError, *os.SyscallError, *net.OpError): another
// attempt may succeed.
var unavailable = class{ErrUnavailable, codes.Unavailable, "58030"}

// lookup is err's row (ok false for an error of no class).
func lookup(err error) (class, bool) {
	for _, c := range table {
		if errors.Is(err, c.err) {
			return c, true
		}
	}
	var pe *fs.PathError
	var se *os.SyscallError
	var ne *net.OpError
	if errors.As(err, &pe) || errors.As(err, &se) || errors.As(err, &ne) {
		return unavailable, true
	}
	return class{}, false
}

// Code is err's gRPC code: a gRPC status's own, else its class's;
// unclassified errors are fallback's.
func Code(err error, fallback codes.Code) codes.Code {
	if err == nil {
		return codes.OK
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	if c, ok := lookup(err); ok {
		return c.code
	}
	return fallback
}

// Status is err as a gRPC status error (a status passes unchanged; nil
// stays nil), with its class's code or fallback, and err's message.
func Status(err error, fallback codes.Code) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(Code(err, fallback), err.Error())
}

// sqlstateOf maps gRPC codes back to SQLSTATE, for errors that crossed a
// gRPC boundary as statuses.
var sqlstateOf = map[codes.Code]string{
	codes.Canceled: "57014", codes.DeadlineExceeded: "57014", codes.ResourceExhausted: "53000", codes.Internal: "XX000",
	codes.PermissionDenied: "42501", codes.Unauthenticated: "28000", codes.NotFound: "42P01", codes.AlreadyExists: "42P07",
	codes.InvalidArgument: "42000", codes.Unimplemented: "0A000", codes.Unavailable: "58030", codes.FailedPrecondition: "55000",
}

// SQLState is err's SQLSTATE: its class's, else (a gRPC status) its
// code's, else XX000.
func SQLState(err error) string {
	if c, ok := lookup(err); ok {
		return c.sqlstate
	}
	if s, ok := status.FromError(err); ok {
		if v, ok := sqlstateOf[s.Code()]; ok {
			return v
		}
	}
	return "XX000"
}
