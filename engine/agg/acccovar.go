package agg

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// covarAcc is corr, covar_pop and covar_samp of pairs (y, x), the argument
// a struct of the two: per group the count, both means, the co-moment and
// both second moments (Welford's update; partial states merge with Chan's
// formula).
type covarAcc struct {
	fn                  kapotv1.AggregateFunction
	n                   []int64
	mx, my, c, m2x, m2y []float64
}

func newCovar(fn kapotv1.AggregateFunction, in arrow.DataType) (*covarAcc, error) {
	if st, ok := in.(*arrow.StructType); ok {
		if st.NumFields() != 2 {
			return nil, fmt.Errorf("%v takes two arguments, not %d: %w", fn, st.NumFields(), errs.ErrInvalidPlan)
		}
		for _, f := range st.Fields() {
			if !numericOrNull(f.Type) {
				return nil, fmt.Errorf("%v over %s: %w", fn, f.Type, errs.ErrNotSupported)
			}
		}
	} else if !numericOrNull(in) { // one argument's type; the final mode's first state column
		return nil, fmt.Errorf("%v over %s: %w", fn, in, errs.ErrNotSupported)
	}
	return &covarAcc{fn: fn}, nil
}

func numericOrNull(t arrow.DataType) bool {
	return arrow.IsInteger(t.ID()) || arrow.IsFloating(t.ID()) || t.ID() == arrow.DECIMAL128 || t.ID() == arrow.NULL
}

func (a *covarAcc) Grow(n int) {
	a.n = growTo(a.n, n)
	a.mx, a.my, a.c, a.m2x, a.m2y = growTo(a.mx, n), growTo(a.my, n), growTo(a.c, n), growTo(a.m2x, n), growTo(a.m2y, n)
}

func (a *covarAcc) Update(ctx context.Context, groups []uint32, arg arrow.Array) error {
	st, ok := arg.(*array.Struct)
	if !ok {
		return fmt.Errorf("%v argument is %s, not a pair: %w", a.fn, arg.DataType(), errs.ErrInvalidPlan)
	}
	if st.Field(0).DataType().ID() == arrow.NULL || st.Field(1).DataType().ID() == arrow.NULL {
		return nil
	}
	yf, err := expr.CastArray(ctx, st.Field(0), arrow.PrimitiveTypes.Float64)
	if err != nil {
		return err
	}
	defer yf.Release()
	xf, err := expr.CastArray(ctx, st.Field(1), arrow.PrimitiveTypes.Float64)
	if err != nil {
		return err
	}
	defer xf.Release()
	y, x := yf.(*array.Float64), xf.(*array.Float64)
	for i, g := range groups {
		if y.IsNull(i) || x.IsNull(i) {
			continue
		}
		a.n[g]++
		n := float64(a.n[g])
		dx := x.Value(i) - a.mx[g]
		dy := y.Value(i) - a.my[g]
		a.mx[g] += dx / n
		a.my[g] += dy / n
		a.c[g] += dx * (y.Value(i) - a.my[g])
		a.m2x[g] += dx * (x.Value(i) - a.mx[g])
		a.m2y[g] += dy * (y.Value(i) - a.my[g])
	}
	return nil
}

func (a *covarAcc) Merge(_ context.Context, groups []uint32, states []arrow.Array) error {
	if len(states) != 6 {
		return fmt.Errorf("%v state has %d columns, not 6: %w", a.fn, len(states), errs.ErrInvalidPlan)
	}
	n, ok := states[0].(*array.Int64)
	f := make([]*array.Float64, 5)
	for k := range f {
		x, ok2 := states[k+1].(*array.Float64)
		ok = ok && ok2
		f[k] = x
	}
	if !ok {
		return fmt.Errorf("%v state: want int64 and five doubles: %w", a.fn, errs.ErrInvalidPlan)
	}
	for i, g := range groups {
		nb := n.Value(i)
		if n.IsNull(i) || nb == 0 {
			continue
		}
		na := a.n[g]
		tot := float64(na + nb)
		w := float64(na) * float64(nb) / tot
		dx := f[0].Value(i) - a.mx[g]
		dy := f[1].Value(i) - a.my[g]
		a.mx[g] += dx * float64(nb) / tot
		a.my[g] += dy * float64(nb) / tot
		a.c[g] += f[2].Value(i) + dx*dy*w
		a.m2x[g] += f[3].Value(i) + dx*dx*w
		a.m2y[g] += f[4].Value(i) + dy*dy*w
		a.n[g] = na + nb
	}
	return nil
}

func (a *covarAcc) StateTypes() []arrow.DataType {
	f := arrow.PrimitiveTypes.Float64
	return []arrow.DataType{arrow.PrimitiveTypes.Int64, f, f, f, f, f}
}

func (a *covarAcc) State(mem memory.Allocator) []arrow.Array {
	nb := array.NewInt64Builder(mem)
	defer nb.Release()
	nb.AppendValues(a.n, nil)
	out := []arrow.Array{nb.NewArray()}
	for _, v := range [][]float64{a.mx, a.my, a.c, a.m2x, a.m2y} {
		b := array.NewFloat64Builder(mem)
		b.AppendValues(v, nil)
		out = append(out, b.NewArray())
		b.Release()
	}
	return out
}

func (a *covarAcc) ResultType() arrow.DataType { return arrow.PrimitiveTypes.Float64 }

func (a *covarAcc) Result(mem memory.Allocator) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	for g, n := range a.n {
		switch a.fn {
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COVAR_POP:
			if n == 0 {
				b.AppendNull()
				continue
			}
			b.Append(a.c[g] / float64(n))
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COVAR_SAMP:
			if n < 2 {
				b.AppendNull()
				continue
			}
			b.Append(a.c[g] / float64(n-1))
		default: // corr
			if n == 0 {
				b.AppendNull()
				continue
			}
			b.Append(a.c[g] / math.Sqrt(a.m2x[g]*a.m2y[g]))
		}
	}
	return b.NewArray()
}
