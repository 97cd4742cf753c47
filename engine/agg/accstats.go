package agg

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// momentsAcc is the variance family: per group the count, mean and sum of
// squared deviations (Welford's update; partial states merge with Chan's
// formula), numerically stable where sum-of-squares is not.
type momentsAcc struct {
	fn      kapotv1.AggregateFunction
	n       []int64
	mean, m []float64
}

func (a *momentsAcc) Grow(n int) {
	a.n, a.mean, a.m = growTo(a.n, n), growTo(a.mean, n), growTo(a.m, n)
}

func (a *momentsAcc) Update(ctx context.Context, groups []uint32, arg arrow.Array) error {
	f, err := expr.CastArray(ctx, arg, arrow.PrimitiveTypes.Float64)
	if err != nil {
		return err
	}
	defer f.Release()
	x := f.(*array.Float64)
	for i, g := range groups {
		if x.IsNull(i) {
			continue
		}
		a.n[g]++
		d := x.Value(i) - a.mean[g]
		a.mean[g] += d / float64(a.n[g])
		a.m[g] += d * (x.Value(i) - a.mean[g])
	}
	return nil
}

func (a *momentsAcc) Merge(_ context.Context, groups []uint32, states []arrow.Array) error {
	n, ok1 := states[0].(*array.Int64)
	mean, ok2 := states[1].(*array.Float64)
	m, ok3 := states[2].(*array.Float64)
	if len(states) != 3 || !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("variance state: want int64, double, double: %w", errs.ErrInvalidPlan)
	}
	for i, g := range groups {
		nb := n.Value(i)
		if n.IsNull(i) || nb == 0 {
			continue
		}
		na := a.n[g]
		tot := na + nb
		d := mean.Value(i) - a.mean[g]
		a.mean[g] += d * float64(nb) / float64(tot)
		a.m[g] += m.Value(i) + d*d*float64(na)*float64(nb)/float64(tot)
		a.n[g] = tot
	}
	return nil
}

func (a *momentsAcc) StateTypes() []arrow.DataType {
	return []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float64}
}

func (a *momentsAcc) State(mem memory.Allocator) []arrow.Array {
	nb := array.NewInt64Builder(mem)
	defer nb.Release()
	nb.AppendValues(a.n, nil)
	mb := array.NewFloat64Builder(mem)
	defer mb.Release()
	mb.AppendValues(a.mean, nil)
	sb := array.NewFloat64Builder(mem)
	defer sb.Release()
	sb.AppendValues(a.m, nil)
	return []arrow.Array{nb.NewArray(), mb.NewArray(), sb.NewArray()}
}

func (a *momentsAcc) ResultType() arrow.DataType { return arrow.PrimitiveTypes.Float64 }

func (a *momentsAcc) Result(mem memory.Allocator) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	for g, n := range a.n {
		div := float64(n) // population
		if a.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_VAR_SAMP || a.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STDDEV_SAMP {
			div--
		}
		if div <= 0 {
			b.AppendNull()
			continue
		}
		v := max(a.m[g]/div, 0)
		if a.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STDDEV_SAMP || a.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STDDEV_POP {
			v = math.Sqrt(v)
		}
		b.Append(v)
	}
	return b.NewArray()
}

// boolAcc is bool_and / bool_or: per group the running value, NULL until
// a non-NULL input is seen.
type boolAcc struct {
	and        bool
	val, valid []bool
}

func (a *boolAcc) Grow(n int) { a.val, a.valid = growTo(a.val, n), growTo(a.valid, n) }

func (a *boolAcc) fold(g uint32, v bool) {
	switch {
	case !a.valid[g]:
		a.val[g], a.valid[g] = v, true
	case a.and:
		a.val[g] = a.val[g] && v
	default:
		a.val[g] = a.val[g] || v
	}
}

func (a *boolAcc) Update(_ context.Context, groups []uint32, arg arrow.Array) error {
	x, ok := arg.(*array.Boolean)
	if !ok {
		if arg.DataType().ID() == arrow.NULL {
			return nil
		}
		return fmt.Errorf("bool_and/bool_or of %s: %w", arg.DataType(), errs.ErrInvalidPlan)
	}
	for i, g := range groups {
		if x.IsValid(i) {
			a.fold(g, x.Value(i))
		}
	}
	return nil
}

func (a *boolAcc) Merge(ctx context.Context, groups []uint32, states []arrow.Array) error {
	return a.Update(ctx, groups, states[0])
}

func (a *boolAcc) StateTypes() []arrow.DataType {
	return []arrow.DataType{arrow.FixedWidthTypes.Boolean}
}

