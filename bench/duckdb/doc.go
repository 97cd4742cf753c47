//go:build duckdb

// Package duckdb runs the same operator-level queries on kapot's engine and
// on DuckDB over the same Parquet files, in the same run, single-threaded on
// both sides (micro benchmarks; the cluster-level comparison at full
// strength is `kapot tpch bench --compare duckdb`). It builds only with
// -tags duckdb, like every other user of DuckDB's cgo bindings; run it with
// `make bench-duckdb`.
package duckdb
