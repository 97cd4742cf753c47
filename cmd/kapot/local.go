package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/security"
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
			if o.adminPort > 0 {
				fmt.Fprintf(out, "web ui     http://127.0.0.1:%d/ui/\n", o.adminPort)
			}
			for _, e := range lc.infos {
				r := e.GetRegistration()
				fmt.Fprintf(out, "executor   %s  flight %s:%d  grpc %s:%d  slots %d\n", r.GetId(), r.GetHost(), r.GetFlightPort(), r.GetHost(), r.GetGrpcPort(), r.GetResources().GetTaskSlots())
			}
			fmt.Fprintf(out, "cluster ready: %d executor(s), policy %s, work dir %s; Ctrl-C to stop\n", o.executors, o.policy, lc.workDir)
			waitCh := make(chan error, len(lc.procs))
			for _, p := range lc.procs {
				go func(p *exec.Cmd) { waitCh <- fmt.Errorf("%s exited: %v", filepath.Base(p.Args[1]), p.Wait()) }(p)
			}
			select {
			case <-ctx.Done():
				fmt.Fprintln(out, "stopping cluster")
				return nil
			case err := <-waitCh:
				return err
			}
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
	f.IntVar(&o.adminPort, "admin-port", 50070, "scheduler's admin port: web UI at /ui/, JSON at /api/, metrics (-1: off)")
	return withFlagErrors(c)
}

// localOptions shape a local cluster.
type localOptions struct {
	executors, port, slots, sqlPort, adminPort int
	policy, workDir, logLevel                  string
	// executorArgs are extra flags for every executor.
	executorArgs []string
}

// localCluster is a running local cluster of processes.
type localCluster struct {
	addr, workDir, logs string
	sched               *exec.Cmd
	executors           []*exec.Cmd
	procs               []*exec.Cmd
	infos               []*kapotv1.ExecutorInfo
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
	if o.workDir == "" {
		d, err := os.MkdirTemp("", "kapot-local-")
		if err != nil {
			return nil, err
		}
		o.workDir = d
	}
	lc := &localCluster{workDir: o.workDir, logs: filepath.Join(o.workDir, "logs"), addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port))}
	if err := os.MkdirAll(lc.logs, 0o755); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	start := func(name string, args ...string) (*exec.Cmd, error) {
		f, err := os.Create(filepath.Join(lc.logs, name+".log"))
		if err != nil {
			return nil, err
		}
		p := exec.Command(self, args...)
		p.Stdout, p.Stderr = f, f
		p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := p.Start(); err != nil {
			return nil, err
		}
		lc.procs = append(lc.procs, p)
		return p, nil
	}
	if lc.sched, err = start("scheduler", "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(o.port), "--policy", o.policy,
		"--log-level", o.logLevel, "--finished-job-data-clean-up-delay-seconds", "600",
		"--flight-sql-port", strconv.Itoa(o.sqlPort), "--admin-port", strconv.Itoa(o.adminPort)); err != nil {
		return lc, err
	}
	for i := 0; i < o.executors; i++ {
		name := fmt.Sprintf("executor-%d", i+1)
		dir := filepath.Join(o.workDir, name)
		p, err := start(name, append([]string{"executor", "--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
			"--scheduler-host", "127.0.0.1", "--scheduler-port", strconv.Itoa(o.port), "--scheduler-connect-timeout-seconds", "30",
			"--task-scheduling-policy", o.policy, "--work-dir", dir, "--concurrent-tasks", strconv.Itoa(o.slots),
			"--log-level", o.logLevel, "--drain-timeout", "30"}, o.executorArgs...)...)
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

// stop shuts the cluster down: executors first, the scheduler last.
func (lc *localCluster) stop() { stopAll(lc.procs) }

// stopAll sends SIGTERM to every process (executors first, scheduler last)
// and waits; a process still alive after 40s is killed.
func stopAll(procs []*exec.Cmd) {
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.Process == nil || p.ProcessState != nil {
			continue
		}
		p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			p.Process.Kill()
			<-done
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
