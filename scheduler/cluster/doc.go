// Package cluster is the scheduler's state as plain data: the executors,
// the jobs with their stages and tasks, which task runs where, fair
// assignment and admission, speculation, and what a failure does. It does
// no I/O: every transition is a method of State that takes the time it
// happens at and returns the effects the scheduler must apply (launch or
// cancel tasks, remove a job's data, persist a record, commit a write,
// probe an executor, log, count). The scheduler holds one mutex around a
// State, calls a transition under it and applies the effects it returns
// before it lets go of the mutex.
package cluster
