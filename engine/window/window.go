package window

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/agg"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Window computes window functions over its input partition, which arrives
// sorted by the partition keys and then the order keys. It reads the whole
// input partition (the Sort below it has held it already), computes each
// function's column over the window partitions and peer groups, and
// returns the input's columns followed by one column per function.
type Window struct {
	input   operator.ExecutionPlan
	partBy  []expr.Expr
	orderBy []expr.SortKey
	fns     []windowFunc
	schema  *arrow.Schema
}

type windowFunc struct {
	fn     kapotv1.WindowFunction
	agg    kapotv1.AggregateFunction
	arg    expr.Expr // nil: count(*), ranking functions
	offset int64
	def    scalar.Scalar // lag/lead default; nil: NULL
	frame  *windowFrame  // nil: the default frame
	typ    arrow.DataType
}

var _ operator.ExecutionPlan = (*Window)(nil)

// New builds the window node n over input.
func New(input operator.ExecutionPlan, n *kapotv1.WindowNode) (*Window, error) {
	in := input.Schema()
	w := &Window{input: input}
	for i, p := range n.GetPartitionBy() {
		e, err := expr.FromProto(p, in)
		if err != nil {
			return nil, fmt.Errorf("window partition key %d: %w", i, err)
		}
		w.partBy = append(w.partBy, e)
	}
	for i, k := range n.GetOrderBy() {
		e, err := expr.FromProto(k.GetExpr(), in)
		if err != nil {
			return nil, fmt.Errorf("window order key %d: %w", i, err)
		}
		w.orderBy = append(w.orderBy, expr.SortKey{Expr: e, Descending: k.GetDescending(), NullsFirst: k.GetNullsFirst()})
	}
	fields := append([]arrow.Field{}, in.Fields()...)
	orderTypes := make([]arrow.DataType, len(w.orderBy))
	for i, k := range w.orderBy {
		orderTypes[i] = k.Expr.DataType()
	}
	for i, f := range n.GetFunctions() {
		wf := windowFunc{fn: f.GetFn(), agg: f.GetAggregate(), offset: f.GetOffset()}
		if f.GetArg() != nil {
			e, err := expr.FromProto(f.GetArg(), in)
			if err != nil {
				return nil, fmt.Errorf("window function %d: %w", i, err)
			}
			wf.arg = e
		}
		fr, err := newWindowFrame(f.GetFrame(), orderTypes)
		if err != nil {
			return nil, fmt.Errorf("window function %d (%s): %w", i, f.GetFn(), err)
		}
		wf.frame = fr
		if err := wf.resolve(f, len(w.orderBy) > 0); err != nil {
			return nil, fmt.Errorf("window function %d (%s): %w", i, f.GetFn(), err)
		}
		w.fns = append(w.fns, wf)
		fields = append(fields, arrow.Field{Name: f.GetName(), Type: wf.typ, Nullable: true})
	}
	if len(w.fns) == 0 {
		return nil, fmt.Errorf("window without functions: %w", errs.ErrInvalidPlan)
	}
	w.schema = arrow.NewSchema(fields, nil)
	return w, nil
}

// resolve checks a function's arguments and sets its result type.
func (wf *windowFunc) resolve(f *kapotv1.WindowFunctionNode, ordered bool) error {
	needArg := func() error {
		if wf.arg == nil {
			return fmt.Errorf("needs an argument: %w", errs.ErrInvalidPlan)
		}
		return nil
	}
	switch wf.fn {
	case kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER, kapotv1.WindowFunction_WINDOW_FUNCTION_RANK, kapotv1.WindowFunction_WINDOW_FUNCTION_DENSE_RANK:
		wf.typ = arrow.PrimitiveTypes.Int64
	case kapotv1.WindowFunction_WINDOW_FUNCTION_PERCENT_RANK, kapotv1.WindowFunction_WINDOW_FUNCTION_CUME_DIST:
		wf.typ = arrow.PrimitiveTypes.Float64
	case kapotv1.WindowFunction_WINDOW_FUNCTION_NTILE:
		if wf.offset < 1 {
			return fmt.Errorf("ntile needs a positive number of buckets, not %d: %w", wf.offset, errs.ErrInvalidPlan)
		}
		wf.typ = arrow.PrimitiveTypes.Int64
	case kapotv1.WindowFunction_WINDOW_FUNCTION_LAG, kapotv1.WindowFunction_WINDOW_FUNCTION_LEAD:
		if err := needArg(); err != nil {
			return err
		}
		if wf.offset < 0 {
			return fmt.Errorf("offset %d is negative: %w", wf.offset, errs.ErrInvalidPlan)
		}
		wf.typ = wf.arg.DataType()
		if d := f.GetDefaultValue(); d != nil {
			s, err := expr.ScalarFromProto(d)
			if err != nil {
				return err
			}
			if s.IsValid() {
				if s, err = s.CastTo(wf.typ); err != nil {
					return fmt.Errorf("default value: %v: %w", err, errs.ErrInvalidPlan)
				}
				wf.def = s
			}
		}
	case kapotv1.WindowFunction_WINDOW_FUNCTION_FIRST_VALUE, kapotv1.WindowFunction_WINDOW_FUNCTION_LAST_VALUE,
		kapotv1.WindowFunction_WINDOW_FUNCTION_NTH_VALUE:
		if err := needArg(); err != nil {
			return err
		}
		if wf.fn == kapotv1.WindowFunction_WINDOW_FUNCTION_NTH_VALUE && wf.offset < 1 {
			return fmt.Errorf("nth_value needs a positive row number, not %d: %w", wf.offset, errs.ErrInvalidPlan)
		}
		wf.typ = wf.arg.DataType()
	case kapotv1.WindowFunction_WINDOW_FUNCTION_AGGREGATE:
		in := arrow.DataType(arrow.Null)
		if wf.arg != nil {
			in = wf.arg.DataType()
		}
		t, err := agg.ResultType(wf.agg, in, false)
		if err != nil {
			return err
		}
		if err := CheckAggregate(wf.agg, in, framed(ordered, wf.frame)); err != nil {
			return err
		}
		wf.typ = t
	default:
		return fmt.Errorf("window function %v: %w", wf.fn, errs.ErrNotSupported)
	}
	return nil
}

