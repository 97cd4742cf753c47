package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/engine"
	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/admin"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/store"
	"github.com/kapot-go/kapot/wire"
)

// Scheduler holds the cluster state. All state is guarded by mu; RPCs to
// executors are made outside it.
type Scheduler struct {
	cfg Config
	id  string
	log zerolog.Logger

	mu         sync.Mutex
	executors  map[string]*executorState
	jobs       map[string]*jobState
	jobOrder   []string
	tasks      map[uint64]taskRef
	lastTaskID uint64 // the last task id given out

	connMu sync.Mutex
	conns  map[string]*grpc.ClientConn

	store *objstore.Registry // reads scanned files' schemas at submit
	// state is the durable state (--state-dir); catalog the tables SQL
	// names (Flight SQL), restored from it at start.
	state   store.Store
	catalog *planner.Catalog
	// past are the summaries of jobs finished before this scheduler
	// started, newest first; historyMu orders writes of the history.
	past      []JobView
	historyMu sync.Mutex
	signer    *kflight.Signer // signs result tickets (nil: no authentication)
	kick      chan struct{}
	lis       net.Listener
	srv       *grpc.Server
	health    *health.Server
	admin     *admin.Server
	prom      *schedMetrics
	// The Arrow Flight SQL endpoint, when --flight-sql-port is set.
	sqlLis   net.Listener
	sqlSrv   *grpc.Server
	sqlFetch *kflight.Client
	stopping atomic.Bool
	// linksDone is closed when the scheduler stops, ending executors' links.
	linksDone chan struct{}

	// bg owns the short-lived goroutines that call executors (launch,
	// cancel, remove data); Run waits for them before it returns.
	bg     sync.WaitGroup
	bgCtx  context.Context
	bgStop context.CancelFunc
}

// spawn runs f on a goroutine owned by the scheduler; f must return once
// ctx is done.
func (s *Scheduler) spawn(f func(ctx context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f(s.bgCtx)
	}()
}

// New validates cfg and binds the scheduler's port.
func New(cfg Config, log zerolog.Logger) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(cfg.BindHost, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("--port %d: %w", cfg.Port, err)
	}
	s := &Scheduler{
		cfg: cfg, id: uuid.NewString(), log: log,
		executors: map[string]*executorState{}, jobs: map[string]*jobState{}, tasks: map[uint64]taskRef{},
		conns: map[string]*grpc.ClientConn{}, kick: make(chan struct{}, 1), linksDone: make(chan struct{}), lis: lis, store: objstore.Default(),
	}
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	s.signer = kflight.NewSigner(cfg.Security.Secrets)
	s.store.AllowLocalURLs(cfg.AllowLocalURLs)
	if err := s.store.AllowRoots(cfg.AllowedDataRoots); err != nil {
		lis.Close()
		return nil, fmt.Errorf("--allowed-data-roots: %v: %w", err, config.ErrInvalid)
	}
	s.state = store.Memory()
	if cfg.StateDir != "" {
		if s.state, err = store.Open(cfg.StateDir); err != nil {
			lis.Close()
			return nil, fmt.Errorf("--state-dir: %w", err)
		}
	}
	built := false
	defer func() {
		if !built {
			s.state.Close() // the state dir is free for the next try
		}
	}()
	s.catalog = planner.NewCatalogWith(s.store, nil)
	if err := s.loadCatalog(context.Background()); err != nil {
		lis.Close()
		return nil, fmt.Errorf("--state-dir: read the catalog: %w", err)
	}
	if err := s.loadHistory(context.Background()); err != nil {
		lis.Close()
		return nil, fmt.Errorf("--state-dir: read the job history: %w", err)
	}
	s.prom = newSchedMetrics(s)
	// Executors present the executor secret; clients (submit, status,
	// cancel, listing) the client secret.
	// The scheduler secret is also the operator's: it may see and cancel
	// every job.
	exec, client := []security.NodeType{security.Executor}, []security.NodeType{security.Client}
	operator := []security.NodeType{security.Client, security.Scheduler}
	auth := security.NewAuthenticator(cfg.Security.Secrets,
		security.Rule{Prefix: "/kapot.v1.SchedulerService/RegisterExecutor", Allowed: exec},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/HeartbeatFromExecutor", Allowed: exec},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/PollWork", Allowed: exec},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/UpdateTaskStatus", Allowed: exec},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/ExecutorStopped", Allowed: exec},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/ExecutorLink", Allowed: exec},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/SubmitJob", Allowed: client},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/ExecuteSQL", Allowed: operator},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/GetJobStatus", Allowed: operator},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/CancelJob", Allowed: operator},
		security.Rule{Prefix: "/kapot.v1.SchedulerService/ListExecutors", Allowed: operator},
	)
	auth.OnReject = func(method, reason string) {
		s.prom.authFailures.WithLabelValues(reason).Inc()
		s.log.Warn().Str("method", method).Str("reason", reason).Msg("call rejected by cluster authentication")
	}
	opts, err := cfg.Security.ServerOptions(auth)
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	s.srv = grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(64 << 20), grpc.MaxSendMsgSize(64 << 20),
		// Links of stopped or partitioned executors break when pings go
		// unanswered; executors' own pings are allowed this often.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: LinkKeepaliveTime, Timeout: LinkKeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: LinkKeepaliveTime / 2, PermitWithoutStream: true})}, opts...)...)
	kapotv1.RegisterSchedulerServiceServer(s.srv, &service{s: s})
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.srv, s.health)
	if err := s.listenFlightSQL(); err != nil {
		lis.Close()
		return nil, err
	}
	if err := s.listenAdmin(); err != nil {
		lis.Close()
		if s.sqlLis != nil {
			s.sqlLis.Close()
		}
		return nil, fmt.Errorf("--admin-port %d: %w", cfg.AdminPort, err)
	}
	built = true
	return s, nil
}

