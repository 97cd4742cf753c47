package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRetry: a try that hangs (etcd electing its leader) is cut at the
// try's deadline and made again; errors that pass are retried, the
// others (fenced, a bad request) returned at once.
func TestRetry(t *testing.T) {
	e := &Etcd{try: 50 * time.Millisecond}
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, c := range []struct {
		name    string
		results []func(context.Context) error // one per try; the last repeats
		tries   int
		ok      bool
		within  time.Duration
	}{
		{"hangs twice, then answers", []func(context.Context) error{hang, hang, nil}, 3, true, 500 * time.Millisecond},
		{"no leader twice, then answers", []func(context.Context) error{
			func(context.Context) error { return status.Error(codes.Unavailable, "etcdserver: no leader") },
			func(context.Context) error { return status.Error(codes.Unavailable, "etcdserver: leader changed") }, nil}, 3, true, time.Second},
		{"fenced", []func(context.Context) error{func(context.Context) error { return ErrFenced }}, 1, false, 100 * time.Millisecond},
		{"a bad request", []func(context.Context) error{func(context.Context) error {
			return status.Error(codes.InvalidArgument, "etcdserver: request is too large")
		}}, 1, false, 100 * time.Millisecond},
	} {
		tries := 0
		start := time.Now()
		err := e.retry(context.Background(), func(ctx context.Context) error {
			f := c.results[min(tries, len(c.results)-1)]
			tries++
			if f == nil {
				return nil
			}
			return f(ctx)
		})
		if took := time.Since(start); (err == nil) != c.ok || tries != c.tries || took > c.within {
			t.Errorf("%s: err %v after %d tries in %s; want ok %v after %d within %s", c.name, err, tries, took, c.ok, c.tries, c.within)
		}
	}
	// The caller's ctx ends the retries.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := e.retry(ctx, hang); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("retry past the caller's deadline: %v after %s", err, time.Since(start))
	}
}
