package engine

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/agg"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// HashAggregate groups rows by key and computes aggregates, in one of three
// modes: PARTIAL (raw rows in, per-group state out), FINAL (state in, results
// out) and SINGLE (raw rows in, results out). Without group keys there is
// always exactly one group, so an empty input still yields one row.
type HashAggregate struct {
	input     ExecutionPlan
	mode      kapotv1.AggregateMode
	groups    []expr.Expr
	aggs      []aggSpec
	schema    *arrow.Schema
	numGroups int
	nodeID    int
	// stateSchema is the layout of per-group state (group keys, then each
	// aggregate's state columns): PARTIAL's output and the spill format.
	stateSchema *arrow.Schema
	// merge is the FINAL-mode aggregate that reads spilled state back and
	// produces this node's output (SINGLE and FINAL modes).
	merge *HashAggregate
}

func (h *HashAggregate) setNodeID(id int) {
	h.nodeID = id
	if h.merge != nil {
		h.merge.nodeID = id
	}
}

type aggSpec struct {
	fn       kapotv1.AggregateFunction
	distinct bool
	arg      expr.Expr   // nil for count(*) and in FINAL mode
	arg2     expr.Expr   // corr/covar's second argument
	orderBy  []expr.Expr // string_agg's and array_agg's ORDER BY keys (partial/single mode)
	opts     agg.Options
	in       arrow.DataType // type the accumulator is built for
	name     string
	// stateCol is the first input column of this aggregate's state (FINAL).
	stateCol int
	nstate   int
}

var _ ExecutionPlan = (*HashAggregate)(nil)

