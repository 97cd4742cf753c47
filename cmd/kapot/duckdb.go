//go:build !noduckdb

package main

import "github.com/kapot-go/kapot/internal/oracle"

// openDuckDB opens DuckDB (linked in; build with -tags noduckdb for a
// binary without it) over the TPC-H Parquet files under dir.
func openDuckDB(dir string) (referenceEngine, error) { return oracle.OpenTPCH(dir) }
