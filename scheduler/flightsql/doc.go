// Package flightsql is the scheduler's Arrow Flight SQL endpoint: JDBC,
// ADBC, the Go database/sql driver and other Flight SQL clients run SQL
// through it. It holds no cluster state of its own; it works over a small
// Jobs interface the scheduler implements (run a statement, submit a
// planned query, wait, cancel, recover a lost result partition), reads the
// shared catalog for GetTables, and streams result partitions from the
// executors (proxy mode) with the same reader as the Go client
// (client.Rows) or points clients at them (direct mode). Auth guards the
// endpoint with the cluster's client secret (Basic or a bearer token from
// a handshake); the scheduler secret marks an operator.
package flightsql
