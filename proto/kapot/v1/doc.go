// Package kapotv1 is the wire contract between kapot schedulers, executors
// and clients: the messages and gRPC services generated from
// proto/kapot/v1/kapot.proto (`make proto`). Only this doc.go is written by
// hand.
package kapotv1
