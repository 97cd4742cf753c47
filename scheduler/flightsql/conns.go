package flightsql

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc/stats"
)

// connTracker numbers the endpoint's connections (a call finds its
// connection's number with connOf) and tells the prepared statements when
// one ends: what a client made on a connection ends with it.
type connTracker struct {
	last     atomic.Uint64
	prepared *preparedSet
}

var _ stats.Handler = (*connTracker)(nil)

type connKey struct{}

// connOf is the number of the connection a call came on (0: unknown).
func connOf(ctx context.Context) uint64 {
	id, _ := ctx.Value(connKey{}).(uint64)
	return id
}

// TagConn numbers a new connection.
func (c *connTracker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	id := c.last.Add(1)
	c.prepared.connOpened(id)
	return context.WithValue(ctx, connKey{}, id)
}

// HandleConn ends the prepared statements of a connection that ended.
func (c *connTracker) HandleConn(ctx context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnEnd); ok {
		if id := connOf(ctx); id != 0 {
			c.prepared.connEnded(id)
		}
	}
}

// TagRPC implements stats.Handler.
func (c *connTracker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

// HandleRPC implements stats.Handler.
func (c *connTracker) HandleRPC(context.Context, stats.RPCStats) {}
