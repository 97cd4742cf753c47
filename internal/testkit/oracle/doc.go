// Package oracle compares kapot's result rows with a reference engine's
// (DuckDB's, from package duck). It is pure Go: the kapot binary uses it
// without linking DuckDB.
package oracle
