package scheduler

import (
	"fmt"
	"time"

	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/logging"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	"github.com/kapot-go/kapot/planner"
	"github.com/kapot-go/kapot/scheduler/flightsql"
	"github.com/kapot-go/kapot/scheduler/store"
)

// Config is every setting of a scheduler process.
type Config struct {
	BindHost string
	Port     int
	// Policy, when set, is the only task scheduling policy executors may
	// register with ("push-staged" or "pull-staged"); empty accepts both.
	Policy string
	// ExecutorTimeout declares an executor dead after this long without a
	// heartbeat or poll: the backstop for executors that are alive but do
	// not run (stopped, partitioned). A process that dies is found within
	// about a second by its link (see liveness.go).
	ExecutorTimeout time.Duration
	// TaskRetries is how many times a failed task is retried.
	TaskRetries int
	// MaxFetchFailures bounds map-output re-runs per job.
	MaxFetchFailures int
	// SchedulingMode shares task slots between running jobs: ModeFair
	// (each free slot to the job with the fewest running tasks) or
	// ModeFIFO (the oldest job first).
	SchedulingMode string
	// MaxStagePartitions refuses, at submit, a job with a stage of more
	// tasks (or a shuffle of more output partitions) than this.
	MaxStagePartitions int
	// MaxTaskBytes is the largest encoded task definition the scheduler
	// sends; a job whose task would be larger fails at launch (executors
	// accept 16 MiB messages by default).
	MaxTaskBytes config.ByteSize
	// FinishedJobDataCleanUpDelay is how long executors keep a finished
	// job's data (its results) before the scheduler asks them to delete it.
	FinishedJobDataCleanUpDelay time.Duration
	// AbandonedJobTimeout cancels an attached job once its client has not
	// asked for its status for this long (0: never).
	AbandonedJobTimeout time.Duration
	// Adaptive turns a join into a broadcast at run time when the side
	// the planner thought might be small turns out so (see adaptive.go).
	Adaptive bool
	// Speculation runs a second copy of straggling tasks (see
	// cluster/speculation.go); SpeculationMultiplier, SpeculationQuantile and
	// SpeculationMinRuntime say what a straggler is.
	Speculation           bool
	SpeculationMultiplier float64
	SpeculationQuantile   float64
	SpeculationMinRuntime time.Duration
	// StateDir holds the scheduler's durable state (its catalog of tables,
	// past jobs); empty keeps it in memory only.
	StateDir string
	// StateStore is where the durable state lives: StoreEmbedded (a bbolt
	// file under StateDir, or memory without one) for one scheduler, or
	// StoreEtcd (Etcd) for several, one of which leads.
	StateStore string
	// Etcd is the etcd cluster of StateStore etcd.
	Etcd store.EtcdConfig
	// LeaderLease is how long a leader that stops answering etcd keeps its
	// leadership: a follower takes over this long after the leader dies.
	LeaderLease time.Duration
	// AdvertiseHost is the host other nodes reach this scheduler at (the
	// leader's address followers name); default: the bind host, or the
	// hostname when binding every interface.
	AdvertiseHost string
	// Warehouse is where managed tables (CREATE TABLE, CREATE TABLE AS)
	// live: a directory or an s3:// prefix; empty means
	// <StateDir>/warehouse, or no managed tables without a state dir.
	Warehouse string
	// S3 is the default S3 endpoint, addressing and (optionally)
	// credentials for s3:// locations the scheduler reads and writes
	// itself: table listings, the warehouse, commits.
	S3 objstore.S3Config
	// FinishedJobTTL is how long finished jobs stay queryable.
	FinishedJobTTL time.Duration
	// MaxPlanningTime bounds planning one statement (0: no bound);
	// MaxPlanNodes and MaxPlanBytes bound the plan it makes (0: the
	// planner's defaults). Over a bound the statement fails with
	// ResourceExhausted.
	MaxPlanningTime time.Duration
	MaxPlanNodes    int
	MaxPlanBytes    int64
	// QueryTimeout is a job's time limit when its session sets none
	// (kapot.query.timeout); 0: none. MaxQueryTimeout caps both (0: no
	// cap).
	QueryTimeout, MaxQueryTimeout time.Duration
	// MaxSessionJobs caps the jobs one session has running or queued
	// (0: no cap).
	MaxSessionJobs int
	// TableRetention is how long the files a DROP, a replace or a
	// compaction took out of a managed table stay after the last job that
	// planned with them ended (readers keep their snapshot).
	TableRetention time.Duration
	// Log is where and how the process logs.
	Log logging.Options
	// AdminPort serves /healthz, /readyz, /metrics and /debug/pprof/ over
	// HTTP; -1 turns it off, 0 picks a free port.
	AdminPort int
	// AdminBindHost is the admin server's address (default: 127.0.0.1).
	AdminBindHost string
	// AdminToken, when set, is required by every admin endpoint but the
	// health probes (Bearer, or Basic with the token as password).
	AdminToken string
	// Security is cluster authentication (shared secrets) and TLS.
	Security security.Config
	// FlightSQLPort serves Arrow Flight SQL (JDBC, ADBC, the Go
	// database/sql driver); -1 turns it off, 0 picks a free port.
	FlightSQLPort int
	// FlightSQLResults says where Flight SQL clients fetch results:
	// "proxy" (through the scheduler) or "direct" (endpoints name the
	// executors).
	FlightSQLResults string
	// FlightSQLLimits bound what each Flight SQL owner holds between
	// calls: prepared statements (count, bytes, idle time) and bearer
	// tokens.
	FlightSQLLimits flightsql.Limits
	// PGPort serves the PostgreSQL wire protocol (psql and PostgreSQL
	// drivers); -1 turns it off, 0 picks a free port.
	PGPort int
	// AllowedDataRoots, when set, are the only places the plans of
	// submitted jobs may read (checked when their files are opened).
	AllowedDataRoots []string
	// AllowLocalURLs lets http(s) locations reach loopback and link-local
	// addresses (the node's own services, cloud metadata), refused by
	// default.
	AllowLocalURLs bool
}

