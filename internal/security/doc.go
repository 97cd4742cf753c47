// Package security holds the cluster's shared-secret authentication and its
// TLS settings: what every gRPC (and Arrow Flight) listener checks and what
// every caller presents.
//
// Each kind of node has its own secret, as in the Drove cluster-auth model:
// the scheduler presents the scheduler secret when it calls executors;
// executors present the executor secret when they call the scheduler and when
// they fetch shuffle data from peers; clients (kapot sql, kapot submit, Go
// programs) present the client secret, which defaults to the executor secret
// when none is configured. Secrets travel in gRPC metadata, are compared in
// constant time (as SHA-256 digests, so their lengths do not leak either) and
// are never logged.
package security
