package agg

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Accumulator keeps one aggregate's running state for every group.
type Accumulator interface {
	// Grow makes room for n groups.
	Grow(n int)
	// Update folds raw input values; groups[i] is the group of row i. arg is
	// nil for count(*).
	Update(ctx context.Context, groups []uint32, arg arrow.Array) error
	// Merge folds partial states (columns as StateTypes says).
	Merge(ctx context.Context, groups []uint32, states []arrow.Array) error
	// StateTypes are the types of the partial state's columns.
	StateTypes() []arrow.DataType
	// State is every group's partial state, one array per state type.
	State(mem memory.Allocator) []arrow.Array
	// ResultType is the type of the final value.
	ResultType() arrow.DataType
	// Result is every group's final value.
	Result(mem memory.Allocator) arrow.Array
}

// New builds the Accumulator of fn over values of type in (the
// argument type in partial/single mode, the first state type in final mode).
// With distinct, count (and string_agg) keeps the set of values it saw;
// min and max are unaffected.
func New(fn kapotv1.AggregateFunction, in arrow.DataType, distinct bool) (Accumulator, error) {
	return NewWithOptions(fn, in, distinct, Options{})
}

// NewWithOptions is New with a call's parameter and order.
func NewWithOptions(fn kapotv1.AggregateFunction, in arrow.DataType, distinct bool, opts Options) (Accumulator, error) {
	if distinct {
		switch fn {
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT:
			return &distinctCountAcc{}, nil
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG:
			return newDistinctSum(in, fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG)
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG:
			return newDistinctCollect(fn, in, opts)
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX,
			kapotv1.AggregateFunction_AGGREGATE_FUNCTION_APPROX_COUNT_DISTINCT:
		default:
			return nil, fmt.Errorf("aggregate %v(DISTINCT) over %s: %w", fn, in, errs.ErrNotSupported)
		}
	}
	switch fn {
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT:
		return &countAcc{}, nil
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_SUM:
		switch {
		case in.ID() == arrow.DECIMAL128:
			d := in.(*arrow.Decimal128Type)
			return &decimalSumAcc{typ: &arrow.Decimal128Type{Precision: 38, Scale: d.Scale}}, nil
		case arrow.IsInteger(in.ID()):
			return &sumAcc[int64]{typ: arrow.PrimitiveTypes.Int64}, nil
		case arrow.IsFloating(in.ID()):
			return &sumAcc[float64]{typ: arrow.PrimitiveTypes.Float64}, nil
		}
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_AVG:
		// Decimals average as float64, as DuckDB's avg(DECIMAL) does:
		// the exact decimal sum divided once at the end.
		if in.ID() == arrow.DECIMAL128 {
			d := in.(*arrow.Decimal128Type)
			return &decimalAvgAcc{sum: &decimalSumAcc{typ: &arrow.Decimal128Type{Precision: 38, Scale: d.Scale}}}, nil
		}
		if arrow.IsInteger(in.ID()) || arrow.IsFloating(in.ID()) {
			return &avgAcc{}, nil
		}
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MIN, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX:
		return newMinMax(in, fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_MAX)
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STDDEV_SAMP, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STDDEV_POP,
		kapotv1.AggregateFunction_AGGREGATE_FUNCTION_VAR_SAMP, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_VAR_POP:
		// The first state column (int64 count) in final mode.
		if arrow.IsInteger(in.ID()) || arrow.IsFloating(in.ID()) || in.ID() == arrow.DECIMAL128 || in.ID() == arrow.NULL {
			return &momentsAcc{fn: fn}, nil
		}
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_BOOL_AND, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_BOOL_OR:
		if in.ID() == arrow.BOOL || in.ID() == arrow.NULL {
			return &boolAcc{and: fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_BOOL_AND}, nil
		}
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_CONT,
		kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_DISC:
		return newCollect(fn, in, opts)
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_CORR, kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COVAR_POP,
		kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COVAR_SAMP:
		return newCovar(fn, in)
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_ARRAY_AGG:
		return newListAcc(in, opts)
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_APPROX_COUNT_DISTINCT:
		if in.ID() == arrow.BINARY { // the final mode's state
			return &hllAcc{}, nil
		}
		if _, err := rowkey.NewEncoder(array.MakeArrayOfNull(memory.DefaultAllocator, in, 0)); err != nil {
			return nil, fmt.Errorf("approx_count_distinct over %s: %w", in, errs.ErrNotSupported)
		}
		return &hllAcc{}, nil
	}
	return nil, fmt.Errorf("aggregate %v over %s: %w", fn, in, errs.ErrNotSupported)
}

