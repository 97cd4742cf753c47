package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/internal/topology"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// launch accepts a task into the slot pool. It fails with UNAVAILABLE once
// the executor is terminating.
func (e *Executor) launch(def *kapotv1.TaskDefinition) error {
	if err := shuffle.ValidateJobID(def.GetJobId()); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	started, err := e.addTask(def, cancel)
	if !started {
		cancel()
		return err
	}
	go e.runTask(ctx, cancel, def)
	return nil
}

// addTask records def as running, under the lock the janitor holds while
// it checks a job and deletes its directory: once addTask returns, the
// janitor keeps the job's files until removeTask. It refuses a task while
// terminating, and ignores a task id it runs already (started false, nil).
func (e *Executor) addTask(def *kapotv1.TaskDefinition, cancel context.CancelFunc) (started bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.terminating.Load() {
		return false, status.Error(codes.Unavailable, "executor is terminating")
	}
	if _, dup := e.running[def.GetTaskId()]; dup {
		return false, nil
	}
	e.running[def.GetTaskId()] = &runningTask{def: def, cancel: cancel}
	e.runningJobs[def.GetJobId()]++
	e.busy++
	e.tasks.Add(1)
	return true, nil
}

// removeTask undoes addTask once the task has returned.
func (e *Executor) removeTask(def *kapotv1.TaskDefinition) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.running, def.GetTaskId())
	if e.runningJobs[def.GetJobId()]--; e.runningJobs[def.GetJobId()] <= 0 {
		delete(e.runningJobs, def.GetJobId())
		if e.removeWhenDone[def.GetJobId()] {
			e.removeJobDataLocked(def.GetJobId())
		}
	}
	if len(e.running) == 0 && e.recycler != nil {
		// Idle: give the cached buffers back once it stays idle, so that
		// an idle executor's memory shrinks to what it needs. At once, the
		// next stage's task (a query's stages follow each other by
		// milliseconds) found the cache empty: every buffer it allocated
		// was fresh Go memory, zeroed and faulted in (a tenth of the CPU
		// of a TPC-DS run with one task slot).
		busy := e.busy
		if e.trim != nil {
			e.trim.Stop()
		}
		e.trim = time.AfterFunc(e.trimAfter, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.busy == busy && len(e.running) == 0 {
				e.recycler.Trim()
			}
		})
	}
}

// recyclerIdleTrim is how long an executor is idle before its recycler's
// cached buffers go back to the Go heap (and, by its scavenger, the OS).
const recyclerIdleTrim = time.Second

// recyclerMaxBytes bounds the recycler's cache of freed buffers (its
// default is an eighth of the pool).
const recyclerMaxBytes = 128 << 20

// stopTrim stops a pending trim (the executor is done) and trims now.
func (e *Executor) stopTrim() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.trim != nil {
		e.trim.Stop()
		e.trim = nil
	}
	if e.recycler != nil {
		e.recycler.Trim()
	}
}

