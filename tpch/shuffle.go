package tpch

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ShuffleOptions says how Shuffle rewrites tables.
type ShuffleOptions struct {
	// Seed fixes the permutation: the same seed and input give the same
	// files.
	Seed uint64
	// Compression is the Parquet codec, as for Options.
	Compression string
	// BucketRows bounds the rows held in memory at once (0: 1<<19, about
	// 80 MB of lineitem).
	BucketRows int
}

// Shuffle rewrites every TPC-H table found under src (Parquet, as Generate
// writes it) into dst/<table>/part-<i>.parquet with its rows in a uniformly
// random order fixed by o.Seed, so that no column is sorted across or
// within files: the layout of files written by engines that do not keep
// the generator's key order. Each table keeps its number of files (rows
// split evenly among them) and Generate's writer settings, with row groups
// of 65,536 rows.
//
// Memory stays bounded whatever the scale factor: rows are first dealt at
// random into buckets of about o.BucketRows rows (Arrow IPC files under
// dst), then each bucket is permuted in memory and appended to the output;
// a random deal followed by a permutation of each bucket is a uniform
// permutation of the whole table.
func Shuffle(ctx context.Context, src, dst string, o ShuffleOptions) error {
	if _, err := Codec(o.Compression); err != nil {
		return err
	}
	if o.BucketRows <= 0 {
		o.BucketRows = 1 << 19
	}
	found := 0
	for _, t := range Tables {
		files, err := Files(src, t)
		if err != nil {
			continue
		}
		found++
		if err := shuffleTable(ctx, t, files, filepath.Join(dst, t), o); err != nil {
			return fmt.Errorf("tpch: shuffle %s: %w", t, err)
		}
	}
	if found == 0 {
		return fmt.Errorf("tpch: shuffle: no TPC-H tables under %s", src)
	}
	return nil
}

func shuffleTable(ctx context.Context, table string, files []string, dir string, o ShuffleOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var total int64
	for _, f := range files {
		if filepath.Ext(f) != ".parquet" {
			return fmt.Errorf("%s: only Parquet files are shuffled", f)
		}
		r, err := file.OpenParquetFile(f, false)
		if err != nil {
			return err
		}
		total += r.NumRows()
		r.Close()
	}
	h := fnv.New64a()
	h.Write([]byte(table))
	rng := rand.New(rand.NewPCG(o.Seed, h.Sum64()))
	nb := max(1, int((total+int64(o.BucketRows)-1)/int64(o.BucketRows)))
	mem := memory.NewGoAllocator()
	buckets := make([]string, nb)
	for i := range buckets {
		buckets[i] = filepath.Join(dir, fmt.Sprintf(".bucket-%d.arrows", i))
	}
	defer func() {
		for _, b := range buckets {
			os.Remove(b)
		}
	}()
	schema, err := deal(ctx, files, buckets, rng, mem)
	if err != nil {
		return err
	}
	out := &splitWriter{dir: dir, files: len(files), total: total, schema: schema, o: o}
	defer out.abort()
	for _, b := range buckets {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := readPermuted(ctx, b, schema, rng, mem)
		if err != nil {
			return err
		}
		err = out.write(rec)
		rec.Release()
		if err != nil {
			return err
		}
		os.Remove(b)
	}
	return out.close()
}