// ---------------------------------------------------------------- count

type countAcc struct{ counts []int64 }

// growTo extends s with zero values to length n in one step (appending
// one value at a time showed up in profiles of large group counts).
func growTo[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	if n <= cap(s) {
		old := len(s)
		s = s[:n]
		clear(s[old:])
		return s
	}
	// Double: append's growth for large slices (1.25x) reallocates and
	// copies several times as often, and each fresh allocation costs page
	// faults as well as the copy.
	t := make([]T, n, max(n, 2*cap(s), 64))
	copy(t, s)
	return t
}

func (a *countAcc) Grow(n int) { a.counts = growTo(a.counts, n) }
func (a *countAcc) Update(_ context.Context, groups []uint32, arg arrow.Array) error {
	if arg == nil || arg.NullN() == 0 {
		if len(a.counts) <= laneGroups {
			countLanes(a.counts, groups)
			return nil
		}
		for _, g := range groups {
			a.counts[g]++
		}
		return nil
	}
	for i, g := range groups {
		if arg.IsValid(i) {
			a.counts[g]++
		}
	}
	return nil
}
func (a *countAcc) Merge(_ context.Context, groups []uint32, states []arrow.Array) error {
	c, ok := states[0].(*array.Int64)
	if !ok {
		return fmt.Errorf("count state is %s, want int64: %w", states[0].DataType(), errs.ErrInvalidPlan)
	}
	for i, g := range groups {
		if c.IsValid(i) {
			a.counts[g] += c.Value(i)
		}
	}
	return nil
}
func (a *countAcc) StateTypes() []arrow.DataType { return []arrow.DataType{arrow.PrimitiveTypes.Int64} }
func (a *countAcc) State(mem memory.Allocator) []arrow.Array {
	return []arrow.Array{a.Result(mem)}
}
func (a *countAcc) ResultType() arrow.DataType { return arrow.PrimitiveTypes.Int64 }
func (a *countAcc) Result(mem memory.Allocator) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(a.counts, nil)
	return b.NewArray()
}

// ---------------------------------------------------------------- sum

type number interface{ int64 | float64 }

type sumAcc[T number] struct {
	typ   arrow.DataType
	sums  []T
	valid []bool
}

