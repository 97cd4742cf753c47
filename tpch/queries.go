package tpch

import (
	"embed"
	"fmt"
)

//go:embed queries/*.sql queries/extended/*.sql queries/write/*.sql
var queryFS embed.FS

// ExtendedQueries is the number of queries of the extended suite.
const ExtendedQueries = 10

// WriteQueries is the number of statements of the write suite.
const WriteQueries = 4

// WriteQuery returns statement n (1..4) of the write suite: COPY of TPC-H
// data to Parquet and CSV, with {out} where the target path goes.
func WriteQuery(n int) (string, error) {
	b, err := queryFS.ReadFile(fmt.Sprintf("queries/write/w%d.sql", n))
	if err != nil {
		return "", fmt.Errorf("tpch: no write query %d (want 1..%d)", n, WriteQueries)
	}
	return string(b), nil
}

// Query returns the text of TPC-H query n (1..22) with the specification's
// validation parameters.
func Query(n int) (string, error) {
	b, err := queryFS.ReadFile(fmt.Sprintf("queries/q%d.sql", n))
	if err != nil {
		return "", fmt.Errorf("tpch: no query %d (want 1..22)", n)
	}
	return string(b), nil
}

// ExtendedQuery returns the text of query n (1..10) of the extended suite:
// window functions (ranking, running and moving aggregates, lag, ntile),
// grouping sets (ROLLUP, CUBE) and set operations (UNION ALL, INTERSECT,
// EXCEPT) over the TPC-H tables, each the kind of query an analyst writes.
func ExtendedQuery(n int) (string, error) {
	b, err := queryFS.ReadFile(fmt.Sprintf("queries/extended/e%d.sql", n))
	if err != nil {
		return "", fmt.Errorf("tpch: no extended query %d (want 1..%d)", n, ExtendedQueries)
	}
	return string(b), nil
}