func newHashAggregate(input ExecutionPlan, n *kapotv1.HashAggregateNode) (*HashAggregate, error) {
	h := &HashAggregate{input: input, mode: n.GetMode(), numGroups: len(n.GetGroupExprs())}
	in := input.Schema()
	var fields []arrow.Field
	groupName := func(i int, e expr.Expr) string {
		if i < len(n.GetGroupNames()) && n.GetGroupNames()[i] != "" {
			return n.GetGroupNames()[i]
		}
		if name, ok := expr.ColumnName(e); ok {
			return name
		}
		return e.String()
	}
	switch h.mode {
	case kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE:
		for i, g := range n.GetGroupExprs() {
			e, err := expr.FromProto(g, in)
			if err != nil {
				return nil, fmt.Errorf("aggregate group key %d: %w", i, err)
			}
			h.groups = append(h.groups, e)
			fields = append(fields, arrow.Field{Name: groupName(i, e), Type: e.DataType(), Nullable: true})
		}
		for i, a := range n.GetAggregates() {
			s := aggSpec{fn: a.GetFunc(), distinct: a.GetDistinct(), name: aggName(a, i), in: arrow.Null}
			if a.GetExpr() != nil {
				e, err := expr.FromProto(a.GetExpr(), in)
				if err != nil {
					return nil, fmt.Errorf("aggregate %s: %w", s.name, err)
				}
				s.arg, s.in = e, e.DataType()
			} else if s.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT || s.distinct {
				return nil, fmt.Errorf("aggregate %s: %v needs an argument: %w", s.name, s.fn, ErrInvalidPlan)
			}
			if err := s.decodeCall(a, in); err != nil {
				return nil, fmt.Errorf("aggregate %s: %w", s.name, err)
			}
			h.aggs = append(h.aggs, s)
		}
	case kapotv1.AggregateMode_AGGREGATE_MODE_FINAL:
		if h.numGroups > in.NumFields() {
			return nil, fmt.Errorf("final aggregate: %d group keys but input has %d columns: %w", h.numGroups, in.NumFields(), ErrInvalidPlan)
		}
		for i := 0; i < h.numGroups; i++ {
			f := in.Field(i)
			h.groups = append(h.groups, expr.NewColumn(i, f.Name, f.Type))
			name := f.Name
			if i < len(n.GetGroupNames()) && n.GetGroupNames()[i] != "" {
				name = n.GetGroupNames()[i]
			}
			fields = append(fields, arrow.Field{Name: name, Type: f.Type, Nullable: true})
		}
		col := h.numGroups
		for i, a := range n.GetAggregates() {
			if col >= in.NumFields() {
				return nil, fmt.Errorf("final aggregate: input has no state column for aggregate %d: %w", i, ErrInvalidPlan)
			}
			s := aggSpec{fn: a.GetFunc(), distinct: a.GetDistinct(), name: aggName(a, i), in: in.Field(col).Type, stateCol: col}
			if err := s.decodeOpts(a); err != nil {
				return nil, fmt.Errorf("final aggregate %s: %w", s.name, err)
			}
			s.opts.FromState = true
			acc, err := s.newAcc()
			if err != nil {
				return nil, fmt.Errorf("final aggregate %s: %w", s.name, err)
			}
			s.nstate = len(acc.StateTypes())
			col += s.nstate
			h.aggs = append(h.aggs, s)
		}
		if col != in.NumFields() {
			return nil, fmt.Errorf("final aggregate: input has %d columns, partial state needs %d: %w", in.NumFields(), col, ErrInvalidPlan)
		}
	default:
		return nil, fmt.Errorf("aggregate mode %v: %w", h.mode, ErrInvalidPlan)
	}
	for _, s := range h.aggs {
		acc, err := s.newAcc()
		if err != nil {
			return nil, fmt.Errorf("aggregate %s: %w", s.name, err)
		}
		if h.mode == kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL {
			for j, t := range acc.StateTypes() {
				fields = append(fields, arrow.Field{Name: fmt.Sprintf("%s[state%d]", s.name, j), Type: t, Nullable: true})
			}
		} else {
			fields = append(fields, arrow.Field{Name: s.name, Type: acc.ResultType(), Nullable: true})
		}
	}
	h.schema = arrow.NewSchema(fields, nil)
	stateFields := append([]arrow.Field{}, fields[:h.numGroups]...)
	col := h.numGroups
	var mergeAggs []aggSpec
	for _, s := range h.aggs {
		acc, err := s.newAcc()
		if err != nil {
			return nil, err
		}
		st := acc.StateTypes()
		for j, t := range st {
			stateFields = append(stateFields, arrow.Field{Name: fmt.Sprintf("%s[state%d]", s.name, j), Type: t, Nullable: true})
		}
		opts := s.opts
		opts.FromState = true
		mergeAggs = append(mergeAggs, aggSpec{fn: s.fn, distinct: s.distinct, name: s.name, in: st[0], stateCol: col, nstate: len(st), opts: opts})
		col += len(st)
	}
	h.stateSchema = arrow.NewSchema(stateFields, nil)
	if h.mode != kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL && h.numGroups > 0 {
		m := &HashAggregate{mode: kapotv1.AggregateMode_AGGREGATE_MODE_FINAL, aggs: mergeAggs, schema: h.schema,
			numGroups: h.numGroups, stateSchema: h.stateSchema}
		for i := 0; i < h.numGroups; i++ {
			f := stateFields[i]
			m.groups = append(m.groups, expr.NewColumn(i, f.Name, f.Type))
		}
		m.merge = m
		h.merge = m
	}
	return h, nil
}

// decodeOpts reads a call's parameter and ORDER BY directions.
func (s *aggSpec) decodeOpts(a *kapotv1.AggregateExprNode) error {
	if p := a.GetParam(); p != nil {
		v, err := expr.ScalarFromProto(p)
		if err != nil {
			return err
		}
		s.opts.Param = v
	}
	for _, k := range a.GetOrderBy() {
		s.opts.Order = append(s.opts.Order, expr.SortKey{Descending: k.GetDescending(), NullsFirst: k.GetNullsFirst()})
	}
	return nil
}

