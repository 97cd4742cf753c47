package shuffle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// ErrCorruptIndex marks an index file that cannot be decoded.
var ErrCorruptIndex = errors.New("corrupt shuffle index")

// IndexEntry locates one output partition inside a map task's data file.
type IndexEntry struct {
	Offset  int64
	Length  int64
	Rows    int64
	Batches int64
}

// Index is the decoded index of one map output.
type Index struct {
	Entries []IndexEntry
}

var indexMagic = [8]byte{'K', 'A', 'P', 'O', 'T', 'I', 'X', '1'}

const entrySize = 32

// MaxIndexPartitions bounds how many output partitions an index may declare.
const MaxIndexPartitions = 1 << 20

// Encode renders the index: magic, count, entries, CRC32 of all before it.
func (ix *Index) Encode() []byte {
	buf := make([]byte, 0, 8+4+len(ix.Entries)*entrySize+4)
	buf = append(buf, indexMagic[:]...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(ix.Entries)))
	for _, e := range ix.Entries {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Offset))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Length))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Rows))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Batches))
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
}

// DecodeIndex parses an encoded index, checking its length, checksum and
// that every entry is non-negative and ordered.
func DecodeIndex(b []byte) (*Index, error) {
	if len(b) < 16 || [8]byte(b[:8]) != indexMagic {
		return nil, fmt.Errorf("bad header: %w", ErrCorruptIndex)
	}
	n := binary.LittleEndian.Uint32(b[8:12])
	if n > MaxIndexPartitions || len(b) != 12+int(n)*entrySize+4 {
		return nil, fmt.Errorf("length %d does not match %d entries: %w", len(b), n, ErrCorruptIndex)
	}
	body := b[:len(b)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("checksum mismatch: %w", ErrCorruptIndex)
	}
	ix := &Index{Entries: make([]IndexEntry, n)}
	var end int64
	for i := range ix.Entries {
		p := body[12+i*entrySize:]
		e := IndexEntry{
			Offset:  int64(binary.LittleEndian.Uint64(p[0:])),
			Length:  int64(binary.LittleEndian.Uint64(p[8:])),
			Rows:    int64(binary.LittleEndian.Uint64(p[16:])),
			Batches: int64(binary.LittleEndian.Uint64(p[24:])),
		}
		if e.Offset < end || e.Length < 0 || e.Rows < 0 || e.Batches < 0 || e.Offset+e.Length < e.Offset {
			return nil, fmt.Errorf("entry %d out of order or negative: %w", i, ErrCorruptIndex)
		}
		end = e.Offset + e.Length
		ix.Entries[i] = e
	}
	return ix, nil
}
