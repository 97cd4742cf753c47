package errs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTable(t *testing.T) {
	for _, c := range []struct {
		err      error
		code     codes.Code
		sqlstate string
	}{
		{fmt.Errorf("window frame: %w", ErrNotSupported), codes.InvalidArgument, "0A000"},
		{New("table t exists", ErrExists), codes.AlreadyExists, "42P07"},
		{New("DISTINCT ON", ErrInvalidColumnReference), codes.InvalidArgument, "42P10"},
		{fmt.Errorf("select: %w", New("no table x", ErrUnknownTable)), codes.NotFound, "42P01"},
		{fmt.Errorf("sort: %w", ErrResourcesExhausted), codes.ResourceExhausted, "53000"},
		// A refusal for resources inside an unsupported construct is
		// reported for resources.
		{fmt.Errorf("%w: %w", ErrNotSupported, ErrResourcesExhausted), codes.ResourceExhausted, "53000"},
		{fmt.Errorf("plan: %w", context.Canceled), codes.Canceled, "57014"},
		{New("s3://b/k: connection reset", ErrUnavailable), codes.Unavailable, "58030"},
		{status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied, "42501"},
		{errors.New("who knows"), codes.Unknown, "XX000"},
	} {
		if got := Code(c.err, codes.Unknown); got != c.code {
			t.Errorf("%v: code %s, want %s", c.err, got, c.code)
		}
		if got := SQLState(c.err); got != c.sqlstate {
			t.Errorf("%v: SQLSTATE %s, want %s", c.err, got, c.sqlstate)
		}
		if s, _ := status.FromError(Status(c.err, codes.Unknown)); s.Code() != c.code || s.Message() != c.err.Error() && status.Code(c.err) == codes.Unknown {
			t.Errorf("%v: status %v", c.err, s)
		}
	}
	if New("x", ErrExists).Error() != "x" {
		t.Error("New does not keep its message")
	}
}