// decodeCall reads the parts of a call beyond its argument (partial and
// single mode): the second argument and string_agg's order keys, which
// the accumulator receives with the argument as one struct column.
func (s *aggSpec) decodeCall(a *kapotv1.AggregateExprNode, in *arrow.Schema) error {
	if err := s.decodeOpts(a); err != nil {
		return err
	}
	fields := []arrow.Field{{Name: "v", Type: s.in, Nullable: true}}
	if a.GetExpr2() != nil {
		e, err := expr.FromProto(a.GetExpr2(), in)
		if err != nil {
			return err
		}
		s.arg2 = e
		fields = append(fields, arrow.Field{Name: "x", Type: e.DataType(), Nullable: true})
	}
	if s.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG || s.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG {
		for i, k := range a.GetOrderBy() {
			e, err := expr.FromProto(k.GetExpr(), in)
			if err != nil {
				return fmt.Errorf("order key %d: %w", i, err)
			}
			s.orderBy = append(s.orderBy, e)
			fields = append(fields, arrow.Field{Name: fmt.Sprintf("k%d", i), Type: e.DataType(), Nullable: true})
		}
	}
	if len(fields) > 1 {
		s.in = arrow.StructOf(fields...)
	}
	return nil
}

// plain reports whether s is a call of one argument (or none), without
// DISTINCT, ORDER BY or a parameter.
func (s aggSpec) plain() bool {
	return s.arg != nil && !s.distinct && s.arg2 == nil && len(s.orderBy) == 0 && s.opts.Param == nil && len(s.opts.Order) == 0
}

func (s aggSpec) newAcc() (agg.Accumulator, error) {
	return agg.NewWithOptions(s.fn, s.in, s.distinct, s.opts)
}

// eval evaluates the argument over b: one column, or a struct of the
// argument, the second argument and the order keys.
func (s aggSpec) eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	arg, err := s.arg.Eval(ctx, mem, b)
	if err != nil {
		return nil, err
	}
	if s.arg2 == nil && len(s.orderBy) == 0 {
		return arg, nil
	}
	cols := []arrow.Array{arg}
	defer func() { operator.ReleaseAll(cols) }()
	for _, e := range append([]expr.Expr{s.arg2}, s.orderBy...) {
		if e == nil {
			continue
		}
		c, err := e.Eval(ctx, mem, b)
		if err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	st := s.in.(*arrow.StructType)
	children := make([]arrow.ArrayData, len(cols))
	for i, c := range cols {
		children[i] = c.Data()
	}
	data := array.NewData(st, int(b.NumRows()), []*memory.Buffer{nil}, children, 0, 0)
	defer data.Release()
	return array.NewStructData(data), nil
}

func aggName(a *kapotv1.AggregateExprNode, i int) string {
	if a.GetName() != "" {
		return a.GetName()
	}
	fn := strings.ToLower(strings.TrimPrefix(a.GetFunc().String(), "AGGREGATE_FUNCTION_"))
	return fmt.Sprintf("%s_%d", fn, i)
}

func (h *HashAggregate) Schema() *arrow.Schema     { return h.schema }
func (h *HashAggregate) OutputPartitions() int     { return h.input.OutputPartitions() }
func (h *HashAggregate) Children() []ExecutionPlan { return []ExecutionPlan{h.input} }
func (h *HashAggregate) String() string {
	mode := strings.TrimPrefix(h.mode.String(), "AGGREGATE_MODE_")
	var aggs []string
	for _, a := range h.aggs {
		aggs = append(aggs, a.name)
	}
	var keys []string
	for _, g := range h.groups {
		keys = append(keys, g.String())
	}
	return fmt.Sprintf("HashAggregate(mode=%s, group=[%s], aggr=[%s])", mode, strings.Join(keys, ", "), strings.Join(aggs, ", "))
}

