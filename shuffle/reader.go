package shuffle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/s2"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// ErrNotFound marks a map output that is not on this executor.
var ErrNotFound = errors.New("shuffle partition not found")

// Segment is one output partition's stored IPC stream, open for reading
// (its spans in order).
type Segment struct {
	io.Reader
	Entry IndexEntry
	f     *os.File
}

// Close closes the underlying data file.
func (s *Segment) Close() error { return s.f.Close() }

// OpenPartition opens output partition out of map task (jobID, stageID,
// mapPartition) under workDir. It refuses ids that are not plain names and
// files that resolve (through symlinks) outside workDir.
func OpenPartition(workDir, jobID string, stageID, mapPartition, out uint32) (*Segment, error) {
	dataPath, err := Path(workDir, jobID, stageID, mapPartition)
	if err != nil {
		return nil, err
	}
	realData, err := ResolveInside(workDir, dataPath)
	if err != nil {
		return nil, notFound(err, jobID, stageID, mapPartition)
	}
	f, err := os.Open(realData)
	if err != nil {
		return nil, notFound(err, jobID, stageID, mapPartition)
	}
	ix, end, err := readIndex(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", dataPath, err)
	}
	if int(out) >= len(ix.Entries) {
		f.Close()
		return nil, fmt.Errorf("job %s stage %d map %d has %d output partitions, not %d: %w", jobID, stageID, mapPartition, len(ix.Entries), out, ErrNotFound)
	}
	e := ix.Entries[out]
	var rs []io.Reader
	for _, s := range e.spans() {
		if s.Offset+s.Length > end {
			f.Close()
			return nil, fmt.Errorf("%s shorter than its index says: %w", dataPath, ErrCorruptIndex)
		}
		rs = append(rs, io.NewSectionReader(f, s.Offset, s.Length))
	}
	r := rs[0]
	if len(rs) > 1 {
		r = io.MultiReader(rs...)
	}
	return &Segment{Reader: r, Entry: e, f: f}, nil
}

// readIndex reads the index at the end of a map output's file (see the
// package comment) and returns it with where the partitions end.
func readIndex(f *os.File) (*Index, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := st.Size()
	if size < 8 {
		return nil, 0, fmt.Errorf("%d bytes, no index: %w", size, ErrCorruptIndex)
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return nil, 0, err
	}
	at := int64(binary.LittleEndian.Uint64(tail[:]))
	if at < 0 || at > size-8-16 {
		return nil, 0, fmt.Errorf("index at %d of %d bytes: %w", at, size, ErrCorruptIndex)
	}
	// The index's header says how long it is: a garbage offset costs no
	// allocation of the rest of the file.
	var head [12]byte
	if _, err := f.ReadAt(head[:], at); err != nil {
		return nil, 0, fmt.Errorf("index at %d of %d bytes: %v: %w", at, size, err, ErrCorruptIndex)
	}
	n := int64(binary.LittleEndian.Uint32(head[8:]))
	switch l := size - 8 - at; {
	case n > MaxIndexPartitions:
		return nil, 0, fmt.Errorf("index at %d of %d bytes: %w", at, size, ErrCorruptIndex)
	case [8]byte(head[:8]) == indexMagic && l == 16+n*entrySize:
	case [8]byte(head[:8]) == chunkedMagic && l >= 16+n*(entrySize+4) && l <= maxIndexBytes:
	default:
		return nil, 0, fmt.Errorf("index at %d of %d bytes: %w", at, size, ErrCorruptIndex)
	}
	b := make([]byte, size-8-at)
	if _, err := f.ReadAt(b, at); err != nil {
		return nil, 0, fmt.Errorf("index at %d of %d bytes: %v: %w", at, size, err, ErrCorruptIndex)
	}
	ix, err := DecodeIndex(b)
	if err != nil {
		return nil, 0, err
	}
	return ix, at, nil
}

// s2Magic opens every S2 stream (its stream identifier chunk); an Arrow
// IPC stream opens with 0xFFFFFFFF.
var s2Magic = []byte("\xff\x06\x00\x00S2sTwO")

// Decompressed returns the Arrow IPC stream of a partition's stored bytes,
// read through br: the bytes themselves, or their decoding when they are
// S2 streams (CompressionAuto's large outputs).
func Decompressed(br *bufio.Reader) io.Reader {
	if b, err := br.Peek(len(s2Magic)); err == nil && bytes.Equal(b, s2Magic) {
		return s2.NewReader(br, s2.ReaderMaxBlockSize(s2BlockSize))
	}
	return br
}

func notFound(err error, jobID string, stageID, mapPartition uint32) error {
	if errors.Is(err, ErrPathEscape) {
		return err
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("job %s stage %d map %d: %w", jobID, stageID, mapPartition, ErrNotFound)
	}
	return err
}

// Fetcher reads map output partitions held by other executors.
type Fetcher interface {
	// Fetch returns the raw IPC stream of the partition at loc. The caller
	// closes it. Failures are reported as *FetchError.
	Fetch(ctx context.Context, loc *kapotv1.PartitionLocation) (io.ReadCloser, error)
}

// FetchError says which map output could not be read, so the scheduler can
// re-run exactly that map task.
type FetchError struct {
	ExecutorID   string
	JobID        string
	MapStageID   uint32
	MapPartition uint32
	Err          error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("fetch job %s stage %d map partition %d from executor %s: %v", e.JobID, e.MapStageID, e.MapPartition, e.ExecutorID, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }
