// Package errs is kapot's error taxonomy: the classes every package wraps
// its errors in (with %w), and the one table that maps a class to its
// gRPC code (the scheduler's and executors' services, Flight SQL) and its
// SQLSTATE (the PostgreSQL wire). Codes are chosen from it only at the
// service boundaries; inside, errors are plain Go errors.
package errs
