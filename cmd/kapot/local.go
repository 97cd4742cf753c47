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
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kapot-go/kapot/internal/config"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func localCmd() *cobra.Command {
	var executors, port, slots, sqlPort, adminPort int
	var policy, workDir, logLevel string
	c := &cobra.Command{
		Use:   "local",
		Short: "Start a scheduler and N executors as separate processes on loopback",
		Long: `Start a local cluster: one scheduler and N executors, each its own process,
on 127.0.0.1. Their logs go to <work-dir>/logs. Ctrl-C (or SIGTERM) shuts every
process down gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if executors < 1 {
				return fmt.Errorf("--executors %d: need at least 1: %w", executors, config.ErrInvalid)
			}
			if policy != "push-staged" && policy != "pull-staged" {
				return fmt.Errorf("--policy %q: want push-staged or pull-staged: %w", policy, config.ErrInvalid)
			}
			if workDir == "" {
				d, err := os.MkdirTemp("", "kapot-local-")
				if err != nil {
					return err
				}
				workDir = d
			}
			logs := filepath.Join(workDir, "logs")
			if err := os.MkdirAll(logs, 0o755); err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var procs []*exec.Cmd
			defer func() { stopAll(procs) }()
			start := func(name string, args ...string) (*exec.Cmd, error) {
				f, err := os.Create(filepath.Join(logs, name+".log"))
				if err != nil {
					return nil, err
				}
				p := exec.Command(self, args...)
				p.Stdout, p.Stderr = f, f
				p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
				if err := p.Start(); err != nil {
					return nil, err
				}
				procs = append(procs, p)
				return p, nil
			}
			if _, err := start("scheduler", "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port), "--policy", policy,
				"--log-level", logLevel, "--executor-timeout-seconds", "10", "--finished-job-data-clean-up-delay-seconds", "600",
				"--flight-sql-port", strconv.Itoa(sqlPort), "--admin-port", strconv.Itoa(adminPort)); err != nil {
				return err
			}
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			fmt.Fprintf(cmd.OutOrStdout(), "scheduler  %s  (log %s)\n", addr, filepath.Join(logs, "scheduler.log"))
			if sqlPort > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "flight sql flightsql://127.0.0.1:%d\n", sqlPort)
			}
			if adminPort > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "web ui     http://127.0.0.1:%d/ui/\n", adminPort)
			}
			for i := 0; i < executors; i++ {
				name := fmt.Sprintf("executor-%d", i+1)
				dir := filepath.Join(workDir, name)
				if _, err := start(name, "executor", "--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
					"--scheduler-host", "127.0.0.1", "--scheduler-port", strconv.Itoa(port), "--scheduler-connect-timeout-seconds", "30",
					"--task-scheduling-policy", policy, "--work-dir", dir, "--concurrent-tasks", strconv.Itoa(slots),
					"--executor-heartbeat-interval-seconds", "2", "--log-level", logLevel, "--drain-timeout", "30"); err != nil {
					return err
				}
			}
			infos, err := waitExecutors(ctx, addr, executors, 60*time.Second)
			if err != nil {
				return err
			}
			for _, e := range infos {
				r := e.GetRegistration()
				fmt.Fprintf(cmd.OutOrStdout(), "executor   %s  flight %s:%d  grpc %s:%d  slots %d\n", r.GetId(), r.GetHost(), r.GetFlightPort(), r.GetHost(), r.GetGrpcPort(), r.GetResources().GetTaskSlots())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster ready: %d executor(s), policy %s, work dir %s; Ctrl-C to stop\n", executors, policy, workDir)
			waitCh := make(chan error, len(procs))
			for _, p := range procs {
				go func(p *exec.Cmd) { waitCh <- fmt.Errorf("%s exited: %v", filepath.Base(p.Args[1]), p.Wait()) }(p)
			}
			select {
			case <-ctx.Done():
				fmt.Fprintln(cmd.OutOrStdout(), "stopping cluster")
				return nil
			case err := <-waitCh:
				return err
			}
		},
	}
	f := c.Flags()
	f.IntVar(&executors, "executors", 2, "number of executor processes")
	f.StringVar(&policy, "policy", "push-staged", "task scheduling policy: push-staged or pull-staged")
	f.IntVar(&port, "scheduler-port", 50050, "scheduler port")
	f.StringVar(&workDir, "work-dir", "", "directory for executor data and logs (default: a fresh temporary directory)")
	f.IntVar(&slots, "concurrent-tasks", 2, "task slots per executor")
	f.StringVar(&logLevel, "log-level", "info", "log level of every process")
	f.IntVar(&sqlPort, "flight-sql-port", 50060, "scheduler's Arrow Flight SQL port (-1: off)")
	f.IntVar(&adminPort, "admin-port", 50070, "scheduler's admin port: web UI at /ui/, JSON at /api/, metrics (-1: off)")
	return withFlagErrors(c)
}

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
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
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
