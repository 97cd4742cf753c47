package engine

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"

	"github.com/kapot-go/kapot/engine/operator"
)

// Repartition redistributes the rows of every input partition into n output
// partitions (hash or round robin) inside one task, without a shuffle to
// disk. Its output partitions are meant to be consumed together in the same
// task (under a CoalescePartitions, a SortPreservingMerge or the build side
// of a collect-left join): the first consumer to need rows pulls input
// batches and routes them. Routed rows stay in memory until the task ends,
// so a partition can be read more than once (a collect-left join reads its
// build side once per probe partition).
type Repartition struct {
	input ExecutionPlan
	part  *partitioning
}

var _ ExecutionPlan = (*Repartition)(nil)

func (r *Repartition) Schema() *arrow.Schema     { return r.input.Schema() }
func (r *Repartition) OutputPartitions() int     { return r.part.n }
func (r *Repartition) Children() []ExecutionPlan { return []ExecutionPlan{r.input} }
func (r *Repartition) String() string            { return fmt.Sprintf("Repartition(%s)", r.part) }

// repartState is one task's routing state: an input cursor and a queue of
// routed batches per output partition.
type repartState struct {
	mu     sync.Mutex
	in     Operator
	next   int // next input partition to open
	rr     int
	queues [][]arrow.RecordBatch // append-only until the task ends
	done   bool
	err    error
}

func (s *repartState) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.queues {
		for _, b := range q {
			b.Release()
		}
		s.queues[i] = nil
	}
	if s.in != nil {
		s.in.Close()
		s.in = nil
	}
	s.done = true
}

func (r *Repartition) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := operator.CheckPartition(r, p); err != nil {
		return nil, err
	}
	st := tc.SharedState(r, func() (any, func()) {
		s := &repartState{queues: make([][]arrow.RecordBatch, r.part.n)}
		return s, s.release
	}).(*repartState)
	return &repartOp{r: r, st: st, tc: tc, p: p}, nil
}

type repartOp struct {
	r      *Repartition
	st     *repartState
	tc     *TaskContext
	p      int
	next   int // read position in the partition's queue
	closed bool
}

func (o *repartOp) Schema() *arrow.Schema { return o.r.input.Schema() }

func (o *repartOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	st := o.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for {
		if o.closed {
			return nil, io.EOF
		}
		if q := st.queues[o.p]; o.next < len(q) {
			b := q[o.next]
			o.next++
			b.Retain()
			return b, nil
		}
		if st.err != nil {
			return nil, st.err
		}
		if st.done {
			return nil, io.EOF
		}
		if err := o.pull(ctx); err != nil {
			st.err = err
			return nil, err
		}
	}
}

// pull reads one input batch and routes it; it marks the state done when
// every input partition is drained. The caller holds st.mu.
func (o *repartOp) pull(ctx context.Context) error {
	st := o.st
	for st.in == nil {
		if st.next >= o.r.input.OutputPartitions() {
			st.done = true
			return nil
		}
		in, err := o.r.input.Execute(ctx, st.next, o.tc)
		if err != nil {
			return err
		}
		st.in, st.next = in, st.next+1
	}
	b, err := st.in.Next(ctx)
	if err == io.EOF {
		err = st.in.Close()
		st.in = nil
		return err
	}
	if err != nil {
		return err
	}
	defer b.Release()
	ectx := exec.WithAllocator(ctx, o.tc.Mem)
	return o.r.part.split(ectx, o.tc.Mem, b, &st.rr, func(t int, part arrow.RecordBatch) error {
		part.Retain()
		st.queues[t] = append(st.queues[t], part)
		return nil
	})
}

// Close ends this reader; the routed rows stay for other readers until the
// task ends.
func (o *repartOp) Close() error {
	o.closed = true
	return nil
}
