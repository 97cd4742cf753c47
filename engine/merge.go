package engine

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// SortPreservingMerge merges input partitions that are each sorted by keys
// into one sorted partition (a k-way merge, not a re-sort). Ties keep the
// lower input partition first, so the merge is stable.
type SortPreservingMerge struct {
	input ExecutionPlan
	keys  []expr.SortKey
	fetch int64 // < 0: all rows
}

var _ ExecutionPlan = (*SortPreservingMerge)(nil)

func newSortPreservingMerge(input ExecutionPlan, n *kapotv1.SortPreservingMergeNode) (*SortPreservingMerge, error) {
	s, err := newSort(input, &kapotv1.SortNode{Exprs: n.GetExprs(), Fetch: n.Fetch})
	if err != nil {
		return nil, fmt.Errorf("sort-preserving merge: %w", err)
	}
	return &SortPreservingMerge{input: input, keys: s.keys, fetch: s.fetch}, nil
}

func (m *SortPreservingMerge) Schema() *arrow.Schema     { return m.input.Schema() }
func (m *SortPreservingMerge) OutputPartitions() int     { return 1 }
func (m *SortPreservingMerge) Children() []ExecutionPlan { return []ExecutionPlan{m.input} }
func (m *SortPreservingMerge) String() string {
	keys := make([]string, len(m.keys))
	for i, k := range m.keys {
		keys[i] = k.Expr.String()
		if k.Descending {
			keys[i] += " DESC"
		}
	}
	return fmt.Sprintf("SortPreservingMerge([%s], fetch=%d)", strings.Join(keys, ", "), m.fetch)
}

func (m *SortPreservingMerge) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := operator.CheckPartition(m, p); err != nil {
		return nil, err
	}
	var ops []Operator
	for i := 0; i < m.input.OutputPartitions(); i++ {
		op, err := m.input.Execute(ctx, i, tc)
		if err != nil {
			for _, o := range ops {
				o.Close()
			}
			return nil, err
		}
		ops = append(ops, op)
	}
	return newMergeOp(tc, m.input.Schema(), m.keys, m.fetch, ops), nil
}

// newMergeOp merges sorted streams (input partitions, or sorted runs a sort
// spilled) by keys; it owns and closes them.
func newMergeOp(tc *TaskContext, schema *arrow.Schema, keys []expr.SortKey, fetch int64, ops []Operator) *mergeOp {
	o := &mergeOp{schema: schema, keys: keys, tc: tc, remaining: fetch, cmps: map[[2]int][]func(i, j int) int{}}
	for _, op := range ops {
		o.streams = append(o.streams, &mergeStream{op: op})
	}
	return o
}

// mergeStream is one sorted input with its current batch and row.
type mergeStream struct {
	op   Operator
	cur  arrow.RecordBatch
	keys []arrow.Array
	row  int
	done bool
}

func (s *mergeStream) release() {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	for _, k := range s.keys {
		k.Release()
	}
	s.keys = nil
}

type mergeOp struct {
	schema    *arrow.Schema
	keys      []expr.SortKey
	tc        *TaskContext
	streams   []*mergeStream
	started   bool
	h         mergeHeap
	remaining int64 // rows still to emit; < 0 means unlimited
	// picks are the (stream, row) pairs of the output batch being built;
	// they refer to the streams' current batches.
	picks  [][2]int
	closed bool
	// cmps caches the key comparators between two streams' current
	// batches; entries are dropped when either stream moves to a new batch.
	cmps map[[2]int][]func(i, j int) int
}

func (o *mergeOp) Schema() *arrow.Schema { return o.schema }

