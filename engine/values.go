package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/operator"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Values yields literal rows as one batch in one partition.
type Values struct {
	schema *arrow.Schema
	rows   [][]scalar.Scalar
}

var _ ExecutionPlan = (*Values)(nil)

func newValues(n *kapotv1.ValuesNode) (*Values, error) {
	schema, err := wire.SchemaFromProto(n.GetSchema())
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	v := &Values{schema: schema}
	for i, r := range n.GetRows() {
		if len(r.GetValues()) != schema.NumFields() {
			return nil, fmt.Errorf("values: row %d has %d values for %d columns: %w", i, len(r.GetValues()), schema.NumFields(), ErrInvalidPlan)
		}
		row := make([]scalar.Scalar, len(r.GetValues()))
		for j, sv := range r.GetValues() {
			s, err := expr.ScalarFromProto(sv)
			if err != nil {
				return nil, fmt.Errorf("values: row %d column %d: %w", i, j, err)
			}
			if !arrow.TypeEqual(s.DataType(), schema.Field(j).Type) {
				return nil, fmt.Errorf("values: row %d column %q is %s, want %s: %w", i, schema.Field(j).Name, s.DataType(), schema.Field(j).Type, ErrInvalidPlan)
			}
			row[j] = s
		}
		v.rows = append(v.rows, row)
	}
	return v, nil
}

func (v *Values) Schema() *arrow.Schema     { return v.schema }
func (v *Values) OutputPartitions() int     { return 1 }
func (v *Values) Children() []ExecutionPlan { return nil }
func (v *Values) String() string            { return fmt.Sprintf("Values(rows=%d)", len(v.rows)) }

func (v *Values) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	if err := operator.CheckPartition(v, p); err != nil {
		return nil, err
	}
	return &valuesOp{v: v, tc: tc}, nil
}

type valuesOp struct {
	v    *Values
	tc   *TaskContext
	done bool
}

func (o *valuesOp) Schema() *arrow.Schema { return o.v.schema }
func (o *valuesOp) Close() error          { o.done = true; return nil }

func (o *valuesOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if o.done || len(o.v.rows) == 0 {
		return nil, io.EOF
	}
	o.done = true
	if o.v.schema.NumFields() == 0 {
		// Rows without columns (SELECT without FROM reads one).
		return array.NewRecordBatch(o.v.schema, nil, int64(len(o.v.rows))), nil
	}
	b := array.NewRecordBuilder(o.tc.Mem, o.v.schema)
	defer b.Release()
	for _, row := range o.v.rows {
		for j, s := range row {
			if err := scalar.Append(b.Field(j), s); err != nil {
				return nil, fmt.Errorf("values: %w", err)
			}
		}
	}
	return b.NewRecordBatch(), nil
}