// CheckAggregate reports whether aggregate fn over values of type in
// runs as a window function (framed: over frames other than the whole
// partition).
func CheckAggregate(fn kapotv1.AggregateFunction, in arrow.DataType, framed bool) error {
	if framed && !runningAggregate(fn, in) {
		return fmt.Errorf("%s over %s in a window with ORDER BY or a frame: %w", strings.ToLower(strings.TrimPrefix(fn.String(), "AGGREGATE_FUNCTION_")), in, errs.ErrNotSupported)
	}
	return nil
}

// framed reports whether a window function's frames can be smaller than
// its partition.
func framed(ordered bool, fr *windowFrame) bool {
	if fr == nil {
		return ordered
	}
	return !fr.whole()
}

// runningAggregate reports whether an aggregate can run over an ordered
// window (a frame growing row group by row group).
func runningAggregate(fn kapotv1.AggregateFunction, in arrow.DataType) bool {
	switch fn {
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX:
		return true
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG:
		return arrow.IsInteger(in.ID()) || arrow.IsFloating(in.ID()) || in.ID() == arrow.DECIMAL128
	}
	return false
}

func (w *Window) Schema() *arrow.Schema              { return w.schema }
func (w *Window) OutputPartitions() int              { return w.input.OutputPartitions() }
func (w *Window) Children() []operator.ExecutionPlan { return []operator.ExecutionPlan{w.input} }
func (w *Window) String() string {
	return fmt.Sprintf("Window(partition=%d keys, order=%d keys, %d functions)", len(w.partBy), len(w.orderBy), len(w.fns))
}

func (w *Window) Execute(ctx context.Context, p int, tc *operator.TaskContext) (operator.Operator, error) {
	if err := operator.CheckPartition(w, p); err != nil {
		return nil, err
	}
	in, err := w.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	return &windowOp{w: w, in: in, tc: tc}, nil
}

// windowOp computes the functions a chunk of window partitions at a time:
// it reads sorted input until it holds at least windowChunkRows rows and
// the start of a partition after the first, computes the complete
// partitions before that start and keeps the rest for the next chunk. So
// it holds one chunk and the largest window partition, not the whole
// input (without PARTITION BY the input is one partition, held whole).
type windowOp struct {
	w       *Window
	in      operator.Operator
	tc      *operator.TaskContext
	pending []arrow.RecordBatch // input not computed yet (ours to release)
	rows    int64               // rows in pending
	chunk   int64               // rows to gather before computing
	out     arrow.RecordBatch   // the computed chunk being returned
	next    int64
	eof     bool
}

// windowChunkRows is the fewest rows computed at a time.
const windowChunkRows = 64 * 1024

func (o *windowOp) Schema() *arrow.Schema { return o.w.schema }

func (o *windowOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	size := int64(o.tc.BatchSize)
	if size <= 0 {
		size = operator.DefaultBatchSize
	}
	if o.chunk == 0 {
		o.chunk = max(windowChunkRows, size)
	}
	for {
		if o.out != nil && o.next < o.out.NumRows() {
			end := min(o.next+size, o.out.NumRows())
			b := o.out.NewSlice(o.next, end)
			o.next = end
			return b, nil
		}
		if o.out != nil {
			o.out.Release()
			o.out = nil
		}
		if o.eof && o.rows == 0 {
			return nil, io.EOF
		}
		for !o.eof && o.rows < o.chunk {
			b, err := o.in.Next(ctx)
			if errors.Is(err, io.EOF) {
				o.eof = true
				break
			}
			if err != nil {
				return nil, err
			}
			if b.NumRows() == 0 {
				b.Release()
				continue
			}
			o.pending = append(o.pending, b) // ours to release (the contract)
			o.rows += b.NumRows()
		}
		if o.rows == 0 {
			continue
		}
		if err := o.computeChunk(ctx); err != nil {
			return nil, err
		}
	}
}