func (a *boolAcc) State(mem memory.Allocator) []arrow.Array { return []arrow.Array{a.Result(mem)} }

func (a *boolAcc) ResultType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }

func (a *boolAcc) Result(mem memory.Allocator) arrow.Array {
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	b.AppendValues(a.val, a.valid)
	return b.NewArray()
}

// distinctSumAcc is sum(DISTINCT x) and avg(DISTINCT x): the set of values
// each group saw (as count(DISTINCT) keeps it, so partial sets merge
// without counting a value twice), summed at the end. Its first state
// column is an all-NULL column of the value type, which tells the final
// aggregate what the set's keys hold.
type distinctSumAcc struct {
	set distinctCountAcc
	in  arrow.DataType
	avg bool
}

func newDistinctSum(in arrow.DataType, avg bool) (Accumulator, error) {
	switch {
	case arrow.IsInteger(in.ID()), in.ID() == arrow.FLOAT64, in.ID() == arrow.FLOAT32, in.ID() == arrow.DECIMAL128:
		return &distinctSumAcc{in: in, avg: avg}, nil
	}
	return nil, fmt.Errorf("sum/avg(DISTINCT) over %s: %w", in, errs.ErrNotSupported)
}

func (a *distinctSumAcc) Grow(n int) { a.set.Grow(n) }
func (a *distinctSumAcc) Update(ctx context.Context, groups []uint32, arg arrow.Array) error {
	return a.set.Update(ctx, groups, arg)
}
func (a *distinctSumAcc) Merge(ctx context.Context, groups []uint32, states []arrow.Array) error {
	if len(states) != 2 {
		return fmt.Errorf("sum(DISTINCT) state has %d columns, want 2: %w", len(states), errs.ErrInvalidPlan)
	}
	return a.set.Merge(ctx, groups, states[1:])
}
func (a *distinctSumAcc) StateTypes() []arrow.DataType {
	return []arrow.DataType{a.in, arrow.BinaryTypes.Binary}
}
func (a *distinctSumAcc) State(mem memory.Allocator) []arrow.Array {
	return []arrow.Array{array.MakeArrayOfNull(mem, a.in, len(a.set.counts)), a.set.State(mem)[0]}
}

func (a *distinctSumAcc) ResultType() arrow.DataType {
	switch {
	case a.avg:
		return arrow.PrimitiveTypes.Float64
	case arrow.IsInteger(a.in.ID()):
		return arrow.PrimitiveTypes.Int64
	case a.in.ID() == arrow.DECIMAL128:
		return &arrow.Decimal128Type{Precision: 38, Scale: a.in.(*arrow.Decimal128Type).Scale}
	}
	return arrow.PrimitiveTypes.Float64
}

func (a *distinctSumAcc) Result(mem memory.Allocator) arrow.Array {
	groups := len(a.set.counts)
	isum, fsum, dsum := make([]int64, groups), make([]float64, groups), make([]decimal128.Num, groups)
	a.set.each(func(g uint32, k []byte) {
		// A key is a validity byte and the value's bits (see
		// rowkey.NewEncoder); NULLs never enter the set.
		lo := binary.LittleEndian.Uint64(k[1:9])
		switch {
		case arrow.IsInteger(a.in.ID()):
			isum[g] += int64(lo)
			fsum[g] += float64(int64(lo))
		case a.in.ID() == arrow.FLOAT32:
			fsum[g] += float64(math.Float32frombits(uint32(lo)))
		case a.in.ID() == arrow.FLOAT64:
			fsum[g] += math.Float64frombits(lo)
		default:
			hi := binary.LittleEndian.Uint64(k[9:17])
			dsum[g] = dsum[g].Add(decimal128.New(int64(hi), lo))
		}
	})
	b := array.NewBuilder(mem, a.ResultType())
	defer b.Release()
	for g, count := range a.set.counts {
		if count == 0 {
			b.AppendNull()
			continue
		}
		n := float64(count)
		switch bb := b.(type) {
		case *array.Int64Builder:
			bb.Append(isum[g])
		case *array.Decimal128Builder:
			bb.Append(dsum[g])
		case *array.Float64Builder:
			switch {
			case a.avg && a.in.ID() == arrow.DECIMAL128:
				bb.Append(dsum[g].ToFloat64(a.in.(*arrow.Decimal128Type).Scale) / n)
			case a.avg:
				bb.Append(fsum[g] / n)
			default:
				bb.Append(fsum[g])
			}
		}
	}
	return b.NewArray()
}