func (a *sumAcc[T]) Grow(n int) { a.sums, a.valid = growTo(a.sums, n), growTo(a.valid, n) }
func (a *sumAcc[T]) Update(ctx context.Context, groups []uint32, arg arrow.Array) error {
	if d, ok := arg.(*array.Decimal128); ok && a.typ.ID() == arrow.FLOAT64 {
		if dt := d.DataType().(*arrow.Decimal128Type); dt.Precision <= 18 {
			// avg(decimal) sums float64s: values of up to 18 digits are
			// int64s, divided by 10^scale here instead of a cast kernel's
			// 128-bit conversion.
			scale := math.Pow10(int(dt.Scale))
			vals, nulls := d.Values(), d.NullN() > 0
			for i, g := range groups {
				if nulls && d.IsNull(i) {
					continue
				}
				a.sums[g] += T(float64(int64(vals[i].LowBits())) / scale)
				a.valid[g] = true
			}
			return nil
		}
	}
	if a.typ.ID() == arrow.FLOAT64 && arrow.IsInteger(arg.DataType().ID()) {
		// avg of integers beyond 2^53: the nearest doubles, as DuckDB
		// (a checked cast would refuse them).
		if x, ok := arg.(*array.Int64); ok && x.NullN() == 0 {
			for i, g := range groups {
				a.sums[g] += T(float64(x.Value(i)))
				a.valid[g] = true
			}
			return nil
		}
		for i, g := range groups {
			if arg.IsNull(i) {
				continue
			}
			a.sums[g] += T(numberAt(arg, i))
			a.valid[g] = true
		}
		return nil
	}
	c, err := expr.CastArray(ctx, arg, a.typ)
	if err != nil {
		return err
	}
	defer c.Release()
	var get func(int) T
	switch x := c.(type) {
	case *array.Int64:
		if x.NullN() == 0 {
			addAll(a.sums, a.valid, groups, x.Int64Values())
			return nil
		}
		get = func(i int) T { return T(x.Value(i)) }
	case *array.Float64:
		if x.NullN() == 0 {
			addAll(a.sums, a.valid, groups, x.Float64Values())
			return nil
		}
		get = func(i int) T { return T(x.Value(i)) }
	}
	for i, g := range groups {
		if c.IsValid(i) {
			a.sums[g] += get(i)
			a.valid[g] = true
		}
	}
	return nil
}

// addAll adds vals[i] to sums[groups[i]] for every row (no nulls).
func addAll[T, V int64 | float64](sums []T, valid []bool, groups []uint32, vals []V) {
	if s, ok := any(sums).([]int64); ok && len(sums) <= laneGroups {
		if v, ok := any(vals).([]int64); ok {
			sumIntLanes(s, valid, groups, v)
			return
		}
	}
	for i, g := range groups {
		sums[g] += T(vals[i])
		valid[g] = true
	}
}

func (a *sumAcc[T]) Merge(ctx context.Context, groups []uint32, states []arrow.Array) error {
	return a.Update(ctx, groups, states[0])
}
func (a *sumAcc[T]) StateTypes() []arrow.DataType             { return []arrow.DataType{a.typ} }
func (a *sumAcc[T]) State(mem memory.Allocator) []arrow.Array { return []arrow.Array{a.Result(mem)} }
func (a *sumAcc[T]) ResultType() arrow.DataType               { return a.typ }
func (a *sumAcc[T]) Result(mem memory.Allocator) arrow.Array {
	switch s := any(a.sums).(type) {
	case []int64:
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.AppendValues(s, a.valid)
		return b.NewArray()
	case []float64:
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.AppendValues(s, a.valid)
		return b.NewArray()
	}
	panic("unreachable")
}

type decimalSumAcc struct {
	typ   *arrow.Decimal128Type
	sums  []decimal128.Num
	valid []bool
}

func (a *decimalSumAcc) Grow(n int) { a.sums, a.valid = growTo(a.sums, n), growTo(a.valid, n) }
func (a *decimalSumAcc) Update(_ context.Context, groups []uint32, arg arrow.Array) error {
	d, ok := arg.(*array.Decimal128)
	if !ok || d.DataType().(*arrow.Decimal128Type).Scale != a.typ.Scale {
		return fmt.Errorf("decimal sum input %s: %w", arg.DataType(), errs.ErrInvalidPlan)
	}
	vals := d.Values()
	if d.NullN() == 0 {
		if len(a.sums) <= laneGroups {
			sumDecimalLanes(a.sums, a.valid, groups, vals)
			return nil
		}
		for i, g := range groups {
			a.sums[g] = a.sums[g].Add(vals[i])
			a.valid[g] = true
		}
		return nil
	}
	for i, g := range groups {
		if d.IsValid(i) {
			a.sums[g] = a.sums[g].Add(vals[i])
			a.valid[g] = true
		}
	}
	return nil
}
func (a *decimalSumAcc) Merge(ctx context.Context, groups []uint32, states []arrow.Array) error {
	return a.Update(ctx, groups, states[0])
}
func (a *decimalSumAcc) StateTypes() []arrow.DataType { return []arrow.DataType{a.typ} }
func (a *decimalSumAcc) State(mem memory.Allocator) []arrow.Array {
	return []arrow.Array{a.Result(mem)}
}
func (a *decimalSumAcc) ResultType() arrow.DataType { return a.typ }
func (a *decimalSumAcc) Result(mem memory.Allocator) arrow.Array {
	b := array.NewDecimal128Builder(mem, a.typ)
	defer b.Release()
	b.AppendValues(a.sums, a.valid)
	return b.NewArray()
}

