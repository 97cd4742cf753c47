package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/oracle"
	"github.com/kapot-go/kapot/planner"
	"github.com/kapot-go/kapot/scheduler"
	"github.com/kapot-go/kapot/tpch"
)

// referenceEngine runs the same queries for comparison (DuckDB).
type referenceEngine interface {
	// Rows runs a query and formats its rows as engine.FormatRows does.
	Rows(q string) ([]string, error)
	// Threads is how many threads the engine runs a query with.
	Threads() int
	Close() error
}

// checkReferenceStrength refuses a speed reference that runs with fewer
// threads than the machine has CPUs: the fifth and sixth performance rounds
// compared kapot on every core with DuckDB on one (the oracle's setting).
func checkReferenceStrength(ref referenceEngine, cpus int) error {
	if t := ref.Threads(); t < cpus {
		return fmt.Errorf("the reference engine runs with %d thread(s) on a machine of %d CPUs: timings must compare it at full strength", t, cpus)
	}
	return nil
}

// benchResult is what `kapot tpch bench --out` writes.
type benchResult struct {
	Suite      string  `json:"suite"`
	SF         float64 `json:"sf"`
	Executors  int     `json:"executors"`
	Slots      int     `json:"slots_per_executor"`
	Partitions int     `json:"partitions"`
	// Properties are the --property session properties kapot ran with.
	Properties map[string]string `json:"properties,omitempty"`
	Iterations int               `json:"iterations"`
	CPUs       int               `json:"cpus"`
	// DuckDBThreads is the threads setting DuckDB reported for the timed
	// runs (it must equal CPUs: see checkReferenceStrength).
	DuckDBThreads int           `json:"duckdb_threads,omitempty"`
	Started       time.Time     `json:"started"`
	Queries       []benchQuery  `json:"queries"`
	Total         benchTotal    `json:"total"`
	Executor      []benchMemory `json:"executor_memory"`
}

type benchQuery struct {
	Query        int       `json:"query"`
	Name         string    `json:"name"` // Q1…Q22, E1…E10
	KapotMs      []float64 `json:"kapot_ms"`
	DuckDBMs     []float64 `json:"duckdb_ms,omitempty"`
	KapotMedian  float64   `json:"kapot_median_ms"`
	DuckDBMedian float64   `json:"duckdb_median_ms,omitempty"`
	Ratio        float64   `json:"ratio,omitempty"`
	Rows         int       `json:"rows"`
	ShuffleBytes int64     `json:"shuffle_bytes"`
	Matches      *bool     `json:"matches_duckdb,omitempty"`
	// OracleSettled says the full-strength DuckDB answered otherwise and the
	// single-threaded oracle's answer was compared instead.
	OracleSettled bool   `json:"oracle_settled,omitempty"`
	Error         string `json:"error,omitempty"`
}

