package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/planner"
)

// Options are a bench run's settings (the flags of `kapot tpch bench`)
// and the pieces the caller supplies.
type Options struct {
	// Suite is tpch, extended, write or tpcds; Queries a comma list of
	// query numbers (empty: all of the suite).
	Suite, Queries string
	// Data, Layout, QueryDir and SF say where the tables are and how they
	// lie (see the command's help); SFSet and LayoutSet tell whether SF and
	// Layout were given rather than defaulted.
	Data, Layout, QueryDir string
	SF                     float64
	SFSet, LayoutSet       bool
	// Executors processes of Slots task slots each (0: CPUs / Executors);
	// Partitions of each hash exchange (0: Executors x Slots).
	Executors, Slots, Partitions int
	// Iterations timed runs per query and engine, after one warm-up.
	Iterations int
	// QueryTimeout cancels a kapot query running longer (0: no limit).
	QueryTimeout time.Duration
	// Compare is "" or "duckdb".
	Compare string
	// Properties are session properties for kapot's queries.
	Properties map[string]string
	// Out is a JSON file for the results; Chart a PNG (default: beside
	// Out, when Draw can draw).
	Out, Chart string

	// Start starts the local cluster the queries run on.
	Start func(ctx context.Context, o ClusterOptions) (Cluster, error)
	// References opens DuckDB over the suite's files; nil in a build
	// without DuckDB, where Compare "duckdb" is refused with NoDuckDB.
	References *References
	// NoDuckDB is the error for Compare "duckdb" without References.
	NoDuckDB error
	// Draw draws a chart of the results (nil: ErrNoChart).
	Draw func(path string, r *Result) error
}

// ClusterOptions are what Run asks of the cluster it starts.
type ClusterOptions struct {
	Executors, Slots int
	// AdminPort is the scheduler's admin (HTTP) port: Run reads each job's
	// shuffle bytes and the speculation counters from it.
	AdminPort int
}

// Cluster is a running local cluster.
type Cluster interface {
	// Addr is the scheduler's gRPC address.
	Addr() string
	// ExecutorPIDs are the executors' process ids (their memory is read
	// at the end of the run).
	ExecutorPIDs() []int
	Stop()
}

// References open DuckDB over a suite's files: at full strength
// (threads = CPUs, timed) and the single-threaded correctness oracle
// (settles differences, never timed), for the TPC-H and TPC-DS tables.
type References struct {
	TPCH, TPCHOracle, TPCDS, TPCDSOracle func(dir string) (Reference, error)
}

