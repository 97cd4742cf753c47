package expr

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/errs"
)

// castExpr converts its input to another type.
type castExpr struct {
	in   Expr
	to   arrow.DataType
	safe bool // TRY_CAST: null for values that do not convert
}

func (c *castExpr) DataType() arrow.DataType { return c.to }

func (c *castExpr) String() string {
	if c.safe {
		return fmt.Sprintf("TRY_CAST(%s AS %s)", c.in, c.to)
	}
	return fmt.Sprintf("CAST(%s AS %s)", c.in, c.to)
}

func (c *castExpr) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, c, mem, b)
}

func (c *castExpr) evalDatum(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	d, err := c.in.evalDatum(ctx, b)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	if x, ok := d.(*compute.ArrayDatum); ok { // small integers widened: every value fits
		arr := x.MakeArray()
		out, ok := castIntExact(exec.GetAllocator(ctx), arr, c.to)
		arr.Release()
		if ok {
			defer out.Release()
			return compute.NewDatum(out), nil
		}
	}
	if inputType(d).ID() == arrow.NULL && IsNestedType(c.to) {
		// NULL as a nested type (a grouping set leaving a key out).
		return mapDatum(ctx, d, func(mem memory.Allocator, a arrow.Array) (arrow.Array, error) {
			return array.MakeArrayOfNull(mem, c.to, a.Len()), nil
		})
	}
	if isTimeCast(inputType(d), c.to) {
		return mapDatum(ctx, d, func(mem memory.Allocator, a arrow.Array) (arrow.Array, error) {
			return timeCast(mem, a, c.to, c.safe)
		})
	}
	if c.to.ID() == arrow.STRING && inputType(d).ID() != arrow.STRING {
		if _, ok := d.(*compute.ChunkedDatum); !ok {
			return mapDatum(ctx, d, castToText)
		}
	}
	if c.to.ID() == arrow.DECIMAL128 && isString(inputType(d)) {
		return castTextToDecimal(ctx, d, c.to.(*arrow.Decimal128Type), c.safe)
	}
	if inputType(d).ID() == arrow.DECIMAL128 && c.to.ID() == arrow.FLOAT64 {
		return mapDatum(ctx, d, decimalToFloat64)
	}
	if upscalesDecimal(inputType(d), c.to) {
		to := c.to.(*arrow.Decimal128Type)
		return mapDatum(ctx, d, func(mem memory.Allocator, a arrow.Array) (arrow.Array, error) {
			return rescaleDecimal(mem, a, to, c.safe)
		})
	}
	if isString(inputType(d)) && !isString(c.to) {
		// Text to a number, date or boolean ignores leading and trailing
		// white space, as in PostgreSQL and DuckDB (cast('  7 ' as
		// integer) is 7); Arrow's parsers take none.
		t, err := trimText(ctx, d)
		if err != nil {
			return nil, err
		}
		defer t.Release()
		d = t
	}
	if x, ok := d.(*compute.ArrayDatum); ok && widensDecimal(inputType(d), c.to) {
		// Same scale, no fewer digits: the values are unchanged, only
		// the type widens (a UNION ALL of decimal(15,2) and
		// decimal(26,2) columns cast 7.5 M rows one by one).
		arr := x.MakeArray()
		defer arr.Release()
		data := array.NewData(c.to, arr.Len(), arr.Data().Buffers(), nil, arr.NullN(), arr.Data().Offset())
		defer data.Release()
		out := array.MakeFromData(data)
		defer out.Release()
		return compute.NewDatum(out), nil
	}
	if from := inputType(d); c.to.ID() == arrow.DECIMAL128 && arrow.IsInteger(from.ID()) && !c.safe {
		// Arrow refuses an integer type into a decimal too narrow for the
		// type's every value; cast to one wide enough, then narrow, which
		// checks the values themselves.
		to := c.to.(*arrow.Decimal128Type)
		if to.Precision-to.Scale < 20 && to.Scale <= 18 {
			wide, err := compute.CastDatum(ctx, d, compute.SafeCastOptions(&arrow.Decimal128Type{Precision: 38, Scale: to.Scale}))
			if err != nil {
				return nil, err
			}
			defer wide.Release()
			d = wide
		}
	}
	if from := inputType(d); arrow.IsInteger(c.to.ID()) && (from.ID() == arrow.DECIMAL128 || arrow.IsFloating(from.ID())) {
		// To an integer, a number rounds (as in PostgreSQL and DuckDB:
		// decimals half away from zero, floating point half to even)
		// rather than fail on its fraction.
		mode := compute.RoundHalfTowardsInfinity
		if arrow.IsFloating(from.ID()) {
			mode = compute.RoundHalfToEven
		}
		r, err := kernel.CallFunction(ctx, "round", &compute.RoundOptions{NDigits: 0, Mode: mode}, d)
		if err != nil {
			return nil, err
		}
		defer r.Release()
		d = r
	}
	if c.safe {
		return tryCast(ctx, d, c.to)
	}
	return compute.CastDatum(ctx, d, compute.SafeCastOptions(c.to))
}

