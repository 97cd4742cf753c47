package engine

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
)

// Repartition redistributes the rows of every input partition into n output
// partitions (hash or round robin) inside one task, without a shuffle to
// disk. Its output partitions are meant to be consumed together in the same
// task (under a CoalescePartitions, a SortPreservingMerge or the build side
// of a collect-left join): the first consumer to need rows pulls input
// batches and routes them; rows for other partitions wait in memory until
// their consumer reads them or the task ends.
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
	queues [][]arrow.RecordBatch
	closed []bool
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
	if err := checkPartition(r, p); err != nil {
		return nil, err
	}
	st := tc.sharedState(r, func() (any, func()) {
		s := &repartState{queues: make([][]arrow.RecordBatch, r.part.n), closed: make([]bool, r.part.n)}
		return s, s.release
	}).(*repartState)
	return &repartOp{r: r, st: st, tc: tc, p: p}, nil
}

type repartOp struct {
	r  *Repartition
	st *repartState
	tc *TaskContext
	p  int
}

func (o *repartOp) Schema() *arrow.Schema { return o.r.input.Schema() }

func (o *repartOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	st := o.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for {
		if q := st.queues[o.p]; len(q) > 0 {
			b := q[0]
			q[0] = nil
			st.queues[o.p] = q[1:]
			return b, nil
		}
		if st.err != nil {
			return nil, st.err
		}
		if st.done || st.closed[o.p] {
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
		if st.closed[t] {
			return nil // nobody will read it
		}
		part.Retain()
		st.queues[t] = append(st.queues[t], part)
		return nil
	})
}

// Close drops the partition's queued rows; other partitions keep theirs.
func (o *repartOp) Close() error {
	st := o.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed[o.p] {
		return nil
	}
	st.closed[o.p] = true
	for _, b := range st.queues[o.p] {
		b.Release()
	}
	st.queues[o.p] = nil
	all := true
	for _, c := range st.closed {
		all = all && c
	}
	if all && st.in != nil {
		st.in.Close()
		st.in = nil
		st.done = true
	}
	return nil
}
