package engine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TopNRanking keeps, of each window partition of its input (rows with
// equal partition keys), the rows whose ranking function by the order keys
// is at most limit (see kapotv1.TopNRankingNode): the pre-filter Spark
// calls WindowGroupLimit and Trino TopNRanking, run before a window's
// exchange and sort so that a "rank() ... <= N" query moves and sorts N
// rows per partition key instead of all of them (TPC-DS q67: 505 000 rows
// sorted for 1 105 kept).
//
// Each partition key's rows are held with their order keys' byte encodings
// (rowkey.OrderEncoder); when a key holds about twice what it keeps, its
// rows are sorted and cut, and the cut's last order key becomes a bound
// that later rows must beat to be held at all. Rows are held in the input
// batches they came in (a batch is released once no row of it is held)
// and gathered into one batch when the batches hold four times the rows
// kept. When the input does not reduce (most rows in partitions of their
// own) or its order keys have no byte encoding, the operator passes its
// rows on unfiltered: a pre-filter may keep more than it must.
type TopNRanking struct {
	nodeID int
	input  ExecutionPlan
	partBy []expr.Expr
	keys   []expr.SortKey
	fn     kapotv1.WindowFunction
	limit  int64
}

var _ ExecutionPlan = (*TopNRanking)(nil)

func (t *TopNRanking) setNodeID(id int) { t.nodeID = id }

// NewTopNRanking builds the operator; fn is ROW_NUMBER, RANK or
// DENSE_RANK and limit at least 1.
func NewTopNRanking(input ExecutionPlan, partBy []expr.Expr, keys []expr.SortKey, fn kapotv1.WindowFunction, limit int64) (*TopNRanking, error) {
	switch fn {
	case kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER, kapotv1.WindowFunction_WINDOW_FUNCTION_RANK, kapotv1.WindowFunction_WINDOW_FUNCTION_DENSE_RANK:
	default:
		return nil, fmt.Errorf("top-n ranking of %s: %w", fn, ErrInvalidPlan)
	}
	if limit < 1 {
		return nil, fmt.Errorf("top-n ranking limit %d: %w", limit, ErrInvalidPlan)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("top-n ranking without order keys: %w", ErrInvalidPlan)
	}
	return &TopNRanking{input: input, partBy: partBy, keys: keys, fn: fn, limit: limit}, nil
}

func newTopNRanking(input ExecutionPlan, n *kapotv1.TopNRankingNode) (*TopNRanking, error) {
	part := make([]expr.Expr, len(n.GetPartitionBy()))
	for i, p := range n.GetPartitionBy() {
		e, err := expr.FromProto(p, input.Schema())
		if err != nil {
			return nil, fmt.Errorf("top-n ranking partition key %d: %w", i, err)
		}
		part[i] = e
	}
	keys, err := sortKeysFromProto(n.GetOrderBy(), input.Schema(), "top-n ranking order key")
	if err != nil {
		return nil, err
	}
	return NewTopNRanking(input, part, keys, n.GetFunction(), n.GetLimit())
}

func (t *TopNRanking) Schema() *arrow.Schema     { return t.input.Schema() }
func (t *TopNRanking) OutputPartitions() int     { return t.input.OutputPartitions() }
func (t *TopNRanking) Children() []ExecutionPlan { return []ExecutionPlan{t.input} }
func (t *TopNRanking) String() string {
	var ps []string
	for _, p := range t.partBy {
		ps = append(ps, p.String())
	}
	ks := sortKeyStrings(t.keys)
	fn := strings.ToLower(strings.TrimPrefix(t.fn.String(), "WINDOW_FUNCTION_"))
	return fmt.Sprintf("TopNRanking(%s <= %d, partition=[%s], order=[%s])", fn, t.limit, strings.Join(ps, ", "), strings.Join(ks, ", "))
}

func (t *TopNRanking) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	in, err := t.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	return &topNRankingOp{t: t, in: in, tc: tc, groups: map[string]*rankGroup{},
		res: tc.Pool.NewReservation(fmt.Sprintf("TopNRanking[partition %d]", p))}, nil
}

