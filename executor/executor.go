package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/cache"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/admin"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/failover"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/sysinfo"
	"github.com/kapot-go/kapot/internal/topology"
	"github.com/kapot-go/kapot/internal/version"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// ErrSchedulerLost is returned by Run when heartbeats failed too many times.
var ErrSchedulerLost = errors.New("lost contact with the scheduler")

// Executor is one executor process.
type Executor struct {
	cfg     Config
	id      string
	log     zerolog.Logger
	engine  Engine
	mem     memory.Allocator
	pool    *alloc.MemoryPool
	workDir string
	ownsDir bool
	dirLock *os.File // held while this executor owns workDir
	slots   int

	// terminating fences the executor: no new task is accepted once set.
	terminating atomic.Bool

	mu          sync.Mutex
	running     map[uint64]*runningTask
	runningJobs map[string]int
	// trim empties the recycler's cache once the executor has been idle
	// for trimAfter (recyclerIdleTrim; see removeTask); busy counts the
	// tasks begun, so that a trim armed before one began does nothing.
	trim      *time.Timer
	trimAfter time.Duration
	busy      uint64
	// removeWhenDone holds jobs whose data a remove request found in use.
	removeWhenDone map[string]bool
	tasks          sync.WaitGroup
	sem            chan int // free task slots, by index
	fairSem        chan int // the fair-share slot (index e.slots), see launch
	cores          int      // advertised cores
	memory         int64    // advertised memory pool (bytes)
	slotCores      [][]int  // cores of each slot; nil when not pinning
	slotNodes      []int    // NUMA node of each slot's cores
	memPolicy      sync.Once

	statusMu sync.Mutex
	// reportMu orders registrations and status sends: a registration
	// names exactly the statuses not yet sent, so a scheduler never
	// adopts a task whose status it already received (and dropped, not
	// knowing the task then).
	reportMu sync.Mutex
	statuses []*kapotv1.TaskStatus
	statusCh chan struct{} // signalled when statuses grows

	stopReq chan string
	reregCh chan struct{}

	schedConn  *failover.Conn
	scheduler  kapotv1.SchedulerServiceClient
	fetcher    *kflight.Client
	hostLocal  *shuffle.HostLocal // nil without --host-local-reads
	store      *objstore.Registry
	footers    *engine.FooterCache // Parquet footers read by the executor's scans
	cache      *cache.Cache        // nil without a data cache
	flightSrv  atomic.Pointer[kflight.Server]
	flightGRPC *grpc.Server
	execGRPC   *grpc.Server
	arrowMem   *alloc.CountingAllocator // wraps mem; its count is a metric
	// memBound bounds the Arrow memory live in the executor: each task
	// allocates through an alloc.BoundedAllocator at it (safeRun).
	memBound  int64
	recycler  *alloc.RecyclingAllocator // mem's cache of freed buffers, when mem is the default
	flightLis net.Listener
	grpcLis   net.Listener
	admin     *admin.Server
	prom      *execMetrics
	reg       *kapotv1.ExecutorRegistration

	ready  chan struct{}
	health *health.Server
}

// authRejected counts calls refused by cluster authentication; the log line
// names the method, never the secret.
func (e *Executor) authRejected(server string) func(method, reason string) {
	return func(method, reason string) {
		e.prom.authFailures.WithLabelValues(server, reason).Inc()
		e.log.Warn().Str("server", server).Str("method", method).Str("reason", reason).Msg("call rejected by cluster authentication")
	}
}

type runningTask struct {
	def    *kapotv1.TaskDefinition
	cancel context.CancelFunc
}