func (h *HashAggregate) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	in, err := h.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	if h.computedArgs() >= coalesceAggArgs {
		// Small batches (a selective join's output) concatenated first:
		// each argument is evaluated once a batch, and its fixed cost
		// (kernel dispatch, allocations) is paid per batch, not per row.
		// TPC-DS q66's 24 sums of CASE expressions over batches of 460
		// rows cost 15 µs a row.
		in = &coalesceBatchesOp{c: &CoalesceBatches{input: h.input}, in: in, tc: tc, target: int64(tc.RowsPerBatch(0))}
	}
	op, err := newHashAggOp(h, in, tc, 0, fmt.Sprintf("HashAggregate[partition %d]", p))
	if err != nil {
		in.Close()
		return nil, err
	}
	return op, nil
}

// coalesceAggArgs is how many computed (not plain column) arguments a
// partial or single aggregate evaluates per batch from which it
// coalesces small input batches first.
const coalesceAggArgs = 4

// computedArgs counts the aggregate's arguments that are expressions, not
// plain columns (0 in FINAL mode).
func (h *HashAggregate) computedArgs() int {
	n := 0
	for _, s := range h.aggs {
		if s.arg == nil {
			continue
		}
		if _, ok := expr.ColumnName(s.arg); !ok {
			n++
		}
	}
	return n
}

func newHashAggOp(h *HashAggregate, in Operator, tc *TaskContext, level int, name string) (*hashAggOp, error) {
	op := &hashAggOp{h: h, in: in, tc: tc, level: level, res: tc.Pool.NewReservation(name)}
	if h.mode == kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL && len(h.groups) > 0 {
		n, err := partialGroupsProperty(tc.Properties)
		if err != nil {
			op.res.Close()
			return nil, err
		}
		op.maxGroups, op.baseGroups = n, n
	}
	if err := op.reset(); err != nil {
		op.res.Close()
		return nil, err
	}
	return op, nil
}

// hashAggOp runs a hash aggregate. Groups live in a hash table whose memory
// is reserved from the task's pool. When the pool refuses more, a PARTIAL
// aggregate emits what it has and starts over (the FINAL phase combines the
// pieces); SINGLE and FINAL aggregates spill their state to hash-partitioned
// files and, once the input is done, aggregate each file on its own.
type hashAggOp struct {
	h     *HashAggregate
	in    Operator
	tc    *TaskContext
	res   *alloc.Reservation
	level int
	accs  []agg.Accumulator
	// keys holds group key i of every group, in group order, as chunks:
	// per input batch, the values of the groups it created, taken at once
	// from its rows newRows (a builder appended to one group at a time
	// spent a third of a many-keyed aggregate growing and copying its
	// buffers; TPC-DS q67).
	keys    [][]arrow.Array
	newRows []int32
	keyOffs []int32            // a batch's encoded keys' offsets, reused
	index   *rowkey.BytesTable // byte-encoded keys -> group
	// index64 and nullGroup replace index for one integer-like group key.
	index64 *rowkey.IntTable
	// sorted finds the groups of one integer-like key while its keys
	// come in a few ascending runs, instead of index64 (see groupInts);
	// nil once index64 took over, until reset.
	sorted *sortedRuns
	// pairHeads (keyed by a hash of both keys), pairNext and pairKey0/1
	// index groups of two integer-like keys (see groupIntPairs); nil until
	// such a batch arrives.
	pairHeads          *rowkey.IntTable
	pairNext           []int32
	pairKey0, pairKey1 []int64
	// short caches, for string keys that pack into 8 bytes (see
	// packShortKeys), the group of each packed key; index stays the
	// authority. nil until such a batch arrives.
	short     *rowkey.IntTable
	nullGroup int64    // group id of the null key, -1 before one is seen
	packed    []uint64 // packShortKeys' or layout's output, reused
	// layout packs three or more integer-like keys, or two or more with
	// strings' codes, into one int64 key of index64 (see groupPackedInts); keyVals are their values'
	// buffers, reused.
	layout  intLayout
	keyVals [][]int64
	// codes number the values of string keys packed with integer-like
	// ones (see strCodes); nil entries for the others, reset with the
	// table.
	codes []*strCodes
	n     int // groups so far
	// maxGroups, in PARTIAL mode, is the groups the table holds before it
	// emits them and starts over (see PropPartialAggGroups and
	// partialFull); 0 is no bound. rowsIn counts the rows folded in since
	// the last reset.
	maxGroups, baseGroups int
	rowsIn                int64
	// passThrough, in PARTIAL mode, turns each input row into its own
	// group's state without a table: set when the groups barely reduce
	// the rows (see partialFull).
	passThrough bool
	// accBytes is what the agg.Sized accumulators held when last counted
	// (reserved with the groups).
	accBytes int64
	out      arrow.RecordBatch
	offset   int64

	inputDone bool
	spills    []*operator.SpillFile // SINGLE/FINAL state by hash partition
	merging   []*operator.SpillFile // spilled partitions still to aggregate
	cur       Operator              // aggregate of one spilled partition
	closed    bool
}

