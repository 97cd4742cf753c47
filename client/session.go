package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Session runs SQL on the cluster under a set of session properties. The
// scheduler parses and plans every statement over the cluster's shared
// catalog (the tables Flight SQL clients see, kept across restarts with
// --state-dir), with as many partitions per exchange as the cluster has
// task slots unless the property kapot.shuffle.partitions says otherwise.
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
	props map[string]string
}

// NewSession starts a session; props are its session properties (e.g.
// kapot.shuffle.partitions, kapot.s3.endpoint) for planning and for its
// jobs.
func (c *Client) NewSession(props map[string]string) *Session {
	return &Session{c: c, props: maps.Clone(props)}
}

// Properties are the session's properties (a copy).
func (s *Session) Properties() map[string]string { return maps.Clone(s.props) }

// Job is a statement sent to the scheduler: a query's job, or the answer
// of another statement.
type Job struct {
	// ID is the scheduler's job id; empty for statements answered at
	// once (CREATE EXTERNAL TABLE, SHOW TABLES, DESCRIBE, EXPLAIN,
	// EXPLAIN ANALYZE).
	ID string
	// Schema is the result's schema, known before the job runs.
	Schema *arrow.Schema
	c      *Client
	inline *kapotv1.ExecuteSQLResponse
}

// Start sends one statement to the scheduler. A query becomes a job and
// Start returns without waiting for it; other statements run to their
// end. If ctx ends while the scheduler creates the job, the job is
// cancelled.
func (s *Session) Start(ctx context.Context, sql string) (*Job, error) {
	r, err := s.c.ExecuteSQL(ctx, sql, s.props)
	if err != nil {
		return nil, err
	}
	j := &Job{ID: r.GetJobId(), c: s.c}
	if j.ID == "" {
		j.inline = r
		j.Schema = wire.TextSchema(r.GetColumns())
		return j, nil
	}
	if j.Schema, err = wire.SchemaFromProto(r.GetSchema()); err != nil {
		s.c.cancelJob(ctx, j.ID)
		return nil, fmt.Errorf("job %s: result schema: %w", j.ID, err)
	}
	return j, nil
}

// Wait waits for the job to finish and returns a reader of its result
// (for a statement answered at once, of its rows as text). If ctx ends
// first, the job is cancelled.
func (j *Job) Wait(ctx context.Context) (*Rows, error) {
	if j.inline == nil {
		return j.c.results(ctx, j.ID)
	}
	rows := make([][]string, len(j.inline.GetRows()))
	for i, r := range j.inline.GetRows() {
		rows[i] = r.GetValues()
	}
	b, err := wire.TextBatch(j.c.mem, j.Schema, rows)
	if err != nil {
		return nil, fmt.Errorf("the scheduler's answer: %w", err)
	}
	return batchRows(j.Schema, []arrow.RecordBatch{b}), nil
}

// Query runs one statement and returns a reader of its result, which a
// query streams from the executors one partition at a time. Cancelling
// ctx cancels the job while it runs, and stops the stream after. A
// cancel that comes too late (the job had ended, or was committing its
// write) has no effect, as in PostgreSQL: Query then returns the job's
// result, read to its end.
func (s *Session) Query(ctx context.Context, sql string) (*Rows, error) {
	j, err := s.Start(ctx, sql)
	if err != nil {
		return nil, err
	}
	return j.Wait(ctx)
}

// Exec runs one statement and drops its result: for statements run for
// their effect, such as CREATE EXTERNAL TABLE.
func (s *Session) Exec(ctx context.Context, sql string) error {
	rows, err := s.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Release()
	for rows.Next() {
	}
	return rows.Err()
}

// results waits for job id to finish and returns a reader of its result.
// If ctx ends first, the job is cancelled.
func (c *Client) results(ctx context.Context, id string) (*Rows, error) {
	st, err := c.Wait(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			if st := c.lateOutcome(ctx, id); st != nil {
				// The job succeeded before the cancel reached it (a
				// write committed): its result, read to the end.
				return c.rows(context.WithoutCancel(ctx), st)
			}
			return nil, fmt.Errorf("job %s cancelled: %w", id, ctx.Err())
		}
		return nil, err
	}
	return c.rows(ctx, st)
}

// rows reads the result of a successful job whose status is st.
func (c *Client) rows(ctx context.Context, st *kapotv1.GetJobStatusResponse) (*Rows, error) {
	schema, err := wire.SchemaFromProto(st.GetResultSchema())
	if err != nil {
		return nil, fmt.Errorf("job %s: result schema: %w", st.GetJobId(), err)
	}
	if st.GetWrote() && schema.NumFields() == 1 && arrow.TypeEqual(schema.Field(0).Type, arrow.PrimitiveTypes.Int64) {
		// A write's result is the rows it committed, which the
		// scheduler knows: no executor need still hold it.
		b := array.NewInt64Builder(c.mem)
		defer b.Release()
		b.Append(st.GetRowsWritten())
		col := b.NewArray()
		defer col.Release()
		return batchRows(schema, []arrow.RecordBatch{array.NewRecordBatch(schema, []arrow.Array{col}, 1)}), nil
	}
	id := st.GetJobId()
	recover := func(ctx context.Context, loc *kapotv1.PartitionLocation) (*kapotv1.PartitionLocation, error) {
		st, err := c.recoverResults(ctx, id, loc)
		if err != nil {
			return nil, err
		}
		if l := samePartition(st.GetResultLocations(), loc); l != nil {
			return l, nil
		}
		return nil, fmt.Errorf("job %s has no result partition %d", id, loc.GetMapPartition())
	}
	return NewRows(ctx, c.flight, c.mem, id, schema, st.GetResultLocations(), recover), nil
}

// defaultCancelTimeout bounds the CancelJob call made when a wait is
// abandoned.
const defaultCancelTimeout = 5 * time.Second

// lateOutcomeWait bounds the wait for the outcome of a job the scheduler
// would not cancel because it was committing its write.
const lateOutcomeWait = time.Minute

// ErrNotQuery is returned for statements that are not queries where a
// query is needed.
var ErrNotQuery = errors.New("not a query")
