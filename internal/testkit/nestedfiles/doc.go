// Package nestedfiles writes the Parquet files of the nested-types tests
// (LIST, STRUCT and MAP columns, one file written by DuckDB and one by
// arrow-go) and holds the queries checked against DuckDB over them, in
// process and on a cluster.
package nestedfiles