// listenFlightSQL binds the Flight SQL port, if configured, and builds its
// server: the cluster's TLS, and the client secret as the password.
func (s *Scheduler) listenFlightSQL() error {
	if s.cfg.FlightSQLPort < 0 {
		return nil
	}
	dial, err := s.cfg.Security.DialOptions(security.Client)
	if err != nil {
		return fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	opts, err := s.cfg.Security.TLS.ServerOption()
	if err != nil {
		return fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	if s.cfg.Security.Secrets.Enabled() {
		auth := newSQLAuth(s.cfg.Security.Secrets.For(security.Client), s.cfg.Security.Secrets.Scheduler, func(method, reason string) {
			s.prom.authFailures.WithLabelValues(reason).Inc()
			s.log.Warn().Str("method", method).Str("reason", reason).Msg("flight sql call rejected")
		})
		opts = append(opts, auth.serverOptions()...)
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(s.cfg.BindHost, strconv.Itoa(s.cfg.FlightSQLPort)))
	if err != nil {
		return fmt.Errorf("--flight-sql-port %d: %w", s.cfg.FlightSQLPort, err)
	}
	s.sqlFetch = kflight.NewClient(3, 100*time.Millisecond, 0, dial...)
	srv, err := newSQLServer(s, s.sqlFetch)
	if err != nil {
		lis.Close()
		return err
	}
	s.sqlLis = lis
	s.sqlSrv = grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(64 << 20), grpc.MaxSendMsgSize(64 << 20)}, opts...)...)
	flight.RegisterFlightServiceServer(s.sqlSrv, flightsql.NewFlightServerWithAllocator(srv, srv.mem))
	healthpb.RegisterHealthServer(s.sqlSrv, s.health)
	return nil
}

// FlightSQLAddr is the Flight SQL endpoint's address (nil when off).
func (s *Scheduler) FlightSQLAddr() net.Addr {
	if s.sqlLis == nil {
		return nil
	}
	return s.sqlLis.Addr()
}

// Addr is the bound address.
func (s *Scheduler) Addr() net.Addr { return s.lis.Addr() }

// Run serves until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	loopCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.launchLoop(loopCtx) }()
	go func() { defer wg.Done(); s.livenessLoop(loopCtx) }()
	if s.cfg.Speculation {
		wg.Add(1)
		go func() { defer wg.Done(); s.speculationLoop(loopCtx) }()
	}
	errc := make(chan error, 3)
	go func() { errc <- s.srv.Serve(s.lis) }()
	if s.sqlSrv != nil {
		go func() {
			if err := s.sqlSrv.Serve(s.sqlLis); err != nil {
				errc <- fmt.Errorf("flight sql server: %w", err)
			}
		}()
		s.log.Info().Str("addr", s.sqlLis.Addr().String()).Str("results", s.cfg.FlightSQLResults).Msg("flight sql listening")
	}
	var adminDone sync.WaitGroup
	if s.admin != nil {
		adminDone.Add(1)
		go func() {
			defer adminDone.Done()
			if err := s.admin.Serve(); err != nil {
				errc <- fmt.Errorf("admin server: %w", err)
			}
		}()
	}
	s.log.Info().Str("addr", s.lis.Addr().String()).Str("policy", s.cfg.Policy).Msg("scheduler listening")
	if s.cfg.Security.Secrets.Enabled() && len(s.cfg.AllowedDataRoots) == 0 {
		s.log.Warn().Msg("cluster authentication is on but --allowed-data-roots is not set: any client with the client secret " +
			"can read every file this scheduler and its executors can (CREATE EXTERNAL TABLE ... LOCATION '/etc'); set --allowed-data-roots on the scheduler and the executors")
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.stopping.Store(true)
	s.health.Shutdown()
	if s.admin != nil {
		s.admin.Shutdown()
	}
	adminDone.Wait()
	if s.sqlSrv != nil {
		s.sqlSrv.Stop() // ends open result streams; clients see Unavailable
		s.sqlFetch.Close()
	}
	close(s.linksDone) // links end now: GracefulStop waits for open streams
	s.srv.GracefulStop()
	cancel()
	wg.Wait()
	s.bgStop()
	s.bg.Wait()
	s.connMu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()
	if cerr := s.state.Close(); cerr != nil {
		s.log.Error().Err(cerr).Msg("close the state store")
	}
	s.log.Info().Msg("scheduler stopped")
	return err
}

