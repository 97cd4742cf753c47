package shuffle

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/s2"
)

// Compression names how shuffle files are compressed.
type Compression string

// Supported compressions. None, LZ4 and Zstd are Arrow IPC body
// compression (every buffer of every batch, as it is encoded); Auto
// encodes batches uncompressed and compresses the bytes of a task's output
// with S2 only when it is very large (see autoCompressBytes): below that,
// an output costs less to write and read raw (page cache and loopback)
// than to compress.
const (
	CompressionNone Compression = "none"
	CompressionLZ4  Compression = "lz4"
	CompressionZstd Compression = "zstd"
	CompressionAuto Compression = "auto"
)

// autoCompressBytes is the size of a map task's encoded output (spilled
// runs and buffers together) from which CompressionAuto compresses it.
// TPC-H SF 1 (tasks of at most about 50 MiB) ran 5-9 % faster with shuffle
// files uncompressed than with LZ4; at SF 10 (tasks of up to about 500
// MiB, which spill) uncompressed files ran Q9/Q10/Q13/Q18/Q21 0.92x against
// S2 from 32 MiB (S2 was 6 % of the executors' CPU over the 22 queries).
// Past a GiB a task's output is a large share of a machine's page cache,
// and the disk's writeback, not the CPU, bounds it.
const autoCompressBytes = 1 << 30

// ParseCompression accepts "", none, lz4, zstd and auto ("" means auto).
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", CompressionAuto:
		return CompressionAuto, nil
	case CompressionNone, CompressionLZ4, CompressionZstd:
		return Compression(s), nil
	}
	return "", fmt.Errorf("shuffle compression %q: want none, lz4, zstd or auto", s)
}

func (c Compression) options() []ipc.Option {
	switch c {
	case CompressionLZ4:
		return []ipc.Option{ipc.WithLZ4()}
	case CompressionZstd:
		return []ipc.Option{ipc.WithZstd()}
	}
	return nil
}

// PartitionStats counts what a map task wrote to one output partition.
type PartitionStats struct {
	Rows, Batches, Bytes int64
}

// FileWriter writes one map task's output partitions to one data file.
// It encodes each partition as an IPC stream into a memory buffer. When the
// buffers outgrow the task's budget (or the memory reservation refuses
// them), it spills: every partition's encoded bytes so far are appended,
// one after the other, to the data file's temporary and the buffers start
// empty. Finish appends each partition's in-memory rest and an index that
// lists each partition's chunks (a stream read in their order), then
// renames the file into place: spilled bytes are written once, never
// copied (a copy into a contiguous layout wrote and read them again, and
// through the page cache that doubled a spilling task's time: TPC-H Q18
// over unsorted files, 0.95 s against 0.62 s with a buffer large enough
// not to spill). A compressed output (CompressionAuto past
// autoCompressBytes) is the exception: its partitions are S2 streams
// compressed at Finish from the chunks, written to a new file; so is an
// output spilled so often that its chunked index would pass
// maxIndexBytes, laid out contiguously by copying. No batch is decoded
// or encoded twice.
type FileWriter struct {
	dataPath string
	schema   *arrow.Schema
	parts    []partBuffer
	done     bool

	budget   int64 // bytes buffered before a spill; 0: unlimited
	res      MemoryReservation
	buffered int64
	// spillF is the data file's temporary, which spills append to (nil:
	// none yet); spans are each partition's spilled chunks in it, in
	// order, and spillOff where the next goes.
	spillF   *os.File
	spans    [][]Span
	spillOff int64

	spills       int
	spilledBytes int64

	// auto: CompressionAuto, whose partitions are S2 streams when the
	// output reaches autoBytes (decided at Finish: spilled runs are raw);
	// enc is the one S2 encoder, reset for every partition.
	auto, compressed bool
	autoBytes        int64
	enc              *s2.Writer
}

