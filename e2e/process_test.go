package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// kapotBin builds the kapot binary (as make build does) once per test
// binary run.
func kapotBin(t testing.TB) string { return kapotBuild(t, &defaultBin) }

// kapotBenchBin builds kapot with DuckDB linked in (as make build-bench
// does) once per test binary run.
func kapotBenchBin(t testing.TB) string { return kapotBuild(t, &benchBin) }

// builtBin is a binary the tests build once, under binDir.
type builtBin struct {
	once sync.Once
	name string
	tags string
	pkg  string // default ../cmd/kapot
	path string
	err  error
}

var (
	defaultBin = builtBin{name: "kapot"}
	benchBin   = builtBin{name: "kapot-bench", tags: "duckdb"}
	etcdBin    = builtBin{name: "etcdmember", pkg: "./etcdmember"}
	// binDir holds the binaries; TestMain removes it.
	binDir     string
	binDirOnce sync.Once
)

func kapotBuild(t testing.TB, b *builtBin) string {
	t.Helper()
	b.once.Do(func() {
		binDirOnce.Do(func() { binDir, b.err = os.MkdirTemp("", "kapot-e2e-bin-") })
		if b.err != nil || binDir == "" {
			b.err = fmt.Errorf("temp dir for binaries: %v", b.err)
			return
		}
		b.path = filepath.Join(binDir, b.name)
		pkg := b.pkg
		if pkg == "" {
			pkg = "../cmd/kapot"
		}
		out, err := exec.Command("go", "build", "-tags", b.tags, "-o", b.path, pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// TestMain removes the binaries the tests built and the shared TPC-H
// data (failing the run if a test changed it).
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if err := checkTPCHSets(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		code = 1
	}
	os.Exit(code)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// restartPort returns a free port below Linux's ephemeral range (32768
// and up), for a server that a test stops and starts again on the same
// port: a port from freePort is one the OS may hand to any other socket
// (another test's listener on :0, an outgoing connection) in between, and
// TestSchedulerRestartKeepsJobs's scheduler once found its port taken and
// its executors talking to another test's server.
func restartPort(t testing.TB) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc runs bin/kapot with args; the test stops it (SIGKILL) if it is
// still running at the end.
func startProc(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return startBinProc(t, kapotBin(t), name, args...)
}

// startBinProc runs bin with args, as startProc.
func startBinProc(t testing.TB, bin, name string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Every executor the tests start poisons the buffers it frees: a value
	// kept past its batch's lifetime fails a test every time.
	cmd.Env = append(os.Environ(), "KAPOT_EXECUTOR_POISON_BUFFERS=true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- %s log:\n%s", name, tail(string(b), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("%s still running after %s", p.cmd.Args[1], d)
		return nil
	}
}

type procCluster struct {
	addr      string
	sched     *proc
	executors []*proc
	workDirs  []string
	ids       []string
	ctl       kapotv1.SchedulerServiceClient
}

// startProcCluster starts a scheduler and n executors (one task slot each)
// as processes; extra flags go to every executor and win over the defaults.
func startProcCluster(t testing.TB, n int, policy string, extra ...string) *procCluster {
	t.Helper()
	port := freePort(t)
	c := &procCluster{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	c.sched = startProc(t, "scheduler", "scheduler", "--bind-host", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "debug")
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		c.workDirs = append(c.workDirs, dir)
		args := append([]string{"executor",
			"--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
			"--scheduler-host", "127.0.0.1", "--scheduler-port", strconv.Itoa(port), "--scheduler-connect-timeout-seconds", "20",
			"--task-scheduling-policy", policy, "--concurrent-tasks", "1", "--work-dir", dir,
			"--drain-timeout", "30", "--log-level", "debug"}, extra...)
		c.executors = append(c.executors, startProc(t, fmt.Sprintf("executor-%d", i), args...))
	}
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.ctl = kapotv1.NewSchedulerServiceClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := c.ctl.ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
		if err == nil && len(r.GetExecutors()) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not start: %v %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Map process i to its executor id through its log.
	for i, e := range c.executors {
		c.ids = append(c.ids, executorIDFromLog(t, e.log))
		_ = i
	}
	return c
}

func executorIDFromLog(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if i := strings.Index(sc.Text(), `"executor_id":"`); i >= 0 {
			rest := sc.Text()[i+len(`"executor_id":"`):]
			return rest[:strings.IndexByte(rest, '"')]
		}
	}
	t.Fatalf("no executor id in %s", path)
	return ""
}

// waitRunning waits until the scheduler shows executor id running a task.
func (c *procCluster) waitRunning(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r, err := c.ctl.ListExecutors(context.Background(), &kapotv1.ListExecutorsRequest{})
		if err == nil {
			for _, e := range r.GetExecutors() {
				if e.GetRegistration().GetId() == id && e.GetRunningTasks() > 0 {
					return
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("executor %s never ran a task", id)
}

// bigJob writes files CSV files of rows rows each and returns a two-stage
// group-by over them with its exact expected result.
func bigJob(t *testing.T, files, rows int) (*kapotv1.SubmitJobRequest, []string) {
	t.Helper()
	dir := t.TempDir()
	regions := []string{"east", "north", "south", "west"}
	count := map[string]int64{}
	sum := map[string]int64{}
	var groups []string
	for f := 0; f < files; f++ {
		path := filepath.Join(dir, fmt.Sprintf("part-%d.csv", f))
		var sb strings.Builder
		sb.WriteString("region,product,qty,price\n")
		for i := 0; i < rows; i++ {
			r := regions[(i+f)%4]
			q := int64((i * 7) % 13)
			count[r]++
			sum[r] += q
			fmt.Fprintf(&sb, "%s,p%d,%d,1.5\n", r, i%5, q)
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		groups = append(groups, path)
	}
	req := groupByPlan(t)
	scan := req.Plan.GetHashAggregate().GetInput().GetExchange().GetInput().GetHashAggregate().GetInput().GetCsvScan()
	scan.FileGroups = nil
	for _, g := range groups {
		scan.FileGroups = append(scan.FileGroups, &kapotv1.FileGroup{Paths: []string{g}})
	}
	var want []string
	for _, r := range regions {
		want = append(want, fmt.Sprintf("%s|%d|%d|1.5|1.5", r, count[r], sum[r]))
	}
	return req, want
}

func TestExecutorSIGKILLMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 2, "push-staged")
	req, want := bigJob(t, 6, 150000)
	errc := make(chan error, 1)
	var got []string
	go func() {
		var err error
		got, err = runJobErr(c.addr, req)
		errc <- err
	}()
	c.waitRunning(t, c.ids[0])
	c.executors[0].cmd.Process.Signal(syscall.SIGKILL)
	c.executors[0].wait(t, 10*time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestExecutorSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	c := startProcCluster(t, 2, "push-staged")
	req, want := bigJob(t, 6, 150000)
	errc := make(chan error, 1)
	var got []string
	go func() {
		var err error
		got, err = runJobErr(c.addr, req)
		errc <- err
	}()
	waitLog(t, c.executors[0].log, "task started")
	c.executors[0].cmd.Process.Signal(syscall.SIGTERM)
	if err := c.executors[0].wait(t, 40*time.Second); err != nil {
		t.Fatalf("executor exit after SIGTERM: %v, want exit 0", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	log, _ := os.ReadFile(c.executors[0].log)
	for _, must := range []string{"TERMINATING", "executor stopped"} {
		if !strings.Contains(string(log), must) {
			t.Errorf("executor log lacks %q", must)
		}
	}
	if strings.Contains(string(log), "cancelling running tasks") {
		t.Error("running tasks were cancelled instead of drained")
	}
	if !strings.Contains(string(log), "task finished") {
		t.Error("no task finished on the terminated executor")
	}
	entries, _ := os.ReadDir(c.workDirs[0])
	if len(entries) != 0 {
		t.Errorf("job data left after shutdown: %v", entries)
	}
}

// waitLog waits until the log file at path contains s.
func waitLog(t testing.TB, path, s string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), s) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%q never appeared in %s", s, path)
}

func TestBadFlagExitsTwo(t *testing.T) {
	for _, args := range [][]string{
		{"executor", "--grpc-port", "notaport"},
		{"executor", "--task-scheduling-policy", "sideways"},
		{"executor", "--log-rotation-policy", "weekly"},
		{"scheduler", "--policy", "nope"},
	} {
		cmd := exec.Command(kapotBin(t), args...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%v: exit %v, want 2\n%s", args, err, out)
			continue
		}
		if !strings.Contains(string(out), strings.TrimPrefix(args[1], "")) {
			t.Errorf("%v: message does not name the flag: %s", args, out)
		}
	}
	cmd := exec.Command(kapotBin(t), "executor", "--scheduler-port", "1")
	cmd.Env = append(os.Environ(), "KAPOT_EXECUTOR_CONCURRENT_TASKS=-3")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "--concurrent-tasks") {
		t.Errorf("env value: %v %s", err, out)
	}
}
