package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/engine/expr"
)

// Projection computes one output column per expression.
type Projection struct {
	input  ExecutionPlan
	exprs  []expr.Expr
	schema *arrow.Schema
}

var _ ExecutionPlan = (*Projection)(nil)

// NewProjection binds exprs (with output names) over input.
func NewProjection(input ExecutionPlan, exprs []expr.Expr, names []string) (*Projection, error) {
	fields := make([]arrow.Field, len(exprs))
	for i, e := range exprs {
		name := e.String()
		if n, ok := expr.ColumnName(e); ok {
			name = n
		}
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		fields[i] = arrow.Field{Name: name, Type: e.DataType(), Nullable: true}
	}
	return &Projection{input: input, exprs: exprs, schema: arrow.NewSchema(fields, nil)}, nil
}

func (p *Projection) Schema() *arrow.Schema     { return p.schema }
func (p *Projection) OutputPartitions() int     { return p.input.OutputPartitions() }
func (p *Projection) Children() []ExecutionPlan { return []ExecutionPlan{p.input} }
func (p *Projection) String() string {
	parts := make([]string, len(p.exprs))
	for i, e := range p.exprs {
		parts[i] = fmt.Sprintf("%s AS %s", e, p.schema.Field(i).Name)
	}
	return "Projection(" + strings.Join(parts, ", ") + ")"
}

func (p *Projection) Execute(ctx context.Context, part int, tc *TaskContext) (Operator, error) {
	in, err := p.input.Execute(ctx, part, tc)
	if err != nil {
		return nil, err
	}
	return &projectionOp{p: p, in: in, tc: tc}, nil
}

type projectionOp struct {
	p  *Projection
	in Operator
	tc *TaskContext
}

func (o *projectionOp) Schema() *arrow.Schema { return o.p.schema }
func (o *projectionOp) Close() error          { return o.in.Close() }

func (o *projectionOp) Next(ctx context.Context) (arrow.RecordBatch, error) {
	b, err := o.in.Next(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Release()
	cols := make([]arrow.Array, len(o.p.exprs))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, e := range o.p.exprs {
		if cols[i], err = e.Eval(ctx, o.tc.Mem, b); err != nil {
			return nil, fmt.Errorf("projection: %w", err)
		}
	}
	return array.NewRecordBatch(o.p.schema, cols, b.NumRows()), nil
}
