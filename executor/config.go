package executor

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/cache"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/logging"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Policy names for task scheduling.
const (
	PolicyPushStaged = "push-staged"
	PolicyPullStaged = "pull-staged"
)

// Config is every setting of an executor process. Flag names (kebab-case)
// and defaults follow the kapot/Ballista executor.
type Config struct {
	BindHost                   string
	ExternalHost               string
	Port                       int // Arrow Flight
	GRPCPort                   int
	SchedulerHost              string
	SchedulerPort              int
	SchedulerConnectTimeout    time.Duration
	ConcurrentTasks            int
	TaskSchedulingPolicy       string
	WorkDir                    string
	JobDataTTL                 time.Duration
	JobDataCleanUpInterval     time.Duration
	GRPCMaxDecodingMessageSize config.ByteSize
	GRPCMaxEncodingMessageSize config.ByteSize
	HeartbeatInterval          time.Duration
	DrainTimeout               time.Duration
	// ShuffleCompression compresses shuffle files of sessions that do not
	// choose (kapot.shuffle.compression): none, lz4, zstd or auto (the
	// default: uncompressed, S2 for a task's large output).
	ShuffleCompression string
	// HostLocalReads lets tasks open the shuffle files of executors on the
	// same host (or sharing a volume) straight from disk, after checking the
	// peer's marker file, instead of fetching them over Flight.
	HostLocalReads bool
	// PoisonBuffers overwrites every Arrow buffer the executor frees with
	// garbage (a test and debugging switch: a value kept past its batch's
	// lifetime then reads garbage every time instead of by chance).
	PoisonBuffers        bool
	MaxHeartbeatFailures int
	PollInterval         time.Duration
	Tags                 []string
	// MemoryPoolSize is the bytes operators may hold across batches (sort
	// buffers, hash tables); beyond it they spill or fail with "resources
	// exhausted". 0 means ExposedMemPercentage of the cgroup's or
	// host's memory.
	MemoryPoolSize config.ByteSize
	// OSCores are CPUs never used for tasks (left to the OS and the
	// executor's own services).
	OSCores []int
	// DisableNUMAPinning runs tasks wherever the OS schedules them instead
	// of pinning each slot to its own cores.
	DisableNUMAPinning bool
	// ExposedMemPercentage (50–100) of the machine's or cgroup's memory is
	// the memory pool, unless MemoryPoolSize is set.
	ExposedMemPercentage int
	// OverProvisioning advertises CPUMultiplier × the cores (and as many
	// default slots) and MemoryMultiplier × the memory; it turns pinning
	// off and ignores OSCores.
	OverProvisioning bool
	CPUMultiplier    int
	MemoryMultiplier int
	// AdminPort serves /healthz, /readyz, /metrics and /debug/pprof/ over
	// HTTP; -1 turns the admin server off, 0 picks a free port.
	AdminPort int
	// AdminBindHost is the admin server's address (default: 127.0.0.1;
	// 0.0.0.0 or the pod IP for remote probes and scraping).
	AdminBindHost string
	// AdminToken, when set, is required by every admin endpoint but the
	// health probes (Bearer, or Basic with the token as password).
	AdminToken string
	// EnableNvidiaGPU advertises the node as GPU-capable (a resource and
	// the tag "gpu").
	EnableNvidiaGPU bool

	// DataCachePolicy is "" (or "none") for no cache, or "local-disk-file":
	// object-store reads are cached in pages under CacheDir.
	DataCachePolicy string
	// CacheDir holds the data cache (kept across restarts).
	CacheDir string
	// CacheCapacity is the most bytes the data cache keeps.
	CacheCapacity config.ByteSize
	// CacheIOConcurrency bounds the object-store requests the cache has in
	// flight.
	CacheIOConcurrency int
	// AllowedDataRoots, when set, are the only places scans may read:
	// local directories (symlinks resolved) and URL prefixes
	// (s3://bucket/prefix). A plan naming anything else fails its task.
	AllowedDataRoots []string
	// AllowLocalURLs lets http(s) locations reach loopback and link-local
	// addresses (the node's own services, cloud metadata), refused by
	// default.
	AllowLocalURLs bool
	// S3 is the default S3 endpoint and addressing; credentials come from
	// the AWS SDK's chain (environment, profile) or a job's kapot.s3.*
	// session properties.
	S3 objstore.S3Config

	// Security is cluster authentication (shared secrets) and TLS.
	Security security.Config
	// Log is where and how the process logs (the command builds its logger
	// from it).
	Log logging.Options

	// JobLogs, if set, also writes each task's log lines to
	// <log-dir>/jobs/<job>/<stage>-<partition>.log, removed with the job's
	// data.
	JobLogs *logging.Logs

	// Mem allocates every Arrow buffer of every task; nil means the Go allocator.
	Mem memory.Allocator
	// OnTaskDone, if set, sees every final task status (metrics, tests).
	OnTaskDone func(*kapotv1.TaskStatus)
	// OnTaskStart, if set, sees every task as it starts running (it has a
	// slot); benchmarks time launch → running with it.
	OnTaskStart func(*kapotv1.TaskDefinition)
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		BindHost:                   "0.0.0.0",
		Port:                       50051,
		GRPCPort:                   50052,
		SchedulerHost:              "localhost",
		SchedulerPort:              50050,
		TaskSchedulingPolicy:       PolicyPushStaged,
		Log:                        logging.Options{Level: "info", Format: "json", Prefix: "executor.log", Rotation: "daily", Component: "executor"},
		JobDataTTL:                 7 * 24 * time.Hour,
		JobDataCleanUpInterval:     0,
		GRPCMaxDecodingMessageSize: 16 << 20,
		GRPCMaxEncodingMessageSize: 16 << 20,
		HeartbeatInterval:          5 * time.Second,
		DrainTimeout:               60 * time.Second,
		ShuffleCompression:         "auto",
		HostLocalReads:             true,
		MaxHeartbeatFailures:       60, // 5 minutes at the default interval
		PollInterval:               100 * time.Millisecond,
		ExposedMemPercentage:       70,
		CacheCapacity:              10 << 30,
		CacheIOConcurrency:         16,
		AdminPort:                  -1,
		CPUMultiplier:              1,
		MemoryMultiplier:           1,
	}
}

