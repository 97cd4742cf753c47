package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/internal/sysinfo"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func localCmd() *cobra.Command {
	var o localOptions
	c := &cobra.Command{
		Use:   "local",
		Short: "Start a scheduler and N executors as separate processes on loopback",
		Long: `Start a local cluster: one scheduler and N executors, each its own process,
on 127.0.0.1. Their logs go to <work-dir>/logs. Ctrl-C (or SIGTERM) shuts every
process down gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			lc, err := startLocal(ctx, o)
			if lc != nil {
				defer lc.stop()
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "scheduler  %s  (log %s)\n", lc.addr, filepath.Join(lc.logs, "scheduler.log"))
			if o.sqlPort > 0 {
				fmt.Fprintf(out, "flight sql flightsql://127.0.0.1:%d\n", o.sqlPort)
			}
			if o.pgPort > 0 {
				fmt.Fprintf(out, "postgresql psql \"host=127.0.0.1 port=%d user=kapot dbname=kapot\"\n", o.pgPort)
			}
			if o.adminPort > 0 {
				fmt.Fprintf(out, "web ui     http://127.0.0.1:%d/ui/\n", o.adminPort)
			}
			for _, e := range lc.infos {
				r := e.GetRegistration()
				fmt.Fprintf(out, "executor   %s  flight %s:%d  grpc %s:%d  slots %d\n", r.GetId(), r.GetHost(), r.GetFlightPort(), r.GetHost(), r.GetGrpcPort(), r.GetResources().GetTaskSlots())
			}
			fmt.Fprintf(out, "cluster ready: %d executor(s), policy %s, work dir %s; Ctrl-C to stop\n", o.executors, o.policy, lc.workDir)
			return lc.supervise(ctx, out, o.maxRestarts)
		},
	}
	f := c.Flags()
	f.IntVar(&o.executors, "executors", 2, "number of executor processes")
	f.StringVar(&o.policy, "policy", "push-staged", "task scheduling policy: push-staged or pull-staged")
	f.IntVar(&o.port, "scheduler-port", 50050, "scheduler port")
	f.StringVar(&o.workDir, "work-dir", "", "directory for executor data and logs (default: a fresh temporary directory)")
	f.IntVar(&o.slots, "concurrent-tasks", 2, "task slots per executor")
	f.StringVar(&o.logLevel, "log-level", "info", "log level of every process")
	f.IntVar(&o.sqlPort, "flight-sql-port", 50060, "scheduler's Arrow Flight SQL port (-1: off)")
	f.IntVar(&o.pgPort, "pg-port", 55432, "scheduler's PostgreSQL wire protocol port (-1: off)")
	f.IntVar(&o.adminPort, "admin-port", 50070, "scheduler's admin port: web UI at /ui/, JSON at /api/, metrics (-1: off)")
	f.IntVar(&o.maxRestarts, "max-executor-restarts", 5, "times each executor that dies is replaced before the cluster runs on without it")
	f.Var(&o.memoryPool, "memory-pool-size", "memory pool of each executor (bytes or 4GiB; default: 70% of the machine's or cgroup's memory, divided among the executors)")
	return withFlagErrors(c)
}

// localOptions shape a local cluster.
type localOptions struct {
	executors, port, slots, sqlPort, pgPort, adminPort, maxRestarts int
	policy, workDir, logLevel                                       string
	// memoryPool is each executor's pool; 0 divides 70% of the machine's
	// memory among them.
	memoryPool config.ByteSize
	// executorArgs are extra flags for every executor.
	executorArgs []string
}

// localCluster is a running local cluster of processes.
type localCluster struct {
	addr, workDir, logs string
	self                string
	o                   localOptions
	sched               *localProc
	infos               []*kapotv1.ExecutorInfo
	// exited receives each process once it has exited.
	exited chan *localProc

	mu        sync.Mutex
	executors []*localProc // the current process of each executor
	stopping  bool
}

// localProc is one process of a local cluster.
type localProc struct {
	name string
	slot int // executor index; -1 for the scheduler
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited; err is set then
	err  error
}

// startLocal starts a scheduler and o.executors executors as processes of
// this binary and waits until they have registered. On error the returned
// cluster (if any) still needs stop.
func startLocal(ctx context.Context, o localOptions) (*localCluster, error) {
	if o.executors < 1 {
		return nil, fmt.Errorf("--executors %d: need at least 1: %w", o.executors, config.ErrInvalid)
	}
	if o.policy != "push-staged" && o.policy != "pull-staged" {
		return nil, fmt.Errorf("--policy %q: want push-staged or pull-staged: %w", o.policy, config.ErrInvalid)
	}
	if o.maxRestarts < 0 {
		return nil, fmt.Errorf("--max-executor-restarts %d: negative: %w", o.maxRestarts, config.ErrInvalid)
	}
	if o.memoryPool == 0 {
		total, err := sysinfo.MemoryLimit("/")
		if err != nil {
			return nil, fmt.Errorf("size the executors' memory pools (set --memory-pool-size): %w", err)
		}
		o.memoryPool = config.ByteSize(total * 70 / 100 / int64(o.executors))
	}
	if o.workDir == "" {
		d, err := os.MkdirTemp("", "kapot-local-")
		if err != nil {
			return nil, err
		}
		o.workDir = d
	}
	lc := &localCluster{workDir: o.workDir, logs: filepath.Join(o.workDir, "logs"), addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)), o: o,
		exited: make(chan *localProc, 1+o.executors*(1+o.maxRestarts))}
	if err := os.MkdirAll(lc.logs, 0o755); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	lc.self = self
	if lc.sched, err = lc.start("scheduler", -1, "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(o.port), "--policy", o.policy,
		"--log-level", o.logLevel, "--finished-job-data-clean-up-delay-seconds", "600", "--state-dir", filepath.Join(o.workDir, "state"),
		"--flight-sql-port", strconv.Itoa(o.sqlPort), "--pg-port", strconv.Itoa(o.pgPort), "--admin-port", strconv.Itoa(o.adminPort)); err != nil {
		return lc, err
	}
	for i := 0; i < o.executors; i++ {
		p, err := lc.startExecutor(i)
		if err != nil {
			return lc, err
		}
		lc.executors = append(lc.executors, p)
	}
	if lc.infos, err = waitExecutors(ctx, lc.addr, o.executors, 60*time.Second); err != nil {
		return lc, err
	}
	return lc, nil
}

// start runs this binary with args as process name; its output is
// appended to <logs>/name.log.
func (lc *localCluster) start(name string, slot int, args ...string) (*localProc, error) {
	f, err := os.OpenFile(filepath.Join(lc.logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(lc.self, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &localProc{name: name, slot: slot, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
		lc.exited <- p
	}()
	return p, nil
}

// startExecutor starts executor i on its work dir (a replacement claims
// the dir and removes what the dead one left).
func (lc *localCluster) startExecutor(i int) (*localProc, error) {
	name := fmt.Sprintf("executor-%d", i+1)
	o := lc.o
	return lc.start(name, i, append([]string{"executor", "--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
		"--scheduler-host", "127.0.0.1", "--scheduler-port", strconv.Itoa(o.port), "--scheduler-connect-timeout-seconds", "30",
		"--task-scheduling-policy", o.policy, "--work-dir", filepath.Join(o.workDir, name), "--concurrent-tasks", strconv.Itoa(o.slots),
		"--memory-pool-size", strconv.FormatInt(int64(o.memoryPool), 10),
		"--log-level", o.logLevel, "--drain-timeout", "30"}, o.executorArgs...)...)
}

// supervise keeps the cluster running until ctx ends: an executor that
// dies is replaced (after a short pause growing with each restart, at most
// maxRestarts times per executor); the scheduler's exit ends the cluster.
func (lc *localCluster) supervise(ctx context.Context, out io.Writer, maxRestarts int) error {
	restarts := make([]int, len(lc.executors))
	alive := len(lc.executors)
	for {
		var p *localProc
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "stopping cluster")
			return nil
		case p = <-lc.exited:
		}
		if p.slot < 0 {
			return fmt.Errorf("the scheduler exited (%v); see %s", p.err, filepath.Join(lc.logs, "scheduler.log"))
		}
		log := filepath.Join(lc.logs, p.name+".log")
		if restarts[p.slot] >= maxRestarts {
			alive--
			fmt.Fprintf(out, "%s exited (%v) after %d restarts; not restarted (see %s)\n", p.name, p.err, restarts[p.slot], log)
			if alive == 0 {
				return fmt.Errorf("every executor has exited; see %s", lc.logs)
			}
			continue
		}
		restarts[p.slot]++
		pause := min(time.Duration(1<<(restarts[p.slot]-1))*500*time.Millisecond, 10*time.Second)
		fmt.Fprintf(out, "%s exited (%v); starting a replacement in %s (restart %d of %d; log %s)\n", p.name, p.err, pause, restarts[p.slot], maxRestarts, log)
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "stopping cluster")
			return nil
		case <-time.After(pause):
		}
		lc.mu.Lock()
		if lc.stopping {
			lc.mu.Unlock()
			return nil
		}
		np, err := lc.startExecutor(p.slot)
		if err == nil {
			lc.executors[p.slot] = np
		}
		lc.mu.Unlock()
		if err != nil {
			return fmt.Errorf("replace %s: %w", p.name, err)
		}
		fmt.Fprintf(out, "%s replaced (pid %d)\n", p.name, np.cmd.Process.Pid)
	}
}

// stop shuts the cluster down: executors first, the scheduler last.
func (lc *localCluster) stop() {
	lc.mu.Lock()
	lc.stopping = true
	procs := slices.Clone(lc.executors)
	lc.mu.Unlock()
	if lc.sched != nil {
		procs = append(procs, lc.sched)
	}
	stopAll(procs)
}

// stopAll sends SIGTERM to each process in turn and waits for it; a
// process still alive after 40s is killed.
func stopAll(procs []*localProc) {
	for _, p := range procs {
		select {
		case <-p.done:
			continue
		default:
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(40 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// waitExecutors polls the scheduler until n executors have registered.
func waitExecutors(ctx context.Context, addr string, n int, timeout time.Duration) ([]*kapotv1.ExecutorInfo, error) {
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	// The cluster's processes inherit this environment: with a scheduler
	// secret there, the probe presents it (the operator's credentials).
	sec := security.Config{
		Secrets:     security.Secrets{Scheduler: os.Getenv(config.EnvName("KAPOT_SCHEDULER", "scheduler-secret"))},
		SecretFiles: security.Secrets{Scheduler: os.Getenv(config.EnvName("KAPOT_SCHEDULER", "scheduler-secret-file"))},
	}
	if err := sec.LoadSecretFiles(); err != nil {
		return nil, fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	if sec.Secrets.Scheduler != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(security.Credentials{Node: security.Scheduler, Secret: sec.Secrets.Scheduler}))
	}
	conn, err := grpc.NewClient(addr, dial...)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cl := kapotv1.NewSchedulerServiceClient(conn)
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := cl.ListExecutors(cctx, &kapotv1.ListExecutorsRequest{})
		cancel()
		if err == nil && len(r.GetExecutors()) >= n {
			return r.GetExecutors(), nil
		}
		if c := status.Code(err); c == codes.Unauthenticated || c == codes.PermissionDenied {
			return nil, fmt.Errorf("the scheduler refuses this probe (%v): set KAPOT_SCHEDULER_SCHEDULER_SECRET (or _FILE) for the cluster", err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d executors registered after %s (see the logs)", len(r.GetExecutors()), n, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
