// Package scheduler is the kapot scheduler process: the wiring around the
// cluster state. Package cluster holds that state as plain data
// (executors, jobs, stages, tasks, assignment, speculation, failures and
// retries) and decides every transition without I/O; this package serves
// it (the SchedulerService, Flight SQL, PostgreSQL, the admin server),
// splits submitted plans into stage DAGs at Exchange nodes (and adapts
// them as stages complete: adaptive.go turns joins whose side turned out
// small into broadcasts, or semi and anti joins' other sides into their
// matching rows), calls the
// state's transitions under one mutex and applies the effects they return
// (apply.go: launches and cancels sent to executors, probes, the persist
// queue, commits of writes through the warehouse, the job history, logs
// and metrics), and leads or follows on the shared state store.
package scheduler