// advance loads the next non-empty batch of stream i and evaluates its keys.
func (o *mergeOp) advance(ctx context.Context, i int) error {
	s := o.streams[i]
	s.release()
	for k := range o.cmps {
		if k[0] == i || k[1] == i {
			delete(o.cmps, k)
		}
	}
	for {
		b, err := s.op.Next(ctx)
		if err == io.EOF {
			s.done = true
			return nil
		}
		if err != nil {
			return err
		}
		if b.NumRows() == 0 {
			b.Release()
			continue
		}
		s.cur, s.row = b, 0
		ectx := exec.WithAllocator(ctx, o.tc.Mem)
		for _, k := range o.keys {
			arr, err := k.Expr.Eval(ectx, o.tc.Mem, b)
			if err != nil {
				return fmt.Errorf("sort-preserving merge key %s: %w", k.Expr, err)
			}
			s.keys = append(s.keys, arr)
		}
		return nil
	}
}

// compare orders stream heads; ties go to the lower stream index.
func (o *mergeOp) compare(a, b int) int {
	sa, sb := o.streams[a], o.streams[b]
	cs, ok := o.cmps[[2]int{a, b}]
	if !ok {
		cs = make([]func(i, j int) int, len(o.keys))
		for k, key := range o.keys {
			// Both sides have the key's type, checked at plan time.
			cs[k], _ = rowkey.NewCrossComparator(sa.keys[k], sb.keys[k], key.Descending, key.NullsFirst)
		}
		o.cmps[[2]int{a, b}] = cs
	}
	for _, c := range cs {
		if c == nil {
			continue
		}
		if r := c(sa.row, sb.row); r != 0 {
			return r
		}
	}
	return a - b
}

func (o *mergeOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if o.closed {
		return nil, io.EOF
	}
	if !o.started {
		o.started = true
		o.h.op = o
		for i := range o.streams {
			if err := o.advance(ctx, i); err != nil {
				return nil, err
			}
			if !o.streams[i].done {
				o.h.items = append(o.h.items, i)
			}
		}
		heap.Init(&o.h)
	}
	target := o.tc.RowsPerBatch(0)
	for len(o.h.items) > 0 && o.remaining != 0 && len(o.picks) < target {
		i := o.h.items[0]
		s := o.streams[i]
		o.picks = append(o.picks, [2]int{i, s.row})
		if o.remaining > 0 {
			o.remaining--
		}
		s.row++
		if s.row < int(s.cur.NumRows()) {
			heap.Fix(&o.h, 0)
			continue
		}
		// The stream's batch is used up: emit what refers to it first.
		out, err := o.flush()
		if err != nil {
			return nil, err
		}
		if err := o.advance(ctx, i); err != nil {
			out.Release()
			return nil, err
		}
		if s.done {
			heap.Pop(&o.h)
		} else {
			heap.Fix(&o.h, 0)
		}
		return out, nil
	}
	if len(o.picks) == 0 {
		return nil, io.EOF
	}
	return o.flush()
}

// flush builds a batch from the pending picks.
func (o *mergeOp) flush() (arrow.RecordBatch, error) {
	schema := o.schema
	cols := make([]arrow.Array, schema.NumFields())
	for c, f := range schema.Fields() {
		bld := array.NewBuilder(o.tc.Mem, f.Type)
		bld.Reserve(len(o.picks))
		for _, p := range o.picks {
			if err := rowkey.AppendFrom(bld, o.streams[p[0]].cur.Column(c), p[1]); err != nil {
				bld.Release()
				for _, a := range cols[:c] {
					a.Release()
				}
				return nil, err
			}
		}
		cols[c] = bld.NewArray()
		bld.Release()
	}
	out := array.NewRecordBatch(schema, cols, int64(len(o.picks)))
	for _, c := range cols {
		c.Release()
	}
	o.picks = o.picks[:0]
	return out, nil
}

func (o *mergeOp) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	var first error
	for _, s := range o.streams {
		s.release()
		if err := s.op.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// mergeHeap is a min-heap of stream indices by their current row.
type mergeHeap struct {
	items []int
	op    *mergeOp
}

func (h *mergeHeap) Len() int           { return len(h.items) }
func (h *mergeHeap) Less(i, j int) bool { return h.op.compare(h.items[i], h.items[j]) < 0 }
func (h *mergeHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap) Push(x any)         { h.items = append(h.items, x.(int)) }
func (h *mergeHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