// ---------------------------------------------------------------- avg

// decimalAvgAcc averages decimals: their exact sum over their count, in
// float64 only at the end (a float running sum drifts in the last digits,
// and then equal averages of two groups differ).
type decimalAvgAcc struct {
	sum *decimalSumAcc
	// shared: sum is another accumulator's, grown and fed the same rows
	// by its owner (ShareSum); this one only counts.
	shared bool
	count  countAcc
}

func (a *decimalAvgAcc) Grow(n int) {
	if !a.shared {
		a.sum.Grow(n)
	}
	a.count.Grow(n)
}
func (a *decimalAvgAcc) Update(ctx context.Context, groups []uint32, arg arrow.Array) error {
	if a.shared {
		if d, ok := arg.(*array.Decimal128); !ok || d.DataType().(*arrow.Decimal128Type).Scale != a.sum.typ.Scale {
			return fmt.Errorf("decimal avg input %s: %w", arg.DataType(), errs.ErrInvalidPlan)
		}
	} else if err := a.sum.Update(ctx, groups, arg); err != nil {
		return err
	}
	return a.count.Update(ctx, groups, arg)
}
func (a *decimalAvgAcc) Merge(ctx context.Context, groups []uint32, states []arrow.Array) error {
	if !a.shared {
		if err := a.sum.Update(ctx, groups, states[0]); err != nil {
			return err
		}
	}
	return a.count.Merge(ctx, groups, states[1:])
}
func (a *decimalAvgAcc) StateTypes() []arrow.DataType {
	return []arrow.DataType{a.sum.typ, arrow.PrimitiveTypes.Int64}
}
func (a *decimalAvgAcc) State(mem memory.Allocator) []arrow.Array {
	return []arrow.Array{a.sum.Result(mem), a.count.Result(mem)}
}
func (a *decimalAvgAcc) ResultType() arrow.DataType { return arrow.PrimitiveTypes.Float64 }
func (a *decimalAvgAcc) Result(mem memory.Allocator) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	div := math.Pow10(int(a.sum.typ.Scale))
	for g, c := range a.count.counts {
		if c == 0 {
			b.AppendNull()
		} else {
			b.Append(a.sum.sums[g].ToFloat64(0) / (float64(c) * div))
		}
	}
	return b.NewArray()
}

// ShareSum returns an AVG accumulator that reads the running sum of sum,
// a SUM accumulator of the same argument fed the same rows (and grown
// first), instead of keeping its own: its Update and Merge count only
// (TPC-H Q1 averages the quantity and the price it also sums: two
// decimal sums of six million rows fewer). Its state and result are
// avg's. ok is false, and avg is returned, where the two do not pair
// (other types or scales, or either already fed).
func ShareSum(avg, sum Accumulator) (Accumulator, bool) {
	a, ok := avg.(*decimalAvgAcc)
	s, ok2 := sum.(*decimalSumAcc)
	if !ok || !ok2 || a.shared || a.sum.typ.Scale != s.typ.Scale || len(a.count.counts) > 0 || len(s.sums) > 0 {
		return avg, false
	}
	return &decimalAvgAcc{sum: s, shared: true}, true
}

type avgAcc struct {
	sum   sumAcc[float64]
	count countAcc
}