// State stores.
const (
	StoreEmbedded = "embedded"
	StoreEtcd     = "etcd"
)

// Scheduling modes.
const (
	ModeFair = "fair"
	ModeFIFO = "fifo"
)

// DefaultConfig returns the defaults (ports follow Ballista: 50050).
func DefaultConfig() Config {
	return Config{
		BindHost: "0.0.0.0", Port: 50050, ExecutorTimeout: 30 * time.Second, TaskRetries: 3,
		MaxPlanningTime: 30 * time.Second, MaxPlanNodes: planner.DefaultMaxPlanNodes, MaxPlanBytes: planner.DefaultMaxPlanBytes,
		MaxFetchFailures: 16, SchedulingMode: ModeFair, MaxStagePartitions: 10000, MaxTaskBytes: 8 << 20, FinishedJobDataCleanUpDelay: 300 * time.Second, FinishedJobTTL: time.Hour, TableRetention: time.Minute, QueryTimeout: time.Hour, MaxQueryTimeout: 24 * time.Hour, MaxSessionJobs: 32,
		Adaptive: true, Speculation: true, SpeculationMultiplier: 1.5, SpeculationQuantile: 0.75, SpeculationMinRuntime: 500 * time.Millisecond, AbandonedJobTimeout: 30 * time.Second, AdminPort: -1,
		FlightSQLPort: -1, PGPort: -1, FlightSQLResults: ResultsProxy, FlightSQLLimits: flightsql.DefaultLimits(), StateStore: StoreEmbedded, LeaderLease: 3 * time.Second,
		Log: logging.Options{Level: "info", Format: "json", Prefix: "scheduler.log", Rotation: "daily", Component: "scheduler"},
	}
}

