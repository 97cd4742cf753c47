// Package panics turns a panic in kapot's own code (an operator, the
// planner, a decoder, a handler) into an error of the work that ran it: one
// bad query fails with "internal error: <value>", its stack goes to the log,
// and the process keeps serving.
//
// Go ends the process when a goroutine panics and nothing on that goroutine
// recovers, so every goroutine that runs such code recovers in one place:
// a deferred Catch on goroutines kapot starts (alloc.Catch for operator
// goroutines, which keeps a refused allocation the resources-exhausted
// error it is), and ServerOptions' interceptors for gRPC and Flight
// handlers, which grpc-go runs on goroutines of its own without recovering.
package panics
