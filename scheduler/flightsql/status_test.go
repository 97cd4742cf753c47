package flightsql

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/planner"
)

// TestSQLStatus: errors of planning and running map to the gRPC codes
// clients act on; over a planning budget (time, plan size) or a memory
// pool is ResourceExhausted, whatever wraps it.
func TestSQLStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		want codes.Code
	}{
		{planner.PlanningTimeout(30 * time.Second), codes.ResourceExhausted},
		{fmt.Errorf("plan: %w", planner.PlanningTimeout(time.Second)), codes.ResourceExhausted},
		{fmt.Errorf("hash join: %w", engine.ErrResourcesExhausted), codes.ResourceExhausted},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{planner.NotSupported("x"), codes.InvalidArgument},
	} {
		if got := status.Code(SQLStatus(c.err)); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}
