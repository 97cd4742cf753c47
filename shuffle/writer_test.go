package shuffle

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
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
			// One file, nothing temporary left; a spilled output not
			// compressed keeps its chunks where they were spilled.
			names, err := os.ReadDir(filepath.Join(dir, "job1"))
			if err != nil || len(names) != 1 || names[0].Name() != "1-0.data" {
				t.Fatalf("job directory: %v %v", names, err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "job1", "1-0.data"))
			if err != nil {
				t.Fatal(err)
			}
			at := binary.LittleEndian.Uint64(b[len(b)-8:])
			if chunked := string(b[at:at+8]) == "KAPOTIX2"; chunked != (c.budget > 0 && !c.s2) {
				t.Errorf("chunked index %v, want %v", chunked, c.budget > 0 && !c.s2)
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

// TestOneFilePerMapOutput: a map task's output is one file in its job's
// directory (no stage directory, no separate index), holding every
// partition; Held lists the outputs of each stage (not temporary or other
// files, nor a directory named like one), and a file whose tail does not
// locate a valid index is refused as corrupt (one cut short, one whose
// index starts at 0, so that its length is read before the rest is
// allocated), and one whose index puts a partition past the index.
func TestOneFilePerMapOutput(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	write := func(stage, mp uint32, rows int64) {
		w, err := NewFileWriter(dir, "job1", stage, mp, 3, schema, mem, CompressionNone)
		if err != nil {
			t.Fatal(err)
		}
		b := array.NewInt64Builder(mem)
		defer b.Release()
		for i := range rows {
			b.Append(i)
		}
		arr := b.NewArray()
		defer arr.Release()
		rec := array.NewRecordBatch(schema, []arrow.Array{arr}, rows)
		defer rec.Release()
		if err := w.Write(int(mp)%3, rec); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	write(1, 0, 5)
	write(1, 1, 7)
	write(2, 0, 3)
	if err := os.WriteFile(filepath.Join(dir, "job1", ".1-2.data.tmp-123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "job1", "1-x.data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "job1", "3-0.data"), 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(filepath.Join(dir, "job1"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range names {
		got = append(got, n.Name())
	}
	if want := []string{".1-2.data.tmp-123", "1-0.data", "1-1.data", "1-x.data", "2-0.data", "3-0.data"}; !slices.Equal(got, want) {
		t.Fatalf("job directory holds %q, want %q", got, want)
	}
	held := Held(dir)
	if len(held) != 2 || held[0].GetStageId() != 1 || !slices.Equal(held[0].GetMapPartitions(), []uint32{0, 1}) ||
		held[1].GetStageId() != 2 || !slices.Equal(held[1].GetMapPartitions(), []uint32{0}) {
		t.Fatalf("held: %v", held)
	}
	seg, err := OpenPartition(dir, "job1", 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if seg.Entry.Rows != 7 {
		t.Errorf("stage 1 map 1 partition 1: %d rows, want 7", seg.Entry.Rows)
	}
	seg.Close()
	if _, err := OpenPartition(dir, "job1", 1, 1, 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("partition 3 of 3: %v, want ErrNotFound", err)
	}
	path, err := Path(dir, "job1", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"cut short":     b[:len(b)-3],
		"tail past end": append(slices.Clone(b[:len(b)-8]), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0),
		"index flipped": func() []byte { c := slices.Clone(b); c[len(c)-12] ^= 1; return c }(),
		"a few bytes":   b[:5],
		"index at 0":    append(slices.Clone(b[:len(b)-8]), 0, 0, 0, 0, 0, 0, 0, 0),
		// A valid index (checksum and all) whose partition runs into it.
		"entry past the index": func() []byte {
			at := int64(binary.LittleEndian.Uint64(b[len(b)-8:]))
			ix, err := DecodeIndex(b[at : len(b)-8])
			if err != nil {
				t.Fatal(err)
			}
			ix.Entries[len(ix.Entries)-1].Length += 5
			return binary.LittleEndian.AppendUint64(append(slices.Clone(b[:at]), ix.Encode()...), uint64(at))
		}(),
	} {
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenPartition(dir, "job1", 1, 0, 2); !errors.Is(err, ErrCorruptIndex) {
			t.Errorf("%s: %v, want ErrCorruptIndex", name, err)
		}
	}
}
