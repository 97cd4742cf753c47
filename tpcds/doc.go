// Package tpcds finds the TPC-DS tables and the 99 queries that the
// workspace keeps beside the repository (shared/tpcds: Parquet data made
// by its gen.sh, one directory per table, and queries/q01.sql … q99.sql)
// for `kapot tpch bench --suite tpcds` and the tests. It holds no TPC text:
// the kit and queries are the TPC's, read from disk, never copied in.
package tpcds
