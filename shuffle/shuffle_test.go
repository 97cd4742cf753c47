package shuffle

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"slices"
	"testing"
)

func TestValidateJobID(t *testing.T) {
	for _, ok := range []string{"a", "job-1", "J_2", "0abc"} {
		if err := ValidateJobID(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "-x", "a/b", "a\\b", "a b", "é", string(make([]byte, 200))} {
		if err := ValidateJobID(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestIndexRoundTrip(t *testing.T) {
	ix := &Index{Entries: []IndexEntry{{Offset: 0, Length: 10, Rows: 3, Batches: 1}, {Offset: 10}, {Offset: 10, Length: 5, Rows: 1, Batches: 1}}}
	got, err := DecodeIndex(ix.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ix) {
		t.Fatalf("got %+v", got)
	}
	b := ix.Encode()
	b[14] ^= 1
	if _, err := DecodeIndex(b); !errors.Is(err, ErrCorruptIndex) {
		t.Fatalf("flipped bit accepted: %v", err)
	}
}

// TestChunkedIndex: an index of partitions in several spans (a task that
// spilled) round-trips, and one whose spans overlap, run past its end or
// claim more spans than it holds is corrupt.
func TestChunkedIndex(t *testing.T) {
	ix := &Index{Entries: []IndexEntry{
		{Offset: 0, Length: 10, Rows: 3, Batches: 2, Rest: []Span{{20, 4}, {30, 6}}},
		{Offset: 10, Length: 10, Rows: 2, Batches: 2, Rest: []Span{{24, 6}}},
		{Offset: 36},
	}}
	b := ix.Encode()
	if string(b[:8]) != "KAPOTIX2" {
		t.Fatalf("magic %q", b[:8])
	}
	got, err := DecodeIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Entries[:2], ix.Entries[:2]) || got.Entries[0].Bytes() != 20 {
		t.Fatalf("got %+v", got)
	}
	for name, bad := range map[string]func(ix *Index){
		"overlap":  func(ix *Index) { ix.Entries[1].Rest[0].Offset = 22 },
		"negative": func(ix *Index) { ix.Entries[0].Rest[1].Length = -1 },
	} {
		c := &Index{Entries: []IndexEntry{ix.Entries[0], ix.Entries[1], ix.Entries[2]}}
		for i := range c.Entries {
			c.Entries[i].Rest = slices.Clone(c.Entries[i].Rest)
		}
		bad(c)
		if _, err := DecodeIndex(c.Encode()); !errors.Is(err, ErrCorruptIndex) {
			t.Errorf("%s: %v, want ErrCorruptIndex", name, err)
		}
	}
	// More spans than bytes: the count is checked before allocating.
	short := slices.Clone(b[:12+entrySize])
	short = binary.LittleEndian.AppendUint32(short, 1<<30)
	short = binary.LittleEndian.AppendUint32(short, crc32.ChecksumIEEE(short))
	if _, err := DecodeIndex(short); !errors.Is(err, ErrCorruptIndex) {
		t.Errorf("huge span count: %v, want ErrCorruptIndex", err)
	}
}

// FuzzDecodeIndex: whatever bytes it is given, DecodeIndex either refuses
// them or returns spans that are non-negative and never overlap (a
// one-span index's entries in order).
func FuzzDecodeIndex(f *testing.F) {
	f.Add((&Index{Entries: []IndexEntry{{Offset: 0, Length: 10, Rows: 3, Batches: 1}}}).Encode())
	f.Add((&Index{Entries: []IndexEntry{{Offset: 0, Length: 10, Rows: 3, Batches: 1, Rest: []Span{{20, 5}}}, {Offset: 10, Length: 10}}}).Encode())
	f.Add([]byte("KAPOTIX1"))
	f.Add([]byte("KAPOTIX2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := DecodeIndex(b)
		if err != nil {
			return
		}
		var all []Span
		for _, e := range ix.Entries {
			for _, s := range e.spans() {
				if s.Offset < 0 || s.Length < 0 {
					t.Fatalf("accepted bad entry %+v", e)
				}
				if s.Length > 0 {
					all = append(all, s)
				}
			}
		}
		slices.SortFunc(all, func(a, b Span) int { return int(a.Offset - b.Offset) })
		for i := 1; i < len(all); i++ {
			if all[i].Offset < all[i-1].Offset+all[i-1].Length {
				t.Fatalf("accepted overlapping spans %+v", all)
			}
		}
	})
}