func (e *Executor) runTask(ctx context.Context, cancel context.CancelFunc, def *kapotv1.TaskDefinition) {
	defer e.tasks.Done()
	defer cancel()
	start := time.Now()
	st := &kapotv1.TaskStatus{
		TaskId: def.GetTaskId(), JobId: def.GetJobId(), StageId: def.GetStageId(), StageAttempt: def.GetStageAttempt(),
		Partition: def.GetPartition(), ExecutorId: e.id, StartTimeMs: start.UnixMilli(),
	}
	log := e.log.With().Str("job", def.GetJobId()).Uint32("stage", def.GetStageId()).Uint32("partition", def.GetPartition()).Uint64("task", def.GetTaskId()).Logger()
	if _, err := shuffle.JobDir(e.workDir, def.GetJobId()); err == nil && e.cfg.JobLogs != nil {
		// The job id is path-safe (checked above): segregate this task's
		// lines into the job's log directory too.
		tl, closer, err := e.cfg.JobLogs.TaskLogger(log, def.GetJobId(), def.GetStageId(), def.GetPartition())
		if err != nil {
			log.Warn().Err(err).Msg("no per-job log file for this task")
		} else {
			log = tl
			defer closer.Close()
		}
	}
	defer func() {
		e.removeTask(def)
		st.EndTimeMs = time.Now().UnixMilli()
		e.prom.taskDone(st, time.Since(start))
		if e.cfg.OnTaskDone != nil {
			e.cfg.OnTaskDone(st)
		}
		e.queueStatus(st)
	}()
	var slot int
	sem := e.sem
	if def.GetFairShareSlot() {
		sem = e.fairSem
	}
	select {
	case slot = <-sem:
	case <-ctx.Done():
		st.Status = &kapotv1.TaskStatus_Failed{Failed: &kapotv1.FailedTask{Error: "cancelled before it started", Retryable: true,
			Reason: &kapotv1.FailedTask_TaskKilled{TaskKilled: &kapotv1.TaskKilled{}}}}
		return
	}
	e.prom.slotsUsed.Inc()
	defer func() { sem <- slot; e.prom.slotsUsed.Dec() }()
	if e.cfg.OnTaskStart != nil {
		e.cfg.OnTaskStart(def)
	}
	var cores []int
	if slot < len(e.slotCores) { // the fair-share slot runs unpinned
		cores = e.slotCores[slot]
		// The task's operators run on this goroutine: pin its thread to the
		// slot's cores for the task's life.
		unpin, err := topology.Pin(cores)
		if err != nil {
			log.Warn().Err(err).Msg("task runs unpinned")
		} else {
			defer unpin()
			// Memory from the cores' node, where the kernel lets us (best
			// effort: containers often forbid set_mempolicy).
			restore, err := topology.PreferNode(e.slotNodes[slot])
			e.memPolicy.Do(func() {
				if err != nil {
					e.log.Info().Err(err).Msg("tasks run without a NUMA memory policy")
				} else {
					e.log.Info().Msg("tasks prefer memory from their cores' NUMA node")
				}
			})
			if err == nil {
				defer restore()
			}
		}
	}
	log.Info().Int("slot", slot).Ints("cores", cores).Msg("task started")
	done, err := e.safeRun(ctx, def, log)
	if err != nil {
		// A panic of the task's goroutine, of one its operators started
		// or of an Arrow kernel (alloc.Catch): the stack is for the log.
		panics.LogIf(log, err, "task panicked")
		f := failure(ctx, err)
		st.Status = &kapotv1.TaskStatus_Failed{Failed: f}
		log.Warn().Str("error", f.GetError()).Str("reason", fmt.Sprintf("%T", f.GetReason())).Msg("task failed")
		return
	}
	if done == nil {
		done = &kapotv1.SuccessfulTask{}
	}
	st.Status = &kapotv1.TaskStatus_Successful{Successful: done}
	log.Info().Dur("elapsed", time.Since(start)).Msg("task finished")
}

// safeRun turns a panic in the engine into a task error, "internal error:
// <value>": one bad plan must never take the executor down. Goroutines the
// engine starts recover their own (alloc.Catch) and return them as errors.
func (e *Executor) safeRun(ctx context.Context, def *kapotv1.TaskDefinition, log zerolog.Logger) (done *kapotv1.SuccessfulTask, err error) {
	defer func() {
		if r := recover(); r != nil {
			var me *alloc.MemoryExhaustedError
			if e, ok := r.(error); ok && errors.As(e, &me) {
				// The task needs more memory than the executor may use
				// (alloc.BoundedAllocator): its error, not a crash.
				log.Warn().Err(me).Msg("task refused memory")
				err = me
				return
			}
			err = panics.From(r) // runTask logs it; deterministic: not retried
		}
	}()
	// The task's allocator stops it (through ctx, with the refusal as the
	// cause) once the executor's Arrow memory passes its bound.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	mem := alloc.NewBoundedAllocator(e.arrowMem, e.memBound, stop)
	done, err = e.engine.RunTask(ctx, &Task{Def: def, ExecutorID: e.id, WorkDir: e.workDir, Mem: mem, Pool: e.pool, Fetcher: e.fetcher, HostLocal: e.hostLocal, Store: e.store, ShuffleCompression: e.cfg.ShuffleCompression, Footers: e.footers})
	var me *alloc.MemoryExhaustedError
	if err != nil && errors.As(context.Cause(ctx), &me) {
		log.Warn().Err(me).Msg("task stopped: over the executor's memory bound")
		return nil, me
	}
	return done, err
}

func (e *Executor) cancelTasks(ids []uint64) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, id := range ids {
		if t, ok := e.running[id]; ok {
			t.cancel()
			n++
		}
	}
	return n
}