// Validate reports the first setting out of range, naming its flag.
func (c *Config) Validate() error {
	bad := func(flag string, format string, a ...any) error {
		return fmt.Errorf("--%s: %s: %w", flag, fmt.Sprintf(format, a...), config.ErrInvalid)
	}
	port := func(flag string, p int) error {
		if p < 0 || p > 65535 {
			return bad(flag, "port %d out of range 0..65535", p)
		}
		return nil
	}
	for _, p := range []struct {
		f string
		v int
	}{{"port", c.Port}, {"grpc-port", c.GRPCPort}, {"scheduler-port", c.SchedulerPort}} {
		if err := port(p.f, p.v); err != nil {
			return err
		}
	}
	if c.SchedulerPort == 0 {
		return bad("scheduler-port", "must be set")
	}
	switch {
	case c.SchedulerConnectTimeout < 0:
		return bad("scheduler-connect-timeout-seconds", "negative")
	case c.ConcurrentTasks < 0:
		return bad("concurrent-tasks", "negative")
	case c.TaskSchedulingPolicy != PolicyPushStaged && c.TaskSchedulingPolicy != PolicyPullStaged:
		return bad("task-scheduling-policy", "%q: want push-staged or pull-staged", c.TaskSchedulingPolicy)
	case c.JobDataTTL < 0:
		return bad("job-data-ttl-seconds", "negative")
	case c.JobDataCleanUpInterval < 0:
		return bad("job-data-clean-up-interval-seconds", "negative")
	case c.GRPCMaxDecodingMessageSize < 1<<10 || c.GRPCMaxDecodingMessageSize > 1<<31-1:
		return bad("grpc-max-decoding-message-size", "%d: want 1KiB..2GiB", c.GRPCMaxDecodingMessageSize)
	case c.GRPCMaxEncodingMessageSize < 1<<10 || c.GRPCMaxEncodingMessageSize > 1<<31-1:
		return bad("grpc-max-encoding-message-size", "%d: want 1KiB..2GiB", c.GRPCMaxEncodingMessageSize)
	case c.HeartbeatInterval < time.Second:
		return bad("executor-heartbeat-interval-seconds", "must be at least 1")
	case c.DrainTimeout < 0:
		return bad("drain-timeout", "negative")
	case c.ShuffleCompression != "none" && c.ShuffleCompression != "lz4" && c.ShuffleCompression != "zstd" && c.ShuffleCompression != "auto":
		return bad("shuffle-compression", "%q: want none, lz4, zstd or auto", c.ShuffleCompression)
	case c.MaxHeartbeatFailures < 1:
		return bad("max-heartbeat-failures", "must be at least 1")
	case c.AdminPort < -1 || c.AdminPort > 65535:
		return bad("admin-port", "port %d out of range -1..65535", c.AdminPort)
	case c.ExposedMemPercentage < 50 || c.ExposedMemPercentage > 100:
		return bad("exposed-mem-percentage", "%d: want 50..100", c.ExposedMemPercentage)
	case c.CPUMultiplier < 1 || c.CPUMultiplier > 20:
		return bad("cpu-multiplier", "%d: want 1..20", c.CPUMultiplier)
	case c.MemoryMultiplier < 1 || c.MemoryMultiplier > 20:
		return bad("memory-multiplier", "%d: want 1..20", c.MemoryMultiplier)
	case slices.ContainsFunc(c.OSCores, func(v int) bool { return v < 0 }):
		return bad("os-cores", "negative CPU in %v", c.OSCores)
	case c.MemoryPoolSize < 0 || (c.MemoryPoolSize > 0 && c.MemoryPoolSize < 1<<20):
		return bad("memory-pool-size", "%d: want 0 (default) or at least 1MiB", c.MemoryPoolSize)
	}
	switch c.DataCachePolicy {
	case "", "none":
	case "local-disk-file":
		switch {
		case c.CacheDir == "":
			return bad("cache-dir", "must be set with --data-cache-policy local-disk-file")
		case c.WorkDir != "" && within(c.CacheDir, c.WorkDir):
			return bad("cache-dir", "%s is inside --work-dir %s, whose job data is deleted: keep the cache elsewhere", c.CacheDir, c.WorkDir)
		case c.CacheCapacity < cache.PageSize:
			return bad("cache-capacity", "%d: want at least 1MiB", c.CacheCapacity)
		case c.CacheIOConcurrency < 1 || c.CacheIOConcurrency > 1024:
			return bad("cache-io-concurrency", "%d: want 1..1024", c.CacheIOConcurrency)
		}
	default:
		return bad("data-cache-policy", "%q: want none or local-disk-file", c.DataCachePolicy)
	}
	if err := c.Security.Validate(true); err != nil {
		return fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	if err := c.Log.Validate(); err != nil {
		return fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	return nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