func (s *Scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// ---------------------------------------------------------------- executors

func (s *Scheduler) registerExecutor(reg *kapotv1.ExecutorRegistration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executors[reg.GetId()]
	if !ok {
		e = &executorState{running: map[uint64]struct{}{}, gone: make(chan struct{})}
		s.executors[reg.GetId()] = e
		s.log.Info().Str("executor", reg.GetId()).Str("host", reg.GetHost()).Uint32("flight_port", reg.GetFlightPort()).
			Uint32("slots", reg.GetResources().GetTaskSlots()).Str("policy", reg.GetPolicy().String()).Msg("executor registered")
	}
	e.reg, e.lastSeen, e.state = reg, time.Now(), kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE
	s.wake()
}

// touch records a sign of life; it returns false for unknown executors.
func (s *Scheduler) touch(id string, st *kapotv1.ExecutorStatus) bool {
	e, ok := s.executors[id]
	if !ok {
		return false
	}
	e.lastSeen = time.Now()
	if st.GetState() == kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING && e.state == kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
		s.log.Info().Str("executor", id).Str("reason", st.GetReason()).Msg("executor is terminating")
		e.state = kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING
	}
	return true
}

// cancelAbandoned cancels attached jobs whose client stopped asking for
// their status. Called with mu held.
func (s *Scheduler) cancelAbandoned(now time.Time) {
	if s.cfg.AbandonedJobTimeout <= 0 {
		return
	}
	for _, id := range s.jobOrder {
		j := s.jobs[id]
		if j.finished() || j.detached || j.polls > 0 || now.Sub(j.lastPoll) < s.cfg.AbandonedJobTimeout {
			continue
		}
		s.endJob(j, kapotv1.JobState_JOB_STATE_CANCELLED, fmt.Sprintf("cancelled: its client has not asked for its status for %s (submit detached to run without one)",
			now.Sub(j.lastPoll).Round(time.Second)))
		s.log.Info().Str("job", id).Msg("job abandoned by its client; cancelled")
	}
}