// rankEntry is one held row: its order key's encoding and where it is.
type rankEntry struct {
	key        string
	batch, row int32
}

// rankGroup holds the rows of one partition key.
type rankGroup struct {
	ents []rankEntry
	// bound, once set, is the order key a row must not be worse than
	// (ROW_NUMBER: must beat) to be held.
	bound []byte
	kept  int // rows kept by the last cut
}

// topNRankingPassAfter is how many input rows the operator reads before it
// judges whether it reduces; it passes its rows on unfiltered when more
// than half of them are still held.
const topNRankingPassAfter = 1 << 16

type topNRankingOp struct {
	t      *TopNRanking
	in     Operator
	tc     *TaskContext
	res    *alloc.Reservation
	groups map[string]*rankGroup
	// batches are the input batches rows are held in (nil once none is);
	// live counts each one's held rows.
	batches []arrow.RecordBatch
	live    []int
	held    int64 // rows of the batches still held
	kept    int64 // rows held (entries)
	keyMem  int64 // bytes of the entries' keys
	rowsIn  int64
	out     []arrow.RecordBatch // the answer, when done reading
	pass    bool                // the input goes through unfiltered
	done    bool
	pk, ok  []byte
}

func (o *topNRankingOp) Schema() *arrow.Schema { return o.t.input.Schema() }

func (o *topNRankingOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for !o.done {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := o.in.Next(ctx)
		if err == io.EOF {
			o.done = true
			if err := o.finish(ctx); err != nil {
				return nil, err
			}
			break
		}
		if err != nil {
			return nil, err
		}
		if o.pass {
			if len(o.out) == 0 {
				return b, nil
			}
			o.out = append(o.out, b)
			break
		}
		if err := o.add(ctx, b); err != nil {
			return nil, err
		}
		if len(o.out) > 0 {
			break
		}
	}
	if len(o.out) == 0 {
		return nil, io.EOF
	}
	b := o.out[0]
	o.out[0] = nil
	o.out = o.out[1:]
	return b, nil
}

// add holds the rows of b that can still be among their partition's
// first, and cuts the partitions that grew.
func (o *topNRankingOp) add(ctx context.Context, b arrow.RecordBatch) error {
	rows := int(b.NumRows())
	if rows == 0 {
		b.Release()
		return nil
	}
	o.rowsIn += int64(rows)
	var cols []arrow.Array
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	pencs := make([]rowkey.Encoder, len(o.t.partBy))
	for i, p := range o.t.partBy {
		c, err := p.Eval(ctx, o.tc.Mem, b)
		if err != nil {
			b.Release()
			return fmt.Errorf("top-n ranking: %w", err)
		}
		cols = append(cols, c)
		if pencs[i], err = rowkey.NewEncoder(c); err != nil {
			b.Release()
			return fmt.Errorf("top-n ranking: %w", err)
		}
	}
	oencs := make([]rowkey.OrderEncoder, len(o.t.keys))
	for i, k := range o.t.keys {
		c, err := k.Expr.Eval(ctx, o.tc.Mem, b)
		if err != nil {
			b.Release()
			return fmt.Errorf("top-n ranking: %w", err)
		}
		cols = append(cols, c)
		enc, _, ok := rowkey.NewOrderEncoder(c, k.Descending, k.NullsFirst)
		if !ok {
			return o.passOn(ctx, b)
		}
		oencs[i] = enc
	}
	if err := o.res.TryGrow(alloc.BatchBytes(b)); err != nil {
		return o.passOn(ctx, b)
	}
	bi := int32(len(o.batches))
	o.batches, o.live = append(o.batches, b), append(o.live, 0)
	o.held += int64(rows)
	var grown []*rankGroup
	keyMem := o.keyMem
	for r := range rows {
		o.pk = o.pk[:0]
		for _, enc := range pencs {
			o.pk = enc(o.pk, r)
		}
		o.ok = o.ok[:0]
		for _, enc := range oencs {
			o.ok = enc(o.ok, r)
		}
		g := o.groups[string(o.pk)]
		if g == nil {
			g = &rankGroup{}
			o.groups[string(o.pk)] = g
			o.keyMem += int64(len(o.pk)) + 64
		}
		if g.bound != nil && o.beyond(o.ok, g.bound) {
			continue
		}
		g.ents = append(g.ents, rankEntry{key: string(o.ok), batch: bi, row: int32(r)})
		o.live[bi]++
		o.kept++
		o.keyMem += int64(len(o.ok)) + 32
		if len(g.ents) == o.cutAt(g) {
			grown = append(grown, g)
		}
	}
	for _, g := range grown {
		o.cut(g)
	}
	if o.live[bi] == 0 {
		o.drop(bi)
	}
	if grown := o.keyMem - keyMem; grown > 0 {
		if err := o.res.TryGrow(grown); err != nil {
			o.keyMem = keyMem
			return o.passOn(ctx, nil)
		}
	} else {
		o.res.Shrink(-grown)
	}
	if o.rowsIn >= topNRankingPassAfter && 2*o.kept > o.rowsIn {
		return o.passOn(ctx, nil)
	}
	if o.held >= 4*o.kept && o.held >= topNRankingPassAfter {
		return o.gather(ctx)
	}
	return nil
}