// reset empties the hash table and returns its memory to the pool.
func (o *hashAggOp) reset() error {
	o.releaseKeys()
	o.keys, o.accs = make([][]arrow.Array, len(o.h.groups)), o.accs[:0]
	for i, s := range o.h.aggs {
		acc, err := s.newAcc()
		if err != nil {
			return err
		}
		if j := o.sumOf(i); j >= 0 {
			acc, _ = agg.ShareSum(acc, o.accs[j])
		}
		o.accs = append(o.accs, acc)
	}
	o.index, o.n = rowkey.NewBytesTable(), 0
	o.index64, o.nullGroup = rowkey.NewIntTable(0), -1
	if o.sorted == nil {
		o.sorted = &sortedRuns{}
	}
	o.sorted.reset()
	o.pairHeads, o.pairNext, o.pairKey0, o.pairKey1 = nil, nil, nil, nil
	o.short = nil
	o.codes = nil
	o.rowsIn = 0
	o.accBytes = 0
	if len(o.h.groups) == 0 {
		o.n = 1
		for _, a := range o.accs {
			a.Grow(1)
		}
	}
	o.res.Free()
	return nil
}

// sumOf is the aggregate before aggregate i that sums the column i
// averages, whose running sum i's accumulator can read (agg.ShareSum), or
// -1: raw input only (partial or single mode), plain calls of one column.
func (o *hashAggOp) sumOf(i int) int {
	avg := o.h.aggs[i]
	if o.h.mode == kapotv1.AggregateMode_AGGREGATE_MODE_FINAL || avg.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG || !avg.plain() {
		return -1
	}
	col, ok := expr.ColumnIndex(avg.arg)
	if !ok {
		return -1
	}
	for j, s := range o.h.aggs[:i] {
		if c, ok := expr.ColumnIndex(s.arg); ok && c == col && s.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM && s.plain() && arrow.TypeEqual(s.in, avg.in) {
			return j
		}
	}
	return -1
}

func (o *hashAggOp) Schema() *arrow.Schema { return o.h.schema }

func (o *hashAggOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for !o.closed {
		if o.out != nil {
			if o.offset < o.out.NumRows() {
				end := min(o.offset+int64(o.tc.RowsPerBatch(0)), o.out.NumRows())
				b := o.out.NewSlice(o.offset, end)
				o.offset = end
				return b, nil
			}
			o.out.Release()
			o.out, o.offset = nil, 0
		}
		if o.cur != nil {
			b, err := o.cur.Next(ctx)
			if err != io.EOF {
				return b, err
			}
			o.cur.Close()
			o.cur = nil
			continue
		}
		if len(o.merging) > 0 {
			if err := o.openMerge(); err != nil {
				return nil, err
			}
			continue
		}
		if o.inputDone {
			return nil, io.EOF
		}
		if o.passThrough {
			b, err := o.in.Next(ctx)
			if err == io.EOF {
				o.inputDone = true
				continue
			}
			if err != nil {
				return nil, err
			}
			return o.passBatch(ctx, b)
		}
		full, err := o.consume(ctx)
		if err != nil {
			return nil, err
		}
		partial := o.h.mode == kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL
		switch {
		case !full && len(o.spills) == 0:
			o.inputDone = true
			if o.out, err = o.emit(partial); err != nil {
				return nil, err
			}
		case !full:
			o.inputDone = true
			if err := o.spill(ctx); err != nil {
				return nil, err
			}
			if err := o.finishSpills(); err != nil {
				return nil, err
			}
		case partial:
			// Emit the partial state early; FINAL merges the pieces.
			if o.out, err = o.emit(true); err != nil {
				return nil, err
			}
			if err := o.reset(); err != nil {
				return nil, err
			}
		default:
			if err := o.spill(ctx); err != nil {
				return nil, err
			}
		}
	}
	return nil, io.EOF
}

