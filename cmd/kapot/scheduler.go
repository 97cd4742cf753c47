package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/logging"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/scheduler"
)

func schedulerCmd() *cobra.Command {
	cfg := scheduler.DefaultConfig()
	var configFile string
	var printConfig bool
	timeout := cfg.ExecutorTimeout.Seconds()
	cleanup := cfg.FinishedJobDataCleanUpDelay.Seconds()
	var adminTokenFile string
	abandoned := cfg.AbandonedJobTimeout.Seconds()
	specMin := cfg.SpeculationMinRuntime.Seconds()
	lease := cfg.LeaderLease.Seconds()
	preparedIdle := cfg.FlightSQLLimits.PreparedIdle.Seconds()
	preparedBytes := config.ByteSize(cfg.FlightSQLLimits.MaxPreparedBytes)
	planBytes := config.ByteSize(cfg.MaxPlanBytes)
	var etcdPasswordFile string
	c := &cobra.Command{
		Use:   "scheduler",
		Short: "Run a scheduler: accept executors and jobs, split plans into stages and assign tasks",
		Long: `Run a scheduler. Flags can also be set with KAPOT_SCHEDULER_<FLAG_NAME>
environment variables or keys of the YAML --config file (flat keys, or the
sections common: and scheduler: of a file shared with the executors; values
may use ${ENV_VAR} and ${ENV_VAR:-default}). --print-config shows the
result, secrets redacted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warnArgvSecrets(cmd)
			if err := config.Apply(cmd.Flags(), "KAPOT_SCHEDULER", configFile, "config", "print-config"); err != nil {
				return err
			}
			if err := cfg.Security.LoadSecretFiles(); err != nil {
				return fmt.Errorf("%v: %w", err, config.ErrInvalid)
			}
			if err := security.LoadSecretFile("admin-token", &cfg.AdminToken, adminTokenFile); err != nil {
				return fmt.Errorf("%v: %w", err, config.ErrInvalid)
			}
			cfg.ExecutorTimeout = time.Duration(timeout * float64(time.Second))
			cfg.FinishedJobDataCleanUpDelay = time.Duration(cleanup * float64(time.Second))
			cfg.AbandonedJobTimeout = time.Duration(abandoned * float64(time.Second))
			cfg.SpeculationMinRuntime = time.Duration(specMin * float64(time.Second))
			cfg.LeaderLease = time.Duration(lease * float64(time.Second))
			cfg.FlightSQLLimits.PreparedIdle = time.Duration(preparedIdle * float64(time.Second))
			cfg.FlightSQLLimits.MaxPreparedBytes = int64(preparedBytes)
			cfg.MaxPlanBytes = int64(planBytes)
			if err := security.LoadSecretFile("etcd-password", &cfg.Etcd.Password, etcdPasswordFile); err != nil {
				return fmt.Errorf("%v: %w", err, config.ErrInvalid)
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			if printConfig {
				return printEffective(cmd, cmd.Flags())
			}
			logs, err := logging.New(cfg.Log)
			if err != nil {
				return err
			}
			defer logs.Close()
			s, err := scheduler.New(cfg, logs.Logger)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return s.Run(ctx)
		},
	}
	f := c.Flags()
	f.StringVar(&configFile, "config", "", "YAML config file (keys are flag names)")
	f.BoolVar(&printConfig, "print-config", false, "print the effective configuration (secrets redacted) as YAML and exit")
	f.StringVar(&cfg.BindHost, "bind-host", cfg.BindHost, "address to bind")
	f.IntVar(&cfg.Port, "port", cfg.Port, "gRPC port")
	f.StringVar(&cfg.Policy, "policy", cfg.Policy, "task scheduling policy executors must use: push-staged or pull-staged (empty: accept both)")
	config.SecondsVar(f, &timeout, "executor-timeout-seconds", timeout, "declare an executor lost after this long without a heartbeat (a dead process is found within about a second by its link; this is the backstop for stopped or partitioned ones)")
	f.IntVar(&cfg.TaskRetries, "task-retries", cfg.TaskRetries, "retries of a failed task before its job fails")
	f.IntVar(&cfg.MaxFetchFailures, "max-fetch-failures", cfg.MaxFetchFailures, "map-output re-runs allowed per job")
	f.StringVar(&cfg.SchedulingMode, "scheduling-mode", cfg.SchedulingMode, "how jobs share task slots: fair (each free slot to the job running the fewest tasks) or fifo (the oldest job first)")
	f.IntVar(&cfg.MaxStagePartitions, "max-stage-partitions", cfg.MaxStagePartitions, "refuse at submit a job with a stage of more tasks or shuffle partitions than this")
	f.Var(&cfg.MaxTaskBytes, "max-task-bytes", "largest task definition sent to an executor; a job whose task is larger fails (keep it under the executors' --grpc-max-decoding-message-size)")
	config.SecondsVar(f, &abandoned, "abandoned-job-timeout-seconds", abandoned, "cancel a job (not submitted detached) once its client has not asked for its status this long (0: never)")
	config.SecondsVar(f, &cleanup, "finished-job-data-clean-up-delay-seconds", cleanup, "keep a finished job's data (its results) on executors this long")
	f.BoolVar(&cfg.Adaptive, "adaptive", cfg.Adaptive, "adaptive execution: a join whose smaller side turns out small once computed becomes a broadcast join, and the other side is not repartitioned")
	f.BoolVar(&cfg.Speculation, "speculation", cfg.Speculation, "run a second copy of a straggling task on an otherwise idle slot of another executor; the first copy to finish wins (as Spark's spark.speculation)")
	f.Float64Var(&cfg.SpeculationMultiplier, "speculation-multiplier", cfg.SpeculationMultiplier, "a task is a straggler once it runs this many times its stage's median task time")
	f.Float64Var(&cfg.SpeculationQuantile, "speculation-quantile", cfg.SpeculationQuantile, "share of a stage's tasks that must be done before its stragglers are copied")
	config.SecondsVar(f, &specMin, "speculation-min-runtime-seconds", specMin, "never copy a task that has run less than this")
	f.StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "directory of the scheduler's durable state: the tables of its catalog and its past jobs survive a restart (default: none, kept in memory)")
	f.StringVar(&cfg.StateStore, "state-store", cfg.StateStore, "where the durable state (catalog, jobs, task states) lives: embedded (a file under --state-dir; one scheduler) or etcd (--etcd-endpoints; several schedulers, one elected leader)")
	f.StringSliceVar(&cfg.Etcd.Endpoints, "etcd-endpoints", cfg.Etcd.Endpoints, "client URLs of the etcd members (http(s)://host:2379,...) for --state-store etcd")
	f.StringVar(&cfg.Etcd.Prefix, "etcd-prefix", "/kapot", "key prefix of this cluster's state in etcd (several kapot clusters can share one etcd)")
	f.StringVar(&cfg.Etcd.Username, "etcd-username", "", "etcd user (etcd authentication)")
	f.StringVar(&cfg.Etcd.Password, "etcd-password", "", "etcd user's password")
	f.StringVar(&etcdPasswordFile, "etcd-password-file", "", "read --etcd-password from this file")
	f.StringVar(&cfg.Etcd.CAFile, "etcd-ca", "", "CA certificate (PEM) of the etcd members' TLS certificates")
	f.StringVar(&cfg.Etcd.CertFile, "etcd-cert", "", "client certificate (PEM) for etcd members that require one")
	f.StringVar(&cfg.Etcd.KeyFile, "etcd-key", "", "key of --etcd-cert")
	config.SecondsVar(f, &lease, "leader-lease-seconds", lease, "with --state-store etcd: a leader that stops answering etcd loses its leadership after this long, and a follower takes over (shorter: faster take-over; longer: rides out longer etcd or network stalls)")
	f.StringVar(&cfg.AdvertiseHost, "advertise-host", cfg.AdvertiseHost, "host name or address other nodes reach this scheduler at (the leader's address followers give clients; default: --bind-host, or the hostname when binding every interface)")
	logging.AddFlags(f, &cfg.Log)
	f.IntVar(&cfg.AdminPort, "admin-port", cfg.AdminPort, "HTTP port for /healthz, /readyz, /metrics (Prometheus) and /debug/pprof/ (-1: off, 0: any free port)")
	f.StringVar(&cfg.AdminBindHost, "admin-bind-host", cfg.AdminBindHost, "address the admin port listens on (default 127.0.0.1: metrics, pprof and the job list are for operators; 0.0.0.0 or the pod IP for remote probes and scraping)")
	f.StringVar(&cfg.AdminToken, "admin-token", cfg.AdminToken, "require this token on the admin port (metrics, pprof, web UI, job list; not /healthz, /readyz): Authorization: Bearer, or Basic with it as password")
	f.StringVar(&adminTokenFile, "admin-token-file", "", "read --admin-token from this file")
	f.IntVar(&cfg.FlightSQLPort, "flight-sql-port", cfg.FlightSQLPort, "Arrow Flight SQL port for JDBC, ADBC and database/sql clients (-1: off, 0: any free port)")
	f.IntVar(&cfg.PGPort, "pg-port", cfg.PGPort, "PostgreSQL wire protocol port for psql and PostgreSQL drivers (-1: off, 0: any free port)")
	f.StringVar(&cfg.FlightSQLResults, "flight-sql-results", cfg.FlightSQLResults, "where Flight SQL clients fetch results: proxy (through the scheduler) or direct (from the executors)")
	f.IntVar(&cfg.FlightSQLLimits.MaxPrepared, "flight-sql-max-prepared", cfg.FlightSQLLimits.MaxPrepared, "prepared statements one Flight SQL principal may hold open (without authentication: one connection); more are refused with ResourceExhausted")
	f.Var(&preparedBytes, "flight-sql-max-prepared-bytes", "bytes of SQL text and bound parameters one Flight SQL principal's prepared statements may hold together (without authentication: one connection)")
	config.SecondsVar(f, &preparedIdle, "flight-sql-prepared-idle-seconds", preparedIdle, "close a Flight SQL prepared statement unused for this long (they also end when closed, and with the connection that made them)")
	f.IntVar(&cfg.FlightSQLLimits.MaxTokens, "flight-sql-max-tokens", cfg.FlightSQLLimits.MaxTokens, "live Flight SQL bearer tokens (from handshakes, valid 12 h) per principal; a handshake beyond ends the principal's oldest token")
	f.DurationVar(&cfg.QueryTimeout, "query-timeout", cfg.QueryTimeout, "cancel a job running longer than this when its session sets no kapot.query.timeout (0: never)")
	f.DurationVar(&cfg.MaxQueryTimeout, "max-query-timeout", cfg.MaxQueryTimeout, "the longest kapot.query.timeout a session may ask for (0: any)")
	f.IntVar(&cfg.MaxSessionJobs, "max-session-jobs", cfg.MaxSessionJobs, "jobs one session may have running or queued at once; more are refused (0: any)")
	f.DurationVar(&cfg.MaxPlanningTime, "max-planning-time", cfg.MaxPlanningTime, "fail a statement whose planning takes longer than this with ResourceExhausted (0: no limit); planning also stops when its client goes away")
	f.IntVar(&cfg.MaxPlanNodes, "max-plan-nodes", cfg.MaxPlanNodes, "refuse a plan of more operators than this with ResourceExhausted, before it is built (a WITH query or view read in several places counts once per reader)")
	f.Var(&planBytes, "max-plan-bytes", "refuse a plan larger than this, encoded, with ResourceExhausted (long IN lists count here)")
	f.DurationVar(&cfg.TableRetention, "table-retention", cfg.TableRetention, "keep the files a DROP TABLE, CREATE OR REPLACE or compaction took out of a managed table this long after the last query that planned with them ended: running queries keep reading the version they planned with")
	f.StringVar(&cfg.Warehouse, "warehouse", cfg.Warehouse, "where managed tables (CREATE TABLE, CREATE TABLE AS) live: a directory, or s3://bucket/prefix (default: <state-dir>/warehouse; none without a state dir)")
	f.StringVar(&cfg.S3.Endpoint, "s3-endpoint", cfg.S3.Endpoint, "S3-compatible endpoint URL for s3:// locations the scheduler lists and writes (default: AWS, or AWS_ENDPOINT_URL_S3); credentials from the AWS environment/profile chain")
	f.StringVar(&cfg.S3.Region, "s3-region", cfg.S3.Region, "S3 region (default: AWS_REGION or us-east-1)")
	f.BoolVar(&cfg.S3.PathStyle, "s3-path-style", cfg.S3.PathStyle, "address buckets as <endpoint>/<bucket> (most self-hosted S3 servers)")
	f.StringSliceVar(&cfg.AllowedDataRoots, "allowed-data-roots", cfg.AllowedDataRoots, "the only directories and URL prefixes (s3://bucket/prefix) job plans may read (default: anywhere)")
	f.BoolVar(&cfg.AllowLocalURLs, "allow-local-urls", cfg.AllowLocalURLs, "let http(s) table locations and the sessions' kapot.s3.endpoint reach loopback and link-local addresses (this host's services, cloud metadata); refused by default")
	security.AddNodeFlags(f, &cfg.Security)
	return withFlagErrors(c)
}