func (a *avgAcc) Grow(n int) {
	a.sum.typ = arrow.PrimitiveTypes.Float64
	a.sum.Grow(n)
	a.count.Grow(n)
}
func (a *avgAcc) Update(ctx context.Context, groups []uint32, arg arrow.Array) error {
	if err := a.sum.Update(ctx, groups, arg); err != nil {
		return err
	}
	return a.count.Update(ctx, groups, arg)
}
func (a *avgAcc) Merge(ctx context.Context, groups []uint32, states []arrow.Array) error {
	if err := a.sum.Update(ctx, groups, states[0]); err != nil {
		return err
	}
	return a.count.Merge(ctx, groups, states[1:])
}
func (a *avgAcc) StateTypes() []arrow.DataType {
	return []arrow.DataType{arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Int64}
}
func (a *avgAcc) State(mem memory.Allocator) []arrow.Array {
	return []arrow.Array{a.sum.Result(mem), a.count.Result(mem)}
}
func (a *avgAcc) ResultType() arrow.DataType { return arrow.PrimitiveTypes.Float64 }
func (a *avgAcc) Result(mem memory.Allocator) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	for g, c := range a.count.counts {
		if c == 0 {
			b.AppendNull()
		} else {
			b.Append(a.sum.sums[g] / float64(c))
		}
	}
	return b.NewArray()
}

// ---------------------------------------------------------------- min / max

type valuer[T any] interface {
	Value(int) T
	IsValid(int) bool
}

type minMaxAcc[T any] struct {
	typ   arrow.DataType
	isMax bool
	less  func(a, b T) bool
	get   func(arrow.Array) (valuer[T], bool)
	put   func(array.Builder, T)
	// keep copies a value out of its batch before it is stored: a string
	// read from an array aliases the batch's buffer, which is recycled
	// once the batch is released.
	keep  func(T) T
	vals  []T
	valid []bool
}

func (a *minMaxAcc[T]) Grow(n int) { a.vals, a.valid = growTo(a.vals, n), growTo(a.valid, n) }
func (a *minMaxAcc[T]) Update(_ context.Context, groups []uint32, arg arrow.Array) error {
	v, ok := a.get(arg)
	if !ok {
		return fmt.Errorf("min/max input is %s, want %s: %w", arg.DataType(), a.typ, errs.ErrInvalidPlan)
	}
	for i, g := range groups {
		if !v.IsValid(i) {
			continue
		}
		x := v.Value(i)
		if !a.valid[g] || (a.isMax && a.less(a.vals[g], x)) || (!a.isMax && a.less(x, a.vals[g])) {
			if a.keep != nil {
				x = a.keep(x)
			}
			a.vals[g] = x
			a.valid[g] = true
		}
	}
	return nil
}
func (a *minMaxAcc[T]) Merge(ctx context.Context, groups []uint32, states []arrow.Array) error {
	return a.Update(ctx, groups, states[0])
}
func (a *minMaxAcc[T]) StateTypes() []arrow.DataType             { return []arrow.DataType{a.typ} }
func (a *minMaxAcc[T]) State(mem memory.Allocator) []arrow.Array { return []arrow.Array{a.Result(mem)} }
func (a *minMaxAcc[T]) ResultType() arrow.DataType               { return a.typ }
func (a *minMaxAcc[T]) Result(mem memory.Allocator) arrow.Array {
	b := array.NewBuilder(mem, a.typ)
	defer b.Release()
	for g, v := range a.vals {
		if a.valid[g] {
			a.put(b, v)
		} else {
			b.AppendNull()
		}
	}
	return b.NewArray()
}

func ordered[T cmp.Ordered, A valuer[T], B interface{ Append(T) }](typ arrow.DataType, isMax bool) *minMaxAcc[T] {
	return &minMaxAcc[T]{
		typ: typ, isMax: isMax,
		less: func(a, b T) bool { return cmp.Less(a, b) },
		get: func(arr arrow.Array) (valuer[T], bool) {
			v, ok := arr.(A)
			return v, ok
		},
		put: func(b array.Builder, v T) { b.(B).Append(v) },
	}
}

