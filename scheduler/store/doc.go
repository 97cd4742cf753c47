// Package store keeps the scheduler's durable state (its catalog of tables,
// the summaries of finished jobs) behind a small key-value interface: an
// embedded bbolt file under --state-dir for one scheduler, memory when no
// state dir is set, and a distributed store (etcd) for several schedulers.
package store