func (e *Executor) queueStatus(st *kapotv1.TaskStatus) {
	e.statusMu.Lock()
	e.statuses = append(e.statuses, st)
	e.statusMu.Unlock()
	select {
	case e.statusCh <- struct{}{}:
	default:
	}
}

func (e *Executor) takeStatuses() []*kapotv1.TaskStatus {
	e.statusMu.Lock()
	defer e.statusMu.Unlock()
	s := e.statuses
	e.statuses = nil
	return s
}

func (e *Executor) requeueStatuses(s []*kapotv1.TaskStatus) {
	if len(s) == 0 {
		return
	}
	e.statusMu.Lock()
	e.statuses = append(s, e.statuses...)
	e.statusMu.Unlock()
}

// sendStatuses reports queued statuses; on failure they are queued again.
func (e *Executor) sendStatuses(ctx context.Context) error {
	e.reportMu.Lock()
	defer e.reportMu.Unlock()
	s := e.takeStatuses()
	if len(s) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := e.scheduler.UpdateTaskStatus(cctx, &kapotv1.UpdateTaskStatusRequest{ExecutorId: e.id, TaskStatuses: s})
	if status.Code(err) == codes.ResourceExhausted {
		// Too large to send: sending it again fails the same way. Each
		// status goes alone, and one still too large is replaced by a
		// failure that says so, so the scheduler always hears of the task.
		for _, st := range s {
			_, err = e.scheduler.UpdateTaskStatus(cctx, &kapotv1.UpdateTaskStatusRequest{ExecutorId: e.id, TaskStatuses: []*kapotv1.TaskStatus{st}})
			if status.Code(err) == codes.ResourceExhausted {
				e.log.Error().Uint64("task", st.GetTaskId()).Int("bytes", proto.Size(st)).Msg("task status too large to report; reporting the task as failed")
				st = tooLargeStatus(st)
				_, err = e.scheduler.UpdateTaskStatus(cctx, &kapotv1.UpdateTaskStatusRequest{ExecutorId: e.id, TaskStatuses: []*kapotv1.TaskStatus{st}})
			}
			if err != nil {
				e.requeueStatuses([]*kapotv1.TaskStatus{st})
			}
		}
		return err
	}
	if err != nil {
		e.requeueStatuses(s)
		return err
	}
	if resp.GetReregister() {
		// The scheduler does not know this executor (yet): the statuses
		// wait for the registration, which names their tasks.
		e.requeueStatuses(s)
		e.requestReregister()
	}
	return nil
}

// flushStatuses makes a last attempt to report everything queued.
func (e *Executor) flushStatuses() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if e.cfg.TaskSchedulingPolicy == PolicyPullStaged {
		s := e.takeStatuses()
		if len(s) == 0 {
			return
		}
		if _, err := e.scheduler.PollWork(ctx, &kapotv1.PollWorkRequest{Registration: e.reg, FreeSlots: 0, TaskStatuses: s, Metrics: e.metrics(), Status: e.executorStatus()}); err != nil {
			e.log.Error().Err(err).Int("statuses", len(s)).Msg("could not report final task statuses")
		}
		return
	}
	if err := e.sendStatuses(ctx); err != nil {
		e.log.Error().Err(err).Msg("could not report final task statuses")
	}
}

func (e *Executor) requestReregister() {
	select {
	case e.reregCh <- struct{}{}:
	default:
	}
}

// tooLargeStatus replaces a status the scheduler cannot receive with a
// small, non-retryable failure of the same task.
func tooLargeStatus(st *kapotv1.TaskStatus) *kapotv1.TaskStatus {
	return &kapotv1.TaskStatus{TaskId: st.GetTaskId(), JobId: st.GetJobId(), StageId: st.GetStageId(), StageAttempt: st.GetStageAttempt(),
		Partition: st.GetPartition(), ExecutorId: st.GetExecutorId(), StartTimeMs: st.GetStartTimeMs(), EndTimeMs: st.GetEndTimeMs(),
		Status: &kapotv1.TaskStatus_Failed{Failed: &kapotv1.FailedTask{
			Error:  fmt.Sprintf("the task's status (%d bytes) is larger than the scheduler accepts", proto.Size(st)),
			Reason: &kapotv1.FailedTask_ExecutionError{ExecutionError: &kapotv1.ExecutionError{}}}}}
}
