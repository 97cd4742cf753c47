package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kapot-go/kapot/internal/sysinfo"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// childPids lists the child processes of pid whose command line contains
// word.
func childPids(t *testing.T, pid int, word string) []int {
	t.Helper()
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	var out []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			c, err := strconv.Atoi(s)
			if err != nil {
				continue
			}
			cmdline, _ := os.ReadFile(filepath.Join("/proc", s, "cmdline"))
			if strings.Contains(string(cmdline), word) {
				out = append(out, c)
			}
		}
	}
	return out
}

// TestLocalClusterReplacesDeadExecutor: `kapot local --executors 3` with
// one executor SIGKILLed logs it, starts a replacement and keeps serving:
// the next query succeeds and three executors are live again. The
// executors share the machine's memory: each pool is 70 % of it divided
// by three.
func TestLocalClusterReplacesDeadExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	port := freePort(t)
	local := startProc(t, "local", "local", "--executors", "3", "--concurrent-tasks", "1", "--scheduler-port", strconv.Itoa(port),
		"--flight-sql-port", "-1", "--pg-port", "-1", "--admin-port", "-1", "--work-dir", filepath.Join(dir, "work"))
	waitLog(t, local.log, "cluster ready")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctl := kapotv1.NewSchedulerServiceClient(conn)
	live := func() []*kapotv1.ExecutorInfo {
		r, err := ctl.ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetExecutors()
	}
	total, err := sysinfo.MemoryLimit("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range live() {
		if got, want := e.GetRegistration().GetResources().GetMemoryBytes(), uint64(total*70/100/3); got != want {
			t.Errorf("executor memory pool %d bytes, want %d (70%% of %d shared by 3)", got, want, total)
		}
	}

	execs := childPids(t, local.cmd.Process.Pid, "executor")
	if len(execs) != 3 {
		t.Fatalf("kapot local runs %d executor processes, want 3", len(execs))
	}
	syscall.Kill(execs[0], syscall.SIGKILL)
	waitLog(t, local.log, "replaced (pid")
	if log := readFile(t, local.log); !strings.Contains(log, "exited (signal: killed); starting a replacement") {
		t.Fatalf("kapot local did not say an executor died:\n%s", log)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(live()) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d executors listed a minute after the replacement, want 3", len(live()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := exec.Command(kapotBin(t), "submit", "--scheduler", addr, "--plan", "../examples/groupby/plan.json", "--format", "csv").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "east,2,2,1.5,2") {
		t.Fatalf("query after the replacement: %v\n%s", err, out)
	}
	local.cmd.Process.Signal(os.Interrupt)
	if err := local.wait(t, 60*time.Second); err != nil {
		t.Fatalf("kapot local after Ctrl-C: %v", err)
	}
	if left := childPids(t, local.cmd.Process.Pid, "executor"); len(left) != 0 {
		t.Fatalf("executors left running after Ctrl-C: %v", left)
	}
}
