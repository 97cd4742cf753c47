package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/executor"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler"
)

// expectedGroupBy is the documented result of examples/groupby/plan.json.
var expectedGroupBy = []string{
	"east|2|2|1.5|2",
	"north|3|6|1.5|2",
	"south|2|6|1.5|2",
	"west|1|4|3.25|3.25",
}

func testLogger(t testing.TB) zerolog.Logger {
	if testing.Verbose() {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	return zerolog.Nop()
}

type testScheduler struct {
	*scheduler.Scheduler
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func startScheduler(t testing.TB, port int, mod func(*scheduler.Config)) *testScheduler {
	t.Helper()
	cfg := scheduler.DefaultConfig()
	cfg.BindHost, cfg.Port = "127.0.0.1", port
	if mod != nil {
		mod(&cfg)
	}
	s, err := scheduler.New(cfg, testLogger(t).With().Str("c", "scheduler").Logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testScheduler{Scheduler: s, addr: s.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Run(ctx) }()
	t.Cleanup(ts.stop)
	return ts
}

func (s *testScheduler) stop() {
	s.cancel()
	<-s.done
	s.done <- nil // later stops return at once
}

type testExecutor struct {
	*executor.Executor
	mem    *memory.CheckedAllocator
	cancel context.CancelFunc
	done   chan error
	err    error
	exited bool
}

func startExecutor(t testing.TB, schedAddr string, policy string, mod func(*executor.Config)) *testExecutor {
	t.Helper()
	return startExecutorWith(t, schedAddr, policy, nil, mod)
}

// startExecutorWith starts an executor running eng (nil: the Arrow engine).
func startExecutorWith(t testing.TB, schedAddr, policy string, eng executor.Engine, mod func(*executor.Config)) *testExecutor {
	t.Helper()
	host, port := splitAddr(t, schedAddr)
	cfg := executor.DefaultConfig()
	cfg.BindHost, cfg.ExternalHost, cfg.Port, cfg.GRPCPort = "127.0.0.1", "127.0.0.1", 0, 0
	cfg.SchedulerHost, cfg.SchedulerPort = host, port
	cfg.SchedulerConnectTimeout = 10 * time.Second
	cfg.TaskSchedulingPolicy = policy
	cfg.ConcurrentTasks = 1
	cfg.DrainTimeout = 10 * time.Second
	cfg.PollInterval = 10 * time.Millisecond
	cfg.WorkDir = t.TempDir()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	cfg.Mem = alloc.NewPoisoningAllocator(mem)
	if mod != nil {
		mod(&cfg)
	}
	log := testLogger(t).With().Str("c", "executor").Logger()
	if cfg.JobLogs != nil {
		log = cfg.JobLogs.Logger
	}
	e, err := executor.New(cfg, eng, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	te := &testExecutor{Executor: e, mem: mem, cancel: cancel, done: make(chan error, 1)}
	go func() { te.done <- e.Run(ctx) }()
	select {
	case <-e.Ready():
	case err := <-te.done:
		t.Fatalf("executor did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("executor did not register in 20s")
	}
	t.Cleanup(func() {
		te.stop(t)
		mem.AssertSize(t, 0)
	})
	return te
}

// stop shuts the executor down gracefully and returns Run's error.
func (e *testExecutor) stop(t testing.TB) error {
	if !e.exited {
		e.cancel()
		select {
		case e.err = <-e.done:
		case <-time.After(60 * time.Second):
			t.Fatal("executor did not stop in 60s")
		}
		e.exited = true
	}
	return e.err
}

// groupByPlan loads the example plan with its data paths made absolute.
func groupByPlan(t *testing.T) *kapotv1.SubmitJobRequest {
	t.Helper()
	req, err := client.LoadPlanFile("../examples/groupby/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// runJob submits req and returns its result rows sorted, each row's values
// joined by '|'.
func runJob(t *testing.T, addr string, req *kapotv1.SubmitJobRequest) []string {
	t.Helper()
	rows, err := runJobErr(addr, req)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// runJobErr is runJob for goroutines other than the test's: it returns errors
// instead of failing the test. Leaked result buffers are an error too.
func runJobErr(addr string, req *kapotv1.SubmitJobRequest, opts ...client.Option) ([]string, error) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	cl, err := client.Dial(addr, mem, opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, batches, err := cl.Run(ctx, req)
	if err != nil {
		return nil, err
	}
	rows := engine.FormatRows(batches, "|")
	for _, b := range batches {
		b.Release()
	}
	if n := mem.CurrentAlloc(); n != 0 {
		return nil, fmt.Errorf("client leaked %d bytes of result buffers", n)
	}
	slices.Sort(rows)
	return rows, nil
}

func hasStageOutput(dir string, stage int) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*", itoa(stage)+"-*.data"))
	return len(m) > 0
}