// groupBytes estimates the memory a new group of the given key costs: the
// key in the index and the builders, map overhead and accumulator state.
func (o *hashAggOp) groupBytes(key int) int64 {
	return int64(2*key + 64 + 24*len(o.accs))
}

// addGroup counts a new group (id o.n before the call), first met at row
// r of the batch, whose key takes key bytes, and returns its groupBytes.
func (o *hashAggOp) addGroup(r, key int) int64 {
	o.n++
	o.newRows = append(o.newRows, int32(r))
	return o.groupBytes(key)
}

// consume folds input batches into the hash table until the input ends
// (false) or the pool refuses memory for more groups (true).
func (o *hashAggOp) consume(ctx context.Context) (bool, error) {
	ctx = exec.WithAllocator(ctx, o.tc.Mem)
	var groupIDs []uint32
	var key []byte
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		b, err := o.in.Next(ctx)
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		var grown int64
		err = func() error {
			defer b.Release()
			rows := int(b.NumRows())
			groupIDs, o.newRows = groupIDs[:0], o.newRows[:0]
			if len(o.h.groups) == 0 {
				groupIDs = append(groupIDs, make([]uint32, rows)...)
			} else {
				cols := make([]arrow.Array, len(o.h.groups))
				defer func() {
					for _, c := range cols {
						if c != nil {
							c.Release()
						}
					}
				}()
				encs := make([]rowkey.Encoder, len(cols))
				for i, g := range o.h.groups {
					c, err := g.Eval(ctx, o.tc.Mem, b)
					if err != nil {
						return fmt.Errorf("aggregate: %w", err)
					}
					cols[i] = c
					if encs[i], err = rowkey.NewEncoder(c); err != nil {
						return err
					}
				}
				// byKey assigns row r's group through the byte-encoded keys.
				byKey := func(r int) (uint32, error) {
					key = key[:0]
					for _, enc := range encs {
						key = enc(key, r)
					}
					id32, ok := o.index.GetOrPut(key, int32(o.n))
					id := uint32(id32)
					if !ok {
						grown += o.addGroup(r, len(key))
					}
					return id, nil
				}
				v0, int0 := rowkey.IntValues(cols[0])
				var v1 []int64
				int1 := false
				if len(cols) == 2 {
					v1, int1 = rowkey.IntValues(cols[1])
				}
				switch {
				case int0 && len(cols) == 1:
					var err error
					if groupIDs, grown, err = o.groupInts(cols[0], v0, groupIDs); err != nil {
						return err
					}
				case int0 && int1:
					var err error
					var g int64
					if groupIDs, g, err = o.groupIntPairs(cols, v0, v1, groupIDs, byKey); err != nil {
						return err
					}
					grown += g
				default:
					if (len(cols) > 2 || len(cols) == 2 && (int0 || int1)) && (o.layout.ok || !o.layout.set) {
						if vals := o.intKeyValues(cols); vals != nil {
							grown += o.codesBytes()
							if !o.layout.set {
								o.layout = planIntLayout(cols, vals, o.coded())
							}
							if o.layout.ok {
								var g int64
								var err error
								if groupIDs, g, err = o.groupPackedInts(cols, vals, groupIDs, byKey); err != nil {
									return err
								}
								grown += g
								break
							}
						}
					}
					if packed := packShortKeys(cols, o.packed[:0]); packed != nil {
						o.packed = packed
						if o.short == nil {
							o.short = rowkey.NewIntTable(0)
						}
						for r, k := range packed {
							if k != noShortKey {
								if id, ok := o.short.Get(int64(k)); ok {
									groupIDs = append(groupIDs, uint32(id))
									continue
								}
							}
							id, err := byKey(r)
							if err != nil {
								return err
							}
							if k != noShortKey {
								o.short.Swap(int64(k), int32(id))
							}
							groupIDs = append(groupIDs, id)
						}
						break
					}
					var g int64
					var err error
					if groupIDs, key, g, err = o.groupBatch(encs, rows, key, groupIDs, byKey); err != nil {
						return err
					}
					grown += g
				}
				if err := o.takeNewKeys(ctx, cols); err != nil {
					return err
				}
				for _, a := range o.accs {
					a.Grow(o.n)
				}
			}
			for i, s := range o.h.aggs {
				if err := o.feed(ctx, o.accs[i], s, b, groupIDs); err != nil {
					return fmt.Errorf("aggregate %s: %w", s.name, err)
				}
			}
			return nil
		}()
		if err != nil {
			return false, err
		}
		if sized := o.sizedBytes(); sized > o.accBytes {
			// array_agg's values: reserved as they come (the groups'
			// estimate does not cover them).
			grown += sized - o.accBytes
			o.accBytes = sized
		}
		if grown > 0 {
			if err := o.res.TryGrow(grown); err != nil {
				if len(o.h.groups) > 0 {
					return true, nil
				}
				if o.accBytes > 0 {
					return false, fmt.Errorf("aggregate: %w", err)
				}
			}
		}
		o.rowsIn += b.NumRows()
		if o.maxGroups > 0 && o.n >= o.maxGroups && o.partialFull() {
			return true, nil
		}
	}
}

