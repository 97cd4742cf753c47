package executor

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// maxPolledStatusBytes is the largest task status a poll carries after the
// scheduler refused one as too large.
const maxPolledStatusBytes = 1 << 20

// heartbeatLoop (push mode) reports status and metrics every interval,
// re-registers when the scheduler no longer knows us, and gives up with
// ErrSchedulerLost after MaxHeartbeatFailures consecutive failures.
func (e *Executor) heartbeatLoop(ctx context.Context) error {
	t := time.NewTicker(e.cfg.HeartbeatInterval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-e.reregCh:
			e.rejoin(ctx, "a status update was refused: the scheduler does not know this executor")
			continue
		case <-t.C:
		}
		if e.terminating.Load() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		sent := time.Now()
		resp, err := e.scheduler.HeartbeatFromExecutor(cctx, &kapotv1.HeartbeatRequest{
			ExecutorId: e.id, Status: e.executorStatus(), Metrics: e.metrics(), Registration: e.reg})
		cancel()
		if err == nil {
			e.prom.heartbeat.Observe(time.Since(sent).Seconds())
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			e.log.Warn().Err(err).Int("failures", failures).Msg("heartbeat failed")
			if failures >= e.cfg.MaxHeartbeatFailures {
				return fmt.Errorf("%d consecutive heartbeats failed: %w", failures, ErrSchedulerLost)
			}
			continue
		}
		failures = 0
		if resp.GetReregister() {
			e.rejoin(ctx, "a heartbeat was answered: the scheduler does not know this executor")
		}
		for _, j := range resp.GetRemoveJobs() {
			if err := e.removeJobData(j); err != nil {
				e.log.Warn().Err(err).Str("job", j).Msg("remove job data")
			}
		}
	}
}

// statusLoop (push mode) waits for a task status, then sends every queued
// status in one call.
func (e *Executor) statusLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.statusCh:
		}
		for {
			err := e.sendStatuses(ctx)
			if err == nil {
				backoff = 100 * time.Millisecond
				break
			}
			if ctx.Err() != nil {
				return
			}
			e.log.Warn().Err(err).Msg("task status update failed; retrying")
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// pollLoop (pull mode) asks for work whenever slots are free, carrying queued
// statuses; it doubles as the heartbeat. It sleeps briefly when idle and
// wakes early when a task finishes.
func (e *Executor) pollLoop(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		m := e.metrics()
		statuses := e.takeStatuses()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := e.scheduler.PollWork(cctx, &kapotv1.PollWorkRequest{
			Registration: e.reg, FreeSlots: m.GetFreeSlots(), TaskStatuses: statuses, Metrics: m, Status: e.executorStatus()})
		cancel()
		if err != nil {
			if status.Code(err) == codes.ResourceExhausted {
				// A status too large to ever send is replaced by a small
				// failure of its task, so the poll does not fail forever.
				for i, st := range statuses {
					if proto.Size(st) > maxPolledStatusBytes {
						e.log.Error().Uint64("task", st.GetTaskId()).Int("bytes", proto.Size(st)).Msg("task status too large to report; reporting the task as failed")
						statuses[i] = tooLargeStatus(st)
					}
				}
			}
			e.requeueStatuses(statuses)
			if ctx.Err() != nil {
				return nil
			}
			failures++
			e.log.Warn().Err(err).Int("failures", failures).Msg("poll failed")
			if failures >= e.cfg.MaxHeartbeatFailures {
				return fmt.Errorf("%d consecutive polls failed: %w", failures, ErrSchedulerLost)
			}
			e.sleep(ctx, e.cfg.HeartbeatInterval)
			continue
		}
		failures = 0
		if resp.GetReregister() {
			e.rejoin(ctx, "a poll was answered: the scheduler does not know this executor")
		}
		for _, t := range resp.GetTasks() {
			if err := e.launch(t); err != nil {
				e.log.Warn().Str("error", errorText(err)).Uint64("task", t.GetTaskId()).Msg("launch failed")
				e.queueStatus(&kapotv1.TaskStatus{TaskId: t.GetTaskId(), JobId: t.GetJobId(), StageId: t.GetStageId(), Partition: t.GetPartition(), ExecutorId: e.id,
					Status: &kapotv1.TaskStatus_Failed{Failed: &kapotv1.FailedTask{Error: errorText(err), Retryable: true, Reason: &kapotv1.FailedTask_TaskKilled{TaskKilled: &kapotv1.TaskKilled{}}}}})
			}
		}
		if ids := resp.GetCancelTasks(); len(ids) > 0 {
			tids := make([]uint64, len(ids))
			for i, t := range ids {
				tids[i] = t.GetTaskId()
			}
			e.cancelTasks(tids)
		}
		for _, j := range resp.GetRemoveJobs() {
			if err := e.removeJobData(j); err != nil {
				e.log.Warn().Err(err).Str("job", j).Msg("remove job data")
			}
		}
		if len(resp.GetTasks()) == 0 {
			e.sleep(ctx, e.cfg.PollInterval)
		}
	}
	return nil
}

// sleep waits for d, or less if a task status is queued or ctx ends.
func (e *Executor) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-e.statusCh:
	}
}
