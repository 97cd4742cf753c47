package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/executor"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/logging"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/sysinfo"
)

func executorCmd() *cobra.Command {
	cfg := executor.DefaultConfig()
	var configFile string
	var printConfig bool
	gcPercent := 400
	drainSeconds := cfg.DrainTimeout.Seconds()
	var adminTokenFile string
	c := &cobra.Command{
		Use:   "executor",
		Short: "Run an executor: register task slots with a scheduler and run the stages it is given",
		Long: `Run an executor process. Every flag can also be set with the environment
variable KAPOT_EXECUTOR_<FLAG_NAME> (e.g. KAPOT_EXECUTOR_BIND_HOST) or as a key
of the YAML file given with --config (flat keys, or the sections common:
and executor: of a file shared with the scheduler; values may use ${ENV_VAR}
and ${ENV_VAR:-default}); the command line wins, then the environment, then
the file. --print-config shows the result, secrets redacted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warnArgvSecrets(cmd)
			if err := config.Apply(cmd.Flags(), "KAPOT_EXECUTOR", configFile, "config", "print-config"); err != nil {
				return err
			}
			if err := cfg.Security.LoadSecretFiles(); err != nil {
				return fmt.Errorf("%v: %w", err, config.ErrInvalid)
			}
			if err := security.LoadSecretFile("admin-token", &cfg.AdminToken, adminTokenFile); err != nil {
				return fmt.Errorf("%v: %w", err, config.ErrInvalid)
			}
			cfg.DrainTimeout = time.Duration(drainSeconds * float64(time.Second))
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
			cfg.JobLogs = logs
			if tuneGC(gcPercent, int64(cfg.MemoryPoolSize)) {
				defer startGCTuner(gcPercent, gcHeadroom)()
			}
			e, err := executor.New(cfg, nil, logs.Logger)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return e.Run(ctx)
		},
	}
	f := c.Flags()
	f.StringVar(&configFile, "config", "", "YAML config file (keys are flag names)")
	f.IntVar(&gcPercent, "gc-percent", gcPercent, "Go GC target percentage for this process, lowered after each collection so the heap grows at most 384MiB past a large live heap, with a soft memory limit of --memory-pool-size + 512MiB when that is set, else 90 % of the machine's or cgroup's memory (<= 0, or GOGC set: Go's defaults)")
	f.BoolVar(&printConfig, "print-config", false, "print the effective configuration (secrets redacted) as YAML and exit")
	f.StringVar(&cfg.BindHost, "bind-host", cfg.BindHost, "local address to bind the Flight and gRPC servers to")
	f.StringVar(&cfg.ExternalHost, "external-host", cfg.ExternalHost, "host name peers and the scheduler use to reach this executor (default: bind host, or the hostname when bound to all addresses)")
	f.IntVar(&cfg.Port, "port", cfg.Port, "Arrow Flight port (0 picks a free port)")
	f.IntVar(&cfg.GRPCPort, "grpc-port", cfg.GRPCPort, "executor gRPC port (0 picks a free port)")
	f.StringVar(&cfg.SchedulerHost, "scheduler-host", cfg.SchedulerHost, "scheduler host; for several schedulers of one cluster (--state-store etcd) a list h1,h2:50050,… or a DNS name that resolves to each: calls go to the leader and follow it when it changes")
	f.IntVar(&cfg.SchedulerPort, "scheduler-port", cfg.SchedulerPort, "scheduler port")
	config.DurationVar(f, &cfg.SchedulerConnectTimeout, "scheduler-connect-timeout-seconds", cfg.SchedulerConnectTimeout, "keep retrying to reach the scheduler for this long at start (0: one attempt)")
	f.IntVar(&cfg.ConcurrentTasks, "concurrent-tasks", cfg.ConcurrentTasks, "task slots (0: number of usable cores)")
	f.StringVar(&cfg.TaskSchedulingPolicy, "task-scheduling-policy", cfg.TaskSchedulingPolicy, "push-staged or pull-staged")
	f.StringVar(&cfg.WorkDir, "work-dir", cfg.WorkDir, "directory for shuffle data (default: a fresh temporary directory)")
	logging.AddFlags(f, &cfg.Log)
	config.DurationVar(f, &cfg.JobDataTTL, "job-data-ttl-seconds", cfg.JobDataTTL, "delete job data (and its per-job logs) not modified for this long")
	config.DurationVar(f, &cfg.JobDataCleanUpInterval, "job-data-clean-up-interval-seconds", cfg.JobDataCleanUpInterval, "how often the janitor runs (0 disables it)")
	f.Var(&cfg.GRPCMaxDecodingMessageSize, "grpc-max-decoding-message-size", "largest gRPC message accepted (bytes or 16MiB)")
	f.Var(&cfg.GRPCMaxEncodingMessageSize, "grpc-max-encoding-message-size", "largest gRPC message sent (bytes or 16MiB)")
	config.DurationVar(f, &cfg.HeartbeatInterval, "executor-heartbeat-interval-seconds", cfg.HeartbeatInterval, "heartbeat interval")
	config.SecondsVar(f, &drainSeconds, "drain-timeout", drainSeconds, "time to let running tasks and fetches finish at shutdown before cancelling them")
	f.StringVar(&cfg.ShuffleCompression, "shuffle-compression", cfg.ShuffleCompression, "compression of shuffle files when the session does not choose (kapot.shuffle.compression): none, lz4, zstd or auto (uncompressed; S2 for a task output of 1 GiB or more)")
	f.BoolVar(&cfg.PoisonBuffers, "poison-buffers", false, "overwrite every freed Arrow buffer with garbage (testing: makes a value kept past its batch's lifetime fail deterministically; costs speed)")
	f.BoolVar(&cfg.HostLocalReads, "host-local-reads", cfg.HostLocalReads, "read the shuffle files of executors on this host straight from their work dirs instead of over Flight")
	f.IntVar(&cfg.MaxHeartbeatFailures, "max-heartbeat-failures", cfg.MaxHeartbeatFailures, "shut down after this many consecutive failed heartbeats")
	f.DurationVar(&cfg.PollInterval, "poll-interval", cfg.PollInterval, "pull-staged: pause between polls when idle")
	f.IntSliceVar(&cfg.OSCores, "os-cores", cfg.OSCores, "CPUs reserved for the OS, never given to task slots (e.g. 0,1)")
	f.BoolVar(&cfg.DisableNUMAPinning, "disable-numa-pinning", cfg.DisableNUMAPinning, "do not pin task slots to dedicated cores")
	f.Var(&cfg.MemoryPoolSize, "memory-pool-size", "memory operators may hold before they spill (bytes or 8GiB; 0: --exposed-mem-percentage of the cgroup's or host's memory)")
	f.IntVar(&cfg.ExposedMemPercentage, "exposed-mem-percentage", cfg.ExposedMemPercentage, "share (50-100) of the cgroup's or host's memory given to the memory pool and advertised")
	f.BoolVar(&cfg.OverProvisioning, "over-provisioning", cfg.OverProvisioning, "advertise more cores and memory than the machine has (turns pinning off, ignores --os-cores)")
	f.IntVar(&cfg.CPUMultiplier, "cpu-multiplier", cfg.CPUMultiplier, "with --over-provisioning: advertised cores (and default slots) = cores x this (1-20)")
	f.IntVar(&cfg.MemoryMultiplier, "memory-multiplier", cfg.MemoryMultiplier, "with --over-provisioning: advertised memory = pool x this (1-20)")
	f.IntVar(&cfg.AdminPort, "admin-port", cfg.AdminPort, "HTTP port for /healthz, /readyz, /metrics (Prometheus) and /debug/pprof/ (-1: off, 0: any free port)")
	f.StringVar(&cfg.AdminBindHost, "admin-bind-host", cfg.AdminBindHost, "address the admin port listens on (default 127.0.0.1: metrics, pprof and the job list are for operators; 0.0.0.0 or the pod IP for remote probes and scraping)")
	f.StringVar(&cfg.AdminToken, "admin-token", cfg.AdminToken, "require this token on the admin port (metrics, pprof, web UI, job list; not /healthz, /readyz): Authorization: Bearer, or Basic with it as password")
	f.StringVar(&adminTokenFile, "admin-token-file", "", "read --admin-token from this file")
	f.BoolVar(&cfg.EnableNvidiaGPU, "enable-nvidia-gpu", cfg.EnableNvidiaGPU, "advertise the node as GPU-capable (a resource and the tag gpu)")
	f.StringSliceVar(&cfg.Tags, "tags", cfg.Tags, "placement tags advertised to the scheduler (the hostname is always one)")
	f.StringVar(&cfg.DataCachePolicy, "data-cache-policy", cfg.DataCachePolicy, "cache object-store reads: none, or local-disk-file (pages on local disk under --cache-dir)")
	f.StringVar(&cfg.CacheDir, "cache-dir", cfg.CacheDir, "directory of the data cache (kept across restarts)")
	f.Var(&cfg.CacheCapacity, "cache-capacity", "most bytes the data cache keeps (e.g. 50GiB)")
	f.IntVar(&cfg.CacheIOConcurrency, "cache-io-concurrency", cfg.CacheIOConcurrency, "object-store requests the data cache has in flight at once")
	f.StringSliceVar(&cfg.AllowedDataRoots, "allowed-data-roots", cfg.AllowedDataRoots, "the only directories and URL prefixes (s3://bucket/prefix) scans may read (default: anywhere)")
	f.BoolVar(&cfg.AllowLocalURLs, "allow-local-urls", cfg.AllowLocalURLs, "let http(s) table locations and the sessions' kapot.s3.endpoint reach loopback and link-local addresses (this host's services, cloud metadata); refused by default")
	f.StringVar(&cfg.S3.Endpoint, "s3-endpoint", cfg.S3.Endpoint, "S3-compatible endpoint URL for s3:// locations (default: AWS, or AWS_ENDPOINT_URL_S3); credentials come from the AWS environment/profile chain or a job's kapot.s3.* properties")
	f.StringVar(&cfg.S3.Region, "s3-region", cfg.S3.Region, "S3 region (default: AWS_REGION or us-east-1)")
	f.BoolVar(&cfg.S3.PathStyle, "s3-path-style", cfg.S3.PathStyle, "address buckets as <endpoint>/<bucket> (most self-hosted S3 servers) instead of <bucket>.<endpoint>")
	security.AddNodeFlags(f, &cfg.Security)
	return withFlagErrors(c)
}

// tuneGC lets the heap grow to percent % of the live heap between
// collections. An executor allocates batch buffers fast over a small live
// heap, so Go's default (100) collects very often: TPC-H SF 1 on a local
// cluster ran 7 % faster at 400. A soft memory limit makes the collector
// run early rather than let the larger target take memory the executor
// was not given: its memory pool (what operators hold before they spill)
// plus 512 MiB for everything else, when the pool is set, else 90 % of the
// machine's (or cgroup's) memory. With a 1 GiB pool at TPC-H SF 10 the
// executors peaked at 1.25 and 1.47 GiB (3.5 GiB with GOGC's slack alone).
// GOGC and GOMEMLIMIT, when set, win. It reports whether it set the GC
// percent (which gcTuner then lowers over a large live heap).
func tuneGC(percent int, pool int64) bool {
	if percent <= 0 || os.Getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(percent)
	if os.Getenv("GOMEMLIMIT") != "" {
		return true
	}
	if total, err := sysinfo.MemoryLimit("/"); err == nil {
		limit := total / 10 * 9
		if pool > 0 {
			limit = min(limit, pool+512<<20)
		}
		debug.SetMemoryLimit(limit)
	}
	return true
}