// MemoryReservation is the part of an execution memory pool's reservation
// the writer uses to account for its buffers.
type MemoryReservation interface {
	TryGrow(n int64) error
	Free()
}

// SetBudget makes the writer spill when its buffers exceed budget bytes
// (0: no limit) or when res (may be nil) refuses to grow.
func (w *FileWriter) SetBudget(budget int64, res MemoryReservation) {
	w.budget, w.res = budget, res
}

// Spills is how many runs the writer spilled.
func (w *FileWriter) Spills() int { return w.spills }

// SpilledBytes is the total size of the runs the writer spilled.
func (w *FileWriter) SpilledBytes() int64 { return w.spilledBytes }

type partBuffer struct {
	buf     chunkBuffer
	w       *ipc.Writer
	rows    int64
	batches int64
}

// NewFileWriter prepares the output of map task (jobID, stageID, mapPartition)
// with n output partitions of the given schema.
func NewFileWriter(workDir, jobID string, stageID, mapPartition uint32, n int, schema *arrow.Schema, mem memory.Allocator, c Compression) (*FileWriter, error) {
	data, err := Path(workDir, jobID, stageID, mapPartition)
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("shuffle writer: %d output partitions", n)
	}
	w := &FileWriter{dataPath: data, schema: schema, parts: make([]partBuffer, n), auto: c == CompressionAuto, autoBytes: autoCompressBytes}
	opts := append([]ipc.Option{ipc.WithSchema(schema), ipc.WithAllocator(mem)}, c.options()...)
	for i := range w.parts {
		p := &w.parts[i]
		p.w = ipc.NewWriter(&p.buf, opts...)
	}
	return w, nil
}

// Write appends batch to output partition p. The caller keeps ownership.
func (w *FileWriter) Write(p int, batch arrow.RecordBatch) error {
	if p < 0 || p >= len(w.parts) {
		return fmt.Errorf("shuffle writer: output partition %d out of range [0,%d)", p, len(w.parts))
	}
	if batch.NumRows() == 0 {
		return nil
	}
	part := &w.parts[p]
	before := part.buf.Len()
	if err := part.w.Write(batch); err != nil {
		return fmt.Errorf("shuffle writer: encode partition %d: %w", p, err)
	}
	part.rows += batch.NumRows()
	part.batches++
	grown := int64(part.buf.Len() - before)
	w.buffered += grown
	refused := w.res != nil && w.res.TryGrow(grown) != nil
	if refused || (w.budget > 0 && w.buffered > w.budget) {
		return w.spill()
	}
	return nil
}

// spill appends every partition's buffered bytes to the data file's
// temporary.
func (w *FileWriter) spill() error {
	if w.spillF == nil {
		dir := filepath.Dir(w.dataPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("shuffle writer: %w", err)
		}
		f, err := os.CreateTemp(dir, "."+filepath.Base(w.dataPath)+".tmp-*")
		if err != nil {
			return fmt.Errorf("shuffle writer: spill: %w", err)
		}
		w.spillF, w.spans = f, make([][]Span, len(w.parts)) // removed by Finish or Abort
	}
	start := w.spillOff
	if err := w.appendBuffers(); err != nil {
		return err
	}
	w.buffered = 0
	w.spills++
	w.spilledBytes += w.spillOff - start
	if w.res != nil {
		w.res.Free()
	}
	return nil
}

// appendBuffers appends every partition's buffered bytes to spillF, each
// a span of its partition, and empties the buffers.
func (w *FileWriter) appendBuffers() error {
	for i := range w.parts {
		n, err := w.parts[i].buf.WriteTo(w.spillF)
		if err != nil {
			return fmt.Errorf("shuffle writer: spill %s: %w", w.spillF.Name(), err)
		}
		if n > 0 {
			w.spans[i] = append(w.spans[i], Span{Offset: w.spillOff, Length: n})
			w.spillOff += n
		}
		w.parts[i].buf.Reset()
	}
	return nil
}

