package store

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// retryFor bounds how long one request is tried again before its last
// error is returned (the caller's ctx may end it sooner): its callers
// (the scheduler's write queue) retry further themselves.
const retryFor = 15 * time.Second

// retry runs op, each try under its own deadline (e.try; after three
// tries that ran out of time, doubled each time up to 8 times it: a slow
// but working etcd still gets its answer in), again while it fails for a
// reason that passes (no leader, leader changed, a member gone, a try out
// of time), until ctx ends or retryFor has passed. Measured on 3 members, one host:
// etcd elects a new raft leader 1–2 s after its leader is SIGKILLed; a
// write that was sent to it, or forwarded to it, waited etcd's own
// timeout (7 s) before.
func (e *Etcd) retry(ctx context.Context, op func(context.Context) error) error {
	start := time.Now()
	try, ranOutTries := e.try, 0
	for {
		tctx, cancel := context.WithTimeout(ctx, try)
		err := op(tctx)
		ranOut := tctx.Err() != nil
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) || time.Since(start) >= retryFor {
			if err != nil && ctx.Err() != nil {
				return errors.Join(ctx.Err(), err)
			}
			return err
		}
		if ranOut {
			if ranOutTries++; ranOutTries >= 3 {
				try = min(2*try, 8*e.try)
			}
			continue // the next try goes to the next member at once
		}
		// Refused at once (no leader yet): give the election a moment.
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// transient reports whether a request that failed with err may succeed
// when made again: etcd was electing a leader, a member went away, the
// try ran out of time.
func transient(err error) bool {
	if errors.Is(err, ErrFenced) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true // the try's deadline (the caller's ctx is checked apart)
	}
	c := status.Code(err)
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		c = ee.Code()
	}
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted, codes.Aborted, codes.Unknown:
		return true
	}
	return false
}
