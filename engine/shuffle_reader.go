package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/internal/panics"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/shuffle"
)

// ShuffleReader reads, for each of its partitions, the map outputs the
// scheduler resolved: its own executor's and host-local peers' straight from
// disk, remote ones through the task's Fetcher.
type ShuffleReader struct {
	stageID    uint32
	schema     *arrow.Schema
	partitions [][]*kapotv1.PartitionLocation
}

var _ ExecutionPlan = (*ShuffleReader)(nil)

func (r *ShuffleReader) Schema() *arrow.Schema     { return r.schema }
func (r *ShuffleReader) OutputPartitions() int     { return len(r.partitions) }
func (r *ShuffleReader) Children() []ExecutionPlan { return nil }
func (r *ShuffleReader) String() string {
	return fmt.Sprintf("ShuffleReader(stage=%d, partitions=%d)", r.stageID, len(r.partitions))
}

func (r *ShuffleReader) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := operator.CheckPartition(r, p); err != nil {
		return nil, err
	}
	return &shuffleReadOp{r: r, locs: r.partitions[p], tc: tc}, nil
}

type shuffleReadOp struct {
	r    *ShuffleReader
	locs []*kapotv1.PartitionLocation
	tc   *TaskContext
	next int
	src  io.ReadCloser
	rdr  *ipc.Reader
	loc  *kapotv1.PartitionLocation

	// Remote partitions are fetched ahead, several at once (the fetcher's
	// limits decide how many really run), while earlier ones are decoded.
	ahead  map[int]*prefetch
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// fetchLookahead is how many remote partitions a reader fetches ahead.
const fetchLookahead = 4

// prefetch is a remote partition being read into memory. The stream stays
// open (holding its share of the fetch limits) until the data is consumed.
type prefetch struct {
	done chan struct{}
	data []byte
	rc   io.ReadCloser
	err  error
}

// diskDir is the work dir loc's map output is read from directly: this
// executor's own, or a host-local peer's. ok is false for a remote output.
func (o *shuffleReadOp) diskDir(loc *kapotv1.PartitionLocation) (dir string, ok bool) {
	if loc.GetExecutor().GetId() == o.tc.ExecutorID || o.tc.Fetcher == nil {
		return o.tc.WorkDir, true
	}
	return o.tc.HostLocal.Dir(loc.GetExecutor())
}

func (o *shuffleReadOp) remote(loc *kapotv1.PartitionLocation) bool {
	_, ok := o.diskDir(loc)
	return !ok
}

// startPrefetch fetches the remote locations among the few from index from.
func (o *shuffleReadOp) startPrefetch(ctx context.Context, from int) {
	if o.ahead == nil {
		o.ahead = map[int]*prefetch{}
		ctx, o.cancel = context.WithCancel(ctx)
	}
	for i := from; i < len(o.locs) && i < from+fetchLookahead; i++ {
		if _, ok := o.ahead[i]; ok || !o.remote(o.locs[i]) {
			continue
		}
		pf := &prefetch{done: make(chan struct{})}
		o.ahead[i] = pf
		o.wg.Add(1)
		go func(loc *kapotv1.PartitionLocation) {
			defer o.wg.Done()
			defer close(pf.done)
			defer alloc.Catch(&pf.err) // open returns it: the task fails, not the process
			rc, err := o.tc.Fetcher.Fetch(ctx, loc)
			if err != nil {
				pf.err = err
				return
			}
			pf.rc = rc
			pf.data, pf.err = io.ReadAll(rc)
		}(o.locs[i])
	}
}

func (o *shuffleReadOp) Schema() *arrow.Schema { return o.r.schema }

func (o *shuffleReadOp) fetchErr(loc *kapotv1.PartitionLocation, err error) error {
	if fe := (*shuffle.FetchError)(nil); errors.As(err, &fe) {
		return err
	}
	return &shuffle.FetchError{ExecutorID: loc.GetExecutor().GetId(), JobID: loc.GetJobId(), MapStageID: loc.GetStageId(), MapPartition: loc.GetMapPartition(), Err: err}
}

func (o *shuffleReadOp) open(ctx context.Context, i int) error {
	loc := o.locs[i]
	var src io.ReadCloser
	var err error
	if o.remote(loc) {
		o.startPrefetch(ctx, i)
		pf := o.ahead[i]
		delete(o.ahead, i)
		select {
		case <-pf.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if pf.err != nil {
			if pf.rc != nil {
				pf.rc.Close()
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(pf.err, panics.ErrInternal) {
				return pf.err // a bug here, not a lost map output to run again
			}
			return o.fetchErr(loc, pf.err)
		}
		src = &memSource{Reader: bytes.NewReader(pf.data), rc: pf.rc}
	} else {
		dir, _ := o.diskDir(loc)
		src, err = shuffle.OpenPartition(dir, loc.GetJobId(), loc.GetStageId(), loc.GetMapPartition(), loc.GetOutputPartition())
		if err != nil && dir != o.tc.WorkDir {
			// The peer's directory changed under us (cleaned, remounted):
			// ask the peer itself, which reports what really happened.
			src, err = o.tc.Fetcher.Fetch(ctx, loc)
		}
	}
	if err != nil {
		return o.fetchErr(loc, err)
	}
	rdr, err := ipc.NewReader(shuffle.Decompressed(bufio.NewReaderSize(src, 1<<16)), ipc.WithAllocator(o.tc.Mem))
	if err != nil {
		src.Close()
		return o.fetchErr(loc, fmt.Errorf("decode: %w", err))
	}
	if !rdr.Schema().Equal(o.r.schema) && len(rdr.Schema().Fields()) != o.r.schema.NumFields() {
		rdr.Release()
		src.Close()
		return fmt.Errorf("shuffle reader: stage %d map %d has schema %s, want %s: %w", loc.GetStageId(), loc.GetMapPartition(), rdr.Schema(), o.r.schema, ErrInvalidPlan)
	}
	o.src, o.rdr, o.loc = src, rdr, loc
	return nil
}

func (o *shuffleReadOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if o.rdr == nil {
			if o.next >= len(o.locs) {
				return nil, io.EOF
			}
			i := o.next
			o.next++
			if err := o.open(ctx, i); err != nil {
				return nil, err
			}
		}
		if o.rdr.Next() {
			b := o.rdr.RecordBatch()
			b.Retain()
			if !b.Schema().Equal(o.r.schema) {
				b2, err := conformBatch(b, o.r.schema)
				b.Release()
				if err != nil {
					return nil, fmt.Errorf("shuffle reader: %w", err)
				}
				b = b2
			}
			return b, nil
		}
		err := o.rdr.Err()
		loc := o.loc
		o.closeCur()
		if err != nil && !errors.Is(err, io.EOF) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, o.fetchErr(loc, err)
		}
	}
}

func (o *shuffleReadOp) closeCur() {
	if o.rdr != nil {
		o.rdr.Release()
		o.rdr = nil
	}
	if o.src != nil {
		o.src.Close()
		o.src = nil
	}
}

func (o *shuffleReadOp) Close() error {
	o.closeCur()
	o.next = len(o.locs)
	if o.cancel != nil {
		o.cancel()
	}
	o.wg.Wait()
	for _, pf := range o.ahead {
		if pf.rc != nil {
			pf.rc.Close()
		}
	}
	o.ahead = nil
	return nil
}

// memSource reads a prefetched partition and, on Close, closes the fetch
// stream it came from.
type memSource struct {
	*bytes.Reader
	rc io.ReadCloser
}

func (m *memSource) Close() error { return m.rc.Close() }

// Exchange is a stage boundary in a plan that has not been split into stages
// yet. It knows its schema and partition count but cannot run.
type Exchange struct {
	input ExecutionPlan
	part  *partitioning
}

func (e *Exchange) Schema() *arrow.Schema     { return e.input.Schema() }
func (e *Exchange) OutputPartitions() int     { return e.part.n }
func (e *Exchange) Children() []ExecutionPlan { return []ExecutionPlan{e.input} }
func (e *Exchange) String() string            { return fmt.Sprintf("Exchange(%s)", e.part) }
func (e *Exchange) Execute(context.Context, int, *TaskContext) (Operator, error) {
	return nil, fmt.Errorf("exchange must be split into stages by the scheduler: %w", ErrNotSupported)
}

// UnresolvedShuffle is a shuffle read whose map outputs are not known yet.
type UnresolvedShuffle struct {
	stageID uint32
	schema  *arrow.Schema
	n       int
}

func (u *UnresolvedShuffle) Schema() *arrow.Schema     { return u.schema }
func (u *UnresolvedShuffle) OutputPartitions() int     { return u.n }
func (u *UnresolvedShuffle) Children() []ExecutionPlan { return nil }
func (u *UnresolvedShuffle) String() string {
	return fmt.Sprintf("UnresolvedShuffle(stage=%d, partitions=%d)", u.stageID, u.n)
}
func (u *UnresolvedShuffle) Execute(context.Context, int, *TaskContext) (Operator, error) {
	return nil, fmt.Errorf("shuffle of stage %d was not resolved before launch: %w", u.stageID, ErrInvalidPlan)
}
