package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Sort orders each partition by its keys. With a fetch limit it returns only
// the first fetch rows (top-K). It reads its whole input partition before
// returning the first batch, holding it in memory reserved from the task's
// pool; when the pool refuses, it spills sorted runs to disk and merges
// them at the end.
type Sort struct {
	input  ExecutionPlan
	keys   []expr.SortKey
	fetch  int64 // < 0: all rows
	nodeID int
}

func (s *Sort) setNodeID(id int) { s.nodeID = id }

var _ ExecutionPlan = (*Sort)(nil)

// NewSort sorts input by keys; fetch < 0 keeps every row.
func NewSort(input ExecutionPlan, keys []expr.SortKey, fetch int64) (*Sort, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("sort without keys: %w", ErrInvalidPlan)
	}
	for _, k := range keys {
		empty := emptyArray(k.Expr.DataType())
		_, err := rowkey.NewComparator(empty, k.Descending, k.NullsFirst)
		empty.Release()
		if err != nil {
			return nil, fmt.Errorf("sort key %s: %w", k.Expr, err)
		}
	}
	return &Sort{input: input, keys: keys, fetch: fetch}, nil
}

func emptyArray(t arrow.DataType) arrow.Array {
	return array.MakeArrayOfNull(memory.DefaultAllocator, t, 0)
}

// sortKeysFromProto decodes sort keys over schema; what names the keys in
// errors ("sort key 2").
func sortKeysFromProto(nodes []*kapotv1.SortExprNode, schema *arrow.Schema, what string) ([]expr.SortKey, error) {
	keys := make([]expr.SortKey, len(nodes))
	for i, k := range nodes {
		e, err := expr.FromProto(k.GetExpr(), schema)
		if err != nil {
			return nil, fmt.Errorf("%s %d: %w", what, i, err)
		}
		keys[i] = expr.SortKey{Expr: e, Descending: k.GetDescending(), NullsFirst: k.GetNullsFirst()}
	}
	return keys, nil
}

func newSort(input ExecutionPlan, n *kapotv1.SortNode) (*Sort, error) {
	keys, err := sortKeysFromProto(n.GetExprs(), input.Schema(), "sort key")
	if err != nil {
		return nil, err
	}
	fetch := int64(-1)
	if n.Fetch != nil {
		if n.GetFetch() < 0 {
			return nil, fmt.Errorf("sort fetch %d is negative: %w", n.GetFetch(), ErrInvalidPlan)
		}
		fetch = n.GetFetch()
	}
	return NewSort(input, keys, fetch)
}

func (s *Sort) Schema() *arrow.Schema     { return s.input.Schema() }
func (s *Sort) OutputPartitions() int     { return s.input.OutputPartitions() }
func (s *Sort) Children() []ExecutionPlan { return []ExecutionPlan{s.input} }
func (s *Sort) String() string {
	parts := sortKeyStrings(s.keys)
	if s.fetch >= 0 {
		return fmt.Sprintf("Sort(%s, fetch=%d)", strings.Join(parts, ", "), s.fetch)
	}
	return fmt.Sprintf("Sort(%s)", strings.Join(parts, ", "))
}

// sortKeyStrings shows each sort key as "expr ASC|DESC NULLS FIRST|LAST".
func sortKeyStrings(keys []expr.SortKey) []string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		dir, nulls := "ASC", "NULLS LAST"
		if k.Descending {
			dir = "DESC"
		}
		if k.NullsFirst {
			nulls = "NULLS FIRST"
		}
		parts[i] = fmt.Sprintf("%s %s %s", k.Expr, dir, nulls)
	}
	return parts
}

func (s *Sort) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	in, err := s.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	return &sortOp{s: s, in: in, tc: tc, res: tc.Pool.NewReservation(fmt.Sprintf("Sort[partition %d]", p))}, nil
}