// sizedBytes is the memory the accumulators whose state grows with their
// input hold (agg.Sized: array_agg's values).
func (o *hashAggOp) sizedBytes() int64 {
	var n int64
	for _, a := range o.accs {
		if s, ok := a.(agg.Sized); ok {
			n += s.Bytes()
		}
	}
	return n
}

func (o *hashAggOp) feed(ctx context.Context, acc agg.Accumulator, s aggSpec, b arrow.RecordBatch, groups []uint32) error {
	if o.h.mode == kapotv1.AggregateMode_AGGREGATE_MODE_FINAL {
		return acc.Merge(ctx, groups, b.Columns()[s.stateCol:s.stateCol+s.nstate])
	}
	if s.arg == nil {
		return acc.Update(ctx, groups, nil)
	}
	arg, err := s.eval(ctx, o.tc.Mem, b)
	if err != nil {
		return err
	}
	defer arg.Release()
	return acc.Update(ctx, groups, arg)
}

// emit builds a batch of the table's groups with their state (asState) or
// their results. The table itself is left as it is.
func (o *hashAggOp) emit(asState bool) (arrow.RecordBatch, error) {
	var cols []arrow.Array
	for i := range o.keys {
		k, err := o.keyColumn(i)
		if err != nil {
			operator.ReleaseAll(cols)
			return nil, err
		}
		cols = append(cols, k)
	}
	for _, a := range o.accs {
		if asState {
			cols = append(cols, a.State(o.tc.Mem)...)
		} else {
			cols = append(cols, a.Result(o.tc.Mem))
		}
	}
	schema := o.h.schema
	if asState {
		schema = o.h.stateSchema
	}
	b := array.NewRecordBatch(schema, cols, int64(o.n))
	for _, c := range cols {
		c.Release()
	}
	return b, nil
}

