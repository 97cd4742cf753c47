//go:build duckdb

package main

import "github.com/kapot-go/kapot/internal/oracle/duck"

// haveDuckDB tells whether --compare duckdb can run.
const haveDuckDB = true

// openDuckDB opens DuckDB over the TPC-H Parquet files under dir. DuckDB is
// linked only into builds with -tags duckdb (make build-bench: bin/kapot-bench).
func openDuckDB(dir string) (referenceEngine, error) { return duck.OpenTPCH(dir) }
