//go:build !duckdb

package main

// openDuckDBTPCDS refuses: the default kapot binary does not link DuckDB.
func openDuckDBTPCDS(string) (referenceEngine, error) { return nil, errNoDuckDB() }

// openDuckDBTPCDSOracle refuses like openDuckDBTPCDS.
func openDuckDBTPCDSOracle(string) (referenceEngine, error) { return nil, errNoDuckDB() }

// benchChart refuses: charts are drawn by bin/kapot-bench only (the
// plotting library stays out of the kapot binary).
func benchChart(string, *benchResult) error { return errNoChart }