// beyond reports whether a row of order key k cannot be among the first
// of a partition whose bound is bound.
func (o *topNRankingOp) beyond(k, bound []byte) bool {
	c := bytes.Compare(k, bound)
	if o.t.fn == kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER {
		return c >= 0
	}
	return c > 0
}

// cutAt is the size at which g is sorted and cut again.
func (o *topNRankingOp) cutAt(g *rankGroup) int {
	return 2*max(g.kept, int(o.t.limit)) + 32
}

// cut sorts g's rows by order key and keeps those whose ranking is at most
// the limit; the last kept key becomes g's bound.
func (o *topNRankingOp) cut(g *rankGroup) {
	slices.SortFunc(g.ents, func(a, b rankEntry) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		if a.batch != b.batch {
			return cmp.Compare(a.batch, b.batch)
		}
		return cmp.Compare(a.row, b.row)
	})
	limit := int(o.t.limit)
	keep, full := len(g.ents), len(g.ents) >= limit
	switch o.t.fn {
	case kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER:
		keep = min(keep, limit)
	case kapotv1.WindowFunction_WINDOW_FUNCTION_RANK:
		if keep > limit {
			keep = limit
			for keep < len(g.ents) && g.ents[keep].key == g.ents[limit-1].key {
				keep++
			}
		}
	case kapotv1.WindowFunction_WINDOW_FUNCTION_DENSE_RANK:
		distinct := 0
		for i := range g.ents {
			if i == 0 || g.ents[i].key != g.ents[i-1].key {
				if distinct == limit {
					keep = i
					break
				}
				distinct++
			}
		}
		full = distinct == limit
	}
	if full && keep > 0 {
		// A key never holds a zero-length encoding, so a set bound is
		// never nil.
		g.bound = []byte(g.ents[keep-1].key)
	}
	for _, e := range g.ents[keep:] {
		o.kept--
		o.keyMem -= int64(len(e.key)) + 32
		if o.live[e.batch]--; o.live[e.batch] == 0 {
			o.drop(e.batch)
		}
	}
	clear(g.ents[keep:])
	g.ents = g.ents[:keep]
	g.kept = keep
}

// drop releases held batch i, which holds no row any more.
func (o *topNRankingOp) drop(i int32) {
	b := o.batches[i]
	if b == nil {
		return
	}
	o.held -= b.NumRows()
	o.res.Shrink(alloc.BatchBytes(b))
	b.Release()
	o.batches[i] = nil
}

