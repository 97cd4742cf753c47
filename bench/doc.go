// Package bench is the benchmark harness behind `kapot tpch bench`: it
// prepares a suite's tables in a chosen layout (TPC-H generated once per
// scale factor and layout; TPC-DS as shared/tpcds/gen.sh writes it), runs
// the suite's queries on a local cluster and, when asked, on DuckDB at full
// strength over the same files in the same run, checks the answers, and
// reports per-query medians, ratios, shuffle bytes and the executors' peak
// memory as text and JSON.
//
// The caller supplies what links heavy libraries or starts processes: the
// cluster (Options.Start), the DuckDB references (Options.References, only
// in builds with -tags duckdb) and the chart (Options.Chart, package
// bench/chart), so the kapot binary links neither DuckDB nor the plotting
// library.
package bench