func newMinMax(t arrow.DataType, isMax bool) (Accumulator, error) {
	switch t.ID() {
	case arrow.INT8:
		return ordered[int8, *array.Int8, *array.Int8Builder](t, isMax), nil
	case arrow.INT16:
		return ordered[int16, *array.Int16, *array.Int16Builder](t, isMax), nil
	case arrow.INT32:
		return ordered[int32, *array.Int32, *array.Int32Builder](t, isMax), nil
	case arrow.INT64:
		return ordered[int64, *array.Int64, *array.Int64Builder](t, isMax), nil
	case arrow.UINT8:
		return ordered[uint8, *array.Uint8, *array.Uint8Builder](t, isMax), nil
	case arrow.UINT16:
		return ordered[uint16, *array.Uint16, *array.Uint16Builder](t, isMax), nil
	case arrow.UINT32:
		return ordered[uint32, *array.Uint32, *array.Uint32Builder](t, isMax), nil
	case arrow.UINT64:
		return ordered[uint64, *array.Uint64, *array.Uint64Builder](t, isMax), nil
	case arrow.FLOAT32:
		return ordered[float32, *array.Float32, *array.Float32Builder](t, isMax), nil
	case arrow.FLOAT64:
		return ordered[float64, *array.Float64, *array.Float64Builder](t, isMax), nil
	case arrow.DATE32:
		return ordered[arrow.Date32, *array.Date32, *array.Date32Builder](t, isMax), nil
	case arrow.TIMESTAMP:
		return ordered[arrow.Timestamp, *array.Timestamp, *array.TimestampBuilder](t, isMax), nil
	case arrow.STRING:
		acc := ordered[string, *array.String, *array.StringBuilder](t, isMax)
		acc.keep = strings.Clone
		return acc, nil
	case arrow.INTERVAL_MONTH_DAY_NANO:
		// Ordered as DuckDB orders intervals (1 month = 30 days).
		return &minMaxAcc[arrow.MonthDayNanoInterval]{
			typ: t, isMax: isMax,
			less: func(a, b arrow.MonthDayNanoInterval) bool { return rowkey.CompareIntervals(a, b) < 0 },
			get: func(arr arrow.Array) (valuer[arrow.MonthDayNanoInterval], bool) {
				v, ok := arr.(*array.MonthDayNanoInterval)
				return v, ok
			},
			put: func(b array.Builder, v arrow.MonthDayNanoInterval) { b.(*array.MonthDayNanoIntervalBuilder).Append(v) },
		}, nil
	case arrow.DECIMAL128:
		return &minMaxAcc[decimal128.Num]{
			typ: t, isMax: isMax,
			less: func(a, b decimal128.Num) bool { return a.Less(b) },
			get: func(arr arrow.Array) (valuer[decimal128.Num], bool) {
				v, ok := arr.(*array.Decimal128)
				return v, ok && arrow.TypeEqual(arr.DataType(), t)
			},
			put: func(b array.Builder, v decimal128.Num) { b.(*array.Decimal128Builder).Append(v) },
		}, nil
	case arrow.LIST, arrow.STRUCT, arrow.MAP:
		return newNestedMinMax(t, isMax)
	}
	return nil, fmt.Errorf("min/max over %s: %w", t, errs.ErrNotSupported)
}

// ---------------------------------------------------------------- count distinct

// distinctCountAcc keeps the set of values each group saw, for
// count(DISTINCT x) (and sum/avg(DISTINCT), which sum the set): one table
// of (group, value) pairs for all groups, where a Go map per group cost a
// map, and a string per value (TPC-H Q16 at SF 10: 1.2 M rows into 28 000
// groups' sets took 0.8 s, twice a hash aggregate's time a row). The
// pairs are kept in the order they came, so that a group's state and a
// float sum over its set come out the same every run. Values are kept by
// their key encoding, so any groupable type works; the partial state of a
// group is its set serialized as length-prefixed encodings, which the
// final phase unions without decoding.
//
// A value whose key is a fixed 8-byte word (integers, dates, floats:
// rowkey's 0x01 then the word) is kept as the word in pairs, a table of
// (group, word) without hashing or copying bytes (Q16's partial aggregate
// spent 450 ns a row on the byte keys); the first value with another key
// moves the pairs to seen, in order, and seen keeps all from then on.
type distinctCountAcc struct {
	pairs  pairSet
	seen   *rowkey.BytesTable // the group (4 bytes, little-endian) then the value's key
	counts []int64            // values per group
	key    []byte             // scratch: seen's key
	word   []byte             // scratch: a word's key
}

