package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"

	kflight "github.com/kapot-go/kapot/flight"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Session runs SQL on the cluster: it holds the tables SQL can name (a
// planner catalog), plans each query here and runs it as a job.
//
//	cl, _ := client.Dial("127.0.0.1:50050", nil)
//	s := cl.NewSession(nil)
//	_ = s.Exec(ctx, "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/data/t/'")
//	rows, _ := s.Query(ctx, "SELECT k, count(*) FROM t GROUP BY k")
//	defer rows.Release()
//	for rows.Next() { use(rows.RecordBatch()) }
//	err := rows.Err()
type Session struct {
	c     *Client
	cat   *planner.Catalog
	props map[string]string
	// Options are the planner's. TargetPartitions 0 (the default) takes
	// the session property kapot.shuffle.partitions, else one partition
	// per task slot of the cluster's live executors (PlanOptions).
	Options planner.Options
}

// NewSession starts a session with an empty catalog; props are session
// properties (e.g. kapot.s3.endpoint) for its catalog and its jobs.
func (c *Client) NewSession(props map[string]string) *Session {
	return c.NewSessionWith(planner.NewCatalogWith(nil, props), props)
}

// NewSessionWith starts a session over an existing catalog.
func (c *Client) NewSessionWith(cat *planner.Catalog, props map[string]string) *Session {
	return &Session{c: c, cat: cat, props: props}
}

// PlanOptions are the planner options the session's next query is planned
// with: Options, with the partition count of hash exchanges resolved
// (Options.TargetPartitions, else kapot.shuffle.partitions, else the
// cluster's task slots, at most planner.MaxAutoPartitions).
func (s *Session) PlanOptions(ctx context.Context) (planner.Options, error) {
	o := s.Options
	if o.TargetPartitions > 0 {
		return o, nil
	}
	n, err := planner.PartitionsProperty(s.props)
	if err != nil || n > 0 {
		o.TargetPartitions = n
		return o, err
	}
	slots, err := s.c.ClusterSlots(ctx)
	if err != nil {
		return o, fmt.Errorf("count the cluster's task slots (set %s to skip): %w", planner.PropShufflePartitions, err)
	}
	o.TargetPartitions = planner.PartitionsForSlots(slots)
	return o, nil
}

// Catalog is the session's tables: register more with Register or
// RegisterTPCH, list them with Names.
func (s *Session) Catalog() *planner.Catalog { return s.cat }

// Exec runs a statement that returns no rows: CREATE EXTERNAL TABLE name
// STORED AS PARQUET|CSV [WITH HEADER ROW] LOCATION 'path or URL'.
func (s *Session) Exec(_ context.Context, sql string) error {
	st, err := s.cat.Classify(sql)
	if err != nil {
		return err
	}
	if st.Kind != planner.StmtCreateExternalTable {
		return errors.New("Exec runs CREATE EXTERNAL TABLE; run queries with Query")
	}
	return s.cat.Register(st.Table)
}

// Job is a submitted query.
type Job struct {
	// ID is the scheduler's job id.
	ID string
	// Plan is the planned query.
	Plan *planner.Plan
	s    *Session
}

// Start plans a query and submits it; it does not wait.
func (s *Session) Start(ctx context.Context, sql string) (*Job, error) {
	st, err := s.cat.Classify(sql)
	if err != nil {
		return nil, err
	}
	if st.Kind != planner.StmtQuery {
		return nil, fmt.Errorf("%w (Exec runs CREATE EXTERNAL TABLE)", ErrNotQuery)
	}
	opts, err := s.PlanOptions(ctx)
	if err != nil {
		return nil, err
	}
	p, err := planner.PlanQuery(s.cat, st.SQL, opts)
	if err != nil {
		return nil, err
	}
	id, err := s.c.Submit(ctx, &kapotv1.SubmitJobRequest{Plan: p.Named(), JobName: planner.JobName(st.SQL), SessionProperties: s.props})
	if err != nil {
		return nil, err
	}
	return &Job{ID: id, Plan: p, s: s}, nil
}

// Wait waits for the job to finish and returns a reader of its result.
// If ctx ends first, the job is cancelled.
func (j *Job) Wait(ctx context.Context) (*Rows, error) { return j.s.c.results(ctx, j.ID) }

// results waits for job id to finish and returns a reader of its result.
// If ctx ends first, the job is cancelled.
func (c *Client) results(ctx context.Context, id string) (*Rows, error) {
	st, err := c.Wait(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			c.cancelJob(ctx, id)
			return nil, fmt.Errorf("job %s cancelled: %w", id, ctx.Err())
		}
		return nil, err
	}
	schema, err := wire.SchemaFromProto(st.GetResultSchema())
	if err != nil {
		return nil, err
	}
	r := &Rows{ctx: ctx, c: c, schema: schema, locs: st.GetResultLocations(), JobID: id}
	r.refs.Store(1)
	return r, nil
}