// authorize checks that the caller may see and cancel a job: its own
// session, or a caller with the scheduler secret. Others are told the job
// does not exist.
func (s *Scheduler) authorize(ctx context.Context, jobID string) error {
	if security.NodeFrom(ctx) == security.Scheduler {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok || j.owner != security.SessionFrom(ctx) {
		return errUnknownJob
	}
	return nil
}

// polling records that a status call of the job's client starts (+1) or
// ends (-1).
func (s *Scheduler) polling(jobID string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[jobID]; ok {
		j.polls += d
		j.lastPoll = time.Now()
	}
}

// cleanFinishedJobs asks executors to drop finished jobs' data after the
// clean-up delay and forgets jobs past their TTL. Called with mu held.
func (s *Scheduler) cleanFinishedJobs(now time.Time) {
	keep := s.jobOrder[:0]
	for _, id := range s.jobOrder {
		j := s.jobs[id]
		if j.finished() && !j.dataRemoved && now.Sub(j.end) >= s.cfg.FinishedJobDataCleanUpDelay {
			j.dataRemoved = true
			s.removeJobData(j.id)
		}
		if j.finished() && now.Sub(j.end) > s.cfg.FinishedJobTTL {
			delete(s.jobs, id)
			continue
		}
		keep = append(keep, id)
	}
	s.jobOrder = keep
}

// removeJobData tells every executor to delete a job's data. Called with mu held.
func (s *Scheduler) removeJobData(jobID string) {
	for id, e := range s.executors {
		if !e.push() {
			e.remove = append(e.remove, jobID)
			continue
		}
		s.spawn(func(ctx context.Context) {
			c, err := s.client(id)
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := c.RemoveJobData(ctx, &kapotv1.RemoveJobDataRequest{JobId: jobID}); err != nil {
				s.log.Debug().Err(err).Str("executor", id).Str("job", jobID).Msg("remove job data")
			}
		})
	}
}

func (s *Scheduler) client(executorID string) (kapotv1.ExecutorServiceClient, error) {
	c, err := s.conn(executorID)
	if err != nil {
		return nil, err
	}
	return kapotv1.NewExecutorServiceClient(c), nil
}

// conn is the scheduler's connection to an executor's gRPC server, made
// on first use.
func (s *Scheduler) conn(executorID string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	e, ok := s.executors[executorID]
	var addr string
	if ok {
		addr = net.JoinHostPort(e.reg.GetHost(), strconv.Itoa(int(e.reg.GetGrpcPort())))
	}
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("executor %s unknown", executorID)
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	c, ok := s.conns[executorID]
	if !ok {
		var err error
		dial, err := s.cfg.Security.DialOptions(security.Scheduler)
		if err != nil {
			return nil, err
		}
		c, err = grpc.NewClient(addr, append(dial, grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))...)
		if err != nil {
			return nil, err
		}
		s.conns[executorID] = c
	}
	return c, nil
}

func (s *Scheduler) dropConn(executorID string) {
	s.spawn(func(context.Context) {
		s.connMu.Lock()
		defer s.connMu.Unlock()
		if c, ok := s.conns[executorID]; ok {
			c.Close()
			delete(s.conns, executorID)
		}
	})
}

// ---------------------------------------------------------------- jobs

func newJobID() string { return strings.ReplaceAll(uuid.NewString(), "-", "")[:16] }

// submit plans req as a job owned by owner (a session digest).
func (s *Scheduler) submit(ctx context.Context, req *kapotv1.SubmitJobRequest, owner string) (string, error) {
	if s.store.Restricted() {
		// Every location the plan names, not only those opened to type
		// it here, is checked against the roots before the job exists.
		var forbidden error
		wire.WalkFiles(req.GetPlan(), func(p *string) {
			if forbidden == nil {
				forbidden = s.store.Allowed(*p)
			}
		})
		if forbidden != nil {
			return "", forbidden
		}
	}
	id := newJobID()
	plans, final, schema, err := splitStages(id, req.GetPlan(), engine.BuildOptions{Ctx: ctx, Store: s.store, Properties: req.GetSessionProperties()})
	if err != nil {
		return "", err
	}
	for sid := uint32(1); sid <= final; sid++ {
		p := plans[sid]
		if n := max(p.tasks, p.outParts); n > s.cfg.MaxStagePartitions {
			return "", fmt.Errorf("%w: stage %d has %d partitions; this scheduler runs at most %d per stage (--max-stage-partitions)",
				errTooLarge, sid, n, s.cfg.MaxStagePartitions)
		}
	}
	now := time.Now()
	name := req.GetJobName()
	if len(name) > maxJobName {
		// Shown in logs, the web UI and listings: a client's name is cut.
		name = strings.ToValidUTF8(name[:maxJobName], "") + "…"
	}
	j := &jobState{id: id, name: name, state: kapotv1.JobState_JOB_STATE_RUNNING, stages: map[uint32]*stageState{}, done: make(chan struct{}),
		final: final, props: req.GetSessionProperties(), resultSchema: schema, queued: now, start: now, placement: req.GetPlacement(),
		owner: owner, detached: req.GetDetached() || owner == ownerFlightSQL, lastPoll: now}
	for sid := uint32(1); sid <= final; sid++ {
		p := plans[sid]
		st := &stageState{stagePlan: p, tasks: make([]*taskState, p.tasks)}
		for i := range st.tasks {
			st.tasks[i] = &taskState{}
		}
		j.stages[sid] = st
		j.order = append(j.order, sid)
	}
	s.mu.Lock()
	// Fail fast when executors are up but none may run the job; with none
	// up yet the job waits for one to register.
	live, fits := 0, 0
	for _, e := range s.executors {
		if e.state != kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE {
			continue
		}
		live++
		if e.allows(j.placement) {
			fits++
		}
	}
	if live > 0 && fits == 0 {
		s.mu.Unlock()
		return "", fmt.Errorf("%w: none of the %d live executors satisfies placement %s", errNoPlacement, live, placementString(j.placement))
	}
	s.jobs[id] = j
	s.jobOrder = append(s.jobOrder, id)
	s.mu.Unlock()
	s.log.Info().Str("job", id).Str("name", name).Int("stages", len(plans)).Msg("job submitted")
	s.wake()
	return id, nil
}

