package scheduler

import (
	"errors"
	"fmt"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Admission and limits: one session cannot take the cluster.
//
//   - A session (the owner of its jobs) has at most --max-session-jobs
//     jobs running or queued; more are refused at submit.
//   - In the fair mode each free slot goes to the session running the
//     fewest tasks, then to its job running the fewest (see nextTask): a
//     session with many jobs gets no more slots than one with one, and a
//     job over its share yields slots as its tasks end.
//   - Every job has a deadline: the session property kapot.query.timeout
//     (a duration), else --query-timeout, at most --max-query-timeout; a
//     job past it is cancelled.

// PropQueryTimeout is the session property of a statement's time limit.
const PropQueryTimeout = "kapot.query.timeout"

// errSessionBusy marks a submission over the session's job cap.
var errSessionBusy = errors.New("session busy")

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

// admit checks owner's job cap before a new job. Called with mu held.
func (s *Scheduler) admit(owner string) error {
	if s.cfg.MaxSessionJobs <= 0 || owner == "" || owner == ownerFlightSQL {
		return nil
	}
	n := 0
	for _, j := range s.jobs {
		if j.owner == owner && !j.finished() {
			n++
		}
	}
	if n >= s.cfg.MaxSessionJobs {
		return fmt.Errorf("%w: this session has %d jobs running or queued, the most one session may (--max-session-jobs); wait for one to end", errSessionBusy, n)
	}
	return nil
}

// expireJobs cancels the running jobs past their deadline. Called with mu
// held.
func (s *Scheduler) expireJobs(now time.Time) {
	for _, id := range s.jobOrder {
		j := s.jobs[id]
		if j.finished() || j.committing || j.deadline.IsZero() || now.Before(j.deadline) {
			continue
		}
		s.endJob(j, kapotv1.JobState_JOB_STATE_CANCELLED, fmt.Sprintf("cancelled: the statement ran longer than its time limit %s (%s, --query-timeout)",
			j.deadline.Sub(j.start).Round(time.Second), PropQueryTimeout))
		s.log.Info().Str("job", id).Msg("job over its time limit; cancelled")
	}
}
