package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/executor"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Micro benchmarks of the control path (go test -bench . ./e2e, or make
// bench): each reports p50 and p99 of its latency over the iterations.

// oneRowPlan is a one-stage plan: a single literal row.
func oneRowPlan() *kapotv1.PhysicalPlanNode {
	i64 := &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: &kapotv1.ValuesNode{
		Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "x", Type: i64}}},
		Rows:   []*kapotv1.ValuesRow{{Values: []*kapotv1.ScalarValue{{Type: i64, Value: &kapotv1.ScalarValue_IntValue{IntValue: 1}}}}},
	}}}
}

// reportLatency reports the p50 and p99 of ds as metrics of b.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // the wall time per op says nothing here
}

// BenchmarkTrivialJob: submit a one-stage, one-row job, wait for it and
// fetch the row, end to end through the scheduler and an executor.
func BenchmarkTrivialJob(b *testing.B) {
	for _, policy := range []string{"push-staged", "pull-staged"} {
		b.Run(policy, func(b *testing.B) {
			s := startScheduler(b, 0, nil)
			startExecutor(b, s.addr, policy, func(c *executor.Config) { c.PollInterval = time.Millisecond })
			req := &kapotv1.SubmitJobRequest{Plan: oneRowPlan(), JobName: "trivial"}
			runJobErr(s.addr, req) // warm the connections
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				if got, err := runJobErr(s.addr, req); err != nil || len(got) != 1 {
					b.Fatalf("trivial job: %v %v", got, err)
				}
				ds = append(ds, time.Since(start))
			}
			reportLatency(b, ds)
		})
	}
}

// BenchmarkPushLaunch: a LaunchTask RPC to an executor (what the scheduler
// sends in push mode) until the task runs on its slot.
func BenchmarkPushLaunch(b *testing.B) {
	started := make(chan uint64, 1)
	s := startScheduler(b, 0, nil)
	e := startExecutor(b, s.addr, "push-staged", func(c *executor.Config) {
		c.OnTaskStart = func(d *kapotv1.TaskDefinition) { started <- d.GetTaskId() }
	})
	conn, err := grpc.NewClient(e.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	exec := kapotv1.NewExecutorServiceClient(conn)
	plan, err := proto.Marshal(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleWriter{ShuffleWriter: &kapotv1.ShuffleWriterNode{
		JobId: "benchlaunch", StageId: 1, Input: oneRowPlan()}}})
	if err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	id := uint64(1 << 40)
	launch := func() time.Duration {
		id++
		start := time.Now()
		if _, err := exec.LaunchTask(context.Background(), &kapotv1.LaunchTaskRequest{Tasks: []*kapotv1.TaskDefinition{{
			TaskId: id, JobId: "benchlaunch", StageId: 1, Plan: plan}}}); err != nil {
			b.Fatal(err)
		}
		for got := <-started; got != id; got = <-started {
		}
		return time.Since(start)
	}
	launch()
	for b.Loop() {
		ds = append(ds, launch())
		time.Sleep(2 * time.Millisecond) // let the one-row task finish and free the slot
	}
	reportLatency(b, ds)
}

// BenchmarkExecutorStart: an executor process from exec to registered
// with the scheduler, and its resident memory once idle: all of it
// (idle-rss-MiB) and its private part (idle-anon-MiB, without the pages of
// the executable file, which every kapot process on the host shares).
func BenchmarkExecutorStart(b *testing.B) {
	s := startScheduler(b, 0, nil)
	_, port := splitAddr(b, s.addr)
	kapotBin(b) // built before the clock runs (the first call builds it)
	var ds []time.Duration
	var rss, anon []float64
	for b.Loop() {
		start := time.Now()
		p := startProc(b, "executor", "executor", "--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--port", "0", "--grpc-port", "0",
			"--scheduler-host", "127.0.0.1", "--scheduler-port", strconv.Itoa(port), "--work-dir", b.TempDir(), "--concurrent-tasks", "1", "--log-level", "info")
		waitLog(b, p.log, "registered with scheduler")
		ds = append(ds, time.Since(start))
		time.Sleep(200 * time.Millisecond) // idle
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
			for _, line := range strings.Split(string(st), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 {
					continue
				}
				kb, _ := strconv.ParseFloat(f[1], 64)
				switch f[0] {
				case "VmRSS:":
					rss = append(rss, kb/1024)
				case "RssAnon:":
					// Private memory; the rest of RSS is the executable's
					// pages, shared with every process running it.
					anon = append(anon, kb/1024)
				}
			}
		}
		p.cmd.Process.Kill()
		<-p.done
	}
	reportLatency(b, ds)
	if len(rss) > 0 {
		slices.Sort(rss)
		b.ReportMetric(rss[len(rss)/2], "idle-rss-MiB")
	}
	if len(anon) > 0 {
		slices.Sort(anon)
		b.ReportMetric(anon[len(anon)/2], "idle-anon-MiB")
	}
}