type sortOp struct {
	s      *Sort
	in     Operator
	tc     *TaskContext
	res    *alloc.Reservation
	sorted arrow.RecordBatch // the in-memory rows, concatenated
	order  []int32           // output row order into sorted
	next   int
	merged Operator // merge of spilled runs, when the sort spilled
	done   bool
	closed bool
}

func (o *sortOp) Schema() *arrow.Schema { return o.s.input.Schema() }

func (o *sortOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if o.closed {
		return nil, io.EOF
	}
	if !o.done {
		o.done = true
		if err := o.sortAll(ctx); err != nil {
			return nil, err
		}
	}
	if o.merged != nil {
		return o.merged.Next(ctx)
	}
	if o.sorted == nil || o.next >= len(o.order) {
		return nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	end := min(o.next+o.tc.RowsPerBatch(0), len(o.order))
	b, err := kernel.TakeRows(ctx, o.tc.Mem, o.sorted, o.order[o.next:end])
	if err != nil {
		return nil, fmt.Errorf("sort: %w", err)
	}
	o.next = end
	return b, nil
}

// sortAll reads the whole input. Batches are buffered while the memory pool
// grants them; when it refuses, the buffered rows are sorted and written to
// a spill file as a sorted run. At the end the rows are either sorted in
// memory or, if anything spilled, the runs are merged.
func (o *sortOp) sortAll(ctx context.Context) error {
	var batches []arrow.RecordBatch
	release := func() {
		for _, b := range batches {
			b.Release()
		}
		batches = batches[:0]
	}
	defer release()
	var runs []*operator.SpillFile
	spill := func() error {
		if len(batches) == 0 {
			return nil
		}
		run, err := o.spillRun(ctx, batches)
		release()
		o.res.Free()
		if err != nil {
			return err
		}
		runs = append(runs, run)
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := o.in.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if b.NumRows() == 0 {
			b.Release()
			continue
		}
		if err := o.res.TryGrow(alloc.BatchBytes(b)); err != nil {
			if err := spill(); err != nil {
				b.Release()
				return err
			}
			if err := o.res.TryGrow(alloc.BatchBytes(b)); err != nil {
				b.Release()
				return fmt.Errorf("sort: one batch does not fit in memory: %w", err)
			}
		}
		batches = append(batches, b)
	}
	if len(runs) == 0 {
		sorted, order, err := o.sortBatches(ctx, batches, o.s.fetch)
		o.sorted, o.order = sorted, order
		return err
	}
	if err := spill(); err != nil {
		return err
	}
	ops := make([]Operator, 0, len(runs))
	for _, r := range runs {
		op, err := r.Open(o.tc)
		if err != nil {
			for _, op := range ops {
				op.Close()
			}
			return fmt.Errorf("sort: %w", err)
		}
		ops = append(ops, op)
	}
	o.merged = newMergeOp(o.tc, o.s.input.Schema(), o.s.keys, o.s.fetch, ops)
	return nil
}

// spillRun sorts batches and writes them to a spill file as one run.
func (o *sortOp) spillRun(ctx context.Context, batches []arrow.RecordBatch) (*operator.SpillFile, error) {
	sorted, order, err := o.sortBatches(ctx, batches, o.s.fetch)
	if err != nil {
		return nil, err
	}
	defer sorted.Release()
	f, err := operator.NewSpillFile(o.tc, o.s.input.Schema(), "sort")
	if err != nil {
		return nil, err
	}
	step := o.tc.RowsPerBatch(0)
	for i := 0; i < len(order); i += step {
		b, err := kernel.TakeRows(ctx, o.tc.Mem, sorted, order[i:min(i+step, len(order))])
		if err != nil {
			f.Abort()
			return nil, fmt.Errorf("sort: %w", err)
		}
		err = f.Write(b)
		b.Release()
		if err != nil {
			f.Abort()
			return nil, fmt.Errorf("sort: %w", err)
		}
	}
	n, err := f.Finish()
	if err != nil {
		return nil, fmt.Errorf("sort: %w", err)
	}
	if o.tc.Metrics != nil {
		o.tc.Metrics.AddSpill(o.s.nodeID, n)
	}
	return f, nil
}

// sortBatches concatenates batches and returns them with the sorted row
// order (the first fetch rows only, when fetch >= 0). It returns a nil
// batch for no rows.
func (o *sortOp) sortBatches(ctx context.Context, batches []arrow.RecordBatch, fetch int64) (arrow.RecordBatch, []int32, error) {
	var rows int64
	for _, b := range batches {
		rows += b.NumRows()
	}
	if rows == 0 {
		return nil, nil, nil
	}
	if rows > 1<<31-1 {
		return nil, nil, fmt.Errorf("sort: %d rows in one partition exceed what one sort can hold: %w", rows, ErrNotSupported)
	}
	all, err := operator.ConcatBatches(o.tc, o.s.input.Schema(), batches)
	if err != nil {
		return nil, nil, fmt.Errorf("sort: %w", err)
	}
	keys := make([]arrow.Array, len(o.s.keys))
	defer func() {
		for _, k := range keys {
			if k != nil {
				k.Release()
			}
		}
	}()
	cmps := make([]func(i, j int) int, len(o.s.keys))
	for i, k := range o.s.keys {
		if keys[i], err = k.Expr.Eval(ctx, o.tc.Mem, all); err == nil {
			cmps[i], err = rowkey.NewComparator(keys[i], k.Descending, k.NullsFirst)
		}
		if err != nil {
			all.Release()
			return nil, nil, fmt.Errorf("sort: %w", err)
		}
	}
	if len(keys) == 1 && (fetch < 0 || fetch >= rows/4) {
		if order, ok := sortSingleNumeric(keys[0], o.s.keys[0]); ok {
			if fetch >= 0 && int64(len(order)) > fetch {
				order = order[:fetch]
			}
			return all, order, nil
		}
	}
	if len(keys) > 1 && (fetch < 0 || fetch >= rows/4) {
		if order, ok := sortIntTuples(keys, o.s.keys); ok {
			if fetch >= 0 && int64(len(order)) > fetch {
				order = order[:fetch]
			}
			return all, order, nil
		}
	}
	if fetch < 0 || fetch >= rows/4 {
		if order, ok := o.sortNormalized(keys); ok {
			if fetch >= 0 && int64(len(order)) > fetch {
				order = order[:fetch]
			}
			return all, order, nil
		}
	}
	order := make([]int32, rows)
	for i := range order {
		order[i] = int32(i)
	}
	cmpRows := func(a, b int32) int {
		for _, c := range cmps {
			if r := c(int(a), int(b)); r != 0 {
				return r
			}
		}
		return cmp.Compare(a, b) // stable: equal keys keep input order
	}
	if fetch >= 0 && fetch < rows/4 {
		order = topK(order, int(fetch), cmpRows)
	} else {
		slices.SortFunc(order, cmpRows)
	}
	if fetch >= 0 && int64(len(order)) > fetch {
		order = order[:fetch]
	}
	return all, order, nil
}

// topK returns the k smallest rows of order, sorted, keeping a bounded
// max-heap instead of sorting everything.
func topK(order []int32, k int, less func(a, b int32) int) []int32 {
	if k == 0 {
		return nil
	}
	h := make([]int32, 0, k)
	down := func(i int) {
		for {
			l, big := 2*i+1, i
			if l < len(h) && less(h[l], h[big]) > 0 {
				big = l
			}
			if r := l + 1; r < len(h) && less(h[r], h[big]) > 0 {
				big = r
			}
			if big == i {
				return
			}
			h[i], h[big] = h[big], h[i]
			i = big
		}
	}
	for _, r := range order {
		if len(h) < k {
			h = append(h, r)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if less(h[i], h[p]) <= 0 {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
			continue
		}
		if less(r, h[0]) < 0 {
			h[0] = r
			down(0)
		}
	}
	slices.SortFunc(h, less)
	return h
}

func (o *sortOp) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if o.sorted != nil {
		o.sorted.Release()
		o.sorted = nil
	}
	if o.merged != nil {
		o.merged.Close()
		o.merged = nil
	}
	o.res.Close()
	return o.in.Close()
}

// sortSingleNumeric sorts by one integer-like or floating key without
// per-comparison closures: (key, row) pairs sorted directly, ties by row
// (stable), nulls placed as the key says. ok is false for other types.
func sortSingleNumeric(arr arrow.Array, key expr.SortKey) ([]int32, bool) {
	if vals, ok := rowkey.IntValues(arr); ok {
		return sortPairs(vals, arr, key), true
	}
	if f, ok := arr.(*array.Float64); ok {
		return sortPairs(f.Float64Values(), arr, key), true
	}
	return nil, false
}

// sortIntTuples sorts by two or three integer-like keys without nulls
// (E4's customer, date, order key) without per-comparison closures: each
// key becomes an order-preserving uint64 (sign bit flipped, all bits for
// descending) and (tuple, row) pairs are sorted directly, ties by row
// (stable). ok is false for other keys.
func sortIntTuples(keys []arrow.Array, skeys []expr.SortKey) ([]int32, bool) {
	if len(keys) < 2 || len(keys) > 3 {
		return nil, false
	}
	vals := make([][]int64, len(keys))
	for k, a := range keys {
		v, ok := rowkey.IntValues(a)
		if !ok || a.NullN() > 0 {
			return nil, false
		}
		vals[k] = v
	}
	if order, ok := radixSortPacked(vals, skeys); ok {
		return order, true
	}
	type tuple struct {
		k [3]uint64
		i int32
	}
	ts := make([]tuple, len(vals[0]))
	for k, vs := range vals {
		var flip uint64 = 1 << 63
		if skeys[k].Descending {
			flip = ^uint64(1 << 63)
		}
		for i, v := range vs {
			ts[i].k[k] = uint64(v) ^ flip
		}
	}
	for i := range ts {
		ts[i].i = int32(i)
	}
	slices.SortFunc(ts, func(a, b tuple) int {
		if a.k[0] != b.k[0] {
			return cmp.Compare(a.k[0], b.k[0])
		}
		if a.k[1] != b.k[1] {
			return cmp.Compare(a.k[1], b.k[1])
		}
		if a.k[2] != b.k[2] {
			return cmp.Compare(a.k[2], b.k[2])
		}
		return cmp.Compare(a.i, b.i)
	})
	out := make([]int32, len(ts))
	for i, t := range ts {
		out[i] = t.i
	}
	return out, true
}

// radixSortPacked sorts rows by integer keys whose value ranges, offset by
// their minimum, fit one uint64 together (TPC-H's customer, date and order
// keys: 18 + 12 + 23 bits at SF 1): each row's keys are packed, first key
// most significant, and the rows radix sorted by it, 11 bits per pass.
// LSD radix sort is stable (ties keep row order) and does no comparisons:
// the comparison sort of (tuple, row) pairs took 250 ms for E4's 750 000
// rows per task. ok is false when the keys do not fit 64 bits.
func radixSortPacked(vals [][]int64, skeys []expr.SortKey) ([]int32, bool) {
	n := len(vals[0])
	lo, width := make([]int64, len(vals)), make([]uint, len(vals))
	total := uint(0)
	for k, vs := range vals {
		mn, mx := int64(0), int64(0)
		if n > 0 {
			mn, mx = slices.Min(vs), slices.Max(vs)
		}
		lo[k] = mn
		width[k] = uint(bits.Len64(uint64(mx) - uint64(mn)))
		total += width[k]
	}
	if total > 64 {
		return nil, false
	}
	packed := make([]uint64, n)
	shift := total
	for k, vs := range vals {
		shift -= width[k]
		mask := uint64(1)<<width[k] - 1
		for i, v := range vs {
			d := uint64(v) - uint64(lo[k])
			if skeys[k].Descending {
				d = mask - d
			}
			packed[i] |= d << shift
		}
	}
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	const digit = 11
	keys2, order2 := make([]uint64, n), make([]int32, n)
	var count [1 << digit]int
	for s := uint(0); s < total; s += digit {
		clear(count[:])
		for _, p := range packed {
			count[(p>>s)&(1<<digit-1)]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for i, p := range packed {
			d := (p >> s) & (1<<digit - 1)
			keys2[count[d]], order2[count[d]] = p, order[i]
			count[d]++
		}
		packed, keys2 = keys2, packed
		order, order2 = order2, order
	}
	return order, true
}

func sortPairs[T cmp.Ordered](vals []T, arr arrow.Array, key expr.SortKey) []int32 {
	type pair struct {
		k T
		i int32
	}
	ps := make([]pair, 0, len(vals))
	var nulls []int32
	for i, v := range vals {
		if arr.IsNull(i) {
			nulls = append(nulls, int32(i))
		} else {
			ps = append(ps, pair{v, int32(i)})
		}
	}
	slices.SortFunc(ps, func(a, b pair) int {
		if c := cmp.Compare(a.k, b.k); c != 0 {
			if key.Descending {
				return -c
			}
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	out := make([]int32, 0, len(vals))
	if key.NullsFirst {
		out = append(out, nulls...)
	}
	for _, p := range ps {
		out = append(out, p.i)
	}
	if !key.NullsFirst {
		out = append(out, nulls...)
	}
	return out
}

// normKey is a row's order-preserving key (rowkey.OrderEncoder) in a sort:
// its first 8 bytes, big-endian and zero-padded, as an integer (most
// comparisons end there), the whole key at arena[off:off+n], and the row.
type normKey struct {
	prefix uint64
	off, n uint32
	row    int32
}

// sortNormalized sorts rows by keys through their order-preserving byte
// encodings: (prefix, row) entries sorted by prefix, then the rest of the
// bytes, then the row (stable). A comparison is an integer compare and, on
// a tie, one bytes.Compare, where the general sort calls a comparator per
// key (TPC-DS q67's window sort by category and a decimal sum: 830 ms for
// 505 000 rows). ok is false, and nothing is sorted, for a key type the
// encoding does not cover or when the pool refuses the keys' memory.
func (o *sortOp) sortNormalized(keys []arrow.Array) ([]int32, bool) {
	encs := make([]rowkey.OrderEncoder, len(keys))
	var size int64
	for k, a := range keys {
		enc, n, ok := rowkey.NewOrderEncoder(a, o.s.keys[k].Descending, o.s.keys[k].NullsFirst)
		if !ok {
			return nil, false
		}
		encs[k], size = enc, size+n
	}
	rows := keys[0].Len()
	held := size + int64(rows)*int64(unsafe.Sizeof(normKey{}))
	if size > math.MaxUint32 || o.res.TryGrow(held) != nil {
		return nil, false
	}
	defer o.res.Shrink(held)
	arena := make([]byte, 0, size)
	ents := make([]normKey, rows)
	for i := range ents {
		off := len(arena)
		for _, enc := range encs {
			arena = enc(arena, i)
		}
		key := arena[off:]
		var p [8]byte
		copy(p[:], key)
		ents[i] = normKey{prefix: binary.BigEndian.Uint64(p[:]), off: uint32(off), n: uint32(len(key)), row: int32(i)}
	}
	// Keys are prefix-free, so two that agree on a zero-padded prefix
	// both go on past it, or are equal.
	rest := func(e normKey) []byte { return arena[e.off+min(e.n, 8) : e.off+e.n] }
	slices.SortFunc(ents, func(a, b normKey) int {
		if a.prefix != b.prefix {
			return cmp.Compare(a.prefix, b.prefix)
		}
		if c := bytes.Compare(rest(a), rest(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.row, b.row)
	})
	order := make([]int32, rows)
	for i, e := range ents {
		order[i] = e.row
	}
	return order, true
}