func (o *hashAggOp) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	o.releaseKeys()
	if o.out != nil {
		o.out.Release()
		o.out = nil
	}
	if o.cur != nil {
		o.cur.Close()
		o.cur = nil
	}
	for _, f := range o.spills {
		f.Abort()
	}
	o.spills, o.merging = nil, nil
	o.res.Close()
	return o.in.Close()
}

// groupBatch assigns the groups of a batch's rows (rows of them, keys
// encoded by encs into key, which it returns for reuse): row by row with
// byKey while the table is small, else a batch at a time, every row's key
// then every row's group (see batchProbeGroups), returning the memory the
// new groups take too (byKey counts its own).
func (o *hashAggOp) groupBatch(encs []rowkey.Encoder, rows int, key []byte, ids []uint32, byKey func(int) (uint32, error)) ([]uint32, []byte, int64, error) {
	if o.index.Len() < batchProbeGroups {
		for r := 0; r < rows; r++ {
			id, err := byKey(r)
			if err != nil {
				return ids, key, 0, err
			}
			ids = append(ids, id)
		}
		return ids, key, 0, nil
	}
	key, o.keyOffs = key[:0], append(o.keyOffs[:0], 0)
	for r := 0; r < rows; r++ {
		for _, enc := range encs {
			key = enc(key, r)
		}
		o.keyOffs = append(o.keyOffs, int32(len(key)))
	}
	if len(key) > math.MaxInt32 {
		return ids, key, 0, fmt.Errorf("aggregate: %d bytes of group keys in one batch: %w", len(key), ErrNotSupported)
	}
	before := len(o.newRows)
	var next int32
	ids, o.newRows, next = o.index.GetOrPutBatch(key, o.keyOffs, int32(o.n), ids, o.newRows)
	o.n = int(next)
	var grown int64
	for _, r := range o.newRows[before:] {
		grown += o.groupBytes(int(o.keyOffs[r+1] - o.keyOffs[r]))
	}
	return ids, key, grown, nil
}

// batchProbeGroups is the groups past which an aggregate keyed by
// encoded keys encodes and hashes a whole batch's keys before it probes
// the table (rowkey.BytesTable.GetOrPutBatch): a table that large misses
// the caches on most probes, which then overlap; a smaller one is faster
// probed row by row, each key encoded into a buffer the caches keep.
const batchProbeGroups = 1 << 16

// takeNewKeys appends to keys the values of the groups the batch of cols
// created, at its rows newRows.
func (o *hashAggOp) takeNewKeys(ctx context.Context, cols []arrow.Array) error {
	if len(o.newRows) == 0 {
		return nil
	}
	for i, c := range cols {
		k, err := kernel.Take(ctx, o.tc.Mem, c, o.newRows)
		if err != nil {
			return fmt.Errorf("aggregate: group keys: %w", err)
		}
		o.keys[i] = append(o.keys[i], k)
	}
	o.newRows = o.newRows[:0]
	return nil
}

// keyColumn is group key i of every group as one array (the caller
// releases it); its chunks are concatenated once and kept so.
func (o *hashAggOp) keyColumn(i int) (arrow.Array, error) {
	ch := o.keys[i]
	switch len(ch) {
	case 0:
		b := array.NewBuilder(o.tc.Mem, o.h.groups[i].DataType())
		defer b.Release()
		return b.NewArray(), nil
	case 1:
		ch[0].Retain()
		return ch[0], nil
	}
	c, err := array.Concatenate(ch, o.tc.Mem)
	if err != nil {
		return nil, fmt.Errorf("aggregate: group keys: %w", err)
	}
	operator.ReleaseAll(ch)
	o.keys[i] = append(ch[:0], c)
	c.Retain()
	return c, nil
}

// releaseKeys releases every chunk of keys.
func (o *hashAggOp) releaseKeys() {
	for _, ch := range o.keys {
		operator.ReleaseAll(ch)
	}
	o.keys = nil
}
