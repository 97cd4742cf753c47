// Package session is kapot's one statement path. Every front door — the
// scheduler's ExecuteSQL, its Flight SQL service, `kapot sql` without a
// cluster (and the PostgreSQL wire to come) — hands a statement's text to
// Execute, which parses it once and answers it by kind: catalog
// statements (SHOW TABLES, SHOW FUNCTIONS, DESCRIBE, EXPLAIN) here, table
// and view definitions and writes through a Backend (the cluster's shared
// catalog and warehouse, or a process's own), and a query as a planned
// Query for the front door to run (a job on the cluster, or in process).
//
// Adding a statement is one edit: a case in Execute (and, when it changes
// tables, a Backend method). The front doors only adapt an Answer to
// their wire: inline rows, or the rows of the Query they run.
package session
