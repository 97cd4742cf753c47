package flight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// Client fetches shuffle partitions from peers over pooled connections, one
// per peer address, multiplexed by gRPC.
type Client struct {
	mu      sync.Mutex
	conns   map[string]*grpc.ClientConn
	retries int
	backoff time.Duration
	maxMsg  int
	dial    []grpc.DialOption
	closed  bool

	limits   FetchLimits
	requests *semaphore.Weighted            // fetches open at once
	bytes    *semaphore.Weighted            // estimated bytes of open fetches
	perPeer  map[string]*semaphore.Weighted // fetches open per peer
}

// FetchLimits bound what a client has in flight; a fetch waits (honouring
// its context) until it fits.
type FetchLimits struct {
	// MaxRequests is the number of fetches open at once across all peers.
	MaxRequests int
	// MaxRequestsPerPeer is the number of fetches open at once to one peer.
	MaxRequestsPerPeer int
	// MaxBytes bounds the sum of the sizes (from the map task's statistics)
	// of the partitions being fetched; a partition larger than MaxBytes
	// takes the whole budget.
	MaxBytes int64
}

// DefaultFetchLimits are the limits NewClient uses.
var DefaultFetchLimits = FetchLimits{MaxRequests: 64, MaxRequestsPerPeer: 8, MaxBytes: 256 << 20}

// SetLimits replaces the fetch limits; call it before the first Fetch.
func (c *Client) SetLimits(l FetchLimits) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.MaxRequests < 1 {
		l.MaxRequests = DefaultFetchLimits.MaxRequests
	}
	if l.MaxRequestsPerPeer < 1 {
		l.MaxRequestsPerPeer = DefaultFetchLimits.MaxRequestsPerPeer
	}
	if l.MaxBytes < 1 {
		l.MaxBytes = DefaultFetchLimits.MaxBytes
	}
	c.limits = l
	c.requests = semaphore.NewWeighted(int64(l.MaxRequests))
	c.bytes = semaphore.NewWeighted(l.MaxBytes)
	c.perPeer = map[string]*semaphore.Weighted{}
}

// acquire waits until a fetch of size bytes from addr fits the limits and
// returns the function that gives its share back.
func (c *Client) acquire(ctx context.Context, addr string, size int64) (func(), error) {
	c.mu.Lock()
	peer, ok := c.perPeer[addr]
	if !ok {
		peer = semaphore.NewWeighted(int64(c.limits.MaxRequestsPerPeer))
		c.perPeer[addr] = peer
	}
	requests, bytes := c.requests, c.bytes
	c.mu.Unlock()
	size = min(max(size, 1), c.limits.MaxBytes)
	if err := peer.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	if err := requests.Acquire(ctx, 1); err != nil {
		peer.Release(1)
		return nil, err
	}
	if err := bytes.Acquire(ctx, size); err != nil {
		requests.Release(1)
		peer.Release(1)
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			bytes.Release(size)
			requests.Release(1)
			peer.Release(1)
		})
	}, nil
}

var _ shuffle.Fetcher = (*Client)(nil)

// NewClient returns a client that retries connection failures up to retries
// times, starting at backoff and doubling. dial sets the transport and
// credentials of its connections (default: plain TCP, no credentials).
func NewClient(retries int, backoff time.Duration, maxMsg int, dial ...grpc.DialOption) *Client {
	if maxMsg <= 0 {
		maxMsg = 64 << 20
	}
	if len(dial) == 0 {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	c := &Client{conns: map[string]*grpc.ClientConn{}, retries: retries, backoff: backoff, maxMsg: maxMsg, dial: dial}
	c.SetLimits(DefaultFetchLimits)
	return c
}

// Addr is the Flight address of an executor.
func Addr(e *kapotv1.ExecutorMetadata) string {
	return net.JoinHostPort(e.GetHost(), strconv.Itoa(int(e.GetFlightPort())))
}

func (c *Client) conn(addr string) (flight.FlightServiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("flight client closed")
	}
	cc, ok := c.conns[addr]
	if !ok {
		var err error
		cc, err = grpc.NewClient(addr, append([]grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.maxMsg)),
			// Bulk transfers: windows large enough that a 1 MiB chunk never
			// waits for a window update on a fast link.
			grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow),
			grpc.WithReadBufferSize(1 << 20), grpc.WithWriteBufferSize(1 << 20),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout})}, c.dial...)...)
		if err != nil {
			return nil, err
		}
		c.conns[addr] = cc
	}
	return flight.NewFlightServiceClient(cc), nil
}

// Fetch streams the raw IPC bytes of the partition at loc.
func (c *Client) Fetch(ctx context.Context, loc *kapotv1.PartitionLocation) (io.ReadCloser, error) {
	addr := Addr(loc.GetExecutor())
	fail := func(err error) error {
		return &shuffle.FetchError{ExecutorID: loc.GetExecutor().GetId(), JobID: loc.GetJobId(), MapStageID: loc.GetStageId(), MapPartition: loc.GetMapPartition(), Err: fmt.Errorf("%s: %w", addr, err)}
	}
	fc, err := c.conn(addr)
	if err != nil {
		return nil, fail(err)
	}
	release, err := c.acquire(ctx, addr, loc.GetStats().GetNumBytes())
	if err != nil {
		return nil, fail(err)
	}
	ticket := TicketFor(loc)
	wait := c.backoff
	for attempt := 0; ; attempt++ {
		sctx, cancel := context.WithCancel(ctx)
		stream, err := fc.DoAction(sctx, &flight.Action{Type: ActionFetchPartition, Body: ticket})
		var first *flight.Result
		if err == nil {
			first, err = stream.Recv()
			if errors.Is(err, io.EOF) {
				first, err = &flight.Result{}, nil
				stream = nil
			}
		}
		if err == nil {
			return &rawStream{stream: stream, cur: first.GetBody(), cancel: cancel, release: release}, nil
		}
		cancel()
		if status.Code(err) != codes.Unavailable || attempt >= c.retries || ctx.Err() != nil {
			release()
			return nil, fail(err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			release()
			return nil, fail(ctx.Err())
		}
		wait *= 2
	}
}

// rawStream turns the chunks of a fetch into an io.Reader.
type rawStream struct {
	stream  flight.FlightService_DoActionClient
	cur     []byte
	cancel  context.CancelFunc
	release func() // gives the fetch's share of the limits back
	err     error
}

func (r *rawStream) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.stream == nil {
			return 0, io.EOF
		}
		res, err := r.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.err = io.EOF
			} else {
				r.err = fmt.Errorf("fetch stream: %w", err)
			}
			continue
		}
		r.cur = res.GetBody()
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *rawStream) Close() error {
	r.cancel()
	r.release()
	return nil
}

// DoGet reads a partition with the standard Flight DoGet call, as any Flight
// client would; the caller releases the reader.
func (c *Client) DoGet(ctx context.Context, loc *kapotv1.PartitionLocation, mem memory.Allocator) (*flight.Reader, context.CancelFunc, error) {
	fc, err := c.conn(Addr(loc.GetExecutor()))
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := fc.DoGet(sctx, &flight.Ticket{Ticket: TicketFor(loc)})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	rdr, err := flight.NewRecordReader(stream, ipcAlloc(mem))
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("DoGet %s: %w", Addr(loc.GetExecutor()), err)
	}
	return rdr, cancel, nil
}

// Close closes every pooled connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, cc := range c.conns {
		cc.Close()
	}
	c.conns = nil
	return nil
}
