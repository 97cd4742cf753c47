package panics

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// panickingHealth panics in Check and Watch unless asked for "ok".
type panickingHealth struct {
	healthpb.UnimplementedHealthServer
}

func (panickingHealth) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.GetService() == "ok" {
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
	}
	var s []int
	_ = s[len(req.GetService())] // index out of range
	return nil, nil
}

func (panickingHealth) Watch(*healthpb.HealthCheckRequest, healthpb.Health_WatchServer) error {
	panic("watch broke")
}

// TestServerOptions: a panic in a unary or streaming handler of a real
// server fails that call with codes.Internal "internal error: …", the
// stack goes to the log at error level, and the server answers the next
// call.
func TestServerOptions(t *testing.T) {
	var logs bytes.Buffer
	srv := grpc.NewServer(ServerOptions(zerolog.New(&logs))...)
	healthpb.RegisterHealthServer(srv, panickingHealth{})
	lis, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := healthpb.NewHealthClient(conn)
	ctx := context.Background()

	_, err = c.Check(ctx, &healthpb.HealthCheckRequest{Service: "x"})
	if status.Code(err) != codes.Internal || !strings.Contains(status.Convert(err).Message(), "internal error: runtime error: index out of range") {
		t.Fatalf("unary: %v, want Internal 'internal error: runtime error: index out of range …'", err)
	}
	w, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); status.Code(err) != codes.Internal || status.Convert(err).Message() != "internal error: watch broke" {
		t.Fatalf("stream: %v, want Internal 'internal error: watch broke'", err)
	}
	if r, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "ok"}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("the server no longer answers: %v %v", r, err)
	}
	out := logs.String()
	for _, want := range []string{`"level":"error"`, `"method":"/grpc.health.v1.Health/Check"`, `"method":"/grpc.health.v1.Health/Watch"`, "panickingHealth"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
}

// TestCatch: a deferred Catch turns the panic into the function's error,
// an ErrInternal that unwraps to the panic's error value.
func TestCatch(t *testing.T) {
	f := func() (err error) {
		defer Catch(&err)
		_ = elementAt(nil, 3) // a runtime error
		return nil
	}
	err := f()
	var re interface{ RuntimeError() }
	if !errors.Is(err, ErrInternal) || !errors.As(err, &re) || err.Error() != "internal error: runtime error: index out of range [3] with length 0" {
		t.Fatalf("error %q (%T)", err, err)
	}
	if e := err.(*Error); !strings.Contains(e.Stack, "TestCatch") {
		t.Errorf("the stack does not name the panicking function:\n%s", e.Stack)
	}
	// A recovered *Error that panics again keeps its first stack.
	if From(err) != err {
		t.Error("From of an *Error is not the same error")
	}
}

// elementAt indexes s at run time (a constant out-of-range index would not
// compile, nor pass staticcheck).
func elementAt(s []int, i int) int { return s[i] }
