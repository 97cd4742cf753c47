package scheduler

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/kapot-go/kapot/catalog"
	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/internal/admin"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/panics"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/scheduler/flightsql"
	"github.com/kapot-go/kapot/scheduler/store"
	"github.com/kapot-go/kapot/warehouse"
)

// Scheduler is the scheduler process: its servers, stores and loops
// around the cluster state (package cluster), which mu guards. A handler
// or loop calls a transition of the state under mu and applies the
// effects it returns (apply.go) before it lets go; RPCs to executors are
// made outside mu.
type Scheduler struct {
	cfg Config
	id  string
	log zerolog.Logger

	mu sync.Mutex
	cl *cluster.State
	// probes holds, per executor being probed, a channel closed when the
	// probe ends (guarded by mu).
	probes map[string]chan struct{}

	conns connPool // to executors

	store *objstore.Registry // reads scanned files' schemas at submit
	// state is the durable state (--state-dir); catalog the tables SQL
	// names (Flight SQL), restored from it at start.
	state   store.Store
	catalog *catalog.Catalog
	// warehouse holds managed tables (nil: none configured); writeMu
	// orders the commits of writes and the catalog changes they make.
	warehouse *warehouse.Warehouse
	// reclaim removes retired table files once no job reads them (nil
	// without a warehouse).
	reclaim *warehouse.Reclaimer
	tables  *warehouse.Tables
	writeMu sync.Mutex
	// past are the summaries of jobs finished before this scheduler
	// started, newest first (guarded by mu); historyMu orders writes of
	// the history to the store.
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
	sqlSvc   *flightsql.Server // owns the prepared statements and tokens (its sweep runs under bg)
	sqlFetch *kflight.Client
	// The PostgreSQL endpoint, when --pg-port is set (pgwire.go).
	pg       *pgEndpoint
	stopping atomic.Bool
	// linksDone is closed when the scheduler stops, ending executors' links.
	linksDone chan struct{}

	// pq is the durable job state's write queue (persist.go); fatal ends
	// Run with an error (this scheduler was deposed, or lost its lease).
	pq    *persistQueue
	fatal chan error
	// persisting is set while persistLoop runs (Run); deposed once this
	// scheduler must stop (fail).
	persisting atomic.Bool
	deposed    atomic.Bool
	// etcd is the state store when several schedulers share it; leading
	// is set once this one is the leader and has taken the state over
	// (always, with the embedded store). Followers refuse calls.
	etcd       *store.Etcd
	leading    atomic.Bool
	leadership *store.Leadership

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
	s, err := build(cfg, log, lis)
	if err != nil {
		lis.Close()
		return nil, err
	}
	return s, nil
}

// clusterConfig is what the cluster state needs of cfg.
func clusterConfig(cfg Config) cluster.Config {
	var adapt func(*cluster.Job, uint32) bool
	if cfg.Adaptive {
		adapt = adaptJoins
	}
	return cluster.Config{FIFO: cfg.SchedulingMode == ModeFIFO, TaskRetries: cfg.TaskRetries, MaxFetchFailures: cfg.MaxFetchFailures,
		MaxTaskBytes: int(cfg.MaxTaskBytes), Speculation: cfg.Speculation, SpeculationMultiplier: cfg.SpeculationMultiplier,
		SpeculationQuantile: cfg.SpeculationQuantile, SpeculationMinRuntime: cfg.SpeculationMinRuntime, ExecutorTimeout: cfg.ExecutorTimeout,
		AbandonedJobTimeout: cfg.AbandonedJobTimeout, FinishedJobDataCleanUpDelay: cfg.FinishedJobDataCleanUpDelay, FinishedJobTTL: cfg.FinishedJobTTL,
		MaxSessionJobs: cfg.MaxSessionJobs, Adapt: adapt}
}

