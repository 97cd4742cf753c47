package window

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// backward reports whether partition [p, pe)'s frames all end at its end
// and start no earlier row after row (so they nest from the last row).
func backward(lo, hi []int, p, pe int) bool {
	for r := p; r < pe; r++ {
		if hi[r] != pe || (r > p && lo[r] < lo[r-1]) {
			return false
		}
	}
	return lo[p] != p || lo[pe-1] != p // not the whole partition (forward handles that)
}

// running is an aggregate accumulated row by row over one window
// partition (count, sum, avg, min, max).
type running struct {
	fn    kapotv1.AggregateFunction
	arg   arrow.Array // nil: count(*)
	cmp   func(i, j int) int
	count int64
	isum  int64
	fsum  float64
	dsum  decimal128.Num
	best  int
	scale int32
}

func newRunning(fn kapotv1.AggregateFunction, arg arrow.Array) (*running, error) {
	r := &running{fn: fn, arg: arg}
	if d, ok := arg.(*array.Decimal128); ok {
		r.scale = d.DataType().(*arrow.Decimal128Type).Scale
	}
	if fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN || fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX {
		c, err := rowkey.NewComparator(arg, false, false)
		if err != nil {
			return nil, err
		}
		r.cmp = c
	}
	r.reset()
	return r, nil
}

func (r *running) reset() {
	r.count, r.isum, r.fsum, r.dsum, r.best = 0, 0, 0, decimal128.Num{}, -1
}

func (r *running) addRange(from, to int) {
	for i := from; i < to; i++ {
		r.add(i)
	}
}

// invertible reports whether remove is exact (integer and decimal sums,
// counts).
func (r *running) invertible() bool {
	switch r.fn {
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT:
		return true
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG:
		switch r.arg.(type) {
		case *array.Int64, *array.Int32, *array.Int16, *array.Int8, *array.Decimal128:
			return true
		}
	}
	return false
}

// remove takes row i out of an invertible aggregate.
func (r *running) remove(i int) {
	if r.arg == nil {
		r.count--
		return
	}
	if r.arg.IsNull(i) {
		return
	}
	r.count--
	switch a := r.arg.(type) {
	case *array.Int64:
		r.isum -= a.Value(i)
		r.fsum -= float64(a.Value(i))
	case *array.Int32:
		r.isum -= int64(a.Value(i))
		r.fsum -= float64(a.Value(i))
	case *array.Int16:
		r.isum -= int64(a.Value(i))
		r.fsum -= float64(a.Value(i))
	case *array.Int8:
		r.isum -= int64(a.Value(i))
		r.fsum -= float64(a.Value(i))
	case *array.Decimal128:
		r.dsum = r.dsum.Sub(a.Value(i))
	}
}

func (r *running) add(i int) {
	if r.arg == nil {
		r.count++
		return
	}
	if r.arg.IsNull(i) {
		return
	}
	r.count++
	switch a := r.arg.(type) {
	case *array.Int64:
		r.isum += a.Value(i)
		r.fsum += float64(a.Value(i))
	case *array.Int32:
		r.isum += int64(a.Value(i))
		r.fsum += float64(a.Value(i))
	case *array.Int16:
		r.isum += int64(a.Value(i))
		r.fsum += float64(a.Value(i))
	case *array.Int8:
		r.isum += int64(a.Value(i))
		r.fsum += float64(a.Value(i))
	case *array.Float64:
		r.fsum += a.Value(i)
	case *array.Float32:
		r.fsum += float64(a.Value(i))
	case *array.Decimal128:
		r.dsum = r.dsum.Add(a.Value(i))
	}
	if r.cmp != nil {
		c := 0
		if r.best >= 0 {
			c = r.cmp(i, r.best)
		}
		if r.best < 0 || (r.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN && c < 0) || (r.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX && c > 0) {
			r.best = i
		}
	}
}

// appendTo appends the aggregate's current value, in the type
// agg.ResultType gives.
func (r *running) appendTo(b array.Builder) error {
	switch r.fn {
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT:
		b.(*array.Int64Builder).Append(r.count)
		return nil
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX:
		if r.best < 0 {
			b.AppendNull()
			return nil
		}
		return rowkey.AppendFrom(b, r.arg, r.best)
	}
	if r.count == 0 {
		b.AppendNull()
		return nil
	}
	_, dec := r.arg.(*array.Decimal128)
	if r.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG {
		sum := r.fsum
		if dec {
			sum = r.dsum.ToFloat64(r.scale)
		}
		b.(*array.Float64Builder).Append(sum / float64(r.count))
		return nil
	}
	switch bb := b.(type) {
	case *array.Int64Builder:
		bb.Append(r.isum)
	case *array.Float64Builder:
		bb.Append(r.fsum)
	case *array.Decimal128Builder:
		bb.Append(r.dsum)
	default:
		return fmt.Errorf("running sum into %s: %w", b.Type(), errs.ErrNotSupported)
	}
	return nil
}
