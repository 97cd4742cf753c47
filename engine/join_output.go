package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/kernel"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// pairs materializes matched (build, probe) row pairs as rows of schema
// (left columns then right columns).
func (o *hashJoinOp) pairs(ctx context.Context, probe arrow.RecordBatch, bi, pi []int32, schema *arrow.Schema) (arrow.RecordBatch, error) {
	if len(bi) == 0 {
		return emptyBatch(schema), nil
	}
	l, err := kernel.TakeRows(ctx, o.tc.Mem, o.build, bi)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	r, err := kernel.TakeRows(ctx, o.tc.Mem, probe, pi)
	if err != nil {
		return nil, err
	}
	defer r.Release()
	cols := append(append([]arrow.Array{}, l.Columns()...), r.Columns()...)
	return array.NewRecordBatch(schema, cols, int64(len(bi))), nil
}

// applyFilter keeps the pairs for which the join filter is true.
func (o *hashJoinOp) applyFilter(ctx context.Context, probe arrow.RecordBatch, bi, pi []int32) ([]int32, []int32, error) {
	joined, err := o.pairs(ctx, probe, bi, pi, o.j.joined)
	if err != nil {
		return nil, nil, err
	}
	defer joined.Release()
	mask, err := o.j.filter.Eval(ctx, o.tc.Mem, joined)
	if err != nil {
		return nil, nil, fmt.Errorf("hash join filter: %w", err)
	}
	defer mask.Release()
	m := mask.(*array.Boolean)
	keep := 0
	for i := range bi {
		if m.IsValid(i) && m.Value(i) {
			bi[keep], pi[keep] = bi[i], pi[i]
			keep++
		}
	}
	return bi[:keep], pi[:keep], nil
}

// unmatchedBuild emits build rows by their match state once probing is done:
// unmatched ones (left/full with null probe columns, and anti) or matched
// ones (semi).
func (o *hashJoinOp) unmatchedBuild(ctx context.Context) (arrow.RecordBatch, error) {
	want := o.j.joinType == kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI
	var rows []int32
	for r, m := range o.matched {
		if m == want {
			rows = append(rows, int32(r))
		}
	}
	if len(rows) == 0 {
		return nil, io.EOF
	}
	ectx := exec.WithAllocator(ctx, o.tc.Mem)
	l, err := kernel.TakeRows(ectx, o.tc.Mem, o.build, rows)
	if err != nil {
		return nil, err
	}
	switch o.j.joinType {
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return l, nil
	}
	defer l.Release()
	return o.withNulls(l, nil, len(rows)), nil
}

// withNulls builds joined rows from one side's rows and nulls for the other.
func (o *hashJoinOp) withNulls(left, right arrow.RecordBatch, n int) arrow.RecordBatch {
	var cols []arrow.Array
	side := func(b arrow.RecordBatch, s *arrow.Schema) {
		for i, f := range s.Fields() {
			if b != nil {
				c := b.Column(i)
				c.Retain()
				cols = append(cols, c)
			} else {
				cols = append(cols, array.MakeArrayOfNull(o.tc.Mem, f.Type, n))
			}
		}
	}
	side(left, o.j.left.Schema())
	side(right, o.j.right.Schema())
	out := array.NewRecordBatch(o.j.schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return out
}

func emptyBatch(schema *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, 0)
	}
	b := array.NewRecordBatch(schema, cols, 0)
	for _, c := range cols {
		c.Release()
	}
	return b
}