// build makes the scheduler of a validated cfg serving on lis (nil in
// tests that drive it without a network; the caller closes lis when build
// fails).
func build(cfg Config, log zerolog.Logger, lis net.Listener) (*Scheduler, error) {
	var err error
	s := &Scheduler{
		cfg: cfg, id: uuid.NewString(), log: log,
		// Task ids of a predecessor (running on executors, adopted when
		// they register) stay below this one's: no scheduler gives out
		// 1,000 task ids per millisecond it runs. (Below 2^53: exact in
		// the JSON of the web page.)
		cl: cluster.New(clusterConfig(cfg), uint64(time.Now().UnixMilli())*1000), probes: map[string]chan struct{}{},
		kick: make(chan struct{}, 1), linksDone: make(chan struct{}), lis: lis, store: objstore.NewRegistry(cfg.S3, nil),
		pq: newPersistQueue(), fatal: make(chan error, 1),
	}
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	s.signer = kflight.NewSigner(cfg.Security.Secrets)
	s.store.AllowLocalURLs(cfg.AllowLocalURLs)
	if err := s.store.AllowRoots(cfg.AllowedDataRoots); err != nil {
		return nil, fmt.Errorf("--allowed-data-roots: %v: %w", err, config.ErrInvalid)
	}
	s.state = store.Memory()
	switch {
	case cfg.StateStore == StoreEtcd:
		if s.etcd, err = store.OpenEtcd(context.Background(), cfg.Etcd); err != nil {
			return nil, fmt.Errorf("--etcd-endpoints: %w", err)
		}
		s.state = s.etcd
	case cfg.StateDir != "":
		if s.state, err = store.Open(cfg.StateDir); err != nil {
			return nil, fmt.Errorf("--state-dir: %w", err)
		}
	}
	built := false
	defer func() {
		if !built {
			s.state.Close() // the state dir is free for the next try
		}
	}()
	s.catalog = catalog.NewWith(s.store, nil)
	if wh := cfg.Warehouse; wh != "" || cfg.StateDir != "" {
		if wh == "" {
			wh = filepath.Join(cfg.StateDir, "warehouse")
		}
		if !objstore.IsRemote(wh) {
			if wh, err = filepath.Abs(wh); err != nil {
				return nil, fmt.Errorf("--warehouse: %w", err)
			}
		}
		s.warehouse = &warehouse.Warehouse{Root: wh, Store: s.store}
		s.reclaim = &warehouse.Reclaimer{Retention: cfg.TableRetention, Oldest: s.oldestReader, Remove: s.warehouse.Remove,
			Save:   func(ctx context.Context, key string, v []byte) error { return s.state.Put(ctx, store.Retired, key, v) },
			Forget: func(ctx context.Context, key string) error { return s.state.Delete(ctx, store.Retired, key) }}
		s.warehouse.Retire = s.reclaim.Retire
		// The warehouse is the cluster's own: readable and writable by it
		// whatever --allowed-data-roots says (clients' COPY never writes
		// there: warehouse.Tables.NotTableData).
		if err := s.store.AllowClusterRoot(wh); err != nil {
			return nil, fmt.Errorf("--warehouse: %w", err)
		}
		if s.etcd != nil && !objstore.IsRemote(wh) {
			log.Warn().Str("warehouse", wh).Msg("with --state-store etcd every scheduler must see the same warehouse: give --warehouse an s3:// prefix or a shared file system's path")
		}
	}
	s.tables = &warehouse.Tables{Catalog: s.catalog, Warehouse: s.warehouse, Store: s.store,
		Save:    s.saveTable,
		Forget:  func(ctx context.Context, name string) error { return s.state.Delete(ctx, store.Tables, name) },
		Warn:    func(err error, msg string) { s.log.Warn().Err(err).Msg(msg) },
		Secured: cfg.Security.Secrets.Enabled()}
	s.prom = newSchedMetrics(s)
	if s.etcd == nil {
		// The only scheduler on this state: it leads from the start.
		if err := s.takeOver(context.Background()); err != nil {
			return nil, fmt.Errorf("--state-dir: %w", err)
		}
		s.leading.Store(true)
	}
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
		return nil, fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	// Handlers plan SQL and decode and split plans (planner and engine
	// code) on grpc-go's goroutines, which do not recover: the panics
	// interceptors come first and fail the call with codes.Internal.
	opts = append(append(panics.ServerOptions(s.log), opts...), grpc.ChainUnaryInterceptor(s.gateUnary), grpc.ChainStreamInterceptor(s.gateStream))
	s.srv = grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(64 << 20), grpc.MaxSendMsgSize(64 << 20),
		// Links of stopped or partitioned executors break when pings go
		// unanswered; executors' own pings are allowed this often.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: LinkKeepaliveTime, Timeout: LinkKeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: LinkKeepaliveTime / 2, PermitWithoutStream: true})}, opts...)...)
	kapotv1.RegisterSchedulerServiceServer(s.srv, &service{s: s})
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.srv, s.health)
	if err := s.listenPG(); err != nil {
		return nil, err
	}
	if err := s.listenFlightSQL(); err != nil {
		return nil, err
	}
	if err := s.listenAdmin(); err != nil {
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
	var auth *flightsql.Auth
	if s.cfg.Security.Secrets.Enabled() {
		auth = flightsql.NewAuth(s.cfg.Security.Secrets.For(security.Client), s.cfg.Security.Secrets.Scheduler, s.cfg.Security.Secrets.Principals, func(method, reason string) {
			s.prom.authFailures.WithLabelValues(reason).Inc()
			s.log.Warn().Str("method", method).Str("reason", reason).Msg("flight sql call rejected")
		})
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(s.cfg.BindHost, strconv.Itoa(s.cfg.FlightSQLPort)))
	if err != nil {
		return fmt.Errorf("--flight-sql-port %d: %w", s.cfg.FlightSQLPort, err)
	}
	s.sqlFetch = kflight.NewClient(3, 100*time.Millisecond, 0, dial...)
	srv, err := flightsql.NewServer(flightsql.Config{Jobs: flightJobs{s}, Catalog: s.catalog, Fetch: s.sqlFetch, Signer: s.signer, Results: s.cfg.FlightSQLResults,
		Auth: auth, Limits: s.cfg.FlightSQLLimits, Log: s.log})
	if err != nil {
		lis.Close()
		return err
	}
	opts = append(opts, srv.ServerOptions()...)
	s.prom.reg.MustRegister(srv)
	s.sqlSvc = srv
	s.sqlLis = lis
	opts = append(panics.ServerOptions(s.log), opts...) // as the scheduler's own server
	s.sqlSrv = grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(64 << 20), grpc.MaxSendMsgSize(64 << 20),
		grpc.ChainUnaryInterceptor(s.gateUnary), grpc.ChainStreamInterceptor(s.gateStream)}, opts...)...)
	srv.Register(s.sqlSrv)
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