// assign picks up to n pending runnable tasks for executor e, marks them
// running and returns their definitions. In the fair mode (the default)
// each slot goes to the job with the fewest running tasks (ties: the
// oldest), so a job of many tasks cannot hold every slot while another
// waits; in the fifo mode the oldest job takes every slot it can use.
// Called with mu held.
func (s *Scheduler) assign(e *executorState, n int) []*kapotv1.TaskDefinition {
	var out []*kapotv1.TaskDefinition
	running := map[string]int{}
	if s.cfg.SchedulingMode != ModeFIFO {
		for _, ref := range s.tasks {
			running[ref.job]++
		}
	}
	type stageKey struct {
		job   string
		stage uint32
	}
	plans := map[stageKey][]byte{}
	for len(out) < n {
		j, sid, p := s.nextTask(e, running)
		isCopy := false
		if j == nil {
			// No task waits: a free slot may run a straggler's copy.
			if j, sid, p = s.nextCopy(e); j == nil {
				break
			}
			isCopy = true
		}
		st := j.stages[sid]
		key := stageKey{j.id, sid}
		planBytes, ok := plans[key]
		if !ok {
			resolved := resolve(st.plan, j.locations)
			b, err := proto.Marshal(resolved)
			if err != nil {
				s.failJob(j, fmt.Sprintf("serialize stage %d: %v", sid, err))
				continue
			}
			if len(b) > int(s.cfg.MaxTaskBytes) {
				// It can never be sent: fail the job, not the executor.
				s.failJob(j, fmt.Sprintf("stage %d's task plan is %d bytes, over the %d-byte limit on a task (--max-task-bytes); "+
					"use fewer partitions or files", sid, len(b), s.cfg.MaxTaskBytes))
				continue
			}
			planBytes, plans[key] = b, b
		}
		t := st.tasks[p]
		s.lastTaskID++
		id := s.lastTaskID
		if isCopy {
			t.copyID, t.copyExecutor, t.copyStarted, t.straggler = id, e.meta(), time.Now(), false
			s.prom.speculative.WithLabelValues("started").Inc()
			s.log.Info().Str("job", j.id).Uint32("stage", sid).Int("partition", p).Str("original_on", t.executor.GetId()).
				Str("copy_on", e.reg.GetId()).Dur("running_for", time.Since(t.started)).Msg("straggler: a speculative copy starts")
		} else {
			t.phase, t.taskID, t.executor, t.started = taskRunning, id, e.meta(), time.Now()
		}
		s.tasks[id] = taskRef{job: j.id, stage: sid, partition: p, executor: e.reg.GetId()}
		e.running[id] = struct{}{}
		running[j.id]++
		out = append(out, &kapotv1.TaskDefinition{
			TaskId: id, JobId: j.id, StageId: sid, StageAttempt: st.attempt, Partition: uint32(p),
			TaskAttempt: uint32(t.attempts), Plan: planBytes, SessionProperties: j.props, LaunchTimeMs: time.Now().UnixMilli(),
		})
	}
	return out
}

// nextTask finds the next pending runnable task executor e may run: in the
// oldest job (fifo) or in the job with the fewest running tasks (fair).
// Called with mu held.
func (s *Scheduler) nextTask(e *executorState, running map[string]int) (*jobState, uint32, int) {
	var best *jobState
	var bestStage uint32
	bestPart := -1
	for _, jid := range s.jobOrder {
		j := s.jobs[jid]
		if j.state != kapotv1.JobState_JOB_STATE_RUNNING || !e.allows(j.placement) {
			continue
		}
		if best != nil && running[jid] >= running[best.id] {
			continue
		}
		sid, p := j.pendingTask()
		if p < 0 {
			continue
		}
		best, bestStage, bestPart = j, sid, p
		if s.cfg.SchedulingMode == ModeFIFO || running[jid] == 0 {
			break
		}
	}
	return best, bestStage, bestPart
}

// launchLoop pushes pending tasks to push-staged executors with free slots.
func (s *Scheduler) launchLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
		type batch struct {
			executor string
			tasks    []*kapotv1.TaskDefinition
		}
		var batches []batch
		s.mu.Lock()
		for id, e := range s.executors {
			if !e.push() {
				continue
			}
			if free := e.freeSlots(); free > 0 {
				if defs := s.assign(e, free); len(defs) > 0 {
					batches = append(batches, batch{id, defs})
				}
			}
		}
		s.mu.Unlock()
		for _, b := range batches {
			s.spawn(func(ctx context.Context) { s.pushTasks(ctx, b.executor, b.tasks) })
		}
	}
}

