//go:build !duckdb

package main

import (
	"errors"

	"github.com/kapot-go/kapot/internal/config"
)

// haveDuckDB tells whether --compare duckdb can run.
const haveDuckDB = false

func errNoDuckDB() error {
	return errors.Join(errors.New("--compare duckdb: this kapot is built without DuckDB; use bin/kapot-bench (make build-bench, or go build -tags duckdb ./cmd/kapot)"), config.ErrInvalid)
}

// openDuckDB refuses: the default kapot binary does not link DuckDB.
func openDuckDB(string) (referenceEngine, error) { return nil, errNoDuckDB() }

// openDuckDBOracle refuses like openDuckDB.
func openDuckDBOracle(string) (referenceEngine, error) { return nil, errNoDuckDB() }
