package executor

import (
	"context"
	"errors"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// errForgotten is returned by holdLink when the scheduler no longer knows
// this executor (it restarted, or declared the executor lost).
var errForgotten = errors.New("the scheduler does not know this executor")

// linkLoop holds this executor's link to the scheduler open for as long as
// ctx lives, reopening it when it breaks: the scheduler notices the
// executor's death by the link's end (see scheduler/liveness.go). When the
// scheduler has forgotten the executor, it rejoins.
func (e *Executor) linkLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		opened, err := e.holdLink(ctx)
		if ctx.Err() != nil {
			return
		}
		if opened {
			backoff = 100 * time.Millisecond
		}
		if errors.Is(err, errForgotten) && !e.terminating.Load() {
			e.rejoin(ctx, "the scheduler's link says it does not know this executor")
		} else {
			e.log.Debug().Err(err).Msg("link to the scheduler broke; reopening it")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// holdLink opens the link and waits until it ends; opened tells whether
// the scheduler accepted it.
func (e *Executor) holdLink(ctx context.Context) (opened bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := e.scheduler.ExecutorLink(ctx, &kapotv1.ExecutorLinkRequest{ExecutorId: e.id})
	if err != nil {
		return false, err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return opened, err
		}
		if ev.GetReregister() {
			return opened, errForgotten
		}
		if ev.GetLinked() && !opened {
			e.log.Info().Msg("link to the scheduler open")
		}
		opened = opened || ev.GetLinked()
	}
}

// rejoin registers again with a scheduler that forgot this executor (it
// declared it lost, restarted, or took over from another). The
// registration names the tasks running here: the scheduler keeps those it
// still wants and the others are cancelled (their slots are wanted).
func (e *Executor) rejoin(ctx context.Context, why string) {
	e.log.Warn().Str("why", why).Msg("registering again")
	if err := e.register(ctx, 0); err != nil {
		e.log.Warn().Err(err).Msg("re-registration failed")
	}
}