// stopGrace bounds how long a stopping scheduler waits for its open calls
// (a client's query waiting for its job, a result still streaming) to end
// by themselves before it closes them: a query whose job could not run (no
// executor registered) kept SIGTERM from ever ending the process.
const stopGrace = 10 * time.Second

// stopServer stops the gRPC server gracefully, for up to stopGrace, then
// closes what is still open (those clients see Unavailable).
func (s *Scheduler) stopServer() {
	done := make(chan struct{})
	go func() { s.srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopGrace):
		s.log.Warn().Dur("grace", stopGrace).Msg("calls still open after the grace period; closing them")
		s.srv.Stop()
		<-done
	}
}

// Run serves until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	loopCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.launchLoop(loopCtx) }()
	s.persisting.Store(true)
	go func() { defer wg.Done(); s.persistLoop(loopCtx) }()
	campaignCtx, stopCampaign := context.WithCancel(context.Background())
	defer stopCampaign()
	if s.etcd != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.campaign(campaignCtx) }()
	}
	go func() { defer wg.Done(); s.livenessLoop(loopCtx) }()
	if s.reclaim != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.reclaimLoop(loopCtx) }()
	}
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
		s.spawn(s.sqlSvc.Run)
		s.log.Info().Str("addr", s.sqlLis.Addr().String()).Str("results", s.cfg.FlightSQLResults).Msg("flight sql listening")
	}
	s.spawn(s.servePG)
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
	case err = <-s.fatal:
		s.log.Error().Err(err).Msg("scheduler stopping")
	}
	stopCampaign()
	s.stopping.Store(true)
	s.mu.Lock()
	s.cl.Stopping = true // no more probes
	s.mu.Unlock()
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
	s.stopServer()
	cancel()
	wg.Wait()
	s.bgStop()
	s.bg.Wait()
	if s.leadership != nil && !s.deposed.Load() {
		// After the last write: the next leader takes over at once
		// instead of after the lease.
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if rerr := s.leadership.Resign(rctx); rerr != nil {
			s.log.Warn().Err(rerr).Msg("resign leadership")
		}
		rcancel()
	}
	s.conns.closeAll()
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