func (a *distinctCountAcc) Grow(n int) { a.counts = growTo(a.counts, n) }

// Bytes is the memory of the sets (the aggregate reserves it: a set grows
// with the input, not with the groups).
func (a *distinctCountAcc) Bytes() int64 {
	n := a.pairs.bytes()
	if a.seen != nil {
		n += a.seen.Bytes()
	}
	return n
}

// wordKeyLen is the length of the key encoding of an 8-byte word value
// (see rowkey.NewEncoder).
const wordKeyLen = 9

func (a *distinctCountAcc) add(g uint32, value []byte) {
	if a.seen == nil && len(value) == wordKeyLen && value[0] == 1 {
		a.addWord(g, binary.LittleEndian.Uint64(value[1:]))
		return
	}
	if a.seen == nil {
		a.seen = rowkey.NewBytesTable()
		a.pairs.each(func(g uint32, w uint64) {
			a.word = wordKey(a.word[:0], w)
			a.storeBytes(g, a.word) // counted already
		})
		a.pairs = pairSet{}
	}
	a.addBytes(g, value)
}

// wordKey appends the key encoding of word w to buf.
func wordKey(buf []byte, w uint64) []byte {
	return binary.LittleEndian.AppendUint64(append(buf, 1), w)
}

func (a *distinctCountAcc) addWord(g uint32, w uint64) {
	if a.seen != nil {
		a.word = wordKey(a.word[:0], w)
		a.addBytes(g, a.word)
		return
	}
	if a.pairs.add(g, w) {
		a.counts[g]++
	}
}

func (a *distinctCountAcc) addBytes(g uint32, value []byte) {
	if a.storeBytes(g, value) {
		a.counts[g]++
	}
}

// storeBytes adds (g, value) to seen and reports whether it was new.
func (a *distinctCountAcc) storeBytes(g uint32, value []byte) bool {
	a.key = binary.LittleEndian.AppendUint32(a.key[:0], g)
	a.key = append(a.key, value...)
	_, found := a.seen.GetOrPut(a.key, int32(a.seen.Len()))
	return !found
}

// each calls fn with every (group, value key) pair, in the order they
// came.
func (a *distinctCountAcc) each(fn func(g uint32, value []byte)) {
	if a.seen == nil {
		var buf []byte
		a.pairs.each(func(g uint32, w uint64) {
			buf = wordKey(buf[:0], w)
			fn(g, buf)
		})
		return
	}
	for i := range a.seen.Len() {
		k := a.seen.KeyAt(i)
		fn(binary.LittleEndian.Uint32(k), k[4:])
	}
}

func (a *distinctCountAcc) Update(_ context.Context, groups []uint32, arg arrow.Array) error {
	if arg == nil {
		return fmt.Errorf("count(DISTINCT) needs an argument: %w", errs.ErrInvalidPlan)
	}
	if vals, ok := rowkey.IntValues(arg); ok && a.seen == nil {
		// The word of an integer's key is the integer widened to 64 bits.
		valid := rowkey.ValidityOf(arg)
		for i, g := range groups {
			if !valid.Null(i) {
				a.addWord(g, uint64(vals[i]))
			}
		}
		return nil
	}
	enc, err := rowkey.NewEncoder(arg)
	if err != nil {
		return err
	}
	var key []byte
	for i, g := range groups {
		if arg.IsNull(i) {
			continue
		}
		key = enc(key[:0], i)
		a.add(g, key)
	}
	return nil
}

