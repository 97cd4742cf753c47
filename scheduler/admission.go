package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/kapot-go/kapot/scheduler/cluster"
)

// Admission and limits: one session cannot take the cluster.
//
//   - A session (the owner of its jobs) has at most --max-session-jobs
//     jobs running or queued; more are refused at submit
//     (cluster.State.Admit).
//   - In the fair mode each free slot goes to the session running the
//     fewest tasks, then to its job running the fewest (see package
//     cluster's assignment).
//   - Every job has a deadline: the session property kapot.query.timeout
//     (a duration), else --query-timeout, at most --max-query-timeout; a
//     job past it is cancelled.

// PropQueryTimeout is the session property of a statement's time limit.
const PropQueryTimeout = cluster.PropQueryTimeout

// errTooLarge marks a job over one of the scheduler's size limits.
var errTooLarge = errors.New("job too large")

// queryTimeout is the time limit of a job with session properties props.
func (s *Scheduler) queryTimeout(props map[string]string) (time.Duration, error) {
	d := s.cfg.QueryTimeout
	if v, ok := props[PropQueryTimeout]; ok && v != "" {
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed <= 0 {
			return 0, fmt.Errorf("%w: %s=%q: want a positive duration such as 30s or 10m", errTooLarge, PropQueryTimeout, v)
		}
		d = parsed
	}
	if m := s.cfg.MaxQueryTimeout; m > 0 && (d <= 0 || d > m) {
		if _, set := props[PropQueryTimeout]; set {
			return 0, fmt.Errorf("%w: %s=%s is over this cluster's maximum %s (--max-query-timeout)", errTooLarge, PropQueryTimeout, d, m)
		}
		d = m
	}
	return d, nil
}