// New prepares an executor: it validates cfg, creates the work dir and binds
// its listeners (so ports are known before Run).
func New(cfg Config, eng Engine, log zerolog.Logger) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if eng == nil {
		eng = ArrowEngine{}
	}
	e := &Executor{
		cfg: cfg, id: uuid.NewString(), engine: eng, log: log,
		mem: cfg.Mem, running: map[uint64]*runningTask{}, runningJobs: map[string]int{}, removeWhenDone: map[string]bool{},
		statusCh: make(chan struct{}, 1), stopReq: make(chan string, 1), reregCh: make(chan struct{}, 1),
		ready: make(chan struct{}), health: health.NewServer(), trimAfter: recyclerIdleTrim,
	}
	// NOT_SERVING until registered: the gRPC health service mirrors /readyz.
	e.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	poolSize := int64(cfg.MemoryPoolSize)
	if poolSize == 0 {
		total, err := sysinfo.MemoryLimit("/")
		if err != nil {
			return nil, fmt.Errorf("size the memory pool (set --memory-pool-size): %w", err)
		}
		poolSize = total * int64(cfg.ExposedMemPercentage) / 100
	}
	e.pool = alloc.NewMemoryPool(poolSize)
	if e.mem == nil {
		// Recycle Arrow buffers between batches (fewer collections, fewer
		// page faults); the cache is a fraction of the pool, at most
		// 128 MiB (256 MiB added to the peak RSS of TPC-H SF 10 and was
		// no faster), dropped once the executor has had nothing running
		// for trimAfter.
		e.recycler = alloc.NewRecyclingAllocator(min(max(poolSize/8, 32<<20), recyclerMaxBytes))
		e.recycler.SetPoison(cfg.PoisonBuffers)
		e.mem = e.recycler
	}
	e.arrowMem = alloc.NewCountingAllocator(e.mem)
	e.mem = e.arrowMem
	// Tasks allocate through a bound: the Arrow memory live in this
	// executor stays within the pool and a margin for what no reservation
	// covers (batches in flight, the recycler's cache); a task that needs
	// more fails with "resources exhausted", the executor lives on.
	e.memBound = poolSize + max(256<<20, poolSize/4)
	e.cores = runtime.NumCPU()
	e.memory = poolSize
	if cfg.OverProvisioning {
		e.cores *= cfg.CPUMultiplier
		e.memory *= int64(cfg.MemoryMultiplier)
	}
	e.slots = cfg.ConcurrentTasks
	if e.slots == 0 {
		e.slots = e.cores
	}
	// One slot beyond the task slots, for tasks the scheduler marks
	// fair_share_slot: a session that runs nothing while others hold every
	// slot (its index is e.slots: unpinned).
	e.fairSem = make(chan int, 1)
	e.fairSem <- e.slots
	e.sem = make(chan int, e.slots)
	for i := 0; i < e.slots; i++ {
		e.sem <- i
	}
	if !cfg.DisableNUMAPinning && !cfg.OverProvisioning {
		allowed, err := topology.Allowed()
		if err != nil {
			return nil, fmt.Errorf("pin task slots (or --disable-numa-pinning): %w", err)
		}
		topo, err := topology.Discover("/", allowed)
		if err != nil {
			return nil, fmt.Errorf("pin task slots (or --disable-numa-pinning): %w", err)
		}
		if e.slotCores, err = topology.Assign(topo, e.slots, cfg.OSCores); err != nil {
			return nil, fmt.Errorf("--concurrent-tasks %d: %v (or --disable-numa-pinning): %w", e.slots, err, config.ErrInvalid)
		}
		for _, cores := range e.slotCores {
			e.slotNodes = append(e.slotNodes, topo.NodeOf(cores[0]))
		}
	}
	e.log = e.log.With().Str("executor_id", e.id).Logger()
	var wrap objstore.Wrapper
	if cfg.DataCachePolicy == "local-disk-file" {
		c, err := cache.Open(cache.Options{Dir: cfg.CacheDir, Capacity: int64(cfg.CacheCapacity), IOConcurrency: cfg.CacheIOConcurrency})
		if err != nil {
			return nil, fmt.Errorf("--cache-dir %s: %w", cfg.CacheDir, err)
		}
		e.cache, wrap = c, c
		st := c.Stats()
		e.log.Info().Str("dir", cfg.CacheDir).Int64("capacity", int64(cfg.CacheCapacity)).Int64("entries", st.Entries).Int64("bytes", st.Bytes).Msg("data cache ready")
	}
	e.store = objstore.NewRegistry(cfg.S3, wrap)
	e.footers = engine.NewFooterCache(engine.DefaultFooterCacheBytes)
	e.store.AllowLocalURLs(cfg.AllowLocalURLs)
	if err := e.store.AllowRoots(cfg.AllowedDataRoots); err != nil {
		return nil, fmt.Errorf("--allowed-data-roots: %v: %w", err, config.ErrInvalid)
	}
	if cfg.WorkDir == "" {
		d, err := os.MkdirTemp("", "kapot-executor-")
		if err != nil {
			return nil, fmt.Errorf("create work dir: %w", err)
		}
		e.workDir, e.ownsDir = d, true
	} else {
		if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
			return nil, fmt.Errorf("--work-dir %s: %w", cfg.WorkDir, err)
		}
		e.workDir = cfg.WorkDir
	}
	if abs, err := filepath.Abs(e.workDir); err == nil {
		e.workDir = abs
	}
	if cfg.HostLocalReads {
		e.hostLocal = &shuffle.HostLocal{}
	}
	var err error
	if e.flightLis, err = net.Listen("tcp", net.JoinHostPort(cfg.BindHost, strconv.Itoa(cfg.Port))); err != nil {
		return nil, fmt.Errorf("--port %d: listen for Flight: %w", cfg.Port, err)
	}
	e.prom = newExecMetrics(e)
	if err := e.listenAdmin(); err != nil {
		e.flightLis.Close()
		return nil, fmt.Errorf("--admin-port %d: listen: %w", cfg.AdminPort, err)
	}
	if e.grpcLis, err = net.Listen("tcp", net.JoinHostPort(cfg.BindHost, strconv.Itoa(cfg.GRPCPort))); err != nil {
		e.flightLis.Close()
		if e.admin != nil {
			e.admin.Close()
		}
		return nil, fmt.Errorf("--grpc-port %d: listen for gRPC: %w", cfg.GRPCPort, err)
	}
	closeAll := func() {
		e.flightLis.Close()
		e.grpcLis.Close()
		if e.admin != nil {
			e.admin.Close()
		}
	}
	lock, removed, err := claimWorkDir(e.workDir)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("--work-dir %s: %w", e.workDir, err)
	}
	e.dirLock = lock
	if removed > 0 {
		e.log.Info().Int("jobs", removed).Str("work_dir", e.workDir).Msg("removed job data an earlier executor left in the work dir")
	}
	if err := shuffle.WriteMarker(e.workDir, e.id); err != nil {
		closeAll()
		e.cleanup()
		return nil, fmt.Errorf("--work-dir %s: %w", e.workDir, err)
	}
	e.reg = e.registration()
	return e, nil
}

