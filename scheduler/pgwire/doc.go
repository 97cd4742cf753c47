// Package pgwire is the scheduler's PostgreSQL front door: psql, pgx,
// psycopg, node-postgres and the tools built on them connect to the
// cluster with the PostgreSQL wire protocol 3.0.
//
// It is an adapter, not a dispatcher: every statement a client sends is
// answered by session.Execute over the cluster's Backend, as the
// scheduler's ExecuteSQL and Flight SQL answer theirs. What is the
// protocol's own stays here: message framing (pgproto3 of
// github.com/jackc/pgx/v5), TLS and SCRAM-SHA-256 authentication against
// the cluster's secrets, the simple and extended query flows (statements,
// portals, parameters bound as typed literals, max_rows suspension),
// results in text and binary formats with PostgreSQL's type OIDs,
// CancelRequest, COPY … TO STDOUT, the session settings (SET, SHOW), the
// transaction statements as states of the session (kapot commits each
// statement on its own: tx.go says what a ROLLBACK cannot undo), SQL
// cursors (cursor.go), and a virtual catalog (pg_catalog and
// information_schema, answered by a small interpreter of SELECTs,
// catalog*.go) for the statements BI tools and drivers send to learn the
// database (testdata/catalog_queries.sql). A query becomes a job
// of the scheduler through the Jobs interface; its result partitions are
// streamed from the executors with client.Rows, one batch at a time, so a
// slow client holds at most a batch and a socket buffer.
//
// Bounds: connections (Limits.MaxConns), message size, the time a client
// has to start up and authenticate, and the time a write may wait on a
// client that does not read. A panic in a connection's handler closes
// that connection only.
package pgwire