func (s *Scheduler) pushTasks(ctx context.Context, executorID string, defs []*kapotv1.TaskDefinition) {
	// One request carries up to MaxTaskBytes of plans, so no launch is
	// larger than the biggest single task (which assign bounds).
	for len(defs) > 0 {
		n, size := 0, 0
		for n < len(defs) && (n == 0 || size+len(defs[n].GetPlan()) <= int(s.cfg.MaxTaskBytes)) {
			size += len(defs[n].GetPlan())
			n++
		}
		s.launch(ctx, executorID, defs[:n])
		defs = defs[n:]
	}
}

// maxLaunchFailures is how many launches of one task may fail with a
// transport error before its job fails.
const maxLaunchFailures = 8

func (s *Scheduler) launch(ctx context.Context, executorID string, defs []*kapotv1.TaskDefinition) {
	err := func() error {
		c, err := s.client(executorID)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = c.LaunchTask(cctx, &kapotv1.LaunchTaskRequest{SchedulerId: s.id, Tasks: defs})
		return err
	}()
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.wake()
	if deterministicLaunchError(err) {
		// The executor refused these tasks for what they are (too large,
		// malformed): launching them again, anywhere, fails the same way.
		s.log.Warn().Err(err).Str("executor", executorID).Int("tasks", len(defs)).Msg("launch refused; failing the job")
		for _, d := range defs {
			s.requeue(d.GetTaskId())
			if j, ok := s.jobs[d.GetJobId()]; ok && !j.finished() {
				s.failJob(j, fmt.Sprintf("executor %s refused stage %d's task: %s", executorID, d.GetStageId(), status.Convert(err).Message()))
			}
		}
		return
	}
	s.log.Warn().Err(err).Str("executor", executorID).Int("tasks", len(defs)).Msg("launch failed; tasks rescheduled")
	for _, d := range defs {
		s.requeue(d.GetTaskId())
		j, ok := s.jobs[d.GetJobId()]
		if !ok || j.finished() {
			continue
		}
		t := j.stages[d.GetStageId()].tasks[d.GetPartition()]
		if t.launchFailures++; t.launchFailures >= maxLaunchFailures {
			s.failJob(j, fmt.Sprintf("stage %d partition %d could not be launched %d times; last: %v", d.GetStageId(), d.GetPartition(), t.launchFailures, err))
		}
	}
	if e, ok := s.executors[executorID]; ok {
		// A refusing executor is terminating or gone: stop sending it work
		// until it heartbeats as active again, and find out which.
		e.state = kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING
		s.suspect(executorID, "a task launch failed")
	}
}

// deterministicLaunchError tells a launch refused for its content from one
// that failed on the way (executor gone, terminating, slow).
func deterministicLaunchError(err error) bool {
	switch status.Code(err) {
	case codes.ResourceExhausted, codes.InvalidArgument, codes.Unimplemented, codes.OutOfRange:
		return true
	}
	return false
}

// requeue puts a running task back to pending. Called with mu held.
func (s *Scheduler) requeue(taskID uint64) {
	ref, ok := s.tasks[taskID]
	if !ok {
		return
	}
	delete(s.tasks, taskID)
	if e, ok := s.executors[ref.executor]; ok {
		delete(e.running, taskID)
	}
	if j, ok := s.jobs[ref.job]; ok {
		t := j.stages[ref.stage].tasks[ref.partition]
		switch {
		case t.copyID == taskID:
			t.clearCopy()
		case t.phase == taskRunning && t.taskID == taskID && t.copyID != 0:
			t.promoteCopy()
		case t.phase == taskRunning && t.taskID == taskID:
			t.phase = taskPending
		}
	}
}

// updateStatuses applies task statuses. Called with mu held.
func (s *Scheduler) updateStatuses(executorID string, statuses []*kapotv1.TaskStatus) {
	for _, st := range statuses {
		s.updateStatus(executorID, st)
	}
	s.wake()
}

