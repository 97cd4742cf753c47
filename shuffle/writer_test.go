package shuffle

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestAutoCompression: CompressionAuto leaves a small output's partitions
// as plain IPC streams and stores a spilled one's as S2 streams (one per
// spilled run and one for the rest, concatenated); Decompressed reads
// both back, every row in order. None stays plain even when it spills.
func TestAutoCompression(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	cases := []struct {
		name      string
		c         Compression
		budget    int64
		autoBytes int64 // 0: autoCompressBytes
		s2        bool
	}{
		{"auto small", CompressionAuto, 0, 0, false},
		{"auto spilled small", CompressionAuto, 1, 0, false},
		{"auto large", CompressionAuto, 0, 100, true},
		{"auto spilled large", CompressionAuto, 1, 100, true},
		{"none spilled", CompressionNone, 1, 100, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			w, err := NewFileWriter(dir, "job1", 1, 0, 2, schema, mem, c.c)
			if err != nil {
				t.Fatal(err)
			}
			w.SetBudget(c.budget, nil)
			if c.autoBytes > 0 {
				w.autoBytes = c.autoBytes
			}
			want := [2][]int64{}
			for i := range int64(6) {
				p := int(i % 2)
				b := array.NewInt64Builder(mem)
				vals := []int64{i * 10, i*10 + 1, i*10 + 2}
				b.AppendValues(vals, nil)
				arr := b.NewArray()
				rec := array.NewRecordBatch(schema, []arrow.Array{arr}, 3)
				if err := w.Write(p, rec); err != nil {
					t.Fatal(err)
				}
				want[p] = append(want[p], vals...)
				rec.Release()
				arr.Release()
				b.Release()
			}
			if _, err := w.Finish(); err != nil {
				t.Fatal(err)
			}
			if c.budget > 0 && w.Spills() < 2 {
				t.Fatalf("%d spills, want several", w.Spills())
			}
			for p := range uint32(2) {
				seg, err := OpenPartition(dir, "job1", 1, 0, p)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := io.ReadAll(seg)
				seg.Close()
				if err != nil {
					t.Fatal(err)
				}
				if got := bytes.HasPrefix(raw, s2Magic); got != c.s2 {
					t.Errorf("partition %d: S2 stream %v, want %v (starts % x)", p, got, c.s2, raw[:min(10, len(raw))])
				}
				if !c.s2 && !bytes.HasPrefix(raw, []byte{0xff, 0xff, 0xff, 0xff}) {
					t.Errorf("partition %d: not an IPC stream (starts % x)", p, raw[:min(10, len(raw))])
				}
				rdr, err := ipc.NewReader(Decompressed(bufio.NewReader(bytes.NewReader(raw))), ipc.WithAllocator(mem))
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for rdr.Next() {
					got = append(got, rdr.RecordBatch().Column(0).(*array.Int64).Int64Values()...)
				}
				if err := rdr.Err(); err != nil {
					t.Fatal(err)
				}
				rdr.Release()
				if !slices.Equal(got, want[p]) {
					t.Errorf("partition %d: %v, want %v", p, got, want[p])
				}
			}
		})
	}
}
