//go:build duckdb

package main

import "github.com/kapot-go/kapot/internal/testkit/oracle/duck"

// openDuckDBTPCDS opens DuckDB at full strength (threads = CPUs) over the
// TPC-DS tables under dir: the speed reference of --suite tpcds.
func openDuckDBTPCDS(dir string) (referenceEngine, error) { return duck.OpenTPCDSReference(dir) }

// openDuckDBTPCDSOracle opens the single-threaded oracle over the same
// TPC-DS files (settles differences, never timed).
func openDuckDBTPCDSOracle(dir string) (referenceEngine, error) { return duck.OpenTPCDS(dir) }
