// Package testkit holds the kits the tests and benchmarks use, apart from
// the product's own internal packages: the DuckDB oracle and row comparison
// (oracle, oracle/duck), the sqllogictest runner (slt), the differential
// query generator (difftest), the S3-compatible test server (s3test) and the
// report writer of the long suites (report). The kapot binary links only
// oracle's row comparison (the bench command).
package testkit
