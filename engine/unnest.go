package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/kernel"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Unnest repeats each input row once per element of a LIST column, the
// element appended as the last column, in the list's order; a row whose
// list is NULL or empty gives no row (DuckDB's unnest). It streams: an
// output batch holds at most the task's rows per batch, so a long list
// spans several.
type Unnest struct {
	input  ExecutionPlan
	column int
	schema *arrow.Schema
}

var _ ExecutionPlan = (*Unnest)(nil)

// newUnnest builds the Unnest n over in.
func newUnnest(in ExecutionPlan, n *kapotv1.UnnestNode) (*Unnest, error) {
	c := int(n.GetColumn())
	fields := in.Schema().Fields()
	if c >= len(fields) {
		return nil, fmt.Errorf("unnest: column %d of %d: %w", c, len(fields), ErrInvalidPlan)
	}
	lt, ok := fields[c].Type.(*arrow.ListType)
	if !ok || fields[c].Type.ID() != arrow.LIST {
		return nil, fmt.Errorf("unnest: column %q is %s, not a LIST: %w", fields[c].Name, fields[c].Type, ErrInvalidPlan)
	}
	name := n.GetName()
	if name == "" {
		name = "unnest"
	}
	out := append(append([]arrow.Field{}, fields...), arrow.Field{Name: name, Type: lt.Elem(), Nullable: true})
	return &Unnest{input: in, column: c, schema: arrow.NewSchema(out, nil)}, nil
}

func (u *Unnest) Schema() *arrow.Schema     { return u.schema }
func (u *Unnest) OutputPartitions() int     { return u.input.OutputPartitions() }
func (u *Unnest) Children() []ExecutionPlan { return []ExecutionPlan{u.input} }
func (u *Unnest) String() string {
	return fmt.Sprintf("Unnest(%s)", u.input.Schema().Field(u.column).Name)
}

func (u *Unnest) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	in, err := u.input.Execute(ctx, p, tc)
	if err != nil {
		return nil, err
	}
	o := &unnestOp{u: u, in: in, tc: tc, max: tc.RowsPerBatch(0), elem: -1,
		res: tc.Pool.NewReservation(fmt.Sprintf("Unnest[partition %d]", p))}
	// The two index buffers of an output batch.
	if err := o.res.TryGrow(int64(o.max) * 8); err != nil {
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
	// that row's next element (an offset into the list's values), -1
	// before the row starts.
	cur         arrow.RecordBatch
	row         int
	elem        int64
	rows, elems []int32
	closed      bool
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
		l, ok := o.cur.Column(o.u.column).(*array.List)
		if !ok {
			return nil, fmt.Errorf("unnest: column %d is %s: %w", o.u.column, o.cur.Column(o.u.column).DataType(), ErrInvalidPlan)
		}
		o.pick(l)
		var out arrow.RecordBatch
		if len(o.rows) > 0 {
			var err error
			if out, err = o.gather(ctx, l); err != nil {
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
// element of its list, at most max of them.
func (o *unnestOp) pick(l *array.List) {
	o.rows, o.elems = o.rows[:0], o.elems[:0]
	n := int(o.cur.NumRows())
	for o.row < n && len(o.rows) < o.max {
		if l.IsNull(o.row) {
			o.row++
			continue
		}
		lo, hi := l.ValueOffsets(o.row)
		if o.elem < lo {
			o.elem = lo
		}
		for o.elem < hi && len(o.rows) < o.max {
			o.rows = append(o.rows, int32(o.row))
			o.elems = append(o.elems, int32(o.elem))
			o.elem++
		}
		if o.elem >= hi {
			o.row, o.elem = o.row+1, -1
		}
	}
}

// gather builds the batch of the picked rows and elements.
func (o *unnestOp) gather(ctx context.Context, l *array.List) (arrow.RecordBatch, error) {
	rows, err := kernel.TakeRows(ctx, o.tc.Mem, o.cur, o.rows)
	if err != nil {
		return nil, fmt.Errorf("unnest: %w", err)
	}
	defer rows.Release()
	elems, err := kernel.Take(ctx, o.tc.Mem, l.ListValues(), o.elems)
	if err != nil {
		return nil, fmt.Errorf("unnest: %w", err)
	}
	defer elems.Release()
	cols := append(append([]arrow.Array{}, rows.Columns()...), elems)
	return array.NewRecordBatch(o.u.schema, cols, int64(len(o.rows))), nil
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
