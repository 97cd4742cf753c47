package cluster

import (
	"fmt"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The jobs' clock: finished jobs' data goes after a delay and the jobs
// after their TTL; attached jobs whose client left and jobs past their
// deadline are cancelled.

// PropQueryTimeout is the session property of a statement's time limit.
const PropQueryTimeout = "kapot.query.timeout"

// cleanFinishedJobs asks executors to drop finished jobs' data after the
// clean-up delay and forgets jobs past their TTL.
func (s *State) cleanFinishedJobs(now time.Time) {
	keep := s.jobOrder[:0]
	for _, id := range s.jobOrder {
		j := s.jobs[id]
		if j.Finished() && !j.DataRemoved && now.Sub(j.End) >= s.cfg.FinishedJobDataCleanUpDelay {
			j.DataRemoved = true
			s.removeJobData(j.ID)
			s.emit(DropTasks{j.ID})
			j.release()
			s.persistJob(j)
		}
		if j.Finished() && now.Sub(j.End) > s.cfg.FinishedJobTTL {
			delete(s.jobs, id)
			if j.Request != "" {
				delete(s.requests, j.Request)
			}
			s.emit(ForgetJob{id})
			continue
		}
		keep = append(keep, id)
	}
	s.jobOrder = keep
}

// cancelAbandoned cancels attached jobs whose client stopped asking for
// their status.
func (s *State) cancelAbandoned(now time.Time) {
	if s.cfg.AbandonedJobTimeout <= 0 {
		return
	}
	for _, id := range s.jobOrder {
		j := s.jobs[id]
		if j.Finished() || j.Detached || j.Polls > 0 || now.Sub(j.LastPoll) < s.cfg.AbandonedJobTimeout {
			continue
		}
		s.endJob(j, kapotv1.JobState_JOB_STATE_CANCELLED, fmt.Sprintf("cancelled: its client has not asked for its status for %s (submit detached to run without one)",
			now.Sub(j.LastPoll).Round(time.Second)), now)
		s.logInfo("job abandoned by its client; cancelled", "job", id)
	}
}

// expireJobs cancels the running jobs past their deadline.
func (s *State) expireJobs(now time.Time) {
	for _, id := range s.jobOrder {
		j := s.jobs[id]
		if j.Finished() || j.Committing || j.Deadline.IsZero() || now.Before(j.Deadline) {
			continue
		}
		s.endJob(j, kapotv1.JobState_JOB_STATE_CANCELLED, fmt.Sprintf("cancelled: the statement ran longer than its time limit %s (%s, --query-timeout)",
			j.Deadline.Sub(j.Start).Round(time.Second), PropQueryTimeout), now)
		s.logInfo("job over its time limit; cancelled", "job", id)
	}
}