type benchTotal struct {
	KapotMs      float64 `json:"kapot_ms"`
	DuckDBMs     float64 `json:"duckdb_ms,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	WorstRatio   float64 `json:"worst_ratio,omitempty"`
	ShuffleBytes int64   `json:"shuffle_bytes"`
}

type benchMemory struct {
	Executor  int   `json:"executor"`
	PeakRSS   int64 `json:"peak_rss_bytes"`
	FinalRSS  int64 `json:"rss_bytes"`
	ProcessID int   `json:"pid"`
}

func tpchBenchCmd() *cobra.Command {
	var (
		sf                                               float64
		dataDir, compare, out, chart, queriesFlag, suite string
		executors, slots, iterations, partitions, port   int
		memoryPool                                       config.ByteSize
		properties                                       []string
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Time the 22 TPC-H queries on a local cluster, optionally against DuckDB on the same files",
		Long: `Start a local cluster (a scheduler and --executors executor processes), run
the TPC-H queries on it and print each query's median time. With --compare
duckdb the same queries run on DuckDB in this process at full strength
(threads = CPUs; the run refuses fewer) over the same Parquet files in the
same run, alternating with kapot after one warm-up run of each whose answers
are compared (a difference is settled by DuckDB on one thread, the
correctness oracle, which is never timed). Prints per-query medians, the
kapot/DuckDB ratio per query and in total, the executors' peak RSS and the
shuffle bytes of each query; --out writes JSON and --chart a PNG bar chart.
Data is generated into --data first when it is not there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case sf <= 0:
				return fmt.Errorf("--sf %v: must be positive: %w", sf, config.ErrInvalid)
			case dataDir == "":
				return fmt.Errorf("--data: required (generated there when missing): %w", config.ErrInvalid)
			case iterations < 1:
				return fmt.Errorf("--iterations %d: must be at least 1: %w", iterations, config.ErrInvalid)
			case compare != "" && compare != "duckdb":
				return fmt.Errorf("--compare %q: only duckdb: %w", compare, config.ErrInvalid)
			case compare == "duckdb" && !haveDuckDB:
				_, err := openDuckDB("")
				return err
			}
			var query func(int) (string, error)
			prefix, count := "Q", 22
			switch suite {
			case "tpch":
				query = tpch.Query
			case "extended":
				query, prefix, count = tpch.ExtendedQuery, "E", tpch.ExtendedQueries
			case "write":
				query, prefix, count = tpch.WriteQuery, "W", tpch.WriteQueries
			default:
				return fmt.Errorf("--suite %q: tpch, extended or write: %w", suite, config.ErrInvalid)
			}
			queries, err := parseQueries(queriesFlag, count)
			if err != nil {
				return err
			}
			if slots == 0 {
				slots = max(1, runtime.NumCPU()/executors)
			}
			if partitions == 0 {
				partitions = executors * slots
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			w := cmd.OutOrStdout()
			if _, err := os.Stat(filepath.Join(dataDir, "lineitem")); err != nil {
				fmt.Fprintf(w, "generating TPC-H SF %g into %s\n", sf, dataDir)
				if err := tpch.Generate(ctx, tpch.Options{SF: sf, Dir: dataDir, Format: "parquet", Partitions: partitions}); err != nil {
					return err
				}
			}
			adminPort, err := freePort()
			if err != nil {
				return err
			}
			admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
			lc, err := startLocal(ctx, localOptions{executors: executors, port: port, slots: slots, sqlPort: -1, adminPort: adminPort,
				policy: "push-staged", logLevel: "warn", memoryPool: memoryPool})
			if lc != nil {
				defer lc.stop()
			}
			if err != nil {
				return err
			}
			cl, err := client.Dial(lc.addr, nil)
			if err != nil {
				return err
			}
			defer cl.Close()
			// The scheduler plans the queries, with the chosen partitions.
			props, err := parseProperties(properties)
			if err != nil {
				return err
			}
			props[planner.PropShufflePartitions] = strconv.Itoa(partitions)
			sess := cl.NewSession(props)
			defs, err := planner.TPCHDefs(dataDir)
			if err != nil {
				return err
			}
			for _, d := range defs {
				if err := sess.Exec(ctx, d.SQL()); err != nil {
					return fmt.Errorf("create table %s: %w", d.Name, err)
				}
			}
			var duck, settle referenceEngine
			res := benchResult{Suite: suite, SF: sf, Executors: executors, Slots: slots, Partitions: partitions, Iterations: iterations, CPUs: runtime.NumCPU(), Started: time.Now().UTC()}
			if compare == "duckdb" {
				if duck, err = openDuckDB(dataDir); err != nil {
					return err
				}
				defer duck.Close()
				if err := checkReferenceStrength(duck, res.CPUs); err != nil {
					return err
				}
				res.DuckDBThreads = duck.Threads()
				if settle, err = openDuckDBOracle(dataDir); err != nil {
					return err
				}
				defer settle.Close()
			}
			for _, kv := range properties {
				if res.Properties == nil {
					res.Properties = map[string]string{}
				}
				k, v, _ := strings.Cut(kv, "=")
				res.Properties[strings.TrimSpace(k)] = v
			}
			against := ""
			if duck != nil {
				against = fmt.Sprintf(", against DuckDB at %d thread(s) on %d CPUs", res.DuckDBThreads, res.CPUs)
			}
			fmt.Fprintf(w, "TPC-H SF %g, %s suite: %d executor(s) x %d slot(s), %d partitions, %d iteration(s)%s\n", sf, suite, executors, slots, partitions, iterations, against)
			for _, n := range queries {
				q := benchQuery{Query: n, Name: fmt.Sprintf("%s%d", prefix, n)}
				if text, err := query(n); err != nil {
					q.Error = err.Error()
				} else {
					runBenchQuery(ctx, sess, admin, duck, settle, text, iterations, &q)
				}
				res.Queries = append(res.Queries, q)
				printBenchQuery(w, q)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
			for i, p := range lc.executors {
				peak, cur := procRSS(p.cmd.Process.Pid)
				res.Executor = append(res.Executor, benchMemory{Executor: i + 1, PeakRSS: peak, FinalRSS: cur, ProcessID: p.cmd.Process.Pid})
			}
			summarize(&res)
			printBenchSummary(w, &res)
			if started := metricValue(admin, `kapot_scheduler_speculative_copies_total{outcome="started"}`); started > 0 {
				fmt.Fprintf(w, "speculative copies: %d started, %d won\n", int(started), int(metricValue(admin, `kapot_scheduler_speculative_copies_total{outcome="won"}`)))
			}
			if out != "" {
				b, _ := json.MarshalIndent(res, "", "  ")
				if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(w, "results: %s\n", out)
				if chart == "" {
					chart = strings.TrimSuffix(out, filepath.Ext(out)) + ".png"
				}
			}
			if chart != "" {
				if err := benchChart(chart, &res); err != nil {
					return err
				}
				fmt.Fprintf(w, "chart: %s\n", chart)
			}
			return nil
		},
	}
	f := c.Flags()
	f.Float64Var(&sf, "sf", 1, "scale factor (data is generated at it when --data lacks it)")
	f.StringVar(&dataDir, "data", "", "directory of the TPC-H Parquet tables (kapot tpch gen)")
	f.IntVar(&executors, "executors", 2, "executor processes")
	f.Var(&memoryPool, "memory-pool-size", "memory pool of each executor (bytes or 4GiB; default: 70% of the machine's or cgroup's memory, divided among the executors): operators spill beyond it")
	f.IntVar(&slots, "concurrent-tasks", 0, "task slots per executor (0: CPUs / executors)")
	f.IntVar(&partitions, "partitions", 0, "partitions of hash exchanges (0: executors x slots)")
	f.IntVar(&iterations, "iterations", 3, "timed runs per query and engine, after one warm-up")
	f.StringVar(&compare, "compare", "", "also run the queries on: duckdb")
	f.StringVar(&out, "out", "", "write the results as JSON to this file (and a chart next to it)")
	f.StringVar(&chart, "chart", "", "write a PNG bar chart of the medians here")
	f.StringVar(&queriesFlag, "queries", "", "comma list of query numbers (default: all of the suite)")
	f.StringVar(&suite, "suite", "tpch", "the queries: tpch (the 22 TPC-H queries), extended (10 window, grouping-set and set-operation queries over the TPC-H tables) or write (4 COPY statements of TPC-H data to Parquet and CSV)")
	f.IntVar(&port, "scheduler-port", 50150, "port of the bench cluster's scheduler")
	f.StringArrayVar(&properties, "property", nil, "session property key=value for kapot's queries (repeatable), e.g. kapot.scan.split_rows=-1")
	return withFlagErrors(c)
}