// heldRows lists every held row by batch, in batch and row order, each
// with its entry.
func (o *topNRankingOp) heldRows() []*rankEntry {
	all := make([]*rankEntry, 0, o.kept)
	for _, g := range o.groups {
		for i := range g.ents {
			all = append(all, &g.ents[i])
		}
	}
	slices.SortFunc(all, func(a, b *rankEntry) int {
		if a.batch != b.batch {
			return cmp.Compare(a.batch, b.batch)
		}
		return cmp.Compare(a.row, b.row)
	})
	return all
}

// take gathers the held rows all (heldRows) into batches, one per held
// input batch, in all's order.
func (o *topNRankingOp) take(ctx context.Context, all []*rankEntry) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	var rows []int32
	for i := 0; i < len(all); {
		bi := all[i].batch
		rows = rows[:0]
		j := i
		for ; j < len(all) && all[j].batch == bi; j++ {
			rows = append(rows, all[j].row)
		}
		tb, err := kernel.TakeRows(ctx, o.tc.Mem, o.batches[bi], rows)
		if err != nil {
			operator.ReleaseBatches(out)
			return nil, fmt.Errorf("top-n ranking: %w", err)
		}
		out = append(out, tb)
		i = j
	}
	return out, nil
}

// gather moves the held rows out of the batches they came in into one
// batch, releasing the rows no longer held.
func (o *topNRankingOp) gather(ctx context.Context) error {
	all := o.heldRows()
	parts, err := o.take(ctx, all)
	if err != nil {
		return err
	}
	defer operator.ReleaseBatches(parts)
	var b arrow.RecordBatch
	if len(parts) > 0 {
		if b, err = operator.ConcatBatches(o.tc, o.t.input.Schema(), parts); err != nil {
			return fmt.Errorf("top-n ranking: %w", err)
		}
	}
	// Entries in batch and row order are the new batch's rows in order.
	for i, e := range all {
		e.batch, e.row = 0, int32(i)
	}
	for i := range o.batches {
		o.drop(int32(i))
	}
	o.batches, o.live, o.held = o.batches[:0], o.live[:0], 0
	if b != nil {
		if err := o.res.TryGrow(alloc.BatchBytes(b)); err != nil {
			b.Release()
			return fmt.Errorf("top-n ranking: %w", err)
		}
		o.batches, o.live, o.held = append(o.batches, b), append(o.live, int(o.kept)), b.NumRows()
	}
	return nil
}

// finish cuts every partition and queues the rows kept.
func (o *topNRankingOp) finish(ctx context.Context) error {
	if o.pass {
		return nil
	}
	for _, g := range o.groups {
		o.cut(g)
	}
	out, err := o.take(ctx, o.heldRows())
	if err != nil {
		return err
	}
	o.out = append(o.out, out...)
	o.release()
	return nil
}

// passOn gives up filtering: the rows held so far are queued, then b (if
// any), and every later batch goes through as it comes.
func (o *topNRankingOp) passOn(ctx context.Context, b arrow.RecordBatch) error {
	out, err := o.take(ctx, o.heldRows())
	if err != nil {
		if b != nil {
			b.Release()
		}
		return err
	}
	o.out = append(o.out, out...)
	if b != nil {
		o.out = append(o.out, b)
	}
	o.release()
	o.pass = true
	return nil
}

// release drops every held row and batch.
func (o *topNRankingOp) release() {
	for i := range o.batches {
		o.drop(int32(i))
	}
	o.batches, o.live, o.groups, o.kept, o.held, o.keyMem = nil, nil, map[string]*rankGroup{}, 0, 0, 0
	o.res.Free()
}

func (o *topNRankingOp) Close() error {
	o.release()
	o.res.Close()
	operator.ReleaseBatches(o.out)
	o.out = nil
	return o.in.Close()
}
