package agg

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Options are the parts of an aggregate call beyond its function and
// argument: the constant parameter and the ORDER BY (string_agg) or
// WITHIN GROUP (percentiles) directions.
type Options struct {
	// Param is the constant parameter: string_agg's separator, a
	// percentile's fraction.
	Param scalar.Scalar
	// Order is the order keys' directions (their values arrive in the
	// argument, a struct of the value and its keys).
	Order []expr.SortKey
	// FromState says the accumulator is built over its own partial state
	// (FINAL mode, or reading spilled state back): array_agg's input type
	// is then the LIST of its state, not the value.
	FromState bool
}

// collectAcc keeps every non-null value of each group: string_agg and the
// percentiles need them all. Values are appended to one builder with
// their group and, for string_agg with ORDER BY, their order keys encoded
// so that the bytes sort as the keys do (the argument arrives as a struct
// of the value and its keys). A group's partial state is its entries in
// one binary value, after a NULL column of the value type that tells the
// final phase what the values are.
type collectAcc struct {
	fn     kapotv1.AggregateFunction
	value  arrow.DataType
	vb     array.Builder
	gids   []uint32
	keys   [][]byte // per entry; nil without ORDER BY keys
	groups int
	frac   float64
	// exact is a decimal fraction as a ratio, for percentile_disc's
	// position; nil for a floating-point one.
	exact *exactFrac
	sep   string
	order []expr.SortKey
	// text counts the bytes of each group's string_agg value so far: a
	// value past maxTextResult fails the query before it is built.
	text []int64
	// seen, for string_agg(DISTINCT), is each group's set of the values
	// kept (their encodings); nil otherwise (see newDistinctCollect).
	seen []map[string]struct{}
}

// countText adds a string_agg entry of n bytes to group g.
func (a *collectAcc) countText(g uint32, n int) error {
	if a.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG {
		return nil
	}
	if int(g) >= len(a.text) {
		a.text = append(a.text, make([]int64, int(g)+1-len(a.text))...)
	}
	if a.text[g] > 0 {
		n += len(a.sep)
	}
	a.text[g] += int64(n)
	if a.text[g] > expr.MaxTextResult {
		// The same every attempt: not a resources error (those are retried).
		return fmt.Errorf("string_agg: a group's value would pass %d bytes, the most a text value may hold", expr.MaxTextResult)
	}
	return nil
}

