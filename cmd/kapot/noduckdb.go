//go:build noduckdb

package main

import "errors"

func openDuckDB(string) (referenceEngine, error) {
	return nil, errors.New("--compare duckdb: this kapot was built with -tags noduckdb")
}
