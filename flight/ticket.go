package flight

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
	"google.golang.org/protobuf/types/known/anypb"
)

// ErrBadTicket marks tickets that do not name a shuffle partition.
var ErrBadTicket = errors.New("bad ticket")

// ticketMagic prefixes every ticket so stray bytes are never taken for one.
var ticketMagic = []byte("KPT1")

// MaxTicketSize bounds what ParseTicket reads.
const MaxTicketSize = 1024

// EncodeTicket renders the ticket of one map output partition.
func EncodeTicket(t *kapotv1.ShuffleTicket) []byte {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(t)
	return append(append([]byte{}, ticketMagic...), b...)
}

// TicketFor is the ticket of a partition location: the signed ticket the
// scheduler put in a result location, or one built from its ids.
func TicketFor(loc *kapotv1.PartitionLocation) []byte {
	if len(loc.GetTicket()) > 0 {
		return loc.GetTicket()
	}
	return EncodeTicket(&kapotv1.ShuffleTicket{JobId: loc.GetJobId(), StageId: loc.GetStageId(), MapPartition: loc.GetMapPartition(), OutputPartition: loc.GetOutputPartition()})
}

// ParseTicket decodes and validates a ticket: the magic prefix, a protobuf
// body with no unknown fields, and a job id that is a plain name.
func ParseTicket(b []byte) (*kapotv1.ShuffleTicket, error) {
	if len(b) > MaxTicketSize {
		return nil, fmt.Errorf("ticket of %d bytes exceeds %d: %w", len(b), MaxTicketSize, ErrBadTicket)
	}
	if len(b) < len(ticketMagic) || string(b[:len(ticketMagic)]) != string(ticketMagic) {
		return nil, fmt.Errorf("ticket lacks the kapot prefix: %w", ErrBadTicket)
	}
	var t kapotv1.ShuffleTicket
	if err := proto.Unmarshal(b[len(ticketMagic):], &t); err != nil {
		return nil, fmt.Errorf("ticket body: %v: %w", err, ErrBadTicket)
	}
	if len(t.ProtoReflect().GetUnknown()) > 0 {
		return nil, fmt.Errorf("ticket has unknown fields: %w", ErrBadTicket)
	}
	if err := shuffle.ValidateJobID(t.GetJobId()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTicket, err)
	}
	return &t, nil
}

func ipcAlloc(mem memory.Allocator) ipc.Option { return ipc.WithAllocator(mem) }

// SQLTicketHandle unwraps a Flight SQL ticket (a TicketStatementQuery in
// an Any) and returns its statement handle. The scheduler's Flight SQL
// endpoint makes the handle of a result partition the partition's kapot
// ticket, so an executor serves the same ticket to clients that follow
// endpoint locations.
func SQLTicketHandle(b []byte) ([]byte, bool) {
	if len(b) > MaxTicketSize+64 {
		return nil, false
	}
	var a anypb.Any
	if err := proto.Unmarshal(b, &a); err != nil {
		return nil, false
	}
	var q flightpb.TicketStatementQuery
	if err := a.UnmarshalTo(&q); err != nil {
		return nil, false
	}
	return q.GetStatementHandle(), true
}
