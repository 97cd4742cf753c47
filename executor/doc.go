// Package executor is the kapot executor process: it registers its task slots
// with a scheduler, receives tasks (pushed over its gRPC service or pulled by
// its poll loop), runs them through an Engine, serves their shuffle output
// over Arrow Flight, cleans expired job data, and on a signal or the
// scheduler's stop request fences itself, drains running tasks and stops.
package executor