// mapDatum applies f to an array datum, or to a scalar one as an array of
// one row.
func mapDatum(ctx context.Context, d compute.Datum, f func(memory.Allocator, arrow.Array) (arrow.Array, error)) (compute.Datum, error) {
	mem := exec.GetAllocator(ctx)
	switch x := d.(type) {
	case *compute.ArrayDatum:
		arr := x.MakeArray()
		defer arr.Release()
		out, err := f(mem, arr)
		if err != nil {
			return nil, err
		}
		defer out.Release()
		return compute.NewDatum(out), nil
	case *compute.ScalarDatum:
		arr, err := scalar.MakeArrayFromScalar(x.Value, 1, mem)
		if err != nil {
			return nil, err
		}
		defer arr.Release()
		out, err := f(mem, arr)
		if err != nil {
			return nil, err
		}
		defer out.Release()
		v, err := scalar.GetScalar(out, 0)
		if err != nil {
			return nil, err
		}
		return compute.NewDatum(v), nil
	}
	return nil, fmt.Errorf("datum of kind %s: %w", d.Kind(), errs.ErrNotSupported)
}

// trimText returns a text datum without the white space around its
// values: the datum itself (retained) when none has any.
func trimText(ctx context.Context, d compute.Datum) (compute.Datum, error) {
	switch x := d.(type) {
	case *compute.ScalarDatum:
		if !x.Value.IsValid() {
			break
		}
		var v string
		switch s := x.Value.(type) {
		case *scalar.String:
			v = string(s.Value.Bytes())
		case *scalar.LargeString:
			v = string(s.Value.Bytes())
		default:
			return nil, fmt.Errorf("trim %s: %w", x.Type(), errs.ErrNotSupported)
		}
		if t := strings.TrimFunc(v, isSQLSpace); t != v {
			return compute.NewDatum(scalar.NewStringScalar(t)), nil
		}
	case *compute.ArrayDatum:
		arr := x.MakeArray()
		defer arr.Release()
		str := func(i int) string {
			if s, ok := arr.(*array.String); ok {
				return s.Value(i)
			}
			return arr.(*array.LargeString).Value(i)
		}
		padded := false
		for i := 0; i < arr.Len() && !padded; i++ {
			if arr.IsValid(i) {
				v := str(i)
				padded = v != "" && (isSQLSpace(rune(v[0])) || isSQLSpace(rune(v[len(v)-1])))
			}
		}
		if !padded {
			break
		}
		b := array.NewStringBuilder(exec.GetAllocator(ctx))
		defer b.Release()
		b.Reserve(arr.Len())
		for i := 0; i < arr.Len(); i++ {
			if arr.IsNull(i) {
				b.AppendNull()
				continue
			}
			b.Append(strings.TrimFunc(str(i), isSQLSpace))
		}
		out := b.NewArray()
		defer out.Release()
		return compute.NewDatum(out), nil
	}
	switch x := d.(type) {
	case *compute.ArrayDatum:
		x.Value.Retain()
		return &compute.ArrayDatum{Value: x.Value}, nil
	case *compute.ScalarDatum:
		return compute.NewDatum(x.Value), nil
	}
	return nil, fmt.Errorf("trim %s: %w", d.Kind(), errs.ErrNotSupported)
}

// isSQLSpace is the white space PostgreSQL's number parsers skip.
func isSQLSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

// widensDecimal reports whether a cast from one type to another only
// widens a decimal128's precision at the same scale.
func widensDecimal(from, to arrow.DataType) bool {
	f, ok1 := from.(*arrow.Decimal128Type)
	t, ok2 := to.(*arrow.Decimal128Type)
	return ok1 && ok2 && f.Scale == t.Scale && t.Precision >= f.Precision
}