func (a *distinctCountAcc) Merge(_ context.Context, groups []uint32, states []arrow.Array) error {
	st, ok := states[0].(*array.Binary)
	if !ok {
		return fmt.Errorf("count(DISTINCT) state is %s, not binary: %w", states[0].DataType(), errs.ErrInvalidPlan)
	}
	for i, g := range groups {
		buf := st.Value(i)
		for len(buf) > 0 {
			n, w := binary.Uvarint(buf)
			if w <= 0 || uint64(len(buf)-w) < n {
				return fmt.Errorf("count(DISTINCT) state of row %d is corrupt: %w", i, errs.ErrInvalidPlan)
			}
			a.add(g, buf[w:w+int(n)])
			buf = buf[w+int(n):]
		}
	}
	return nil
}

// pairSet is a set of (group, 8-byte word) pairs kept in the order they
// were added: an open-addressing table of indexes into the pairs.
type pairSet struct {
	groups []uint32
	words  []uint64
	slots  []int32 // index+1 of a pair; 0: empty
}

// add adds (g, w) and reports whether it was new.
func (s *pairSet) add(g uint32, w uint64) bool {
	if 2*(len(s.groups)+1) > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := pairHash(g, w) & mask; ; i = (i + 1) & mask {
		x := s.slots[i]
		if x == 0 {
			s.groups, s.words = append(s.groups, g), append(s.words, w)
			s.slots[i] = int32(len(s.groups))
			return true
		}
		if s.words[x-1] == w && s.groups[x-1] == g {
			return false
		}
	}
}

func pairHash(g uint32, w uint64) uint64 {
	return rowkey.Mix64(w ^ uint64(g)*0x9E3779B97F4A7C15)
}

func (s *pairSet) grow() {
	n := max(64, 2*len(s.slots))
	s.slots = make([]int32, n)
	mask := uint64(n - 1)
	for j := range s.groups {
		i := pairHash(s.groups[j], s.words[j]) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = int32(j + 1)
	}
}

func (s *pairSet) each(fn func(g uint32, w uint64)) {
	for j, g := range s.groups {
		fn(g, s.words[j])
	}
}

func (s *pairSet) bytes() int64 {
	return int64(cap(s.groups))*4 + int64(cap(s.words))*8 + int64(cap(s.slots))*4
}

func (a *distinctCountAcc) StateTypes() []arrow.DataType {
	return []arrow.DataType{arrow.BinaryTypes.Binary}
}

// State is each group's values, each as its length (uvarint) and its key.
func (a *distinctCountAcc) State(mem memory.Allocator) []arrow.Array {
	ends := make([]int, len(a.counts)+1) // group g's bytes: [ends[g], ends[g+1])
	a.each(func(g uint32, v []byte) { ends[g+1] += uvarintLen(len(v)) + len(v) })
	for g := range a.counts {
		ends[g+1] += ends[g]
	}
	data := make([]byte, ends[len(a.counts)])
	pos := append([]int(nil), ends[:len(a.counts)]...)
	a.each(func(g uint32, v []byte) {
		p := pos[g] + binary.PutUvarint(data[pos[g]:], uint64(len(v)))
		pos[g] = p + copy(data[p:], v)
	})
	b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer b.Release()
	b.Reserve(len(a.counts))
	b.ReserveData(len(data))
	for g := range a.counts {
		b.Append(data[ends[g]:ends[g+1]])
	}
	return []arrow.Array{b.NewArray()}
}

// uvarintLen is the bytes of n as a uvarint.
func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

func (a *distinctCountAcc) ResultType() arrow.DataType { return arrow.PrimitiveTypes.Int64 }

func (a *distinctCountAcc) Result(mem memory.Allocator) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(a.counts, nil)
	return b.NewArray()
}

// ResultType is the type of fn over values of type in (arrow.Null
// for count(*)), or an error when the engine cannot compute it.
func ResultType(fn kapotv1.AggregateFunction, in arrow.DataType, distinct bool) (arrow.DataType, error) {
	acc, err := New(fn, in, distinct)
	if err != nil {
		return nil, err
	}
	return acc.ResultType(), nil
}