// ID is the executor's id.
func (e *Executor) ID() string { return e.id }

// WorkDir is where job data lives.
func (e *Executor) WorkDir() string { return e.workDir }

// FlightAddr and GRPCAddr are the bound addresses.
func (e *Executor) FlightAddr() net.Addr { return e.flightLis.Addr() }

// GRPCAddr is the bound address of the executor service.
func (e *Executor) GRPCAddr() net.Addr { return e.grpcLis.Addr() }

// Ready is closed once the executor has registered with the scheduler.
func (e *Executor) Ready() <-chan struct{} { return e.ready }

// Terminating reports whether the executor is fenced.
func (e *Executor) Terminating() bool { return e.terminating.Load() }

func (e *Executor) host() string {
	if e.cfg.ExternalHost != "" {
		return e.cfg.ExternalHost
	}
	switch e.cfg.BindHost {
	case "", "0.0.0.0", "::":
		if h, err := os.Hostname(); err == nil {
			return h
		}
		return "localhost"
	}
	return e.cfg.BindHost
}

func (e *Executor) registration() *kapotv1.ExecutorRegistration {
	policy := kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PUSH_STAGED
	if e.cfg.TaskSchedulingPolicy == PolicyPullStaged {
		policy = kapotv1.TaskSchedulingPolicy_TASK_SCHEDULING_POLICY_PULL_STAGED
	}
	host, _ := os.Hostname()
	tags := append([]string{}, e.cfg.Tags...)
	if e.cfg.EnableNvidiaGPU && !slices.Contains(tags, "gpu") {
		tags = append(tags, "gpu")
	}
	if host != "" {
		tags = append(tags, host)
	}
	return &kapotv1.ExecutorRegistration{
		Id: e.id, Host: e.host(),
		FlightPort: uint32(e.flightLis.Addr().(*net.TCPAddr).Port),
		GrpcPort:   uint32(e.grpcLis.Addr().(*net.TCPAddr).Port),
		Resources:  &kapotv1.ExecutorResources{TaskSlots: uint32(e.slots), Cores: uint32(e.cores), MemoryBytes: uint64(e.memory), Gpu: e.cfg.EnableNvidiaGPU},
		Tags:       tags, Policy: policy, Hostname: host, WorkDir: e.workDir,
		ProtocolVersion: version.Protocol, Version: version.Version,
	}
}

