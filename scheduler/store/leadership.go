package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Leadership is a won election: it lasts while the scheduler's lease is
// kept alive. The Leadership renews the lease itself, a try every sixth
// of its TTL, each under a deadline of its own (EtcdConfig.RequestTimeout,
// at most a third of the TTL): a renewal that hangs (etcd's raft leader
// just died) is made again, on another member, instead of waiting out
// etcd's timeout. The lease is known to last until a renewal's sending
// plus the TTL; Lost closes a tenth of the TTL before that.
type Leadership struct {
	sess *concurrency.Session
	el   *concurrency.Election

	stop context.CancelFunc
	done chan struct{} // the renewing goroutine returned
	lost chan struct{}

	mu  sync.Mutex
	err error // why it was lost
}

// electionKey is the prefix of the schedulers' election.
func (e *Etcd) electionKey() string { return e.prefix + "/election" }

// Campaign blocks until this scheduler is the leader (or ctx ends). value
// is what followers learn of the leader (its address). From then on every
// write is fenced by the leader key's revision. ttl is the lease: how long
// a dead leader keeps its leadership.
func (e *Etcd) Campaign(ctx context.Context, value string, ttl time.Duration) (*Leadership, error) {
	sess, err := concurrency.NewSession(e.cli, concurrency.WithTTL(max(1, int(ttl.Seconds()))))
	if err != nil {
		return nil, fmt.Errorf("etcd lease: %w", err)
	}
	el := concurrency.NewElection(sess, e.electionKey())
	if err := el.Campaign(ctx, value); err != nil {
		sess.Close()
		return nil, fmt.Errorf("leader election: %w", err)
	}
	try := min(e.try, ttl/3)
	// The lease lasts at least a TTL from a renewal's sending: the first
	// is made now.
	var confirmed time.Time
	for confirmed.IsZero() {
		sent := time.Now()
		tctx, cancel := context.WithTimeout(ctx, try)
		_, err := e.cli.KeepAliveOnce(tctx, sess.Lease())
		cancel()
		switch {
		case err == nil:
			confirmed = sent
		case ctx.Err() != nil || errors.Is(err, rpctypes.ErrLeaseNotFound) || time.Since(sent) > ttl:
			sess.Close()
			return nil, fmt.Errorf("leader election: renew the lease: %w", err)
		}
	}
	e.mu.Lock()
	e.fenceKey, e.fenceRev = el.Key(), el.Rev()
	e.mu.Unlock()
	// Renewing ends with the client too (the store closed).
	kctx, stop := context.WithCancel(e.cli.Ctx())
	l := &Leadership{sess: sess, el: el, stop: stop, done: make(chan struct{}), lost: make(chan struct{})}
	go l.renew(kctx, e.cli, ttl, try, confirmed)
	return l, nil
}

// renew keeps the lease alive until ctx ends or the lease is lost.
func (l *Leadership) renew(ctx context.Context, cli *clientv3.Client, ttl, try time.Duration, confirmed time.Time) {
	defer close(l.done)
	every := max(ttl/6, 100*time.Millisecond)
	margin := ttl / 10
	for {
		left := time.Until(confirmed.Add(ttl - margin))
		if left <= 0 {
			l.end(fmt.Errorf("the etcd lease was not renewed for %s (etcd unreachable, or without a quorum)", time.Since(confirmed).Round(time.Millisecond)))
			return
		}
		sent := time.Now()
		tctx, cancel := context.WithTimeout(ctx, min(try, left))
		_, err := cli.KeepAliveOnce(tctx, l.sess.Lease())
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			confirmed = sent
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			l.end(errors.New("etcd ended the lease"))
			return
		}
		wait := time.Until(sent.Add(every))
		if err != nil {
			wait = 50 * time.Millisecond // at once, to another member
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (l *Leadership) end(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	close(l.lost)
}

// Lost is closed when the lease may have ended (it could not be renewed
// for nearly its TTL, or etcd says it has): another scheduler may be
// leader. Err says why.
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// Err is why the leadership was lost (nil while it holds).
func (l *Leadership) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Resign hands leadership over at once (a clean stop) and ends the lease.
func (l *Leadership) Resign(ctx context.Context) error {
	l.stop()
	<-l.done
	err := l.el.Resign(ctx)
	if cerr := l.sess.Close(); err == nil {
		err = cerr
	}
	return err
}

// Verify checks that this scheduler still holds the leadership it won.
func (e *Etcd) Verify(ctx context.Context) error { return e.fenced(ctx) }