func (s *Scheduler) updateStatus(executorID string, st *kapotv1.TaskStatus) {
	if st.GetRunning() != nil {
		return
	}
	ref, ok := s.tasks[st.GetTaskId()]
	if !ok || ref.executor != executorID {
		return // stale: the task was re-queued or its executor declared lost
	}
	delete(s.tasks, st.GetTaskId())
	if e, ok := s.executors[executorID]; ok {
		delete(e.running, st.GetTaskId())
	}
	j, ok := s.jobs[ref.job]
	if !ok {
		return
	}
	stage := j.stages[ref.stage]
	t := stage.tasks[ref.partition]
	isCopy := t.copyID != 0 && t.copyID == st.GetTaskId()
	if !isCopy && (t.taskID != st.GetTaskId() || t.phase != taskRunning) {
		return
	}
	if j.finished() {
		if isCopy {
			t.clearCopy()
		} else {
			t.phase = taskPending
		}
		return
	}
	if ok := st.GetSuccessful(); ok != nil {
		took := time.Since(t.started)
		switch {
		case isCopy:
			// The copy finished first: the original is cancelled and its
			// output, if it ever writes one, is never read.
			s.log.Info().Str("job", j.id).Uint32("stage", ref.stage).Int("partition", ref.partition).Str("executor", executorID).
				Msg("straggler: the speculative copy finished first; the original is cancelled")
			s.cancelTask(t.taskID, t.executor.GetId(), j.id, ref.stage, ref.partition)
			s.prom.speculative.WithLabelValues("won").Inc()
			took = time.Since(t.copyStarted)
			t.promoteCopy()
		case t.copyID != 0:
			s.cancelTask(t.copyID, t.copyExecutor.GetId(), j.id, ref.stage, ref.partition)
		}
		t.clearCopy()
		t.phase, t.outputs, t.metrics, t.took = taskDone, ok.GetPartitions(), ok.GetOperatorMetrics(), took
		if ref.stage == j.final && stage.complete() {
			j.state, j.end = kapotv1.JobState_JOB_STATE_SUCCESSFUL, time.Now()
			j.ended()
			s.recordJob(j)
			s.log.Info().Str("job", j.id).Dur("elapsed", j.end.Sub(j.start)).Msg("job succeeded")
		}
		return
	}
	if isCopy {
		// The original runs on: a copy's failure changes nothing.
		s.log.Info().Str("job", j.id).Uint32("stage", ref.stage).Int("partition", ref.partition).Str("error", st.GetFailed().GetError()).
			Msg("straggler: the speculative copy failed; the original runs on")
		t.clearCopy()
		return
	}
	if t.copyID != 0 {
		s.cancelTask(t.copyID, t.copyExecutor.GetId(), j.id, ref.stage, ref.partition)
		t.clearCopy()
	}
	f := st.GetFailed()
	t.phase = taskPending
	switch {
	case f.GetFetchPartitionError() != nil:
		fe := f.GetFetchPartitionError()
		j.fetchFailures++
		s.log.Warn().Str("job", j.id).Uint32("map_stage", fe.GetMapStageId()).Uint32("map_partition", fe.GetMapPartition()).
			Str("from", fe.GetExecutorId()).Msg("fetch failure: re-running lost map output")
		s.suspect(fe.GetExecutorId(), "a task could not fetch its map output")
		if j.fetchFailures > s.cfg.MaxFetchFailures {
			s.failJob(j, fmt.Sprintf("too many fetch failures (%d); last: %s", j.fetchFailures, f.GetError()))
			return
		}
		if ms, ok := j.stages[fe.GetMapStageId()]; ok {
			invalidated := false
			for _, mt := range ms.tasks {
				if mt.phase == taskDone && mt.executor.GetId() == fe.GetExecutorId() {
					mt.phase, mt.outputs = taskPending, nil
					invalidated = true
				}
			}
			if invalidated {
				ms.attempt++
			}
		}
	case f.GetTaskKilled() != nil:
		// Killed by a drain or cancel: run it again elsewhere.
		s.log.Info().Str("job", j.id).Uint32("stage", ref.stage).Int("partition", ref.partition).Str("executor", ref.executor).Msg("task killed; it runs again")
	default:
		t.attempts++
		if !f.GetRetryable() || t.attempts > s.cfg.TaskRetries {
			s.failJob(j, fmt.Sprintf("stage %d partition %d failed after %d attempt(s): %s", ref.stage, ref.partition, t.attempts, f.GetError()))
			return
		}
		s.log.Warn().Str("job", j.id).Uint32("stage", ref.stage).Int("partition", ref.partition).Int("attempt", t.attempts).Str("error", f.GetError()).Msg("task failed; retrying")
	}
}

// failJob ends a job with an error and cancels its running tasks. Called with mu held.
func (s *Scheduler) failJob(j *jobState, msg string) {
	s.endJob(j, kapotv1.JobState_JOB_STATE_FAILED, msg)
	s.log.Error().Str("job", j.id).Str("error", msg).Msg("job failed")
}

