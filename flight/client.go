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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
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
	closed  bool
}

var _ shuffle.Fetcher = (*Client)(nil)

// NewClient returns a client that retries connection failures up to retries
// times, starting at backoff and doubling.
func NewClient(retries int, backoff time.Duration, maxMsg int) *Client {
	if maxMsg <= 0 {
		maxMsg = 64 << 20
	}
	return &Client{conns: map[string]*grpc.ClientConn{}, retries: retries, backoff: backoff, maxMsg: maxMsg}
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
		cc, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.maxMsg)))
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
			return &rawStream{stream: stream, cur: first.GetBody(), cancel: cancel}, nil
		}
		cancel()
		if status.Code(err) != codes.Unavailable || attempt >= c.retries || ctx.Err() != nil {
			return nil, fail(err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, fail(ctx.Err())
		}
		wait *= 2
	}
}

// rawStream turns the chunks of a fetch into an io.Reader.
type rawStream struct {
	stream flight.FlightService_DoActionClient
	cur    []byte
	cancel context.CancelFunc
	err    error
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