// removeSpill removes the data file's temporary (unless Finish renamed it).
func (w *FileWriter) removeSpill() {
	if w.spillF != nil {
		w.spillF.Close()
		os.Remove(w.spillF.Name())
		w.spillF = nil
	}
	if w.res != nil {
		w.res.Free()
	}
}

// Finish writes the output's file (its partitions, the index and the
// index's offset) through a temporary file renamed into place, and returns
// per-partition stats.
func (w *FileWriter) Finish() ([]PartitionStats, error) {
	if w.done {
		return nil, fmt.Errorf("shuffle writer: already finished")
	}
	w.done = true
	defer w.removeSpill()
	for i := range w.parts {
		if err := w.parts[i].w.Close(); err != nil {
			return nil, fmt.Errorf("shuffle writer: close partition %d: %w", i, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(w.dataPath), 0o755); err != nil {
		return nil, fmt.Errorf("shuffle writer: %w", err)
	}
	if w.auto {
		total := w.spilledBytes
		for i := range w.parts {
			total += int64(w.parts[i].buf.Len())
		}
		w.compressed = total >= w.autoBytes
	}
	if w.spillF != nil && !w.compressed && w.chunkedIndexBytes() <= maxIndexBytes {
		return w.finishSpilled()
	}
	stats := make([]PartitionStats, len(w.parts))
	ix := &Index{Entries: make([]IndexEntry, len(w.parts))}
	var off int64
	err := writeAtomic(w.dataPath, func(f *os.File) error {
		for i := range w.parts {
			p := &w.parts[i]
			n, err := w.writePartition(f, i)
			if err != nil {
				return err
			}
			ix.Entries[i] = IndexEntry{Offset: off, Length: n, Rows: p.rows, Batches: p.batches}
			stats[i] = PartitionStats{Rows: p.rows, Batches: p.batches, Bytes: n}
			off += n
			p.buf.Reset()
		}
		// The index, then where it starts.
		_, err := f.Write(binary.LittleEndian.AppendUint64(ix.Encode(), uint64(off)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("shuffle writer: write %s: %w", w.dataPath, err)
	}
	return stats, nil
}

// Abort drops buffered output; nothing is left on disk.
func (w *FileWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	for i := range w.parts {
		w.parts[i].w.Close()
		w.parts[i].buf.Reset()
	}
	w.removeSpill()
}

// chunkedIndexBytes is the size of the chunked index of the output's
// spans so far and one more span a partition: past maxIndexBytes (a
// reader refuses it) the output is laid out contiguously instead.
func (w *FileWriter) chunkedIndexBytes() int64 {
	n := int64(16 + len(w.parts)*(entrySize+4+16))
	for _, sp := range w.spans {
		n += int64(16 * len(sp))
	}
	return n
}

// finishSpilled finishes an uncompressed output that spilled: the rest of
// each partition and the index go after the spilled chunks in the data
// file's temporary, which is renamed into place.
func (w *FileWriter) finishSpilled() ([]PartitionStats, error) {
	if err := w.appendBuffers(); err != nil {
		return nil, err
	}
	stats := make([]PartitionStats, len(w.parts))
	ix := &Index{Entries: make([]IndexEntry, len(w.parts))}
	for i := range w.parts {
		p := &w.parts[i]
		e := IndexEntry{Offset: w.spillOff, Rows: p.rows, Batches: p.batches}
		var n int64
		if sp := w.spans[i]; len(sp) > 0 {
			e.Offset, e.Length, e.Rest = sp[0].Offset, sp[0].Length, sp[1:]
		}
		for _, sp := range w.spans[i] {
			n += sp.Length
		}
		ix.Entries[i] = e
		stats[i] = PartitionStats{Rows: p.rows, Batches: p.batches, Bytes: n}
	}
	if _, err := w.spillF.Write(binary.LittleEndian.AppendUint64(ix.Encode(), uint64(w.spillOff))); err != nil {
		return nil, fmt.Errorf("shuffle writer: write %s: %w", w.dataPath, err)
	}
	if err := w.spillF.Close(); err != nil {
		return nil, fmt.Errorf("shuffle writer: write %s: %w", w.dataPath, err)
	}
	if err := os.Rename(w.spillF.Name(), w.dataPath); err != nil {
		return nil, fmt.Errorf("shuffle writer: write %s: %w", w.dataPath, err)
	}
	w.spillF = nil
	return stats, nil
}

// writePartition writes partition i's bytes (its spilled chunks, then its
// buffer) to f, as one S2 stream when the output is compressed (nothing
// for no bytes), and returns how many bytes f got.
func (w *FileWriter) writePartition(f io.Writer, i int) (int64, error) {
	b := &w.parts[i].buf
	size := int64(b.Len())
	var spans []Span
	if w.spans != nil {
		spans = w.spans[i]
	}
	for _, sp := range spans {
		size += sp.Length
	}
	if size == 0 {
		return 0, nil
	}
	cw := &countingWriter{w: f}
	var dst io.Writer = cw
	if w.compressed {
		if w.enc == nil {
			// One goroutine: the task's own (s2 starts GOMAXPROCS by default).
			w.enc = s2.NewWriter(cw, s2.WriterConcurrency(1), s2.WriterBlockSize(s2BlockSize))
		} else {
			w.enc.Reset(cw)
		}
		dst = w.enc
	}
	for _, sp := range spans {
		if _, err := io.Copy(dst, io.NewSectionReader(w.spillF, sp.Offset, sp.Length)); err != nil {
			return cw.n, fmt.Errorf("copy spilled chunk of %s: %w", w.spillF.Name(), err)
		}
	}
	if _, err := b.WriteTo(dst); err != nil {
		return cw.n, err
	}
	if w.compressed {
		if err := w.enc.Close(); err != nil {
			return cw.n, err
		}
	}
	return cw.n, nil
}

// s2BlockSize is the block size of shuffle chunks' S2 streams (and the
// largest a reader accepts).
const s2BlockSize = 1 << 20

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeAtomic fills a temporary file and renames it to path, so readers see
// the whole file or none. It does not fsync: shuffle output does not outlive
// its executor (a crashed executor's map outputs are recomputed elsewhere),
// and a sync per map task costs more than the write.
func writeAtomic(path string, fill func(*os.File) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// chunkBuffer is an append-only byte buffer kept as a list of fixed-size
// chunks, so growing it never copies what it already holds (a bytes.Buffer
// doubling to tens of MiB spends more time copying than encoding).
type chunkBuffer struct {
	chunks [][]byte
	n      int
}

// Chunks start small (a wide shuffle has many small partitions) and grow
// to bufferChunk.
const (
	firstChunk  = 64 << 10
	bufferChunk = 1 << 20
)

func (c *chunkBuffer) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if len(c.chunks) == 0 || len(c.chunks[len(c.chunks)-1]) == cap(c.chunks[len(c.chunks)-1]) {
			c.chunks = append(c.chunks, make([]byte, 0, min(bufferChunk, max(firstChunk, c.n))))
		}
		last := &c.chunks[len(c.chunks)-1]
		k := min(len(p), cap(*last)-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	c.n += total
	return total, nil
}

// Len is the number of bytes held.
func (c *chunkBuffer) Len() int { return c.n }

// WriteTo writes the held bytes to w, in order.
func (c *chunkBuffer) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, ch := range c.chunks {
		m, err := w.Write(ch)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Reset empties the buffer, keeping the first chunk for reuse.
func (c *chunkBuffer) Reset() {
	if len(c.chunks) > 0 {
		c.chunks = c.chunks[:1]
		c.chunks[0] = c.chunks[0][:0]
	}
	c.n = 0
}
