package shuffle

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
)

// ErrCorruptIndex marks an index file that cannot be decoded.
var ErrCorruptIndex = errors.New("corrupt shuffle index")

// IndexEntry locates one output partition inside a map task's data file:
// its bytes are [Offset, Offset+Length), then each span of Rest in order
// (a partition of a task that spilled lies in several chunks).
type IndexEntry struct {
	Offset  int64
	Length  int64
	Rows    int64
	Batches int64
	Rest    []Span
}

// Span is a run of bytes of a data file.
type Span struct{ Offset, Length int64 }

// Bytes is the partition's size.
func (e IndexEntry) Bytes() int64 {
	n := e.Length
	for _, s := range e.Rest {
		n += s.Length
	}
	return n
}

// spans lists the partition's spans, the first one first.
func (e IndexEntry) spans() []Span {
	return append([]Span{{e.Offset, e.Length}}, e.Rest...)
}

// Index is the decoded index of one map output.
type Index struct {
	Entries []IndexEntry
}

// indexMagic opens an index of one span a partition; chunkedMagic one
// whose entries each add a count of further spans and the spans.
var (
	indexMagic   = [8]byte{'K', 'A', 'P', 'O', 'T', 'I', 'X', '1'}
	chunkedMagic = [8]byte{'K', 'A', 'P', 'O', 'T', 'I', 'X', '2'}
)

// maxIndexBytes bounds a chunked index (its length is not fixed by its
// count): a corrupt file cannot make a reader allocate more.
const maxIndexBytes = 64 << 20

const entrySize = 32

// MaxIndexPartitions bounds how many output partitions an index may declare.
const MaxIndexPartitions = 1 << 20

// Encode renders the index: magic, count, entries, CRC32 of all before it.
// An index with a partition in several spans is chunked: each entry is
// followed by the count of its further spans and the spans.
func (ix *Index) Encode() []byte {
	chunked := slices.ContainsFunc(ix.Entries, func(e IndexEntry) bool { return len(e.Rest) > 0 })
	magic := indexMagic
	if chunked {
		magic = chunkedMagic
	}
	buf := make([]byte, 0, 8+4+len(ix.Entries)*entrySize+4)
	buf = append(buf, magic[:]...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(ix.Entries)))
	for _, e := range ix.Entries {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Offset))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Length))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Rows))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Batches))
		if chunked {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(len(e.Rest)))
			for _, s := range e.Rest {
				buf = binary.LittleEndian.AppendUint64(buf, uint64(s.Offset))
				buf = binary.LittleEndian.AppendUint64(buf, uint64(s.Length))
			}
		}
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
}

// DecodeIndex parses an encoded index, checking its length, checksum and
// that every span is non-negative and no two overlap (a one-span index's
// entries in order).
func DecodeIndex(b []byte) (*Index, error) {
	if len(b) < 16 {
		return nil, fmt.Errorf("bad header: %w", ErrCorruptIndex)
	}
	chunked := [8]byte(b[:8]) == chunkedMagic
	if !chunked && [8]byte(b[:8]) != indexMagic {
		return nil, fmt.Errorf("bad header: %w", ErrCorruptIndex)
	}
	n := binary.LittleEndian.Uint32(b[8:12])
	if n > MaxIndexPartitions || (!chunked && len(b) != 12+int(n)*entrySize+4) || (chunked && len(b) < 12+int(n)*(entrySize+4)+4) {
		return nil, fmt.Errorf("length %d does not match %d entries: %w", len(b), n, ErrCorruptIndex)
	}
	body := b[:len(b)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("checksum mismatch: %w", ErrCorruptIndex)
	}
	ix := &Index{Entries: make([]IndexEntry, n)}
	p := body[12:]
	u64 := func() int64 { v := int64(binary.LittleEndian.Uint64(p)); p = p[8:]; return v }
	var all []Span
	for i := range ix.Entries {
		if len(p) < entrySize {
			return nil, fmt.Errorf("entry %d cut short: %w", i, ErrCorruptIndex)
		}
		e := IndexEntry{Offset: u64(), Length: u64(), Rows: u64(), Batches: u64()}
		if chunked {
			if len(p) < 4 {
				return nil, fmt.Errorf("entry %d cut short: %w", i, ErrCorruptIndex)
			}
			k := int(binary.LittleEndian.Uint32(p))
			p = p[4:]
			if k > len(p)/16 {
				return nil, fmt.Errorf("entry %d has %d spans in %d bytes: %w", i, k, len(p), ErrCorruptIndex)
			}
			e.Rest = make([]Span, k)
			for j := range e.Rest {
				e.Rest[j] = Span{Offset: u64(), Length: u64()}
			}
		}
		if e.Rows < 0 || e.Batches < 0 {
			return nil, fmt.Errorf("entry %d negative: %w", i, ErrCorruptIndex)
		}
		for _, s := range e.spans() {
			if s.Offset < 0 || s.Length < 0 || s.Offset+s.Length < s.Offset {
				return nil, fmt.Errorf("entry %d out of range: %w", i, ErrCorruptIndex)
			}
			if s.Length > 0 {
				all = append(all, s)
			}
		}
		if !chunked && i > 0 {
			if prev := ix.Entries[i-1]; e.Offset < prev.Offset+prev.Length {
				return nil, fmt.Errorf("entry %d out of order or negative: %w", i, ErrCorruptIndex)
			}
		}
		ix.Entries[i] = e
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%d bytes after the entries: %w", len(p), ErrCorruptIndex)
	}
	slices.SortFunc(all, func(a, b Span) int { return cmp.Compare(a.Offset, b.Offset) })
	for i := 1; i < len(all); i++ {
		if all[i].Offset < all[i-1].Offset+all[i-1].Length {
			return nil, fmt.Errorf("spans overlap at %d: %w", all[i].Offset, ErrCorruptIndex)
		}
	}
	return ix, nil
}
