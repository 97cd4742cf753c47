package main

import (
	"encoding/json"
	"errors"
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
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/planner"
	"github.com/kapot-go/kapot/scheduler"
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
// errNoChart: this kapot draws no charts (bin/kapot-bench does).
var errNoChart = errors.New("charts are drawn by bin/kapot-bench (make build-bench), which links the plotting library")

func checkReferenceStrength(ref referenceEngine, cpus int) error {
	if t := ref.Threads(); t < cpus {
		return fmt.Errorf("the reference engine runs with %d thread(s) on a machine of %d CPUs: timings must compare it at full strength", t, cpus)
	}
	return nil
}

// benchResult is what `kapot tpch bench --out` writes.
type benchResult struct {
	Suite string `json:"suite"`
	// Benchmark is whose tables the suite reads: TPC-H or TPC-DS.
	Benchmark string  `json:"benchmark"`
	SF        float64 `json:"sf"`
	// Layout is how the tables lie in files (--layout: one-file, files=N,
	// unsorted, unsorted,files=N, small-files); Files counts each table's.
	Layout     string         `json:"layout"`
	Data       string         `json:"data"`
	Files      map[string]int `json:"files_per_table"`
	Executors  int            `json:"executors"`
	Slots      int            `json:"slots_per_executor"`
	Partitions int            `json:"partitions"`
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
	Name         string    `json:"name"` // Q1…Q22, E1…E10, W1…W4, q01…q99
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
	OracleSettled bool `json:"oracle_settled,omitempty"`
	// Unordered says the rows match only as a multiset: the order differs
	// (TPC-DS: ties under ORDER BY).
	Unordered bool   `json:"matches_unordered,omitempty"`
	Error     string `json:"error,omitempty"`
}

type benchTotal struct {
	KapotMs      float64 `json:"kapot_ms"`
	DuckDBMs     float64 `json:"duckdb_ms,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	WorstRatio   float64 `json:"worst_ratio,omitempty"`
	ShuffleBytes int64   `json:"shuffle_bytes"`
	// Answered counts the queries kapot ran; the totals are over them.
	Answered int `json:"answered"`
	// Failed names the queries kapot (or DuckDB) did not run, Differ those
	// whose answers differ from DuckDB's.
	Failed []string `json:"failed,omitempty"`
	Differ []string `json:"answers_differ,omitempty"`
}

type benchMemory struct {
	Executor  int   `json:"executor"`
	PeakRSS   int64 `json:"peak_rss_bytes"`
	FinalRSS  int64 `json:"rss_bytes"`
	ProcessID int   `json:"pid"`
}

func tpchBenchCmd() *cobra.Command {
	var (
		sf                                                                         float64
		dataDir, compare, out, chart, queriesFlag, suiteName, layoutFlag, queryDir string
		implicit                                                                   bool // chart named after --out
		executors, slots, iterations, partitions, port                             int
		queryTimeout                                                               time.Duration
		memoryPool                                                                 config.ByteSize
		properties                                                                 []string
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Time the TPC-H (or TPC-DS) queries on a local cluster, optionally against DuckDB on the same files",
		Long: `Start a local cluster (a scheduler and --executors executor processes), run
the queries of --suite on it and print each query's median time. With
--compare duckdb the same queries run on DuckDB in this process at full
strength (threads = CPUs; the run refuses fewer) over the same Parquet
files in the same run, alternating with kapot after one warm-up run of
each whose answers are compared (a difference is settled by DuckDB on one
thread, the correctness oracle, which is never timed). Prints per-query
medians, the kapot/DuckDB ratio per query and in total, the executors'
peak RSS and the shuffle bytes of each query; --out writes JSON and
--chart a PNG bar chart. A query that fails is reported and the run goes on.

TPC-H suites (tpch, extended, write) read the tables in one --layout, the
same files for both engines, under --data/<layout> (generated at --sf when
missing):
  one-file            one file per table (the default: what kapot tpch gen
                      writes and what a single export looks like; earlier
                      rounds timed files=executors x slots)
  files=N             N files per table, as kapot tpch gen --partitions N
  unsorted            one file per table, rows in a random order (fixed
                      seed): no key sorted, so neither engine can use order
  unsorted,files=N    the same in N files per table
  small-files         up to 200 small files for each large table (lineitem,
                      orders, partsupp, part, customer)

--suite tpcds runs the 99 TPC-DS queries over the tables of --data (one
directory of Parquet per table, as shared/tpcds/gen.sh SF DIR writes them;
default: $KAPOT_TPCDS_DIR, else shared/tpcds/sf0.1 in the working
directory or a parent, else in this program's directory or a parent),
with the queries q01.sql … q99.sql of --query-dir (default: queries/
beside the data, else shared/tpcds/queries); --sf is read from the data
unless given; --layout does not apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case iterations < 1:
				return fmt.Errorf("--iterations %d: must be at least 1: %w", iterations, config.ErrInvalid)
			case queryTimeout < 0:
				return fmt.Errorf("--query-timeout %s: negative: %w", queryTimeout, config.ErrInvalid)
			case compare != "" && compare != "duckdb":
				return fmt.Errorf("--compare %q: only duckdb: %w", compare, config.ErrInvalid)
			case compare == "duckdb" && !haveDuckDB:
				_, err := openDuckDB("")
				return err
			}
			suite, err := suiteByName(suiteName)
			if err != nil {
				return err
			}
			queries, err := parseQueries(queriesFlag, suite.count)
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
			data, err := prepareSuiteData(ctx, w, &suite, benchDataOptions{data: dataDir, layout: layoutFlag, queryDir: queryDir, sf: sf,
				sfSet: cmd.Flags().Changed("sf"), layoutSet: cmd.Flags().Changed("layout")})
			if err != nil {
				return err
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
			run := &benchRun{sess: cl.NewSession(props), admin: admin, iterations: iterations, timeout: queryTimeout, unordered: suite.unordered}
			for _, d := range data.defs {
				if err := run.sess.Exec(ctx, d.SQL()); err != nil {
					return fmt.Errorf("create table %s: %w", d.Name, err)
				}
			}
			res := benchResult{Suite: suite.name, Benchmark: suite.benchmark, SF: data.sf, Layout: data.layout, Data: data.dir, Files: data.files,
				Executors: executors, Slots: slots, Partitions: partitions, Iterations: iterations, CPUs: runtime.NumCPU(), Started: time.Now().UTC()}
			if compare == "duckdb" {
				if run.duck, err = data.openRef(data.dir); err != nil {
					return err
				}
				defer run.duck.Close()
				if err := checkReferenceStrength(run.duck, res.CPUs); err != nil {
					return err
				}
				res.DuckDBThreads = run.duck.Threads()
				if run.settle, err = data.openOracle(data.dir); err != nil {
					return err
				}
				defer run.settle.Close()
			}
			for _, kv := range properties {
				if res.Properties == nil {
					res.Properties = map[string]string{}
				}
				k, v, _ := strings.Cut(kv, "=")
				res.Properties[strings.TrimSpace(k)] = v
			}
			against := ""
			if run.duck != nil {
				against = fmt.Sprintf(", against DuckDB at %d thread(s) on %d CPUs", res.DuckDBThreads, res.CPUs)
			}
			fmt.Fprintf(w, "%s SF %g, %s suite, layout %s: %d executor(s) x %d slot(s), %d partitions, %d iteration(s)%s\n",
				suite.benchmark, res.SF, suite.name, res.Layout, executors, slots, partitions, iterations, against)
			fmt.Fprintf(w, "data %s: %s\n", data.dir, data.about)
			for _, n := range queries {
				q := benchQuery{Query: n, Name: suite.label(n)}
				if text, err := suite.query(n); err != nil {
					q.Error = err.Error()
				} else {
					run.query(ctx, text, &q)
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
					chart, implicit = strings.TrimSuffix(out, filepath.Ext(out))+".png", true
				}
			}
			if chart != "" {
				err := benchChart(chart, &res)
				switch {
				case errors.Is(err, errNoChart) && implicit:
					fmt.Fprintf(w, "chart: not drawn (%v)\n", err)
				case err != nil:
					return err
				default:
					fmt.Fprintf(w, "chart: %s\n", chart)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.Float64Var(&sf, "sf", 1, "scale factor (TPC-H: data is generated at it when missing; TPC-DS: read from the data unless given)")
	f.StringVar(&dataDir, "data", "", "TPC-H: directory whose <layout>/ subdirectory holds the tables (generated when missing); TPC-DS: the tables' directory (default: shared/tpcds/sf0.1, see above)")
	f.StringVar(&layoutFlag, "layout", layoutOneFile, "how the TPC-H tables lie in files: one-file, files=N, unsorted, unsorted,files=N or small-files")
	f.StringVar(&queryDir, "query-dir", "", "TPC-DS: directory of q01.sql … q99.sql (default: queries/ beside --data, else shared/tpcds/queries)")
	f.IntVar(&executors, "executors", 2, "executor processes")
	f.Var(&memoryPool, "memory-pool-size", "memory pool of each executor (bytes or 4GiB; default: 70% of the machine's or cgroup's memory, divided among the executors): operators spill beyond it")
	f.IntVar(&slots, "concurrent-tasks", 0, "task slots per executor (0: CPUs / executors)")
	f.IntVar(&partitions, "partitions", 0, "partitions of hash exchanges (0: executors x slots)")
	f.IntVar(&iterations, "iterations", 3, "timed runs per query and engine, after one warm-up")
	f.DurationVar(&queryTimeout, "query-timeout", 0, "cancel a kapot query running longer and report it as an error (0: no limit)")
	f.StringVar(&compare, "compare", "", "also run the queries on: duckdb")
	f.StringVar(&out, "out", "", "write the results as JSON to this file (and a chart next to it)")
	f.StringVar(&chart, "chart", "", "write a PNG bar chart of the medians here")
	f.StringVar(&queriesFlag, "queries", "", "comma list of query numbers (default: all of the suite)")
	f.StringVar(&suiteName, "suite", "tpch", "the queries: tpch (the 22 TPC-H queries), extended (10 window, grouping-set and set-operation queries over the TPC-H tables), write (4 COPY statements of TPC-H data to Parquet and CSV) or tpcds (the 99 TPC-DS queries)")
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
		if q.Matches != nil && !*q.Matches {
			r.Total.Differ = append(r.Total.Differ, q.Name)
		}
		if q.Error != "" {
			r.Total.Failed = append(r.Total.Failed, q.Name)
			continue
		}
		r.Total.Answered++
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
		} else if q.Unordered {
			line += "  (same rows, another order)"
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
	fmt.Fprintf(w, "answered %d of %d queries", r.Total.Answered, len(r.Queries))
	if len(r.Total.Failed) > 0 {
		fmt.Fprintf(w, "; failed: %s", strings.Join(r.Total.Failed, " "))
	}
	if len(r.Total.Differ) > 0 {
		fmt.Fprintf(w, "; answers differ from DuckDB: %s", strings.Join(r.Total.Differ, " "))
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
