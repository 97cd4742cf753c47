//go:build duckdb

package main

import "github.com/kapot-go/kapot/internal/testkit/oracle/duck"

// haveDuckDB tells whether --compare duckdb can run.
const haveDuckDB = true

// openDuckDB opens DuckDB at full strength (threads = CPUs) over the TPC-H
// Parquet files under dir: the speed reference. DuckDB is linked only into
// builds with -tags duckdb (make build-bench: bin/kapot-bench).
func openDuckDB(dir string) (referenceEngine, error) { return duck.OpenTPCHReference(dir) }

// openDuckDBOracle opens the single-threaded correctness oracle over the same
// files: it settles answers the full-strength reference gets wrong now and
// then (see duck.OpenTPCH), and is never timed.
func openDuckDBOracle(dir string) (referenceEngine, error) { return duck.OpenTPCH(dir) }
