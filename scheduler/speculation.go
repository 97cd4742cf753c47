package scheduler

import (
	"context"
	"time"
)

// Speculative execution (--speculation, on by default): the cluster state
// decides which running tasks are stragglers and where their copies run
// (see package cluster); this loop gives it the time.

// speculationPeriod is how often running tasks are checked for stragglers.
const speculationPeriod = 200 * time.Millisecond

// speculationLoop marks stragglers until ctx ends.
func (s *Scheduler) speculationLoop(ctx context.Context) {
	t := time.NewTicker(speculationPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		_, fx := s.cl.MarkStragglers(time.Now())
		s.apply(fx)
		s.mu.Unlock()
	}
}