func (e *Executor) metrics() *kapotv1.ExecutorMetrics {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e.mu.Lock()
	n := len(e.running)
	e.mu.Unlock()
	free := e.slots - n
	if free < 0 || e.terminating.Load() {
		free = 0
	}
	pool := e.pool.Stats()
	return &kapotv1.ExecutorMetrics{MemoryUsedBytes: ms.HeapAlloc, RunningTasks: uint32(n), FreeSlots: uint32(free),
		MemoryPoolBytes: uint64(pool.Limit), MemoryPoolUsedBytes: uint64(pool.Used)}
}

func (e *Executor) executorStatus() *kapotv1.ExecutorStatus {
	if e.terminating.Load() {
		return &kapotv1.ExecutorStatus{State: kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING}
	}
	return &kapotv1.ExecutorStatus{State: kapotv1.ExecutorState_EXECUTOR_STATE_ACTIVE}
}

// register registers with the scheduler, retrying for the connect timeout.
// The registration names the tasks this executor runs (or ran, their
// status not yet delivered) and the map outputs it holds: a scheduler that
// took over from another keeps what it still wants and names the tasks to
// cancel.
func (e *Executor) register(ctx context.Context, retryFor time.Duration) error {
	deadline := time.Now().Add(retryFor)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		e.reportMu.Lock()
		resp, err := e.scheduler.RegisterExecutor(cctx, &kapotv1.RegisterExecutorRequest{Registration: e.reg, Tasks: e.knownTasks(), Held: shuffle.Held(e.workDir)})
		e.reportMu.Unlock()
		cancel()
		if err == nil {
			// The cluster's warehouse is read and written whatever the data
			// roots say (the scheduler allows it too).
			if err := e.store.AllowClusterRoot(resp.GetWarehouse()); err != nil {
				e.log.Warn().Err(err).Msg("the scheduler's warehouse is not a location this executor can use")
			}
			if ids := resp.GetCancelTasks(); len(ids) > 0 {
				e.log.Info().Int("tasks", len(ids)).Msg("the scheduler does not want some tasks running here; cancelling them")
				e.cancelTasks(ids)
			}
			e.log.Info().Str("scheduler", e.schedConn.Target()).Int("slots", e.slots).Msg("registered with scheduler")
			select {
			case e.statusCh <- struct{}{}: // statuses held back while unregistered go now
			default:
			}
			return nil
		}
		switch status.Code(err) {
		case codes.FailedPrecondition, codes.InvalidArgument:
			return fmt.Errorf("scheduler rejected registration: %w", err)
		case codes.Unauthenticated, codes.PermissionDenied:
			return fmt.Errorf("scheduler refused this executor's credentials (check --executor-secret and the TLS settings): %w", err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("register with scheduler at %s: %w", strings.Join(e.schedConn.Addrs(), ","), err)
		}
		e.log.Warn().Err(err).Msg("scheduler not reachable yet; retrying")
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// knownTasks are the tasks running here and those whose status is queued.
func (e *Executor) knownTasks() []*kapotv1.RunningTaskInfo {
	var out []*kapotv1.RunningTaskInfo
	e.mu.Lock()
	for id, t := range e.running {
		out = append(out, &kapotv1.RunningTaskInfo{TaskId: id, JobId: t.def.GetJobId(), StageId: t.def.GetStageId(), Partition: t.def.GetPartition()})
	}
	e.mu.Unlock()
	e.statusMu.Lock()
	for _, st := range e.statuses {
		out = append(out, &kapotv1.RunningTaskInfo{TaskId: st.GetTaskId(), JobId: st.GetJobId(), StageId: st.GetStageId(), Partition: st.GetPartition()})
	}
	e.statusMu.Unlock()
	return out
}

// Run registers, serves and runs tasks until ctx is cancelled (a signal),
// the scheduler asks the executor to stop, or the scheduler is lost. It then
// shuts down gracefully and returns nil if the shutdown was clean.
func (e *Executor) Run(ctx context.Context) error {
	defer e.releaseDir()
	defer e.stopTrim()
	defer e.flightLis.Close()
	defer e.grpcLis.Close()
	addrs, err := failover.Addresses(e.cfg.SchedulerHost, e.cfg.SchedulerPort)
	if err != nil {
		return fmt.Errorf("--scheduler-host: %w", err)
	}
	dial, err := e.cfg.Security.DialOptions(security.Executor)
	if err != nil {
		return err
	}
	conn, err := failover.Dial(addrs, append(dial,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(int(e.cfg.GRPCMaxDecodingMessageSize)), grpc.MaxCallSendMsgSize(int(e.cfg.GRPCMaxEncodingMessageSize))))...)
	if err != nil {
		return err
	}
	defer conn.Close()
	e.schedConn, e.scheduler = conn, kapotv1.NewSchedulerServiceClient(conn)
	e.fetcher = kflight.NewClient(3, 100*time.Millisecond, int(e.cfg.GRPCMaxDecodingMessageSize), dial...)
	defer e.fetcher.Close()

	// Flight serves from the start: peers may fetch as soon as we run tasks.
	// Peers present the executor secret, clients fetching results the
	// client secret; the ExecutorService takes calls from the scheduler only.
	flightAuth := security.NewAuthenticator(e.cfg.Security.Secrets, security.Rule{Prefix: "/arrow.flight.protocol.FlightService/", Allowed: []security.NodeType{security.Executor, security.Client}})
	flightAuth.OnReject = e.authRejected("flight")
	flightOpts, err := e.cfg.Security.ServerOptions(flightAuth)
	if err != nil {
		return err
	}
	execAuth := security.NewAuthenticator(e.cfg.Security.Secrets, security.Rule{Prefix: "/kapot.v1.ExecutorService/", Allowed: []security.NodeType{security.Scheduler}})
	execAuth.OnReject = e.authRejected("grpc")
	execOpts, err := e.cfg.Security.ServerOptions(execAuth)
	if err != nil {
		return err
	}
	flightSrv := kflight.NewServer(e.workDir, e.mem, e.log)
	// Clients read only results, with the tickets the scheduler signed.
	flightSrv.RequireSignedTickets(kflight.NewSigner(e.cfg.Security.Secrets))
	e.flightSrv.Store(flightSrv)
	// Handlers (Flight's decoding and serving of partitions, task
	// launches) run on grpc-go's goroutines, which do not recover: the
	// panics interceptors come first and fail the call instead.
	e.flightGRPC = grpc.NewServer(append(append(append(panics.ServerOptions(e.log), kflight.ServerOptions()...), grpc.MaxSendMsgSize(int(e.cfg.GRPCMaxEncodingMessageSize)), grpc.MaxRecvMsgSize(int(e.cfg.GRPCMaxDecodingMessageSize))), flightOpts...)...)
	flightSrv.Register(e.flightGRPC)
	e.execGRPC = grpc.NewServer(append(append(panics.ServerOptions(e.log), grpc.MaxSendMsgSize(int(e.cfg.GRPCMaxEncodingMessageSize)), grpc.MaxRecvMsgSize(int(e.cfg.GRPCMaxDecodingMessageSize))), execOpts...)...)
	kapotv1.RegisterExecutorServiceServer(e.execGRPC, &service{e: e})
	healthpb.RegisterHealthServer(e.execGRPC, e.health)
	healthpb.RegisterHealthServer(e.flightGRPC, e.health)

	servErr := make(chan error, 3)
	var servers sync.WaitGroup
	servers.Add(3)
	go func() { defer servers.Done(); servErr <- serveErr("flight", e.flightGRPC.Serve(e.flightLis)) }()
	go func() { defer servers.Done(); servErr <- serveErr("grpc", e.execGRPC.Serve(e.grpcLis)) }()
	go func() {
		defer servers.Done()
		if err := e.serveAdmin(); err != nil {
			servErr <- serveErr("admin", err)
		}
	}()
	e.log.Info().Str("flight", e.flightLis.Addr().String()).Str("grpc", e.grpcLis.Addr().String()).
		Str("work_dir", e.workDir).Str("policy", e.cfg.TaskSchedulingPolicy).Int("slots", e.slots).Msg("executor listening")
	if e.cfg.Security.Secrets.Enabled() && len(e.cfg.AllowedDataRoots) == 0 {
		e.log.Warn().Msg("cluster authentication is on but --allowed-data-roots is not set: a job may read every file this executor can; set --allowed-data-roots")
	}

	if err := e.register(ctx, e.cfg.SchedulerConnectTimeout); err != nil {
		e.stopServers(0)
		servers.Wait()
		e.cleanup()
		return err
	}
	close(e.ready)
	e.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	// The link lives until the servers stop: its end then tells the
	// scheduler this executor is gone (a probe finds nothing answering).
	linkCtx, stopLink := context.WithCancel(context.Background())
	var link sync.WaitGroup
	link.Add(1)
	go func() { defer link.Done(); e.linkLoop(linkCtx) }()
	defer func() {
		stopLink()
		link.Wait()
	}()

	// Loops owned by Run; loopCtx stops them after the drain.
	loopCtx, stopLoops := context.WithCancel(context.Background())
	defer stopLoops()
	var loops sync.WaitGroup
	loopErr := make(chan error, 2)
	janitor := e.janitor()
	if e.cfg.JobDataCleanUpInterval > 0 {
		loops.Add(1)
		go func() { defer loops.Done(); e.janitorLoop(loopCtx, janitor) }()
	}
	if e.cfg.TaskSchedulingPolicy == PolicyPullStaged {
		loops.Add(1)
		go func() { defer loops.Done(); loopErr <- e.pollLoop(loopCtx) }()
	} else {
		loops.Add(2)
		go func() { defer loops.Done(); loopErr <- e.heartbeatLoop(loopCtx) }()
		go func() { defer loops.Done(); e.statusLoop(loopCtx) }()
	}

	notify, reason := true, ""
	var runErr error
	select {
	case <-ctx.Done():
		reason = "executor received a termination signal"
	case r := <-e.stopReq:
		notify, reason = false, "scheduler requested stop: "+r
	case err := <-loopErr:
		reason, runErr = fmt.Sprintf("executor service stopped: %v", err), err
	case err := <-servErr:
		reason, runErr = fmt.Sprintf("executor server stopped: %v", err), err
	}
	e.log.Info().Str("reason", reason).Msg("shutting down: setting executor to TERMINATING")
	e.terminating.Store(true)
	e.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	deadline := time.Now().Add(e.cfg.DrainTimeout)
	if notify && !errors.Is(runErr, ErrSchedulerLost) {
		e.fence(reason)
	}
	e.drain(deadline)
	// Stop the loops before the last report: a status send of the status
	// loop cut short by stopLoops puts its statuses back, and the flush
	// then carries them (flushing first raced with it and lost them).
	stopLoops()
	loops.Wait()
	e.flushStatuses()
	e.stopServers(time.Until(deadline))
	servers.Wait()
	if err := janitor.CleanAll(); err != nil {
		e.log.Error().Err(err).Msg("clean job data")
	}
	// The dir is no longer a live executor's: peers stop reading it.
	if err := os.Remove(filepath.Join(e.workDir, shuffle.MarkerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		e.log.Warn().Err(err).Msg("remove work dir marker")
	}
	e.cleanup()
	e.log.Info().Msg("executor stopped")
	return runErr
}

func serveErr(name string, err error) error {
	if err == nil || errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("%s server stopped", name)
	}
	return fmt.Errorf("%s server: %w", name, err)
}

func (e *Executor) cleanup() {
	e.releaseDir()
	if e.ownsDir {
		os.RemoveAll(e.workDir)
	}
}

// releaseDir lets a later executor claim the work dir: the lock file is
// removed (nothing is left behind) and closed. Idempotent.
func (e *Executor) releaseDir() {
	if e.dirLock != nil {
		os.Remove(e.dirLock.Name())
		e.dirLock.Close()
		e.dirLock = nil
	}
}

// fence tells the scheduler we are terminating: a heartbeat with the
// TERMINATING state, then ExecutorStopped with the reason.
func (e *Executor) fence(reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.scheduler.HeartbeatFromExecutor(ctx, &kapotv1.HeartbeatRequest{
		ExecutorId: e.id, Status: &kapotv1.ExecutorStatus{State: kapotv1.ExecutorState_EXECUTOR_STATE_TERMINATING, Reason: reason},
		Metrics: e.metrics(), Registration: e.reg,
	}); err != nil {
		e.log.Warn().Err(err).Msg("fenced heartbeat failed")
	}
	if _, err := e.scheduler.ExecutorStopped(ctx, &kapotv1.ExecutorStoppedRequest{ExecutorId: e.id, Reason: reason}); err != nil {
		e.log.Warn().Err(err).Msg("executor-stopped call failed")
	}
}

// drain waits for running tasks until deadline, then cancels the rest (they
// report killed) and waits for them to return.
func (e *Executor) drain(deadline time.Time) {
	done := make(chan struct{})
	go func() { e.tasks.Wait(); close(done) }()
	e.mu.Lock()
	n := len(e.running)
	e.mu.Unlock()
	if n > 0 {
		e.log.Info().Int("tasks", n).Time("deadline", deadline).Msg("draining running tasks")
	}
	select {
	case <-done:
		return
	case <-time.After(time.Until(deadline)):
	}
	e.mu.Lock()
	for _, t := range e.running {
		t.cancel()
	}
	e.log.Warn().Int("tasks", len(e.running)).Msg("drain timeout: cancelling running tasks")
	e.mu.Unlock()
	<-done
}

// stopServers lets in-flight fetch streams finish for up to grace, then stops.
func (e *Executor) stopServers(grace time.Duration) {
	e.execGRPC.Stop()
	e.stopAdmin()
	done := make(chan struct{})
	go func() { e.flightGRPC.GracefulStop(); close(done) }()
	if grace < time.Second {
		grace = time.Second
	}
	select {
	case <-done:
	case <-time.After(grace):
		e.log.Warn().Msg("Flight streams still open after the drain timeout; closing them")
		e.flightGRPC.Stop()
		<-done
	}
}

func (e *Executor) janitor() *Janitor {
	return &Janitor{
		WorkDir: e.workDir, TTL: e.cfg.JobDataTTL, Log: e.log,
		Lock:      func() func() { e.mu.Lock(); return e.mu.Unlock },
		Active:    func(job string) bool { return e.runningJobs[job] > 0 },
		JobLogDir: e.cfg.JobLogs.JobsDir(),
	}
}

func (e *Executor) janitorLoop(ctx context.Context, j *Janitor) {
	t := time.NewTicker(e.cfg.JobDataCleanUpInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			removed, err := j.CleanExpired()
			if err != nil {
				e.log.Error().Err(err).Msg("janitor")
			}
			e.prom.janitor.Add(float64(len(removed)))
		}
	}
}