// computeChunk computes the complete window partitions of pending into
// out and keeps the rows of a partition that may continue.
func (o *windowOp) computeChunk(ctx context.Context) error {
	rec, err := operator.ConcatBatches(o.tc, o.w.input.Schema(), o.pending)
	if err != nil {
		return err
	}
	for _, b := range o.pending {
		b.Release()
	}
	o.pending, o.rows = nil, 0
	defer rec.Release()
	n := rec.NumRows()
	cut := n
	if !o.eof {
		if cut, err = o.lastPartitionStart(ctx, rec); err != nil {
			return err
		}
	}
	if cut < n {
		rest := rec.NewSlice(cut, n)
		o.pending, o.rows = []arrow.RecordBatch{rest}, n-cut
	}
	if cut == 0 {
		// One partition so far: gather more before computing (twice as
		// many, so the input is copied a bounded number of times).
		o.chunk = 2 * n
		return nil
	}
	o.chunk = max(windowChunkRows, o.chunk/2)
	done := rec
	if cut < n {
		done = rec.NewSlice(0, cut)
		defer done.Release()
	}
	out, err := o.w.compute(ctx, o.tc, done)
	if err != nil {
		return err
	}
	o.out, o.next = out, 0
	return nil
}

// lastPartitionStart is the first row of rec's last window partition (0
// when rec holds one partition).
func (o *windowOp) lastPartitionStart(ctx context.Context, rec arrow.RecordBatch) (int64, error) {
	if len(o.w.partBy) == 0 {
		return 0, nil
	}
	var parts []arrow.Array
	defer func() { operator.ReleaseAll(parts) }()
	for _, e := range o.w.partBy {
		a, err := e.Eval(ctx, o.tc.Mem, rec)
		if err != nil {
			return 0, err
		}
		parts = append(parts, a)
	}
	starts, err := boundaries(parts, int(rec.NumRows()), nil)
	if err != nil {
		return 0, err
	}
	for r := len(starts) - 1; r > 0; r-- {
		if starts[r] {
			return int64(r), nil
		}
	}
	return 0, nil
}

func (o *windowOp) Close() error {
	if o.out != nil {
		o.out.Release()
		o.out = nil
	}
	for _, b := range o.pending {
		b.Release()
	}
	o.pending = nil
	return o.in.Close()
}

// compute computes the functions over rec (whole window partitions,
// sorted) and returns rec's columns followed by theirs.
func (w *Window) compute(ctx context.Context, tc *operator.TaskContext, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	mem := tc.Mem
	eval := func(es []expr.Expr) ([]arrow.Array, error) {
		out := make([]arrow.Array, 0, len(es))
		for _, e := range es {
			a, err := e.Eval(ctx, mem, rec)
			if err != nil {
				operator.ReleaseAll(out)
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	}
	parts, err := eval(w.partBy)
	if err != nil {
		return nil, err
	}
	defer operator.ReleaseAll(parts)
	orderExprs := make([]expr.Expr, len(w.orderBy))
	for i, k := range w.orderBy {
		orderExprs[i] = k.Expr
	}
	orders, err := eval(orderExprs)
	if err != nil {
		return nil, err
	}
	defer operator.ReleaseAll(orders)
	n := int(rec.NumRows())
	newPart, err := boundaries(parts, n, nil)
	if err != nil {
		return nil, err
	}
	newPeer, err := boundaries(orders, n, newPart)
	if err != nil {
		return nil, err
	}
	fr := frames(newPart, newPeer, len(w.orderBy) > 0)
	cols := append([]arrow.Array{}, rec.Columns()...)
	var made []arrow.Array
	defer func() { operator.ReleaseAll(made) }()
	for _, wf := range w.fns {
		var arg arrow.Array
		if wf.arg != nil {
			if arg, err = wf.arg.Eval(ctx, mem, rec); err != nil {
				return nil, err
			}
		}
		var order arrow.Array
		desc := false
		if len(orders) == 1 {
			order, desc = orders[0], w.orderBy[0].Descending
		}
		col, err := wf.compute(ctx, mem, fr, arg, order, desc)
		if arg != nil {
			arg.Release()
		}
		if err != nil {
			return nil, err
		}
		made = append(made, col)
		cols = append(cols, col)
	}
	return array.NewRecordBatch(w.schema, cols, int64(n)), nil
}

// boundaries marks the rows where the key columns change (row 0 always);
// also every row already marked in also.
func boundaries(keys []arrow.Array, n int, also []bool) ([]bool, error) {
	out := make([]bool, n)
	encs := make([]rowkey.Encoder, len(keys))
	for i, k := range keys {
		e, err := rowkey.NewEncoder(k)
		if err != nil {
			return nil, err
		}
		encs[i] = e
	}
	var prev, cur []byte
	for r := 0; r < n; r++ {
		cur = cur[:0]
		for _, e := range encs {
			cur = e(cur, r)
		}
		out[r] = r == 0 || (also != nil && also[r]) || !bytes.Equal(prev, cur)
		prev, cur = cur, prev
	}
	return out, nil
}