func (s *Scheduler) endJob(j *jobState, state kapotv1.JobState, msg string) {
	j.state, j.err, j.end = state, msg, time.Now()
	j.ended()
	s.recordJob(j)
	byExec := map[string][]*kapotv1.RunningTaskInfo{}
	for tid, ref := range s.tasks {
		if ref.job != j.id {
			continue
		}
		byExec[ref.executor] = append(byExec[ref.executor], &kapotv1.RunningTaskInfo{TaskId: tid, JobId: j.id, StageId: ref.stage, Partition: uint32(ref.partition)})
	}
	for eid, infos := range byExec {
		s.cancelOn(eid, infos)
	}
	if state != kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		j.dataRemoved = true
		s.removeJobData(j.id)
	}
}

// cancelOn asks executor eid to cancel tasks (at once for push
// executors, at its next poll for pull ones). Called with mu held.
func (s *Scheduler) cancelOn(eid string, infos []*kapotv1.RunningTaskInfo) {
	e, ok := s.executors[eid]
	if !ok {
		return
	}
	if !e.push() {
		e.cancel = append(e.cancel, infos...)
		return
	}
	s.spawn(func(ctx context.Context) {
		c, err := s.client(eid)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := c.CancelTasks(ctx, &kapotv1.CancelTasksRequest{Tasks: infos}); err != nil {
			s.log.Warn().Err(err).Str("executor", eid).Msg("cancel tasks")
		}
	})
}

// cancelTask stops one launch of a task that is no longer wanted (the
// other copy won): the scheduler forgets it and asks its executor to
// cancel it. Called with mu held.
func (s *Scheduler) cancelTask(taskID uint64, eid, jobID string, stage uint32, partition int) {
	delete(s.tasks, taskID)
	if e, ok := s.executors[eid]; ok {
		delete(e.running, taskID)
	}
	s.cancelOn(eid, []*kapotv1.RunningTaskInfo{{TaskId: taskID, JobId: jobID, StageId: stage, Partition: uint32(partition)}})
}

func (s *Scheduler) cancel(jobID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok {
		return false, errUnknownJob
	}
	if j.finished() {
		return false, nil
	}
	s.endJob(j, kapotv1.JobState_JOB_STATE_CANCELLED, "cancelled by user")
	s.log.Info().Str("job", jobID).Msg("job cancelled")
	return true, nil
}

var errUnknownJob = errors.New("unknown job")

// maxJobName bounds the job name a client gives.
const maxJobName = 1024

// errTooLarge marks a job over one of the scheduler's size limits.
var errTooLarge = errors.New("job too large")

// errNoPlacement marks a job no live executor may run.
var errNoPlacement = errors.New("no executor for the placement policy")

// jobDone returns a channel closed when the job ends.
func (s *Scheduler) jobDone(jobID string) (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok {
		return nil, errUnknownJob
	}
	return j.done, nil
}

// awaitJob waits until the job ends, wait passes or ctx is done, whichever
// comes first.
func (s *Scheduler) awaitJob(ctx context.Context, jobID string, wait time.Duration) error {
	done, err := s.jobDone(jobID)
	if err != nil {
		return err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (s *Scheduler) status(jobID string) (*kapotv1.GetJobStatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok {
		return nil, errUnknownJob
	}
	s.reopenLost(j)
	r := &kapotv1.GetJobStatusResponse{JobId: j.id, State: j.state, Error: j.err, ResultSchema: j.resultSchema,
		QueuedAtMs: j.queued.UnixMilli(), StartedAtMs: j.start.UnixMilli()}
	if !j.end.IsZero() {
		r.EndedAtMs = j.end.UnixMilli()
	}
	for _, sid := range j.order {
		st := j.stages[sid]
		done, running := st.counts()
		r.Stages = append(r.Stages, &kapotv1.StageStatus{StageId: sid, Attempt: st.attempt, Partitions: uint32(len(st.tasks)),
			Completed: uint32(done), Running: uint32(running), State: j.stageState(st), OperatorMetrics: st.stageMetrics()})
	}
	if j.state == kapotv1.JobState_JOB_STATE_SUCCESSFUL {
		r.ResultLocations = j.locations(j.final, 0)
		// Result tickets last as long as the results are kept, and a
		// little longer for clock skew.
		exp := time.Now().Add(s.cfg.FinishedJobDataCleanUpDelay + 5*time.Minute)
		for _, loc := range r.ResultLocations {
			s.signer.Sign(loc, exp)
		}
	}
	return r, nil
}