// Validate reports the first setting out of range, naming its flag.
func (c *Config) Validate() error {
	bad := func(flag, format string, a ...any) error {
		return fmt.Errorf("--%s: %s: %w", flag, fmt.Sprintf(format, a...), config.ErrInvalid)
	}
	switch {
	case c.Port < 0 || c.Port > 65535:
		return bad("port", "%d out of range 0..65535", c.Port)
	case c.Policy != "" && c.Policy != "push-staged" && c.Policy != "pull-staged":
		return bad("policy", "%q: want push-staged or pull-staged", c.Policy)
	case c.ExecutorTimeout <= 0:
		return bad("executor-timeout-seconds", "must be positive")
	case c.TaskRetries < 0:
		return bad("task-retries", "negative")
	case c.MaxFetchFailures < 1:
		return bad("max-fetch-failures", "must be at least 1")
	case c.SchedulingMode != ModeFair && c.SchedulingMode != ModeFIFO:
		return bad("scheduling-mode", "%q: want fair or fifo", c.SchedulingMode)
	case c.MaxStagePartitions < 1:
		return bad("max-stage-partitions", "must be at least 1")
	case c.MaxTaskBytes < 1<<10:
		return bad("max-task-bytes", "%d: must be at least 1KiB", c.MaxTaskBytes)
	case c.SpeculationMultiplier < 1:
		return bad("speculation-multiplier", "%g: must be at least 1", c.SpeculationMultiplier)
	case c.SpeculationQuantile <= 0 || c.SpeculationQuantile > 1:
		return bad("speculation-quantile", "%g: want a fraction in (0, 1]", c.SpeculationQuantile)
	case c.SpeculationMinRuntime < 0:
		return bad("speculation-min-runtime-seconds", "negative")
	case c.AbandonedJobTimeout < 0:
		return bad("abandoned-job-timeout-seconds", "negative")
	case c.FinishedJobDataCleanUpDelay < 0:
		return bad("finished-job-data-clean-up-delay-seconds", "negative")
	case c.TableRetention < 0:
		return bad("table-retention", "negative")
	case c.MaxPlanningTime < 0:
		return bad("max-planning-time", "negative")
	case c.MaxPlanNodes < 0:
		return bad("max-plan-nodes", "negative")
	case c.MaxPlanBytes < 0:
		return bad("max-plan-bytes", "negative")
	case c.QueryTimeout < 0:
		return bad("query-timeout", "negative")
	case c.MaxQueryTimeout < 0:
		return bad("max-query-timeout", "negative")
	case c.MaxSessionJobs < 0:
		return bad("max-session-jobs", "negative")
	case c.AdminPort < -1 || c.AdminPort > 65535:
		return bad("admin-port", "port %d out of range -1..65535", c.AdminPort)
	case c.FlightSQLPort < -1 || c.FlightSQLPort > 65535:
		return bad("flight-sql-port", "port %d out of range -1..65535", c.FlightSQLPort)
	case c.PGPort < -1 || c.PGPort > 65535:
		return bad("pg-port", "port %d out of range -1..65535", c.PGPort)
	case c.FlightSQLResults != ResultsProxy && c.FlightSQLResults != ResultsDirect:
		return bad("flight-sql-results", "%q: want proxy or direct", c.FlightSQLResults)
	case c.FlightSQLLimits != (flightsql.Limits{}) && c.FlightSQLLimits.Validate() != nil:
		return fmt.Errorf("%v: %w", c.FlightSQLLimits.Validate(), config.ErrInvalid)
	case c.StateStore != StoreEmbedded && c.StateStore != StoreEtcd:
		return bad("state-store", "%q: want embedded or etcd", c.StateStore)
	case c.StateStore == StoreEtcd && len(c.Etcd.Endpoints) == 0:
		return bad("etcd-endpoints", "--state-store etcd needs the etcd members' client URLs")
	case c.StateStore == StoreEtcd && c.LeaderLease < 2*time.Second:
		return bad("leader-lease-seconds", "%s: must be at least 2 s (etcd's lease keep-alive)", c.LeaderLease)
	}
	if err := c.Log.Validate(); err != nil {
		return fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	if err := c.Security.Validate(true); err != nil {
		return fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	return nil
}

// Result modes of the Flight SQL endpoint (--flight-sql-results); see
// package flightsql.
const (
	ResultsProxy  = flightsql.ResultsProxy
	ResultsDirect = flightsql.ResultsDirect
)
