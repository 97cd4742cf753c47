//go:build duckdb

package main

import (
	"github.com/kapot-go/kapot/bench"
	"github.com/kapot-go/kapot/bench/chart"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
)

// haveDuckDB tells whether --compare duckdb can run.
const haveDuckDB = true

// duckDBReferences opens DuckDB over a bench suite's Parquet files: at
// full strength (threads = CPUs), the speed reference, and the
// single-threaded correctness oracle, which settles answers the
// full-strength reference gets wrong now and then (see duck.OpenTPCH) and
// is never timed. DuckDB is linked only into builds with -tags duckdb
// (make build-bench: bin/kapot-bench).
func duckDBReferences() *bench.References {
	return &bench.References{
		TPCH:        func(dir string) (bench.Reference, error) { return duck.OpenTPCHReference(dir) },
		TPCHOracle:  func(dir string) (bench.Reference, error) { return duck.OpenTPCH(dir) },
		TPCDS:       func(dir string) (bench.Reference, error) { return duck.OpenTPCDSReference(dir) },
		TPCDSOracle: func(dir string) (bench.Reference, error) { return duck.OpenTPCDS(dir) },
	}
}

// errNoDuckDB is nil: this build links DuckDB.
func errNoDuckDB() error { return nil }

// benchChart draws a bench run's chart (only bin/kapot-bench links the
// plotting library).
func benchChart(path string, r *bench.Result) error { return chart.Draw(path, r) }
