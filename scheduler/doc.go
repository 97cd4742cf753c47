// Package scheduler is the kapot scheduler: it keeps a registry of executors
// with liveness, splits submitted plans into stage DAGs at Exchange nodes,
// assigns tasks to free slots (pushing them to push-staged executors and
// handing them to pull-staged executors that poll), retries failed tasks,
// re-runs map tasks whose output was lost (fetch failures, dead executors),
// cancels jobs and tells clients where to fetch results.
package scheduler
