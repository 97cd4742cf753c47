package flight

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// startServer serves workDir on a loopback port and returns a stock Flight
// client connected to it.
func startServer(t testing.TB, workDir string, mem memory.Allocator) (flight.Client, *kapotv1.ExecutorMetadata) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(ServerOptions()...)
	NewServer(workDir, mem, zerolog.Nop()).Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	c, err := flight.NewClientWithMiddleware(lis.Addr().String(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, &kapotv1.ExecutorMetadata{Id: "e1", Host: "127.0.0.1", FlightPort: uint32(lis.Addr().(*net.TCPAddr).Port)}
}

func writeMapOutput(t *testing.T, workDir string, mem memory.Allocator) {
	t.Helper()
	writeMapOutputAs(t, workDir, mem, shuffle.CompressionLZ4, 0)
}

// writeMapOutputAs writes map output (job1, stage 2, map 0): partition 0
// holds 1, 2, 3 and partition 1 holds 40, 50, compressed as c, spilling
// past budget bytes (0: never).
func writeMapOutputAs(t *testing.T, workDir string, mem memory.Allocator, c shuffle.Compression, budget int64) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	w, err := shuffle.NewFileWriter(workDir, "job1", 2, 0, 2, schema, mem, c)
	if err != nil {
		t.Fatal(err)
	}
	w.SetBudget(budget, nil)
	for p, vals := range [][]int64{{1, 2, 3}, {40, 50}} {
		b := array.NewInt64Builder(mem)
		b.AppendValues(vals, nil)
		arr := b.NewArray()
		rec := array.NewRecordBatch(schema, []arrow.Array{arr}, int64(len(vals)))
		if err := w.Write(p, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		arr.Release()
		b.Release()
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
}

// doGetInts reads the partition at loc with a stock Flight client: the
// values of its first (int64) column.
func doGetInts(t *testing.T, c flight.Client, loc *kapotv1.PartitionLocation, mem memory.Allocator) []int64 {
	t.Helper()
	stream, err := c.DoGet(context.Background(), &flight.Ticket{Ticket: TicketFor(loc)})
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := flight.NewRecordReader(stream, ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	var got []int64
	for rdr.Next() {
		got = append(got, rdr.RecordBatch().Column(0).(*array.Int64).Int64Values()...)
	}
	return got
}

// TestDoGetCompressed: DoGet decodes a map output stored as S2 streams
// (CompressionAuto, spilled) into record batches.
func TestDoGetCompressed(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeMapOutputAs(t, dir, mem, shuffle.CompressionAuto, 1)
	c, meta := startServer(t, dir, mem)
	loc := &kapotv1.PartitionLocation{JobId: "job1", StageId: 2, MapPartition: 0, OutputPartition: 0, Executor: meta}
	if got := doGetInts(t, c, loc, mem); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("DoGet got %v, want [1 2 3]", got)
	}
}

func TestDoGetAndRawFetch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeMapOutput(t, dir, mem)
	c, meta := startServer(t, dir, mem)
	ctx := context.Background()
	loc := &kapotv1.PartitionLocation{JobId: "job1", StageId: 2, MapPartition: 0, OutputPartition: 1, Executor: meta}

	// A stock Flight client reads record batches.
	if got := doGetInts(t, c, loc, mem); len(got) != 2 || got[0] != 40 || got[1] != 50 {
		t.Fatalf("DoGet got %v", got)
	}

	// The raw fetch returns exactly the stored bytes.
	fc := NewClient(1, time.Millisecond, 0)
	defer fc.Close()
	rc, err := fc.Fetch(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	seg, err := shuffle.OpenPartition(dir, "job1", 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(seg)
	seg.Close()
	if string(raw) != string(want) || len(raw) == 0 {
		t.Fatalf("raw fetch returned %d bytes, stored %d", len(raw), len(want))
	}

	// A missing partition is a fetch error naming the map output.
	loc.MapPartition = 7
	_, err = fc.Fetch(ctx, loc)
	var fe *shuffle.FetchError
	if !asFetchError(err, &fe) || fe.MapPartition != 7 || fe.MapStageID != 2 || fe.ExecutorID != "e1" || status.Code(fe.Err) != codes.NotFound {
		t.Fatalf("missing partition: %v", err)
	}
}

func asFetchError(err error, fe **shuffle.FetchError) bool {
	e, ok := err.(*shuffle.FetchError)
	*fe = e
	return ok
}

func TestBadTicketsAreInvalidArgument(t *testing.T) {
	mem := memory.NewGoAllocator()
	dir := t.TempDir()
	writeMapOutput(t, dir, mem)
	// A job dir that is a symlink to a directory outside the work dir.
	outside := t.TempDir()
	writeMapOutput(t, outside, mem)
	if err := os.Symlink(filepath.Join(outside, "job1"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	c, _ := startServer(t, dir, mem)
	ctx := context.Background()
	tickets := map[string][]byte{
		"garbage":      []byte("not a ticket"),
		"empty":        nil,
		"bad proto":    append([]byte("KPT1"), 0xff, 0xff, 0xff),
		"dotdot job":   EncodeTicket(&kapotv1.ShuffleTicket{JobId: "..", StageId: 2}),
		"path job":     EncodeTicket(&kapotv1.ShuffleTicket{JobId: "a/../../etc", StageId: 2}),
		"slash job":    EncodeTicket(&kapotv1.ShuffleTicket{JobId: "/etc/passwd"}),
		"symlink":      EncodeTicket(&kapotv1.ShuffleTicket{JobId: "escape", StageId: 2}),
		"oversized":    append([]byte("KPT1"), make([]byte, 2000)...),
		"unknown flds": append(EncodeTicket(&kapotv1.ShuffleTicket{JobId: "job1", StageId: 2}), 0xa2, 0x06, 0x01, 0x78),
	}
	for name, tk := range tickets {
		stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: tk})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: DoGet got %v, want InvalidArgument", name, err)
		}
		as, err := c.DoAction(ctx, &flight.Action{Type: ActionFetchPartition, Body: tk})
		if err == nil {
			_, err = as.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: fetch got %v, want InvalidArgument", name, err)
		}
	}
	// The server still serves good tickets afterwards.
	stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: EncodeTicket(&kapotv1.ShuffleTicket{JobId: "job1", StageId: 2, OutputPartition: 0})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("good ticket after bad ones: %v", err)
	}
}

func FuzzParseTicket(f *testing.F) {
	f.Add(EncodeTicket(&kapotv1.ShuffleTicket{JobId: "job1", StageId: 1, MapPartition: 2, OutputPartition: 3}))
	f.Add([]byte("KPT1"))
	f.Add([]byte("garbage"))
	f.Add(EncodeTicket(&kapotv1.ShuffleTicket{JobId: "../x"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := ParseTicket(b)
		if err != nil {
			return
		}
		// Whatever parses names a safe job id and round-trips.
		if err := shuffle.ValidateJobID(tk.GetJobId()); err != nil {
			t.Fatalf("accepted unsafe job id %q", tk.GetJobId())
		}
		if _, err := ParseTicket(EncodeTicket(tk)); err != nil {
			t.Fatalf("re-encoded ticket rejected: %v", err)
		}
	})
}

// TestFetchLimits checks that a fetch beyond the per-peer or byte limits
// waits for an open one to close, and that a closed fetch gives its share
// back.
func TestFetchLimits(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeMapOutput(t, dir, mem)
	_, meta := startServer(t, dir, mem)
	loc := &kapotv1.PartitionLocation{JobId: "job1", StageId: 2, MapPartition: 0, OutputPartition: 1, Executor: meta,
		Stats: &kapotv1.PartitionStats{NumBytes: 600}}
	for name, limits := range map[string]FetchLimits{
		"per peer": {MaxRequests: 10, MaxRequestsPerPeer: 1, MaxBytes: 1 << 20},
		"requests": {MaxRequests: 1, MaxRequestsPerPeer: 10, MaxBytes: 1 << 20},
		"bytes":    {MaxRequests: 10, MaxRequestsPerPeer: 10, MaxBytes: 1000},
	} {
		t.Run(name, func(t *testing.T) {
			fc := NewClient(0, time.Millisecond, 0)
			defer fc.Close()
			fc.SetLimits(limits)
			first, err := fc.Fetch(context.Background(), loc)
			if err != nil {
				t.Fatal(err)
			}
			// The second fetch cannot start while the first is open.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			_, err = fc.Fetch(ctx, loc)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("second fetch over the limit: got %v, want it to wait until its deadline", err)
			}
			first.Close()
			second, err := fc.Fetch(context.Background(), loc)
			if err != nil {
				t.Fatalf("after the first closed: %v", err)
			}
			io.Copy(io.Discard, second)
			second.Close()
		})
	}
}
