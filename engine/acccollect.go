package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// aggOpts are the parts of an aggregate call beyond its function and
// argument: the constant parameter and the ORDER BY (string_agg) or
// WITHIN GROUP (percentiles) directions.
type aggOpts struct {
	param scalar.Scalar
	order []SortKey
}

// collectAcc keeps every non-null value of each group: string_agg and the
// percentiles need them all. Values (for string_agg with ORDER BY: structs
// of the value and its order keys) are appended to one builder with their
// group; the partial state of a group is the list of its values.
type collectAcc struct {
	fn     kapotv1.AggregateFunction
	elem   arrow.DataType // one collected value
	b      array.Builder
	gids   []uint32
	groups int
	frac   float64
	sep    string
	order  []SortKey
}

// newCollect builds the accumulator for values of type in (the argument
// in partial/single mode, the list state in final mode).
func newCollect(fn kapotv1.AggregateFunction, in arrow.DataType, opts aggOpts) (*collectAcc, error) {
	elem := in
	if l, ok := in.(*arrow.ListType); ok {
		elem = l.Elem()
	}
	a := &collectAcc{fn: fn, elem: elem, order: opts.order, frac: 0.5}
	if fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG && len(a.order) == 0 {
		a.order = []SortKey{{}} // percentiles read their values in order
	}
	if !appendable(elem) {
		return nil, fmt.Errorf("%v over %s: %w", fn, elem, ErrNotSupported)
	}
	value, keys := elem, []arrow.DataType{elem}
	if st, ok := elem.(*arrow.StructType); ok {
		if st.NumFields() != 1+len(opts.order) {
			return nil, fmt.Errorf("%v: %d order keys for a %s argument: %w", fn, len(opts.order), elem, ErrInvalidPlan)
		}
		value, keys = st.Field(0).Type, nil
		for _, f := range st.Fields()[1:] {
			keys = append(keys, f.Type)
		}
	}
	for i, k := range opts.order {
		if i >= len(keys) {
			break
		}
		null := array.MakeArrayOfNull(memory.DefaultAllocator, keys[i], 0)
		_, err := newRowComparator(null, k)
		null.Release()
		if err != nil {
			return nil, fmt.Errorf("%v ordered by %s: %w", fn, keys[i], ErrNotSupported)
		}
	}
	switch fn {
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG:
		if value.ID() != arrow.STRING && value.ID() != arrow.NULL {
			return nil, fmt.Errorf("string_agg over %s (cast it to VARCHAR): %w", value, ErrInvalidPlan)
		}
		a.sep = ","
		if opts.param != nil {
			s, ok := opts.param.(*scalar.String)
			if !ok || !s.IsValid() {
				return nil, fmt.Errorf("string_agg separator %s is not a string: %w", opts.param, ErrInvalidPlan)
			}
			a.sep = string(s.Value.Bytes())
		}
	default:
		if len(opts.order) > 1 {
			return nil, fmt.Errorf("percentile with %d order keys: %w", len(opts.order), ErrInvalidPlan)
		}
		if opts.param != nil {
			var err error
			if d, ok := opts.param.(*scalar.Decimal128); ok && d.IsValid() {
				a.frac = d.Value.ToFloat64(d.Type.(*arrow.Decimal128Type).Scale)
			} else if f, cerr := opts.param.CastTo(arrow.PrimitiveTypes.Float64); cerr == nil && f.IsValid() {
				a.frac = f.(*scalar.Float64).Value
			} else {
				err = fmt.Errorf("percentile fraction %s is not a number: %w", opts.param, ErrInvalidPlan)
			}
			if err != nil {
				return nil, err
			}
			if a.frac < 0 || a.frac > 1 || math.IsNaN(a.frac) {
				return nil, fmt.Errorf("percentile fraction %v is outside [0, 1]: %w", a.frac, ErrInvalidPlan)
			}
		}
		if _, err := a.percentileType(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *collectAcc) grow(n int) { a.groups = max(a.groups, n) }

func (a *collectAcc) builder() array.Builder {
	if a.b == nil {
		a.b = array.NewBuilder(memory.DefaultAllocator, a.elem)
	}
	return a.b
}

// valueOf is the collected value column of an argument or state child.
func valueOf(arr arrow.Array) arrow.Array {
	if s, ok := arr.(*array.Struct); ok {
		return s.Field(0)
	}
	return arr
}

func (a *collectAcc) update(_ context.Context, groups []uint32, arg arrow.Array) error {
	if arg == nil {
		return fmt.Errorf("%v needs an argument: %w", a.fn, ErrInvalidPlan)
	}
	if arg.DataType().ID() == arrow.NULL {
		return nil
	}
	b, v := a.builder(), valueOf(arg)
	for i, g := range groups {
		if v.IsNull(i) {
			continue
		}
		if err := appendFrom(b, arg, i); err != nil {
			return err
		}
		a.gids = append(a.gids, g)
	}
	return nil
}

func (a *collectAcc) merge(_ context.Context, groups []uint32, states []arrow.Array) error {
	l, ok := states[0].(*array.List)
	if !ok {
		return fmt.Errorf("%v state is %s, not a list: %w", a.fn, states[0].DataType(), ErrInvalidPlan)
	}
	if l.ListValues().DataType().ID() == arrow.NULL {
		return nil
	}
	b, vals := a.builder(), l.ListValues()
	for i, g := range groups {
		if l.IsNull(i) {
			continue
		}
		from, to := l.ValueOffsets(i)
		for j := int(from); j < int(to); j++ {
			if err := appendFrom(b, vals, j); err != nil {
				return err
			}
			a.gids = append(a.gids, g)
		}
	}
	return nil
}

func (a *collectAcc) stateTypes() []arrow.DataType { return []arrow.DataType{arrow.ListOf(a.elem)} }

// sorted returns the collected values and each group's row numbers, in
// the group's order (ORDER BY / WITHIN GROUP; arrival order without).
func (a *collectAcc) sorted() (arrow.Array, [][]int, error) {
	vals := a.builder().NewArray()
	// The builder is empty now; keep the values in it for later calls.
	for i := 0; i < vals.Len(); i++ {
		if err := appendFrom(a.b, vals, i); err != nil {
			vals.Release()
			return nil, nil, err
		}
	}
	rows := make([][]int, a.groups)
	for i, g := range a.gids {
		rows[g] = append(rows[g], i)
	}
	if len(a.order) == 0 {
		return vals, rows, nil
	}
	var cmps []func(i, j int) int
	for k, key := range a.order {
		col := vals
		if s, ok := vals.(*array.Struct); ok {
			col = s.Field(k + 1)
		}
		c, err := newRowComparator(col, key)
		if err != nil {
			vals.Release()
			return nil, nil, err
		}
		cmps = append(cmps, c)
	}
	for _, rs := range rows {
		slices.SortStableFunc(rs, func(i, j int) int {
			for _, c := range cmps {
				if r := c(i, j); r != 0 {
					return r
				}
			}
			return 0
		})
	}
	return vals, rows, nil
}

func (a *collectAcc) state(mem memory.Allocator) []arrow.Array {
	lb := array.NewListBuilder(mem, a.elem)
	defer lb.Release()
	vals, rows, err := a.sorted()
	if err != nil {
		// sorted fails only on types newCollect accepted: a bug.
		panic(fmt.Sprintf("%v state: %v", a.fn, err))
	}
	defer vals.Release()
	vb := lb.ValueBuilder()
	for _, rs := range rows {
		lb.Append(true)
		for _, r := range rs {
			if err := appendFrom(vb, vals, r); err != nil {
				panic(fmt.Sprintf("%v state: %v", a.fn, err))
			}
		}
	}
	return []arrow.Array{lb.NewArray()}
}

// percentileType is the result type of a percentile over a.elem.
func (a *collectAcc) percentileType() (arrow.DataType, error) {
	t := a.elem
	if a.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_DISC {
		if t.ID() == arrow.STRUCT || t.ID() == arrow.LIST {
			return nil, fmt.Errorf("percentile_disc over %s: %w", t, ErrNotSupported)
		}
		return t, nil
	}
	switch {
	case arrow.IsInteger(t.ID()), arrow.IsFloating(t.ID()), t.ID() == arrow.NULL:
		return arrow.PrimitiveTypes.Float64, nil
	case t.ID() == arrow.DECIMAL128, t.ID() == arrow.DATE32:
		return t, nil
	}
	return nil, fmt.Errorf("percentile_cont / median over %s: %w", t, ErrNotSupported)
}

func (a *collectAcc) resultType() arrow.DataType {
	if a.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG {
		return arrow.BinaryTypes.String
	}
	t, _ := a.percentileType()
	return t
}

func (a *collectAcc) result(mem memory.Allocator) arrow.Array {
	vals, rows, err := a.sorted()
	if err != nil {
		panic(fmt.Sprintf("%v result: %v", a.fn, err))
	}
	defer vals.Release()
	rb := array.NewBuilder(mem, a.resultType())
	defer rb.Release()
	v := valueOf(vals)
	for _, rs := range rows {
		n := len(rs)
		if n == 0 {
			rb.AppendNull()
			continue
		}
		switch a.fn {
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG:
			s := v.(*array.String)
			var sb strings.Builder
			for k, r := range rs {
				if k > 0 {
					sb.WriteString(a.sep)
				}
				sb.WriteString(s.Value(r))
			}
			rb.(*array.StringBuilder).Append(sb.String())
		case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_DISC:
			k := int(math.Ceil(a.frac*float64(n))) - 1
			k = max(0, min(n-1, k))
			if err := appendFrom(rb, v, rs[k]); err != nil {
				panic(fmt.Sprintf("percentile_disc: %v", err))
			}
		default:
			pos := a.frac * float64(n-1)
			lo, hi := int(math.Floor(pos)), int(math.Ceil(pos))
			d := pos - float64(lo)
			interpolate(rb, v, rs[lo], rs[hi], d)
		}
	}
	return rb.NewArray()
}

// interpolate appends lo + d·(hi − lo): a DOUBLE for numbers; decimals
// and dates keep their type and truncate the step, as DuckDB does.
func interpolate(b array.Builder, v arrow.Array, lo, hi int, d float64) {
	switch x := v.(type) {
	case *array.Decimal128:
		l, h := x.Value(lo), x.Value(hi)
		step := h.Sub(l).ToFloat64(0) * d
		s, err := decimal128.FromFloat64(math.Trunc(step), 38, 0)
		if err != nil {
			s = decimal128.Num{}
		}
		b.(*array.Decimal128Builder).Append(l.Add(s))
	case *array.Date32:
		l, h := int64(x.Value(lo)), int64(x.Value(hi))
		b.(*array.Date32Builder).Append(arrow.Date32(l + int64(math.Trunc(float64(h-l)*d))))
	default:
		l, h := numberAt(v, lo), numberAt(v, hi)
		b.(*array.Float64Builder).Append(l + (h-l)*d)
	}
}

// numberAt is row i of an integer or floating-point array as a float64.
func numberAt(arr arrow.Array, i int) float64 {
	switch x := arr.(type) {
	case *array.Int64:
		return float64(x.Value(i))
	case *array.Int32:
		return float64(x.Value(i))
	case *array.Int16:
		return float64(x.Value(i))
	case *array.Int8:
		return float64(x.Value(i))
	case *array.Uint64:
		return float64(x.Value(i))
	case *array.Uint32:
		return float64(x.Value(i))
	case *array.Uint16:
		return float64(x.Value(i))
	case *array.Uint8:
		return float64(x.Value(i))
	case *array.Float64:
		return x.Value(i)
	case *array.Float32:
		return float64(x.Value(i))
	}
	return math.NaN()
}