func parseQueries(s string, count int) ([]int, error) {
	if s == "" {
		out := make([]int, count)
		for i := range out {
			out[i] = i + 1
		}
		return out, nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > count {
			return nil, fmt.Errorf("--queries: %q is not a query number of the suite (1..%d): %w", p, count, config.ErrInvalid)
		}
		out = append(out, n)
	}
	return out, nil
}

// runBenchQuery warms a query up on both engines (comparing the answers;
// settle, the single-threaded oracle, decides a difference), then times it iterations times on each,
// alternating, into q.
func runBenchQuery(ctx context.Context, sess *client.Session, admin string, duck, settle referenceEngine, text string, iterations int, q *benchQuery) {
	// A write's target ({out}) is fresh for every run, and removed after.
	outDir, err := os.MkdirTemp("", "kapot-bench-out-")
	if err != nil {
		q.Error = err.Error()
		return
	}
	defer os.RemoveAll(outDir)
	runs := 0
	target := func(engine string) (string, func()) {
		runs++
		out := filepath.Join(outDir, fmt.Sprintf("%s-%d", engine, runs))
		return strings.ReplaceAll(text, "{out}", out), func() { os.RemoveAll(out) }
	}
	refRows := func(ref referenceEngine, name string) ([]string, time.Duration, error) {
		text, done := target(name)
		defer done()
		start := time.Now()
		rows, err := ref.Rows(text)
		return rows, time.Since(start), err
	}
	duckRows := func() ([]string, time.Duration, error) { return refRows(duck, "duckdb") }
	kapot := func() ([]string, int64, time.Duration, error) {
		text, done := target("kapot")
		defer done()
		start := time.Now()
		job, err := sess.Start(ctx, text)
		if err != nil {
			return nil, 0, 0, err
		}
		rows, err := job.Wait(ctx)
		if err != nil {
			return nil, 0, 0, err
		}
		bs, err := client.ReadAll(rows)
		took := time.Since(start)
		if err != nil {
			return nil, 0, 0, err
		}
		formatted := engine.FormatRows(bs, "|")
		for _, b := range bs {
			b.Release()
		}
		return formatted, shuffleBytes(admin, job.ID), took, nil
	}
	got, _, _, err := kapot()
	if err != nil {
		q.Error = err.Error()
		return
	}
	q.Rows = len(got)
	if duck != nil {
		want, _, err := duckRows()
		match := err == nil && oracle.SameRows(got, want) == nil
		if !match && settle != nil {
			// DuckDB in parallel is not always right (see duck.OpenTPCH).
			want, _, err = refRows(settle, "oracle")
			match = err == nil && oracle.SameRows(got, want) == nil
			q.OracleSettled = true
		}
		q.Matches = &match
	}
	for i := 0; i < iterations; i++ {
		_, shuffle, took, err := kapot()
		if err != nil {
			q.Error = err.Error()
			return
		}
		q.ShuffleBytes = shuffle
		q.KapotMs = append(q.KapotMs, ms(took))
		if duck != nil {
			_, took, err := duckRows()
			if err != nil {
				q.Error = "duckdb: " + err.Error()
				return
			}
			q.DuckDBMs = append(q.DuckDBMs, ms(took))
		}
	}
	q.KapotMedian = median(q.KapotMs)
	if duck != nil {
		q.DuckDBMedian = median(q.DuckDBMs)
		q.Ratio = q.KapotMedian / q.DuckDBMedian
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summarize(r *benchResult) {
	for _, q := range r.Queries {
		if q.Error != "" {
			continue
		}
		r.Total.KapotMs += q.KapotMedian
		r.Total.DuckDBMs += q.DuckDBMedian
		r.Total.ShuffleBytes += q.ShuffleBytes
		r.Total.WorstRatio = max(r.Total.WorstRatio, q.Ratio)
	}
	if r.Total.DuckDBMs > 0 {
		r.Total.Ratio = r.Total.KapotMs / r.Total.DuckDBMs
	}
}

func printBenchQuery(w io.Writer, q benchQuery) {
	if q.Error != "" {
		fmt.Fprintf(w, "%-3s  error: %s\n", q.Name, q.Error)
		return
	}
	line := fmt.Sprintf("%-3s  kapot %9.1f ms", q.Name, q.KapotMedian)
	if q.DuckDBMs != nil {
		line += fmt.Sprintf("  duckdb %8.1f ms  ratio %5.2fx", q.DuckDBMedian, q.Ratio)
		if q.Matches != nil && !*q.Matches {
			line += "  ANSWERS DIFFER"
		}
	}
	fmt.Fprintf(w, "%s  rows %d  shuffle %.1f MiB\n", line, q.Rows, float64(q.ShuffleBytes)/(1<<20))
}

func printBenchSummary(w io.Writer, r *benchResult) {
	fmt.Fprintf(w, "total (sum of medians): kapot %.1f ms", r.Total.KapotMs)
	if r.Total.DuckDBMs > 0 {
		fmt.Fprintf(w, "  duckdb %.1f ms  ratio %.2fx  worst query %.2fx", r.Total.DuckDBMs, r.Total.Ratio, r.Total.WorstRatio)
	}
	fmt.Fprintln(w)
	for _, m := range r.Executor {
		fmt.Fprintf(w, "executor %d: peak RSS %.0f MiB, now %.0f MiB\n", m.Executor, float64(m.PeakRSS)/(1<<20), float64(m.FinalRSS)/(1<<20))
	}
}

// procRSS reads a process's peak and current resident set (VmHWM, VmRSS).
func procRSS(pid int) (peak, cur int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &peak
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &cur
		default:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) >= 2 {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			*dst = kb << 10
		}
	}
	return peak, cur
}

// shuffleBytes sums what every stage of a job wrote (from the scheduler's
// JSON API); 0 when it cannot be read.
func shuffleBytes(admin, jobID string) int64 {
	resp, err := http.Get(admin + "/api/jobs/" + jobID)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var j scheduler.JobView
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		return 0
	}
	var n int64
	for _, st := range j.Stages {
		n += st.ShuffleBytes
	}
	return n
}

// metricValue reads one sample of the scheduler's /metrics (0 when absent).
func metricValue(admin, sample string) float64 {
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
