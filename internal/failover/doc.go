// Package failover sends gRPC calls to whichever of several schedulers
// leads. Followers refuse calls with NotLeader, naming the leader; a Conn
// moves to the leader (or the next address) and calls again, until a
// leader answers or the call's budget ends. Calls that create something
// (a job) are sent again only when the refusal proves the first try was
// not acted on.
package failover
