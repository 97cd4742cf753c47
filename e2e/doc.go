// Package e2e holds tests that run whole clusters: schedulers and executors
// in-process on loopback (real gRPC and Flight servers) and, where the
// behaviour is process-level (signals), as separate processes of bin/kapot.
package e2e
