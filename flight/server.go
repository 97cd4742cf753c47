package flight

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/kapot-go/kapot/internal/security"
	"github.com/kapot-go/kapot/shuffle"
)

// ActionFetchPartition streams the raw IPC bytes of the partition named by
// the action body (a ticket).
const ActionFetchPartition = "kapot.fetch_partition"

// ChunkSize is the size of the raw-bytes chunks a fetch streams.
const ChunkSize = 1 << 20

// Flow-control windows for shuffle transfers (per stream and per
// connection); gRPC's 64 KiB default throttles bulk fetches.
const (
	streamWindow = 8 << 20
	connWindow   = 32 << 20
)

// Keepalive of fetch connections: a fetcher pings a peer every
// KeepaliveTime while a fetch is open and gives up when a ping is not
// answered within KeepaliveTimeout, so a frozen or partitioned peer turns
// into a fetch failure (and a re-run of its map output) instead of a task
// that waits forever.
const (
	KeepaliveTime    = 5 * time.Second
	KeepaliveTimeout = 5 * time.Second
)

// ServerOptions are the gRPC options a Flight server for shuffle data
// should run with.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow),
		grpc.ReadBufferSize(1 << 20), grpc.WriteBufferSize(1 << 20),
		// Accept the fetchers' pings (the default policy would close
		// connections that ping more often than every 5 minutes).
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveTime / 2, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
}

// Server serves shuffle partitions out of a work dir.
type Server struct {
	flight.BaseFlightServer
	workDir string
	mem     memory.Allocator
	log     zerolog.Logger
	streams sync.WaitGroup
	served  atomic.Int64
	// signer, when set, is checked on tickets clients present.
	signer *Signer
}

// RequireSignedTickets makes the server accept a call made with the client
// secret only with a result ticket signed by s (peers, with the executor
// secret, read any partition). A nil s accepts every ticket.
func (s *Server) RequireSignedTickets(signer *Signer) { s.signer = signer }

// BytesServed is the shuffle bytes read out to fetchers so far.
func (s *Server) BytesServed() int64 { return s.served.Load() }

// countingReader counts what a DoGet decodes into its stream.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// NewServer serves the shuffle data under workDir.
func NewServer(workDir string, mem memory.Allocator, log zerolog.Logger) *Server {
	return &Server{workDir: workDir, mem: mem, log: log}
}

// Register adds the Flight service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { flight.RegisterFlightServiceServer(g, s) }

// WaitStreams blocks until every stream in flight has finished.
func (s *Server) WaitStreams() { s.streams.Wait() }

func (s *Server) open(ctx context.Context, ticket []byte) (*shuffle.Segment, error) {
	if !bytes.HasPrefix(ticket, ticketMagic) {
		if h, ok := SQLTicketHandle(ticket); ok {
			ticket = h
		}
	}
	t, err := ParseTicket(ticket)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if s.signer != nil && security.NodeFrom(ctx) != security.Executor {
		if err := s.signer.Verify(t, time.Now()); err != nil {
			return nil, status.Error(codes.PermissionDenied, err.Error())
		}
	}
	seg, err := shuffle.OpenPartition(s.workDir, t.GetJobId(), t.GetStageId(), t.GetMapPartition(), t.GetOutputPartition())
	switch {
	case err == nil:
		return seg, nil
	case errors.Is(err, shuffle.ErrInvalidID), errors.Is(err, shuffle.ErrPathEscape):
		return nil, status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, shuffle.ErrNotFound):
		return nil, status.Error(codes.NotFound, err.Error())
	default:
		s.log.Error().Err(err).Msg("open shuffle partition")
		return nil, status.Error(codes.Internal, err.Error())
	}
}

// DoGet streams one shuffle partition as Arrow record batches.
func (s *Server) DoGet(tkt *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	s.streams.Add(1)
	defer s.streams.Done()
	seg, err := s.open(stream.Context(), tkt.GetTicket())
	if err != nil {
		return err
	}
	defer seg.Close()
	rdr, err := ipc.NewReader(shuffle.Decompressed(bufio.NewReaderSize(countingReader{seg, &s.served}, 1<<16)), ipc.WithAllocator(s.mem))
	if err != nil {
		return status.Errorf(codes.DataLoss, "decode shuffle partition: %v", err)
	}
	defer rdr.Release()
	w := flight.NewRecordWriter(stream, ipc.WithSchema(rdr.Schema()), ipc.WithAllocator(s.mem))
	defer w.Close()
	for rdr.Next() {
		if err := w.Write(rdr.RecordBatch()); err != nil {
			return err
		}
	}
	if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return status.Errorf(codes.DataLoss, "read shuffle partition: %v", err)
	}
	return nil
}

// DoAction serves ActionFetchPartition: the stored bytes, unchanged.
func (s *Server) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	if a.GetType() != ActionFetchPartition {
		return status.Errorf(codes.InvalidArgument, "unknown action %q", a.GetType())
	}
	s.streams.Add(1)
	defer s.streams.Done()
	seg, err := s.open(stream.Context(), a.GetBody())
	if err != nil {
		return err
	}
	defer seg.Close()
	buf := make([]byte, ChunkSize)
	for {
		n, err := io.ReadFull(seg, buf)
		if n > 0 {
			if serr := stream.Send(&flight.Result{Body: buf[:n]}); serr != nil {
				return serr
			}
			s.served.Add(int64(n))
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return status.Errorf(codes.DataLoss, "read shuffle partition: %v", err)
		}
	}
}

// ListActions names the actions this server takes.
func (s *Server) ListActions(_ *flight.Empty, stream flight.FlightService_ListActionsServer) error {
	return stream.Send(&flight.ActionType{Type: ActionFetchPartition, Description: "raw Arrow IPC bytes of a shuffle partition; body is a ticket"})
}
