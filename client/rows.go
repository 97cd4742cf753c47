package client

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"

	kflight "github.com/kapot-go/kapot/flight"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Rows streams a result; it is an array.RecordReader. Each batch is valid
// until the next call to Next; Retain it to keep it.
//
// Rows is the one reader of job results: the Go client, kapot sql and the
// scheduler's Flight SQL proxy all read partitions through it. A result
// partition is read from the executor that holds it with Flight DoGet; one
// that cannot be read because its executor is gone is recovered (see
// RecoverFunc) and read again from its new place, if none of its rows had
// been passed on yet.
type Rows struct {
	// JobID is the job that computed the rows ("" for a statement's
	// inline answer).
	JobID   string
	ctx     context.Context
	fetch   *kflight.Client
	mem     memory.Allocator
	schema  *arrow.Schema
	locs    []*kapotv1.PartitionLocation
	recover RecoverFunc
	// whole reads each partition completely before passing on its first
	// batch, so a partition lost half-way is always read again.
	whole bool
	next  int
	// recoveries counts partitions recovered; sent is set once the open
	// partition yielded a batch.
	recoveries int
	sent       bool
	rdr        *flight.Reader
	cancel     context.CancelFunc
	buf        []arrow.RecordBatch // read ahead, not yet passed on
	cur        arrow.RecordBatch
	err        error
	refs       atomic.Int64
}

// RecoverFunc is asked for the new location of result partition loc after
// it could not be read from its executor (Unavailable or NotFound): the
// scheduler probes the executor and, if it is lost, computes the partition
// again. An error means the partition is lost for good.
type RecoverFunc func(ctx context.Context, loc *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error)

var _ array.RecordReader = (*Rows)(nil)

// maxResultRecoveries bounds how often one read of a job's results
// recovers a partition.
const maxResultRecoveries = 3

// NewRows reads the result partitions locs (in order) of job jobID, whose
// result schema is schema, through fetch. recover may be nil (no
// recovery). Cancelling ctx stops the stream.
func NewRows(ctx context.Context, fetch *kflight.Client, mem memory.Allocator, jobID string, schema *arrow.Schema,
	locs []*kapotv1.PartitionLocation, recover RecoverFunc) *Rows {
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
	r := &Rows{JobID: jobID, ctx: ctx, fetch: fetch, mem: mem, schema: schema, locs: locs, recover: recover}
	r.refs.Store(1)
	return r
}

// batchRows is a Rows over batches already in memory (it takes them over).
func batchRows(schema *arrow.Schema, bs []arrow.RecordBatch) *Rows {
	r := &Rows{ctx: context.Background(), schema: schema, buf: bs}
	r.refs.Store(1)
	return r
}

// Schema is the result's schema, columns under their SQL names.
func (r *Rows) Schema() *arrow.Schema { return r.schema }

// Next advances to the next batch, opening result partitions as it goes.
func (r *Rows) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for r.err == nil {
		if len(r.buf) > 0 {
			r.cur, r.buf = r.buf[0], r.buf[1:]
			return true
		}
		if r.rdr != nil {
			if r.rdr.Next() {
				b := r.rdr.RecordBatch()
				b.Retain()
				if r.whole {
					r.buf = append(r.buf, b)
					continue
				}
				r.cur, r.sent = b, true
				return true
			}
			err := r.rdr.Err()
			r.closeReader()
			if err != nil {
				loc := r.locs[r.next-1]
				err = fmt.Errorf("read result partition %d from %s: %w", loc.GetMapPartition(), kflight.Addr(loc.GetExecutor()), err)
				if r.whole {
					release(r.buf)
					r.buf = nil
				}
				// A partition lost before any of its rows were passed on
				// is read again once recomputed; after, rows would repeat.
				if r.sent || !r.recoverPartition(err) {
					r.err = err
				}
				continue
			}
			if r.whole {
				r.sent = true
			}
			continue
		}
		if r.next >= len(r.locs) {
			return false
		}
		loc := r.locs[r.next]
		r.next++
		if loc.GetStats() != nil && loc.GetStats().GetNumRows() == 0 {
			continue
		}
		rdr, cancel, err := r.fetch.DoGet(r.ctx, loc, r.mem)
		if err != nil {
			err = fmt.Errorf("fetch result partition %d from %s: %w", loc.GetMapPartition(), kflight.Addr(loc.GetExecutor()), err)
			if !r.recoverPartition(err) {
				r.err = err
			}
			continue
		}
		r.rdr, r.cancel, r.sent = rdr, cancel, false
	}
	return false
}

// recoverPartition asks for the new place of the partition last opened,
// which could not be read (err), and points r at it so it is read again.
// It reports whether it did.
func (r *Rows) recoverPartition(err error) bool {
	if r.recover == nil || !resultLost(err) || r.ctx.Err() != nil || r.recoveries >= maxResultRecoveries {
		return false
	}
	r.recoveries++
	loc, rerr := r.recover(r.ctx, r.locs[r.next-1])
	if rerr != nil || loc == nil {
		return false
	}
	r.locs = append([]*kapotv1.PartitionLocation(nil), r.locs...)
	r.next--
	r.locs[r.next] = loc // the same partition, from where it is now
	return true
}

func (r *Rows) closeReader() {
	if r.rdr != nil {
		r.rdr.Release()
		r.cancel()
		r.rdr, r.cancel = nil, nil
	}
}

// RecordBatch is the current batch.
func (r *Rows) RecordBatch() arrow.RecordBatch { return r.cur }

// Record is the current batch.
//
// Deprecated: use RecordBatch.
func (r *Rows) Record() arrow.RecordBatch { return r.cur }

// Err is the error that ended the stream, if any.
func (r *Rows) Err() error { return r.err }

// Retain adds a reference.
func (r *Rows) Retain() { r.refs.Add(1) }

// Release drops a reference; the last one closes the stream.
func (r *Rows) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	release(r.buf)
	r.buf = nil
	r.closeReader()
}

// ReadAll drains r into retained batches (release them) and releases r.
func ReadAll(r *Rows) ([]arrow.RecordBatch, error) {
	defer r.Release()
	var out []arrow.RecordBatch
	for r.Next() {
		b := r.RecordBatch()
		b.Retain()
		out = append(out, b)
	}
	if err := r.Err(); err != nil {
		release(out)
		return nil, err
	}
	return out, nil
}

// samePartition finds in locs the location of the result partition loc
// names (the same stage, map and output partition).
func samePartition(locs []*kapotv1.PartitionLocation, loc *kapotv1.PartitionLocation) *kapotv1.PartitionLocation {
	for _, l := range locs {
		if l.GetStageId() == loc.GetStageId() && l.GetMapPartition() == loc.GetMapPartition() && l.GetOutputPartition() == loc.GetOutputPartition() {
			return l
		}
	}
	return nil
}