// newCollect builds the Accumulator for arguments of type in (the value,
// or a struct of the value and the order keys; in final mode the first
// state column, of the value type).
func newCollect(fn kapotv1.AggregateFunction, in arrow.DataType, opts Options) (*collectAcc, error) {
	a := &collectAcc{fn: fn, value: in, order: opts.Order, frac: 0.5}
	if st, ok := in.(*arrow.StructType); ok {
		if st.NumFields() != 1+len(opts.Order) {
			return nil, fmt.Errorf("%v: %d order keys for a %s argument: %w", fn, len(opts.Order), in, errs.ErrInvalidPlan)
		}
		a.value = st.Field(0).Type
		for i, f := range st.Fields()[1:] {
			null := array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, 0)
			_, err := rowkey.NewOrderedEncoder(null, opts.Order[i].Descending, opts.Order[i].NullsFirst)
			null.Release()
			if err != nil {
				return nil, fmt.Errorf("%v ordered by %s: %w", fn, f.Type, errs.ErrNotSupported)
			}
		}
	}
	if !rowkey.ValueCodable(a.value) && a.value.ID() != arrow.NULL {
		return nil, fmt.Errorf("%v over %s: %w", fn, a.value, errs.ErrNotSupported)
	}
	switch fn {
	case kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG:
		if a.value.ID() != arrow.STRING && a.value.ID() != arrow.NULL {
			return nil, fmt.Errorf("string_agg over %s (cast it to VARCHAR): %w", a.value, errs.ErrInvalidPlan)
		}
		a.sep = ","
		if opts.Param != nil {
			s, ok := opts.Param.(*scalar.String)
			if !ok || !s.IsValid() {
				return nil, fmt.Errorf("string_agg separator %s is not a string: %w", opts.Param, errs.ErrInvalidPlan)
			}
			a.sep = string(s.Value.Bytes())
		}
	default:
		if len(a.order) == 0 {
			a.order = []expr.SortKey{{}} // percentiles read their values in order
		}
		if len(a.order) > 1 {
			return nil, fmt.Errorf("percentile with %d order keys: %w", len(a.order), errs.ErrInvalidPlan)
		}
		if opts.Param != nil {
			var err error
			if d, ok := opts.Param.(*scalar.Decimal128); ok && d.IsValid() {
				// The nearest double (ToFloat64 made 0.95 0.9500000000000001),
				// and the exact value for percentile_disc's position.
				sc := d.Type.(*arrow.Decimal128Type).Scale
				a.frac, err = strconv.ParseFloat(d.Value.ToString(sc), 64)
				a.exact = &exactFrac{num: d.Value.BigInt(), den: expr.Pow10(sc).BigInt()}
			} else if f, cerr := opts.Param.CastTo(arrow.PrimitiveTypes.Float64); cerr == nil && f.IsValid() {
				a.frac = f.(*scalar.Float64).Value
			} else {
				err = fmt.Errorf("percentile fraction %s is not a number: %w", opts.Param, errs.ErrInvalidPlan)
			}
			if err != nil {
				return nil, err
			}
			if a.frac < 0 || a.frac > 1 || math.IsNaN(a.frac) {
				return nil, fmt.Errorf("percentile fraction %v is outside [0, 1]: %w", a.frac, errs.ErrInvalidPlan)
			}
		}
		if _, err := a.percentileType(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *collectAcc) Grow(n int) { a.groups = max(a.groups, n) }

// ordered reports whether entries carry order keys (string_agg with
// ORDER BY): keys then has one entry per value.
func (a *collectAcc) ordered() bool {
	return a.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG && len(a.order) > 0
}

func (a *collectAcc) builder() array.Builder {
	if a.vb == nil {
		a.vb = array.NewBuilder(memory.DefaultAllocator, a.value)
	}
	return a.vb
}

func (a *collectAcc) Update(_ context.Context, groups []uint32, arg arrow.Array) error {
	if arg == nil {
		return fmt.Errorf("%v needs an argument: %w", a.fn, errs.ErrInvalidPlan)
	}
	v := arg
	var encs []rowkey.OrderedEncoder
	if st, ok := arg.(*array.Struct); ok {
		v = st.Field(0)
		for k := 1; k < st.NumField(); k++ {
			e, err := rowkey.NewOrderedEncoder(st.Field(k), a.order[k-1].Descending, a.order[k-1].NullsFirst)
			if err != nil {
				return err
			}
			encs = append(encs, e)
		}
	}
	if v.DataType().ID() == arrow.NULL {
		return nil
	}
	b := a.builder()
	for i, g := range groups {
		if v.IsNull(i) {
			continue
		}
		if a.seen != nil {
			if dup, err := a.duplicate(g, v, i); err != nil || dup {
				if err != nil {
					return err
				}
				continue
			}
		}
		if err := rowkey.AppendFrom(b, v, i); err != nil {
			return err
		}
		if s, ok := v.(*array.String); ok {
			if err := a.countText(g, len(s.Value(i))); err != nil {
				return err
			}
		}
		a.gids = append(a.gids, g)
		if a.ordered() {
			var key []byte
			for _, e := range encs {
				key = e(key, i)
			}
			a.keys = append(a.keys, key)
		}
	}
	return nil
}

func (a *collectAcc) Merge(_ context.Context, groups []uint32, states []arrow.Array) error {
	if len(states) != 2 {
		return fmt.Errorf("%v state has %d columns, not 2: %w", a.fn, len(states), errs.ErrInvalidPlan)
	}
	st, ok := states[1].(*array.Binary)
	if !ok {
		return fmt.Errorf("%v state is %s, not binary: %w", a.fn, states[1].DataType(), errs.ErrInvalidPlan)
	}
	b := a.builder()
	for i, g := range groups {
		if st.IsNull(i) {
			continue
		}
		buf := st.Value(i)
		for len(buf) > 0 {
			// An entry: the key's length and bytes (length 0 and no key
			// without ORDER BY keys), then the value.
			l, k := binary.Uvarint(buf)
			if k <= 0 || uint64(len(buf)-k) < l {
				return fmt.Errorf("%v state: %w", a.fn, rowkey.ErrShortValue)
			}
			if a.seen != nil {
				rest, dup, err := a.duplicateEncoded(g, buf[k+int(l):])
				if err != nil {
					return fmt.Errorf("%v state: %w", a.fn, err)
				}
				if dup {
					buf = rest
					continue
				}
			}
			if a.ordered() {
				a.keys = append(a.keys, slices.Clone(buf[k:k+int(l)]))
			}
			rest, err := rowkey.DecodeValue(b, buf[k+int(l):])
			if err != nil {
				return fmt.Errorf("%v state: %w", a.fn, err)
			}
			if err := a.countText(g, len(buf)-k-int(l)-len(rest)); err != nil {
				return err
			}
			a.gids = append(a.gids, g)
			buf = rest
		}
	}
	return nil
}

func (a *collectAcc) StateTypes() []arrow.DataType {
	return []arrow.DataType{a.value, arrow.BinaryTypes.Binary}
}

// sorted returns the collected values and each group's entries in the
// group's order (ORDER BY / WITHIN GROUP; arrival order without).
func (a *collectAcc) sorted() (arrow.Array, [][]int, error) {
	vals := a.builder().NewArray()
	// The builder is empty now; keep the values in it for later calls.
	for i := 0; i < vals.Len(); i++ {
		if err := rowkey.AppendFrom(a.vb, vals, i); err != nil {
			vals.Release()
			return nil, nil, err
		}
	}
	rows := make([][]int, a.groups)
	for i, g := range a.gids {
		rows[g] = append(rows[g], i)
	}
	var less func(i, j int) int
	switch {
	case a.ordered():
		less = func(i, j int) int { return bytes.Compare(a.keys[i], a.keys[j]) }
	case a.fn != kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG:
		c, err := rowkey.NewComparator(vals, a.order[0].Descending, a.order[0].NullsFirst)
		if err != nil {
			vals.Release()
			return nil, nil, err
		}
		less = c
	default:
		return vals, rows, nil
	}
	for _, rs := range rows {
		slices.SortStableFunc(rs, less)
	}
	return vals, rows, nil
}

func (a *collectAcc) State(mem memory.Allocator) []arrow.Array {
	bb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer bb.Release()
	vals, rows, err := a.sorted()
	if err != nil {
		// sorted fails only on types newCollect accepted: a bug.
		panic(fmt.Sprintf("%v state: %v", a.fn, err))
	}
	defer vals.Release()
	var buf []byte
	for _, rs := range rows {
		buf = buf[:0]
		for _, r := range rs {
			var key []byte
			if a.ordered() {
				key = a.keys[r]
			}
			buf = binary.AppendUvarint(buf, uint64(len(key)))
			buf = append(buf, key...)
			if buf, err = rowkey.EncodeValue(buf, vals, r); err != nil {
				panic(fmt.Sprintf("%v state: %v", a.fn, err))
			}
		}
		bb.Append(buf)
	}
	return []arrow.Array{array.MakeArrayOfNull(mem, a.value, len(rows)), bb.NewArray()}
}

// percentileType is the result type of a percentile over a.elem.
func (a *collectAcc) percentileType() (arrow.DataType, error) {
	t := a.value
	if a.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_PERCENTILE_DISC {
		if t.ID() == arrow.STRUCT || t.ID() == arrow.LIST {
			return nil, fmt.Errorf("percentile_disc over %s: %w", t, errs.ErrNotSupported)
		}
		return t, nil
	}
	switch {
	case arrow.IsInteger(t.ID()), arrow.IsFloating(t.ID()), t.ID() == arrow.NULL:
		return arrow.PrimitiveTypes.Float64, nil
	case t.ID() == arrow.DECIMAL128:
		return t, nil
	case t.ID() == arrow.DATE32:
		// Between two days, a time of day: a TIMESTAMP, as in DuckDB.
		return &arrow.TimestampType{Unit: arrow.Microsecond}, nil
	case t.ID() == arrow.TIMESTAMP && t.(*arrow.TimestampType).Unit == arrow.Microsecond:
		return t, nil
	}
	return nil, fmt.Errorf("percentile_cont / median over %s: %w", t, errs.ErrNotSupported)
}

func (a *collectAcc) ResultType() arrow.DataType {
	if a.fn == kapotv1.AggregateFunction_AGGREGATE_FUNCTION_STRING_AGG {
		return arrow.BinaryTypes.String
	}
	t, _ := a.percentileType()
	return t
}

func (a *collectAcc) Result(mem memory.Allocator) arrow.Array {
	vals, rows, err := a.sorted()
	if err != nil {
		panic(fmt.Sprintf("%v result: %v", a.fn, err))
	}
	defer vals.Release()
	rb := array.NewBuilder(mem, a.ResultType())
	defer rb.Release()
	v := vals
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
			k := a.discIndex(n)
			k = max(0, min(n-1, k))
			if err := rowkey.AppendFrom(rb, v, rs[k]); err != nil {
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

// exactFrac is a percentile fraction num/den, den > 0.
type exactFrac struct{ num, den *big.Int }

// discIndex is the position of percentile_disc's value among n sorted
// values: the first whose cumulative share reaches the fraction,
// ceil(frac·n) − 1, exact for a decimal fraction (PostgreSQL's and
// DuckDB's 57 for 0.95 of 1..60, where 0.95·60 in floating point may
// exceed 57).
func (a *collectAcc) discIndex(n int) int {
	var k int
	if a.exact != nil {
		p := new(big.Int).Mul(a.exact.num, big.NewInt(int64(n)))
		q, r := p.QuoRem(p, a.exact.den, new(big.Int))
		k = int(q.Int64())
		if r.Sign() > 0 {
			k++
		}
		k--
	} else {
		k = int(math.Ceil(a.frac*float64(n))) - 1
	}
	return max(0, min(n-1, k))
}

// interpolate appends lo + d·(hi − lo): a DOUBLE for numbers; decimals
// keep their type, truncating the step; dates and timestamps give a
// TIMESTAMP, the step rounded to the microsecond.
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
		l, h := int64(x.Value(lo))*expr.MicrosPerDay, int64(x.Value(hi))*expr.MicrosPerDay
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(l + int64(math.Round(float64(h-l)*d))))
	case *array.Timestamp:
		l, h := int64(x.Value(lo)), int64(x.Value(hi))
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(l + int64(math.Round(float64(h-l)*d))))
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
