//go:build !duckdb

package main

// openDuckDBTPCDS refuses: the default kapot binary does not link DuckDB.
func openDuckDBTPCDS(string) (referenceEngine, error) { return nil, errNoDuckDB() }

// openDuckDBTPCDSOracle refuses like openDuckDBTPCDS.
func openDuckDBTPCDSOracle(string) (referenceEngine, error) { return nil, errNoDuckDB() }
