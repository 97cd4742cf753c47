package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// HashAggregate groups rows by key and computes aggregates, in one of three
// modes: PARTIAL (raw rows in, per-group state out), FINAL (state in, results
// out) and SINGLE (raw rows in, results out). Without group keys there is
// always exactly one group, so an empty input still yields one row.
type HashAggregate struct {
	input     ExecutionPlan
	mode      kapotv1.AggregateMode
	groups    []Expr
	aggs      []aggSpec
	schema    *arrow.Schema
	numGroups int
}

type aggSpec struct {
	fn       kapotv1.AggregateFunction
	distinct bool
	arg      Expr           // nil for count(*) and in FINAL mode
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
	groupName := func(i int, e Expr) string {
		if i < len(n.GetGroupNames()) && n.GetGroupNames()[i] != "" {
			return n.GetGroupNames()[i]
		}
		if c, ok := e.(*columnExpr); ok {
			return c.name
		}
		return e.String()
	}
	switch h.mode {
	case kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE:
		for i, g := range n.GetGroupExprs() {
			e, err := ExprFromProto(g, in)
			if err != nil {
				return nil, fmt.Errorf("aggregate group key %d: %w", i, err)
			}
			h.groups = append(h.groups, e)
			fields = append(fields, arrow.Field{Name: groupName(i, e), Type: e.DataType(), Nullable: true})
		}
		for i, a := range n.GetAggregates() {
			s := aggSpec{fn: a.GetFunc(), distinct: a.GetDistinct(), name: aggName(a, i), in: arrow.Null}
			if a.GetExpr() != nil {
				e, err := ExprFromProto(a.GetExpr(), in)
				if err != nil {
					return nil, fmt.Errorf("aggregate %s: %w", s.name, err)
				}
				s.arg, s.in = e, e.DataType()
			} else if s.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT || s.distinct {
				return nil, fmt.Errorf("aggregate %s: %v needs an argument: %w", s.name, s.fn, ErrInvalidPlan)
			}
			h.aggs = append(h.aggs, s)
		}
	case kapotv1.AggregateMode_AGGREGATE_MODE_FINAL:
		if h.numGroups > in.NumFields() {
			return nil, fmt.Errorf("final aggregate: %d group keys but input has %d columns: %w", h.numGroups, in.NumFields(), ErrInvalidPlan)
		}
		for i := 0; i < h.numGroups; i++ {
			f := in.Field(i)
			h.groups = append(h.groups, &columnExpr{index: i, name: f.Name, typ: f.Type})
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
			acc, err := newAccumulator(s.fn, s.in, s.distinct)
			if err != nil {
				return nil, fmt.Errorf("final aggregate %s: %w", s.name, err)
			}
			s.nstate = len(acc.stateTypes())
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
		acc, err := newAccumulator(s.fn, s.in, s.distinct)
		if err != nil {
			return nil, fmt.Errorf("aggregate %s: %w", s.name, err)
		}
		if h.mode == kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL {
			for j, t := range acc.stateTypes() {
				fields = append(fields, arrow.Field{Name: fmt.Sprintf("%s[state%d]", s.name, j), Type: t, Nullable: true})
			}
		} else {
			fields = append(fields, arrow.Field{Name: s.name, Type: acc.resultType(), Nullable: true})
		}
	}
	h.schema = arrow.NewSchema(fields, nil)
	return h, nil
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
	op := &hashAggOp{h: h, in: in, tc: tc, index: map[string]uint32{}}
	for _, s := range h.aggs {
		acc, err := newAccumulator(s.fn, s.in, s.distinct)
		if err != nil {
			in.Close()
			return nil, err
		}
		op.accs = append(op.accs, acc)
	}
	for _, g := range h.groups {
		op.keys = append(op.keys, array.NewBuilder(tc.Mem, g.DataType()))
	}
	return op, nil
}

type hashAggOp struct {
	h      *HashAggregate
	in     Operator
	tc     *TaskContext
	accs   []accumulator
	keys   []array.Builder
	index  map[string]uint32
	n      int // groups so far
	out    arrow.RecordBatch
	offset int64
	done   bool
	closed bool
}

func (o *hashAggOp) Schema() *arrow.Schema { return o.h.schema }

func (o *hashAggOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if o.closed {
		return nil, io.EOF
	}
	if !o.done {
		if err := o.consume(ctx); err != nil {
			return nil, err
		}
		o.done = true
		out, err := o.emit()
		if err != nil {
			return nil, err
		}
		o.out = out
	}
	if o.out == nil || o.offset >= o.out.NumRows() {
		return nil, io.EOF
	}
	end := min(o.offset+int64(o.tc.batchSize(0)), o.out.NumRows())
	b := o.out.NewSlice(o.offset, end)
	o.offset = end
	return b, nil
}

func (o *hashAggOp) consume(ctx context.Context) error {
	ctx = exec.WithAllocator(ctx, o.tc.Mem)
	if len(o.h.groups) == 0 {
		o.n = 1
		for _, a := range o.accs {
			a.grow(1)
		}
	}
	var groupIDs []uint32
	var key []byte
	for {
		b, err := o.in.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		err = func() error {
			defer b.Release()
			rows := int(b.NumRows())
			groupIDs = groupIDs[:0]
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
				encs := make([]keyEncoder, len(cols))
				for i, g := range o.h.groups {
					c, err := g.Eval(ctx, o.tc.Mem, b)
					if err != nil {
						return fmt.Errorf("aggregate: %w", err)
					}
					cols[i] = c
					if encs[i], err = newKeyEncoder(c); err != nil {
						return err
					}
				}
				for r := 0; r < rows; r++ {
					key = key[:0]
					for _, enc := range encs {
						key = enc(key, r)
					}
					id, ok := o.index[string(key)]
					if !ok {
						id = uint32(o.n)
						o.index[string(key)] = id
						o.n++
						for i, c := range cols {
							if err := appendFrom(o.keys[i], c, r); err != nil {
								return err
							}
						}
					}
					groupIDs = append(groupIDs, id)
				}
				for _, a := range o.accs {
					a.grow(o.n)
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
			return err
		}
	}
}

func (o *hashAggOp) feed(ctx context.Context, acc accumulator, s aggSpec, b arrow.RecordBatch, groups []uint32) error {
	if o.h.mode == kapotv1.AggregateMode_AGGREGATE_MODE_FINAL {
		return acc.merge(ctx, groups, b.Columns()[s.stateCol:s.stateCol+s.nstate])
	}
	if s.arg == nil {
		return acc.update(ctx, groups, nil)
	}
	arg, err := s.arg.Eval(ctx, o.tc.Mem, b)
	if err != nil {
		return err
	}
	defer arg.Release()
	return acc.update(ctx, groups, arg)
}

func (o *hashAggOp) emit() (arrow.RecordBatch, error) {
	var cols []arrow.Array
	for _, k := range o.keys {
		cols = append(cols, k.NewArray())
	}
	for _, a := range o.accs {
		if o.h.mode == kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL {
			cols = append(cols, a.state(o.tc.Mem)...)
		} else {
			cols = append(cols, a.result(o.tc.Mem))
		}
	}
	b := array.NewRecordBatch(o.h.schema, cols, int64(o.n))
	for _, c := range cols {
		c.Release()
	}
	o.index = nil
	return b, nil
}

func (o *hashAggOp) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	for _, k := range o.keys {
		k.Release()
	}
	if o.out != nil {
		o.out.Release()
		o.out = nil
	}
	return o.in.Close()
}
