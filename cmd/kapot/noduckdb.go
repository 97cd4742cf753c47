//go:build !duckdb

package main

import (
	"errors"

	"github.com/kapot-go/kapot/bench"
	"github.com/kapot-go/kapot/internal/config"
)

// haveDuckDB tells whether --compare duckdb can run.
const haveDuckDB = false

// duckDBReferences is nil: the default kapot binary does not link DuckDB.
func duckDBReferences() *bench.References { return nil }

// errNoDuckDB is the refusal of --compare duckdb in this build.
func errNoDuckDB() error {
	return errors.Join(errors.New("--compare duckdb: this kapot is built without DuckDB; use bin/kapot-bench (make build-bench, or go build -tags duckdb ./cmd/kapot)"), config.ErrInvalid)
}

// benchChart refuses: charts are drawn by bin/kapot-bench only (the
// plotting library stays out of the kapot binary).
func benchChart(string, *bench.Result) error { return bench.ErrNoChart }
