//go:build !noduckdb

// Package duck answers TPC-H and TPC-DS queries with DuckDB over the same
// Parquet files kapot reads: the correctness oracle of the tests (rows are
// compared with oracle.SameRows). Answers are computed in the test run,
// never stored. It links DuckDB (cgo): the kapot binary imports it only
// when built with -tags duckdb.
package duck
