package flight

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// benchPartition writes one map output whose single partition holds about
// 64 MiB of uncompressed IPC and returns its location and size.
func benchPartition(b *testing.B, dir string) (*kapotv1.PartitionLocation, int64) {
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	w, err := shuffle.NewFileWriter(dir, "job1", 1, 0, 1, schema, mem, shuffle.CompressionNone)
	if err != nil {
		b.Fatal(err)
	}
	bld := array.NewInt64Builder(mem)
	for i := 0; i < 1<<16; i++ {
		bld.Append(int64(i) * 7919)
	}
	arr := bld.NewArray()
	rec := array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
	for i := 0; i < 128; i++ { // 128 × 512 KiB
		if err := w.Write(0, rec); err != nil {
			b.Fatal(err)
		}
	}
	rec.Release()
	arr.Release()
	bld.Release()
	stats, err := w.Finish()
	if err != nil {
		b.Fatal(err)
	}
	return &kapotv1.PartitionLocation{JobId: "job1", StageId: 1, MapPartition: 0, OutputPartition: 0,
		Stats: &kapotv1.PartitionStats{NumBytes: stats[0].Bytes}}, stats[0].Bytes
}

// fetchLoop fetches loc b.N times, checking each fetch's size.
func fetchLoop(b *testing.B, fc *Client, loc *kapotv1.PartitionLocation, size int64) {
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rc, err := fc.Fetch(context.Background(), loc)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != size {
			b.Fatalf("fetched %d of %d bytes: %v", n, size, err)
		}
	}
}

// BenchmarkFetch compares a shuffle fetch over Flight with a raw loopback
// TCP copy of the same bytes, in the same run: fetch throughput as a share
// of what the loopback can carry.
func BenchmarkFetch(b *testing.B) {
	dir := b.TempDir()
	loc, size := benchPartition(b, dir)
	b.Run("flight", func(b *testing.B) {
		_, meta := startServer(b, dir, memory.NewGoAllocator())
		loc.Executor = meta
		fc := NewClient(0, time.Millisecond, 0)
		defer fc.Close()
		fetchLoop(b, fc, loc, size)
	})
	// The same fetch with cluster authentication and TLS on: the cost of
	// security on the shuffle path.
	b.Run("flight-auth-tls", func(b *testing.B) {
		pki, err := security.WritePKI(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		sec := security.Config{Secrets: security.Secrets{Scheduler: "s", Executor: "e"},
			TLS: security.TLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CA}}
		opts, err := sec.ServerOptions(security.NewAuthenticator(sec.Secrets, security.Rule{Prefix: "/arrow.flight.protocol.FlightService/", Allowed: []security.NodeType{security.Executor}}))
		if err != nil {
			b.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		g := grpc.NewServer(append(ServerOptions(), opts...)...)
		NewServer(dir, memory.NewGoAllocator(), zerolog.Nop()).Register(g)
		go g.Serve(lis)
		defer g.Stop()
		dial, err := sec.DialOptions(security.Executor)
		if err != nil {
			b.Fatal(err)
		}
		loc.Executor = &kapotv1.ExecutorMetadata{Id: "e1", Host: "127.0.0.1", FlightPort: uint32(lis.Addr().(*net.TCPAddr).Port)}
		fc := NewClient(0, time.Millisecond, 0, dial...)
		defer fc.Close()
		fetchLoop(b, fc, loc, size)
	})
	b.Run("tcp", func(b *testing.B) {
		seg, err := shuffle.OpenPartition(dir, "job1", 1, 0, 0)
		if err != nil {
			b.Fatal(err)
		}
		data, _ := io.ReadAll(seg)
		seg.Close()
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer lis.Close()
		go func() {
			for {
				c, err := lis.Accept()
				if err != nil {
					return
				}
				c.Write(data)
				c.Close()
			}
		}()
		b.SetBytes(size)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c, err := net.Dial("tcp", lis.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, c)
			c.Close()
			if err != nil || n != size {
				b.Fatalf("read %d of %d bytes: %v", n, size, err)
			}
		}
	})
}