// Run prepares the suite's data, starts the cluster, runs the queries
// (and DuckDB's, with Compare), prints a line per query and a summary to
// w, and writes Out and Chart. A query that fails is reported and the run
// goes on.
func Run(ctx context.Context, w io.Writer, o Options) error {
	switch {
	case o.Iterations < 1:
		return fmt.Errorf("--iterations %d: must be at least 1: %w", o.Iterations, config.ErrInvalid)
	case o.QueryTimeout < 0:
		return fmt.Errorf("--query-timeout %s: negative: %w", o.QueryTimeout, config.ErrInvalid)
	case o.Compare != "" && o.Compare != "duckdb":
		return fmt.Errorf("--compare %q: only duckdb: %w", o.Compare, config.ErrInvalid)
	case o.Compare == "duckdb" && o.References == nil:
		return o.NoDuckDB
	case o.Executors < 1:
		return fmt.Errorf("--executors %d: need at least 1: %w", o.Executors, config.ErrInvalid)
	}
	suite, err := suiteByName(o.Suite)
	if err != nil {
		return err
	}
	queries, err := parseQueries(o.Queries, suite.count)
	if err != nil {
		return err
	}
	if o.Slots == 0 {
		o.Slots = max(1, runtime.NumCPU()/o.Executors)
	}
	if o.Partitions == 0 {
		o.Partitions = o.Executors * o.Slots
	}
	data, err := prepareSuiteData(ctx, w, &suite, benchDataOptions{data: o.Data, layout: o.Layout, queryDir: o.QueryDir, sf: o.SF,
		sfSet: o.SFSet, layoutSet: o.LayoutSet})
	if err != nil {
		return err
	}
	adminPort, err := freePort()
	if err != nil {
		return err
	}
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	lc, err := o.Start(ctx, ClusterOptions{Executors: o.Executors, Slots: o.Slots, AdminPort: adminPort})
	if lc != nil {
		defer lc.Stop()
	}
	if err != nil {
		return err
	}
	cl, err := client.Dial(lc.Addr(), nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	// The scheduler plans the queries, with the chosen partitions.
	props := maps.Clone(o.Properties)
	if props == nil {
		props = map[string]string{}
	}
	props[planner.PropShufflePartitions] = strconv.Itoa(o.Partitions)
	run := &benchRun{sess: cl.NewSession(props), admin: admin, iterations: o.Iterations, timeout: o.QueryTimeout, unordered: suite.unordered}
	for _, d := range data.defs {
		if err := run.sess.Exec(ctx, d.SQL()); err != nil {
			return fmt.Errorf("create table %s: %w", d.Name, err)
		}
	}
	res := Result{Suite: suite.name, Benchmark: suite.benchmark, SF: data.sf, Layout: data.layout, Data: data.dir, Files: data.files,
		Executors: o.Executors, Slots: o.Slots, Partitions: o.Partitions, Iterations: o.Iterations, CPUs: runtime.NumCPU(),
		Properties: maps.Clone(o.Properties), Started: time.Now().UTC()}
	if len(res.Properties) == 0 {
		res.Properties = nil
	}
	if o.Compare == "duckdb" {
		open, oracle := o.References.TPCH, o.References.TPCHOracle
		if suite.benchmark == "TPC-DS" {
			open, oracle = o.References.TPCDS, o.References.TPCDSOracle
		}
		if run.duck, err = open(data.dir); err != nil {
			return err
		}
		defer run.duck.Close()
		if err := checkReferenceStrength(run.duck, res.CPUs); err != nil {
			return err
		}
		res.DuckDBThreads = run.duck.Threads()
		if run.settle, err = oracle(data.dir); err != nil {
			return err
		}
		defer run.settle.Close()
	}
	against := ""
	if run.duck != nil {
		against = fmt.Sprintf(", against DuckDB at %d thread(s) on %d CPUs", res.DuckDBThreads, res.CPUs)
	}
	fmt.Fprintf(w, "%s SF %g, %s suite, layout %s: %d executor(s) x %d slot(s), %d partitions, %d iteration(s)%s\n",
		suite.benchmark, res.SF, suite.name, res.Layout, o.Executors, o.Slots, o.Partitions, o.Iterations, against)
	fmt.Fprintf(w, "data %s: %s\n", data.dir, data.about)
	for _, n := range queries {
		q := QueryResult{Query: n, Name: suite.label(n)}
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
	for i, pid := range lc.ExecutorPIDs() {
		peak, cur := procRSS(pid)
		res.Executor = append(res.Executor, ExecutorMemory{Executor: i + 1, PeakRSS: peak, FinalRSS: cur, ProcessID: pid})
	}
	summarize(&res)
	printBenchSummary(w, &res)
	if started := metricValue(admin, `kapot_scheduler_speculative_copies_total{outcome="started"}`); started > 0 {
		fmt.Fprintf(w, "speculative copies: %d started, %d won\n", int(started), int(metricValue(admin, `kapot_scheduler_speculative_copies_total{outcome="won"}`)))
	}
	return writeOutputs(w, &res, o)
}

// writeOutputs writes the JSON (Out) and the chart (Chart, or beside Out
// when the build can draw one).
func writeOutputs(w io.Writer, res *Result, o Options) error {
	chart, implicit := o.Chart, false
	if o.Out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.Out, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "results: %s\n", o.Out)
		if chart == "" {
			chart, implicit = strings.TrimSuffix(o.Out, filepath.Ext(o.Out))+".png", true
		}
	}
	if chart == "" {
		return nil
	}
	err := ErrNoChart
	if o.Draw != nil {
		err = o.Draw(chart, res)
	}
	switch {
	case errors.Is(err, ErrNoChart) && implicit:
		fmt.Fprintf(w, "chart: not drawn (%v)\n", err)
	case err != nil:
		return err
	default:
		fmt.Fprintf(w, "chart: %s\n", chart)
	}
	return nil
}
