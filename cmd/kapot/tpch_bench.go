package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/bench"
	"github.com/kapot-go/kapot/internal/config"
)

// tpchBenchCmd is `kapot tpch bench`: its flags, and the local cluster of
// processes of this binary that package bench runs the queries on.
func tpchBenchCmd() *cobra.Command {
	var (
		o          bench.Options
		port       int
		memoryPool config.ByteSize
		properties []string
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
			props, err := parseProperties(properties)
			if err != nil {
				return err
			}
			o.Properties = props
			o.SFSet, o.LayoutSet = cmd.Flags().Changed("sf"), cmd.Flags().Changed("layout")
			o.References, o.NoDuckDB, o.Draw = duckDBReferences(), errNoDuckDB(), benchChart
			o.Start = func(ctx context.Context, co bench.ClusterOptions) (bench.Cluster, error) {
				lc, err := startLocal(ctx, localOptions{executors: co.Executors, port: port, slots: co.Slots, sqlPort: -1,
					adminPort: co.AdminPort, policy: "push-staged", logLevel: "warn", memoryPool: memoryPool})
				if lc == nil {
					return nil, err
				}
				return benchCluster{lc}, err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return bench.Run(ctx, cmd.OutOrStdout(), o)
		},
	}
	f := c.Flags()
	f.Float64Var(&o.SF, "sf", 1, "scale factor (TPC-H: data is generated at it when missing; TPC-DS: read from the data unless given)")
	f.StringVar(&o.Data, "data", "", "TPC-H: directory whose <layout>/ subdirectory holds the tables (generated when missing); TPC-DS: the tables' directory (default: shared/tpcds/sf0.1, see above)")
	f.StringVar(&o.Layout, "layout", bench.LayoutOneFile, "how the TPC-H tables lie in files: one-file, files=N, unsorted, unsorted,files=N or small-files")
	f.StringVar(&o.QueryDir, "query-dir", "", "TPC-DS: directory of q01.sql … q99.sql (default: queries/ beside --data, else shared/tpcds/queries)")
	f.IntVar(&o.Executors, "executors", 2, "executor processes")
	f.Var(&memoryPool, "memory-pool-size", "memory pool of each executor (bytes or 4GiB; default: 70% of the machine's or cgroup's memory, divided among the executors): operators spill beyond it")
	f.IntVar(&o.Slots, "concurrent-tasks", 0, "task slots per executor (0: CPUs / executors)")
	f.IntVar(&o.Partitions, "partitions", 0, "partitions of hash exchanges (0: executors x slots)")
	f.IntVar(&o.Iterations, "iterations", 3, "timed runs per query and engine, after one warm-up")
	f.DurationVar(&o.QueryTimeout, "query-timeout", 0, "cancel a kapot query running longer and report it as an error (0: no limit)")
	f.StringVar(&o.Compare, "compare", "", "also run the queries on: duckdb")
	f.StringVar(&o.Out, "out", "", "write the results as JSON to this file (and a chart next to it)")
	f.StringVar(&o.Chart, "chart", "", "write a PNG bar chart of the medians here")
	f.StringVar(&o.Queries, "queries", "", "comma list of query numbers (default: all of the suite)")
	f.StringVar(&o.Suite, "suite", "tpch", "the queries: tpch (the 22 TPC-H queries), extended (10 window, grouping-set and set-operation queries over the TPC-H tables), write (4 COPY statements of TPC-H data to Parquet and CSV) or tpcds (the 99 TPC-DS queries)")
	f.IntVar(&port, "scheduler-port", 50150, "port of the bench cluster's scheduler")
	f.StringArrayVar(&properties, "property", nil, "session property key=value for kapot's queries (repeatable), e.g. kapot.scan.split_rows=-1")
	return withFlagErrors(c)
}

// benchCluster is a local cluster as package bench sees it.
type benchCluster struct{ lc *localCluster }

func (c benchCluster) Addr() string { return c.lc.addr }
func (c benchCluster) Stop()        { c.lc.stop() }

func (c benchCluster) ExecutorPIDs() []int {
	c.lc.mu.Lock()
	defer c.lc.mu.Unlock()
	pids := make([]int, len(c.lc.executors))
	for i, p := range c.lc.executors {
		pids[i] = p.cmd.Process.Pid
	}
	return pids
}
