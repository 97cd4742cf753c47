package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Unnest repeats each input row once per element of a LIST column, the
// element appended as the last column, in the list's order; a row whose
// list is NULL or empty gives no row (DuckDB's unnest). Over several lists
// it zips them: a row repeats as often as its longest list, the others'
// elements NULL past their end. It streams: an output batch holds at most
// the task's rows per batch, so a long list spans several.
type Unnest struct {
	input   ExecutionPlan
	columns []int
	schema  *arrow.Schema
}

var _ ExecutionPlan = (*Unnest)(nil)

// newUnnest builds the Unnest n over in.
func newUnnest(in ExecutionPlan, n *kapotv1.UnnestNode) (*Unnest, error) {
	fields := in.Schema().Fields()
	out := append([]arrow.Field{}, fields...)
	u := &Unnest{input: in}
	cols := append([]uint32{n.GetColumn()}, n.GetMoreColumns()...)
	names := append([]string{n.GetName()}, n.GetMoreNames()...)
	for i, c := range cols {
		if int(c) >= len(fields) {
			return nil, fmt.Errorf("unnest: column %d of %d: %w", c, len(fields), ErrInvalidPlan)
		}
		lt, ok := fields[c].Type.(*arrow.ListType)
		if !ok || fields[c].Type.ID() != arrow.LIST {
			return nil, fmt.Errorf("unnest: column %q is %s, not a LIST: %w", fields[c].Name, fields[c].Type, ErrInvalidPlan)
		}
		name := "unnest"
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		out = append(out, arrow.Field{Name: name, Type: lt.Elem(), Nullable: true})
		u.columns = append(u.columns, int(c))
	}
	u.schema = arrow.NewSchema(out, nil)
	return u, nil
}

func (u *Unnest) Schema() *arrow.Schema     { return u.schema }
func (u *Unnest) OutputPartitions() int     { return u.input.OutputPartitions() }
func (u *Unnest) Children() []ExecutionPlan { return []ExecutionPlan{u.input} }
func (u *Unnest) String() string {
	names := make([]string, len(u.columns))
	for i, c := range u.columns {
		names[i] = u.input.Schema().Field(c).Name
	}
	return fmt.Sprintf("Unnest(%s)", strings.Join(names, ", "))
}

func (u *Unnest) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	in, err := u.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	o := &unnestOp{u: u, in: in, tc: tc, max: tc.RowsPerBatch(0), elem: -1,
		elems: make([][]int32, len(u.columns)), res: tc.Pool.NewReservation(fmt.Sprintf("Unnest[partition %d]", p))}
	// The index buffers of an output batch.
	if err := o.res.TryGrow(int64(o.max) * 4 * int64(1+len(u.columns))); err != nil {
		o.res.Close()
		in.Close()
		return nil, fmt.Errorf("unnest: %w", err)
	}
	return o, nil
}

// unnestOp runs an Unnest. It holds the input batch it is unnesting
// (released once its last element is out, or by Close); each batch it
// returns is the caller's.
type unnestOp struct {
	u   *Unnest
	in  Operator
	tc  *TaskContext
	res *alloc.Reservation
	max int
	// cur is the input batch being unnested; row its next row and elem
	// that row's next position (0 for its first elements), -1 before the
	// row starts. rows are the picked rows, elems[k] list k's element of
	// each (an offset into its values, -1 past the list's end).
	cur    arrow.RecordBatch
	row    int
	elem   int64
	rows   []int32
	elems  [][]int32
	closed bool
}

var _ Operator = (*unnestOp)(nil)

func (o *unnestOp) Schema() *arrow.Schema { return o.u.schema }

func (o *unnestOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if o.cur == nil {
			b, err := o.in.Next(ctx)
			if err != nil {
				return nil, err
			}
			o.cur, o.row, o.elem = b, 0, -1
		}
		lists := make([]*array.List, len(o.u.columns))
		for k, c := range o.u.columns {
			l, ok := o.cur.Column(c).(*array.List)
			if !ok {
				return nil, fmt.Errorf("unnest: column %d is %s: %w", c, o.cur.Column(c).DataType(), ErrInvalidPlan)
			}
			lists[k] = l
		}
		o.pick(lists)
		var out arrow.RecordBatch
		if len(o.rows) > 0 {
			var err error
			if out, err = o.gather(ctx, lists); err != nil {
				return nil, err
			}
		}
		if o.row >= int(o.cur.NumRows()) {
			o.cur.Release()
			o.cur = nil
		}
		if out != nil {
			return out, nil
		}
	}
}

// pick chooses the next output rows of cur: each a row of cur and an
// element of each list (-1 past its end), at most max of them.
func (o *unnestOp) pick(lists []*array.List) {
	o.rows = o.rows[:0]
	for k := range o.elems {
		o.elems[k] = o.elems[k][:0]
	}
	n := int(o.cur.NumRows())
	for o.row < n && len(o.rows) < o.max {
		longest := int64(0)
		for _, l := range lists {
			if l.IsValid(o.row) {
				lo, hi := l.ValueOffsets(o.row)
				longest = max(longest, hi-lo)
			}
		}
		if o.elem < 0 {
			o.elem = 0
		}
		for o.elem < longest && len(o.rows) < o.max {
			o.rows = append(o.rows, int32(o.row))
			for k, l := range lists {
				e := int32(-1)
				if lo, hi := l.ValueOffsets(o.row); l.IsValid(o.row) && lo+o.elem < hi {
					e = int32(lo + o.elem)
				}
				o.elems[k] = append(o.elems[k], e)
			}
			o.elem++
		}
		if o.elem >= longest {
			o.row, o.elem = o.row+1, -1
		}
	}
}

// gather builds the batch of the picked rows and elements.
func (o *unnestOp) gather(ctx context.Context, lists []*array.List) (arrow.RecordBatch, error) {
	rows, err := kernel.TakeRows(ctx, o.tc.Mem, o.cur, o.rows)
	if err != nil {
		return nil, fmt.Errorf("unnest: %w", err)
	}
	defer rows.Release()
	cols := append([]arrow.Array{}, rows.Columns()...)
	var made []arrow.Array
	defer func() { operator.ReleaseAll(made) }()
	for k, l := range lists {
		e, err := elements(ctx, o.tc.Mem, l.ListValues(), o.elems[k])
		if err != nil {
			return nil, fmt.Errorf("unnest: %w", err)
		}
		made = append(made, e)
		cols = append(cols, e)
	}
	return array.NewRecordBatch(o.u.schema, cols, int64(len(o.rows))), nil
}

// elements is values at idx, NULL where idx is -1 (past a shorter list's
// end).
func elements(ctx context.Context, mem memory.Allocator, values arrow.Array, idx []int32) (arrow.Array, error) {
	if !slices.Contains(idx, -1) {
		return kernel.Take(ctx, mem, values, idx)
	}
	b := array.NewBuilder(mem, values.DataType())
	defer b.Release()
	for _, i := range idx {
		if i < 0 {
			b.AppendNull()
			continue
		}
		if err := rowkey.AppendFrom(b, values, int(i)); err != nil {
			return nil, err
		}
	}
	return b.NewArray(), nil
}

func (o *unnestOp) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if o.cur != nil {
		o.cur.Release()
		o.cur = nil
	}
	o.res.Close()
	return o.in.Close()
}