// removeJobData deletes a job's directory unless tasks of it still run.
func (e *Executor) removeJobData(jobID string) error {
	dir, err := shuffle.JobDir(e.workDir, jobID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.runningJobs[jobID] > 0 {
		// Its tasks (cancelled with the job) are still ending: the last
		// one to end removes the data (removeTask).
		e.removeWhenDone[jobID] = true
		e.log.Debug().Str("job", jobID).Msg("remove job data: tasks still running; removed when they end")
		return nil
	}
	if logs := e.cfg.JobLogs.JobDir(jobID); logs != "" {
		if err := os.RemoveAll(logs); err != nil {
			return fmt.Errorf("remove job logs: %w", err)
		}
	}
	return os.RemoveAll(dir)
}

// removeJobDataLocked removes a job's data once its last task ended, as a
// remove request asked while tasks ran. Called with mu held.
func (e *Executor) removeJobDataLocked(jobID string) {
	delete(e.removeWhenDone, jobID)
	dir, err := shuffle.JobDir(e.workDir, jobID)
	if err != nil {
		return
	}
	if logs := e.cfg.JobLogs.JobDir(jobID); logs != "" {
		os.RemoveAll(logs)
	}
	if err := os.RemoveAll(dir); err != nil {
		e.log.Warn().Err(err).Str("job", jobID).Msg("remove job data")
		return
	}
	e.log.Debug().Str("job", jobID).Msg("job data removed after its last task ended")
}