// Query runs a query and returns a reader that streams its result from the
// executors, one partition at a time. Cancelling ctx cancels the job while
// it runs, and stops the stream after.
func (s *Session) Query(ctx context.Context, sql string) (*Rows, error) {
	j, err := s.Start(ctx, sql)
	if err != nil {
		return nil, err
	}
	return j.Wait(ctx)
}

// Rows streams a finished job's result; it is an array.RecordReader. Each
// batch is valid until the next call to Next; Retain it to keep it.
type Rows struct {
	// JobID is the job that computed the rows.
	JobID  string
	ctx    context.Context
	c      *Client
	schema *arrow.Schema
	locs   []*kapotv1.PartitionLocation
	next   int
	// recoveries counts partitions recomputed after their executor was
	// lost; sent is set once the open partition yielded a batch.
	recoveries int
	sent       bool
	rdr        *flight.Reader
	cancel     context.CancelFunc
	cur        arrow.RecordBatch
	err        error
	refs       atomic.Int64
}

var _ array.RecordReader = (*Rows)(nil)

// Schema is the result's schema, columns under their SQL names.
func (r *Rows) Schema() *arrow.Schema { return r.schema }

// Next advances to the next batch, opening result partitions as it goes.
func (r *Rows) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for r.err == nil {
		if r.rdr != nil {
			if r.rdr.Next() {
				r.cur = r.rdr.RecordBatch()
				r.cur.Retain()
				r.sent = true
				return true
			}
			err := r.rdr.Err()
			r.closeReader()
			if err != nil {
				loc := r.locs[r.next-1]
				err = fmt.Errorf("read result partition %d from %s: %w", loc.GetMapPartition(), kflight.Addr(loc.GetExecutor()), err)
				// A partition lost before any of its rows were passed on
				// is read again once recomputed; after, rows would repeat.
				if r.sent || !r.recover(loc, err) {
					r.err = err
				}
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
		rdr, cancel, err := r.c.flight.DoGet(r.ctx, loc, r.c.mem)
		if err != nil {
			err = fmt.Errorf("fetch result partition %d from %s: %w", loc.GetMapPartition(), kflight.Addr(loc.GetExecutor()), err)
			if !r.recover(loc, err) {
				r.err = err
			}
			continue
		}
		r.rdr, r.cancel, r.sent = rdr, cancel, false
	}
	return false
}

// recover asks the scheduler to recompute partition loc, which could not
// be read (err), and points r at the job's new result locations so the
// partition is read again. It reports whether it did.
func (r *Rows) recover(loc *kapotv1.PartitionLocation, err error) bool {
	if !resultLost(err) || r.ctx.Err() != nil || r.recoveries >= maxResultRecoveries {
		return false
	}
	r.recoveries++
	st, rerr := r.c.recoverResults(r.ctx, r.JobID, loc)
	if rerr != nil || len(st.GetResultLocations()) != len(r.locs) {
		return false
	}
	r.locs = st.GetResultLocations()
	r.next-- // the same partition, from where it is now
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

// defaultCancelTimeout bounds the CancelJob call made when a wait is
// abandoned.
const defaultCancelTimeout = 5 * time.Second

// ErrNotQuery is returned by Start and Query for statements that are not
// queries.
var ErrNotQuery = errors.New("not a query")