// deal reads the table's files and appends each row to a bucket drawn at
// random; it returns the table's schema.
func deal(ctx context.Context, files, buckets []string, rng *rand.Rand, mem memory.Allocator) (*arrow.Schema, error) {
	var (
		schema  *arrow.Schema
		writers = make([]*ipc.Writer, len(buckets))
		outs    = make([]*os.File, len(buckets))
		idx     = make([]*array.Int64Builder, len(buckets))
	)
	defer func() {
		for i := range buckets {
			if writers[i] != nil {
				writers[i].Close()
			}
			if outs[i] != nil {
				outs[i].Close()
			}
			if idx[i] != nil {
				idx[i].Release()
			}
		}
	}()
	for _, f := range files {
		err := readParquet(ctx, f, mem, func(rec arrow.RecordBatch) error {
			if schema == nil {
				schema = rec.Schema()
				for i := range buckets {
					var err error
					if outs[i], err = os.Create(buckets[i]); err != nil {
						return err
					}
					writers[i] = ipc.NewWriter(outs[i], ipc.WithSchema(schema), ipc.WithLZ4(), ipc.WithAllocator(mem))
					idx[i] = array.NewInt64Builder(mem)
				}
			}
			for r := int64(0); r < rec.NumRows(); r++ {
				idx[rng.IntN(len(buckets))].Append(r)
			}
			for i, b := range idx {
				if b.Len() == 0 {
					continue
				}
				ind := b.NewArray()
				part, err := take(ctx, rec, ind)
				ind.Release()
				if err != nil {
					return err
				}
				err = writers[i].Write(part)
				part.Release()
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if schema == nil {
		return nil, fmt.Errorf("no rows and no schema in %v", files)
	}
	for i := range buckets {
		if err := writers[i].Close(); err != nil {
			return nil, err
		}
		writers[i] = nil
		if err := outs[i].Close(); err != nil {
			return nil, err
		}
		outs[i] = nil
	}
	return schema, nil
}

// readParquet calls fn with each record batch of a Parquet file (fn does
// not keep it).
func readParquet(ctx context.Context, path string, mem memory.Allocator, fn func(arrow.RecordBatch) error) error {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: batchRows}, mem)
	if err != nil {
		return err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	for rr.Next() {
		if err := fn(rr.RecordBatch()); err != nil {
			return err
		}
	}
	return rr.Err()
}

// readPermuted reads a bucket whole and returns its rows in a random order.
func readPermuted(ctx context.Context, path string, schema *arrow.Schema, rng *rand.Rand, mem memory.Allocator) (arrow.RecordBatch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := ipc.NewReader(f, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err != nil {
		return nil, err
	}
	defer rd.Release()
	cols := make([][]arrow.Array, schema.NumFields())
	var n int64
	for rd.Next() {
		rec := rd.RecordBatch()
		for i := range cols {
			c := rec.Column(i)
			c.Retain()
			cols[i] = append(cols[i], c)
		}
		n += rec.NumRows()
	}
	defer func() {
		for _, cs := range cols {
			for _, c := range cs {
				c.Release()
			}
		}
	}()
	if err := rd.Err(); err != nil {
		return nil, err
	}
	whole := make([]arrow.Array, len(cols))
	for i, cs := range cols {
		if len(cs) == 0 {
			whole[i] = array.MakeArrayOfNull(mem, schema.Field(i).Type, 0)
			continue
		}
		if whole[i], err = array.Concatenate(cs, mem); err != nil {
			return nil, err
		}
	}
	all := array.NewRecordBatch(schema, whole, n)
	for _, c := range whole {
		c.Release()
	}
	defer all.Release()
	b := array.NewInt64Builder(mem)
	defer b.Release()
	for _, p := range rng.Perm(int(n)) {
		b.Append(int64(p))
	}
	ind := b.NewArray()
	defer ind.Release()
	return take(ctx, all, ind)
}

// take returns the rows of rec at the given indices, in their order.
func take(ctx context.Context, rec arrow.RecordBatch, ind arrow.Array) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		var err error
		if cols[i], err = compute.TakeArray(ctx, rec.Column(i), ind); err != nil {
			return nil, err
		}
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(ind.Len())), nil
}

// splitWriter writes a stream of rows as files part-0 … part-(files-1),
// total rows split evenly.
type splitWriter struct {
	dir     string
	files   int
	total   int64
	schema  *arrow.Schema
	o       ShuffleOptions
	cur     int      // the file being written
	written int64    // rows written to all files so far
	f       *os.File // closed by w.Close
	w       *pqarrow.FileWriter
}

// end is the row at which file i ends.
func (s *splitWriter) end(i int) int64 { return s.total * int64(i+1) / int64(s.files) }

func (s *splitWriter) write(rec arrow.RecordBatch) error {
	for off := int64(0); off < rec.NumRows(); {
		if s.w == nil {
			if err := s.open(); err != nil {
				return err
			}
		}
		n := min(rec.NumRows()-off, s.end(s.cur)-s.written)
		if n > 0 {
			part := rec.NewSlice(off, off+n)
			err := s.w.WriteBuffered(part)
			part.Release()
			if err != nil {
				return err
			}
			off += n
			s.written += n
		}
		if s.written == s.end(s.cur) {
			if err := s.finish(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *splitWriter) open() error {
	path := filepath.Join(s.dir, fmt.Sprintf("part-%d.parquet", s.cur))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	codec, _ := Codec(s.o.Compression)
	props := []parquet.WriterProperty{parquet.WithCompression(codec), parquet.WithStoreDecimalAsInteger(true),
		parquet.WithMaxRowGroupLength(batchRows)}
	for _, fl := range s.schema.Fields() {
		if fl.Type.ID() != arrow.STRING {
			props = append(props, parquet.WithDictionaryFor(fl.Name, false))
		}
	}
	w, err := pqarrow.NewFileWriter(s.schema, f, parquet.NewWriterProperties(props...), pqarrow.DefaultWriterProps())
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.w = f, w
	return nil
}

// finish closes the current file and moves to the next.
func (s *splitWriter) finish() error {
	if s.w == nil {
		if err := s.open(); err != nil { // an empty file keeps the count
			return err
		}
	}
	err := s.w.Close() // closes the file too
	s.w, s.f = nil, nil
	s.cur++
	return err
}

// close finishes the remaining files (those of a table with fewer rows
// than files are empty).
func (s *splitWriter) close() error {
	for s.cur < s.files {
		if err := s.finish(); err != nil {
			return err
		}
	}
	return nil
}

// abort closes what is open after an error.
func (s *splitWriter) abort() {
	if s.w != nil {
		s.w.Close()
		s.w, s.f = nil, nil
	}
}