// castTextToDecimal parses text as decimals of type t (rounding extra
// fraction digits half away from zero); text that is not a number, or too
// large for t, is an error (NULL for TRY_CAST).
func castTextToDecimal(ctx context.Context, d compute.Datum, t *arrow.Decimal128Type, safe bool) (compute.Datum, error) {
	mem := exec.GetAllocator(ctx)
	var arr arrow.Array
	switch x := d.(type) {
	case *compute.ArrayDatum:
		arr = x.MakeArray()
	case *compute.ScalarDatum:
		a, err := scalar.MakeArrayFromScalar(x.Value, 1, mem)
		if err != nil {
			return nil, err
		}
		arr = a
	default:
		return nil, fmt.Errorf("cast to %s: %w", t, errs.ErrNotSupported)
	}
	defer arr.Release()
	b := array.NewDecimal128Builder(mem, t)
	defer b.Release()
	str := func(i int) string {
		if s, ok := arr.(*array.String); ok {
			return s.Value(i)
		}
		return arr.(*array.LargeString).Value(i)
	}
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		s := strings.TrimSpace(str(i))
		var v decimal128.Num
		err := fmt.Errorf("not a number")
		if decimalText.MatchString(s) {
			v, err = decimal128.FromString(s, t.Precision, t.Scale)
		}
		if err != nil {
			if safe {
				b.AppendNull()
				continue
			}
			return nil, fmt.Errorf("could not convert %q to %s: %w", s, t, errs.ErrInvalidPlan)
		}
		b.Append(v)
	}
	out := b.NewArray()
	if _, ok := d.(*compute.ScalarDatum); ok {
		defer out.Release()
		v, err := scalar.GetScalar(out, 0)
		if err != nil {
			return nil, err
		}
		return compute.NewDatum(v), nil
	}
	defer out.Release()
	return compute.NewDatum(out), nil
}

// inputType is the type of an array or scalar datum.
func inputType(d compute.Datum) arrow.DataType {
	if a, ok := d.(compute.ArrayLikeDatum); ok {
		return a.Type()
	}
	return arrow.Null
}

// CastArray casts arr to t with Arrow's safe cast (arr itself, retained,
// when it has type t already). The caller releases the result.
func CastArray(ctx context.Context, arr arrow.Array, t arrow.DataType) (arrow.Array, error) {
	if arrow.TypeEqual(arr.DataType(), t) {
		arr.Retain()
		return arr, nil
	}
	return compute.CastArray(ctx, arr, compute.SafeCastOptions(t))
}

// decimalToFloat64 casts decimals to the nearest float64: the unscaled
// value over 10^scale, one correctly rounded division when both are
// exact in a float64 (|value| < 2^53, scale <= 22), as DuckDB does.
// Arrow multiplies by 10^-scale, which is not exact: 123.45 became
// 123.45000000000002, greater than avg(123.45) (the unscaled sum over
// count x 10^scale, the nearest float64 to 123.45), and a comparison of
// a decimal with a float average kept rows it should not.
func decimalToFloat64(mem memory.Allocator, a arrow.Array) (arrow.Array, error) {
	d, ok := a.(*array.Decimal128)
	if !ok {
		return nil, fmt.Errorf("cast %s to float64: %w", a.DataType(), errs.ErrInvalidPlan)
	}
	scale := d.DataType().(*arrow.Decimal128Type).Scale
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.Reserve(d.Len())
	const exact = 1 << 53
	for i := range d.Len() {
		if d.IsNull(i) {
			b.UnsafeAppendBoolToBitmap(false)
			continue
		}
		v := d.Value(i)
		if scale >= 0 && scale <= 22 && isSmall(v, exact) {
			b.UnsafeAppend(float64(int64(v.LowBits())) / math.Pow10(int(scale)))
			continue
		}
		b.UnsafeAppend(v.ToFloat64(scale))
	}
	return b.NewArray(), nil
}

// isSmall reports whether v is within (-bound, bound).
func isSmall(v decimal128.Num, bound int64) bool {
	hi, lo := v.HighBits(), int64(v.LowBits())
	return (hi == 0 && lo >= 0 && lo < bound) || (hi == -1 && lo < 0 && lo > -bound)
}
