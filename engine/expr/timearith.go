package expr

import (
	"context"
	"fmt"
	"math"
	"math/big"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Arithmetic on timestamps and intervals, as PostgreSQL and DuckDB do it:
// an interval is months, days and microseconds (kept in Arrow's
// nanoseconds), added in that order (months clamp the day of month, a day
// is 24 hours: the session's zone is UTC).

// timestampType is the TIMESTAMP (without time zone, microseconds) that
// date ± interval gives.
var timestampType = &arrow.TimestampType{Unit: arrow.Microsecond}

// timeArith binds timestamp ± interval, interval + timestamp, date ±
// interval (a TIMESTAMP), timestamp − timestamp (an interval), interval ±
// interval and interval × integer. It returns nil for other operand types.
func timeArith(l Expr, op kapotv1.BinaryOp, r Expr) (Expr, error) {
	lt, rt := l.DataType(), r.DataType()
	isIv := func(t arrow.DataType) bool { return t.ID() == arrow.INTERVAL_MONTH_DAY_NANO }
	isTS := func(t arrow.DataType) bool { return t.ID() == arrow.TIMESTAMP || t.ID() == arrow.DATE32 }
	add, sub := op == kapotv1.BinaryOp_BINARY_OP_ADD, op == kapotv1.BinaryOp_BINARY_OP_SUB
	switch {
	case (add || sub) && isTS(lt) && isIv(rt), add && isIv(lt) && isTS(rt):
		ts, iv := l, r
		if isIv(lt) {
			ts, iv = r, l
		}
		out := ts.DataType()
		if out.ID() == arrow.DATE32 {
			ts, out = &castExpr{in: ts, to: timestampType}, timestampType
		}
		sign := int64(1)
		if sub {
			sign = -1
		}
		return &kernelExpr{display: map[bool]string{true: "-", false: "+"}[sub], infix: true, args: []Expr{ts, iv}, shown: []Expr{l, r}, typ: out,
			fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				return addInterval(mem, a[0].(*array.Timestamp), a[1].(*array.MonthDayNanoInterval), sign)
			}}, nil
	case sub && lt.ID() == arrow.TIMESTAMP && arrow.TypeEqual(lt, rt):
		return &kernelExpr{display: "-", infix: true, args: []Expr{l, r}, typ: arrow.FixedWidthTypes.MonthDayNanoInterval,
			fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				return timestampDiff(mem, a[0].(*array.Timestamp), a[1].(*array.Timestamp))
			}}, nil
	case (add || sub) && isIv(lt) && isIv(rt):
		sign := int64(1)
		if sub {
			sign = -1
		}
		return intervalKernel(map[bool]string{true: "-", false: "+"}[sub], l, r, func(x, y arrow.MonthDayNanoInterval, _ int64) (arrow.MonthDayNanoInterval, error) {
			return checkedInterval(int64(x.Months)+sign*int64(y.Months), int64(x.Days)+sign*int64(y.Days), x.Nanoseconds, sign, y.Nanoseconds)
		}), nil
	case op == kapotv1.BinaryOp_BINARY_OP_MUL && (isIv(lt) && arrow.IsInteger(rt.ID()) || arrow.IsInteger(lt.ID()) && isIv(rt)):
		iv, n := l, r
		if isIv(rt) {
			iv, n = r, l
		}
		return intervalKernel("*", iv, &castExpr{in: n, to: arrow.PrimitiveTypes.Int64}, func(x arrow.MonthDayNanoInterval, _ arrow.MonthDayNanoInterval, k int64) (arrow.MonthDayNanoInterval, error) {
			ns := x.Nanoseconds
			if k != 0 && (ns*k)/k != ns {
				return x, fmt.Errorf("interval out of range")
			}
			return checkedInterval(int64(x.Months)*k, int64(x.Days)*k, 0, 1, ns*k)
		}), nil
	case op == kapotv1.BinaryOp_BINARY_OP_DIV && isIv(lt) && arrow.IsInteger(rt.ID()):
		return &kernelExpr{display: "/", infix: true, args: []Expr{l, &castExpr{in: r, to: arrow.PrimitiveTypes.Int64}}, shown: []Expr{l, r},
			typ: arrow.FixedWidthTypes.MonthDayNanoInterval,
			fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				x, k := a[0].(*array.MonthDayNanoInterval), a[1].(*array.Int64)
				bld := array.NewMonthDayNanoIntervalBuilder(mem)
				defer bld.Release()
				bld.Reserve(x.Len())
				for i := 0; i < x.Len(); i++ {
					if x.IsNull(i) || k.IsNull(i) {
						bld.UnsafeAppendBoolToBitmap(false)
						continue
					}
					v, ok, err := divideInterval(x.Value(i), k.Value(i))
					if err != nil {
						return nil, err
					}
					if !ok {
						bld.UnsafeAppendBoolToBitmap(false)
						continue
					}
					bld.UnsafeAppend(v)
				}
				return bld.NewArray(), nil
			}}, nil
	case op == kapotv1.BinaryOp_BINARY_OP_MUL && (isIv(lt) && rt.ID() == arrow.DECIMAL128 || lt.ID() == arrow.DECIMAL128 && isIv(rt)),
		op == kapotv1.BinaryOp_BINARY_OP_DIV && isIv(lt) && rt.ID() == arrow.DECIMAL128:
		iv, n := l, r
		if isIv(rt) {
			iv, n = r, l
		}
		div := op == kapotv1.BinaryOp_BINARY_OP_DIV
		e, err := rowFunc(map[bool]string{true: "/", false: "*"}[div], []Expr{iv, &castExpr{in: n, to: arrow.BinaryTypes.String}},
			[]argKind{argInterval, argText}, arrow.FixedWidthTypes.MonthDayNanoInterval, func(v []any) (any, error) {
				f, ok := new(big.Rat).SetString(v[1].(string))
				if !ok {
					return nil, fmt.Errorf("bad number %q", v[1])
				}
				if div {
					if f.Sign() == 0 {
						return nil, nil
					}
					f.Inv(f)
				}
				return scaleInterval(v[0].(arrow.MonthDayNanoInterval), f)
			})
		if err != nil {
			return nil, err
		}
		k := e.(*kernelExpr)
		k.infix, k.shown = true, []Expr{l, r}
		return k, nil
	case op == kapotv1.BinaryOp_BINARY_OP_MUL && (isIv(lt) || isIv(rt)), op == kapotv1.BinaryOp_BINARY_OP_DIV && isIv(lt):
		return nil, fmt.Errorf("an interval times or divided by %s: %w", map[bool]arrow.DataType{true: rt, false: lt}[isIv(lt)], errs.ErrNotSupported)
	}
	return nil, nil
}

// checkedInterval is months, days and a + sign·b nanoseconds as an
// interval, or an error when a part overflows.
func checkedInterval(months, days, a, sign, b int64) (arrow.MonthDayNanoInterval, error) {
	ns := a + sign*b
	if months > math.MaxInt32 || months < math.MinInt32 || days > math.MaxInt32 || days < math.MinInt32 ||
		(sign*b > 0 && ns < a) || (sign*b < 0 && ns > a) {
		return arrow.MonthDayNanoInterval{}, fmt.Errorf("interval out of range")
	}
	return arrow.MonthDayNanoInterval{Months: int32(months), Days: int32(days), Nanoseconds: ns}, nil
}

// intervalKernel applies f row by row to an interval and an interval or
// BIGINT (passed as k).
func intervalKernel(display string, l, r Expr, f func(x, y arrow.MonthDayNanoInterval, k int64) (arrow.MonthDayNanoInterval, error)) Expr {
	return &kernelExpr{display: display, infix: true, args: []Expr{l, r}, typ: arrow.FixedWidthTypes.MonthDayNanoInterval,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			x := a[0].(*array.MonthDayNanoInterval)
			bld := array.NewMonthDayNanoIntervalBuilder(mem)
			defer bld.Release()
			bld.Reserve(x.Len())
			for i := 0; i < x.Len(); i++ {
				if x.IsNull(i) || a[1].IsNull(i) {
					bld.UnsafeAppendBoolToBitmap(false)
					continue
				}
				var y arrow.MonthDayNanoInterval
				var k int64
				switch b := a[1].(type) {
				case *array.MonthDayNanoInterval:
					y = b.Value(i)
				case *array.Int64:
					k = b.Value(i)
				}
				v, err := f(x.Value(i), y, k)
				if err != nil {
					return nil, err
				}
				bld.UnsafeAppend(v)
			}
			return bld.NewArray(), nil
		}}
}

// addInterval adds sign × iv to each timestamp: months to the date
// (clamping the day of month), then days, then the time.
func addInterval(mem memory.Allocator, ts *array.Timestamp, iv *array.MonthDayNanoInterval, sign int64) (arrow.Array, error) {
	t := ts.DataType().(*arrow.TimestampType)
	perDay, nsPer := MicrosPerDay, int64(1000)
	if t.Unit == arrow.Nanosecond {
		perDay, nsPer = nanosPerDay, 1
	}
	bld := array.NewTimestampBuilder(mem, t)
	defer bld.Release()
	bld.Reserve(ts.Len())
	for i := 0; i < ts.Len(); i++ {
		if ts.IsNull(i) || iv.IsNull(i) {
			bld.UnsafeAppendBoolToBitmap(false)
			continue
		}
		v, x := int64(ts.Value(i)), iv.Value(i)
		days, tod := floorDiv(v, perDay), floorMod(v, perDay)
		days = addMonths(days, int32(sign)*x.Months) + sign*int64(x.Days)
		if days > 100_000_000 || days < -100_000_000 {
			return nil, fmt.Errorf("timestamp out of range")
		}
		bld.UnsafeAppend(arrow.Timestamp(days*perDay + tod + sign*(x.Nanoseconds/nsPer)))
	}
	return bld.NewArray(), nil
}

// timestampDiff is x − y as an interval of days and microseconds (no
// months; both parts of the difference's sign), as DuckDB and PostgreSQL
// give it.
func timestampDiff(mem memory.Allocator, x, y *array.Timestamp) (arrow.Array, error) {
	perDay, nsPer := MicrosPerDay, int64(1000)
	if x.DataType().(*arrow.TimestampType).Unit == arrow.Nanosecond {
		perDay, nsPer = nanosPerDay, 1
	}
	bld := array.NewMonthDayNanoIntervalBuilder(mem)
	defer bld.Release()
	bld.Reserve(x.Len())
	for i := 0; i < x.Len(); i++ {
		if x.IsNull(i) || y.IsNull(i) {
			bld.UnsafeAppendBoolToBitmap(false)
			continue
		}
		d := int64(x.Value(i)) - int64(y.Value(i))
		bld.UnsafeAppend(arrow.MonthDayNanoInterval{Days: int32(d / perDay), Nanoseconds: d % perDay * nsPer})
	}
	return bld.NewArray(), nil
}

// comparisonTest is what a comparison op says of a three-way comparison's
// result c (<0, 0, >0); ok is false for other operators.
func comparisonTest(op kapotv1.BinaryOp) (test func(c int) bool, ok bool) {
	test, ok = map[kapotv1.BinaryOp]func(int) bool{
		kapotv1.BinaryOp_BINARY_OP_EQ:  func(c int) bool { return c == 0 },
		kapotv1.BinaryOp_BINARY_OP_NEQ: func(c int) bool { return c != 0 },
		kapotv1.BinaryOp_BINARY_OP_LT:  func(c int) bool { return c < 0 },
		kapotv1.BinaryOp_BINARY_OP_LTE: func(c int) bool { return c <= 0 },
		kapotv1.BinaryOp_BINARY_OP_GT:  func(c int) bool { return c > 0 },
		kapotv1.BinaryOp_BINARY_OP_GTE: func(c int) bool { return c >= 0 },
	}[op]
	return test, ok
}

// intervalCompare binds a comparison of two intervals; nil for other
// operands.
func intervalCompare(l Expr, op kapotv1.BinaryOp, r Expr) Expr {
	if l.DataType().ID() != arrow.INTERVAL_MONTH_DAY_NANO || r.DataType().ID() != arrow.INTERVAL_MONTH_DAY_NANO {
		return nil
	}
	test, ok := comparisonTest(op)
	if !ok {
		return nil
	}
	return &kernelExpr{display: binaryFuncs[op].display, infix: true, args: []Expr{l, r}, typ: arrow.FixedWidthTypes.Boolean,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			x, y := a[0].(*array.MonthDayNanoInterval), a[1].(*array.MonthDayNanoInterval)
			bld := array.NewBooleanBuilder(mem)
			defer bld.Release()
			bld.Reserve(x.Len())
			for i := 0; i < x.Len(); i++ {
				if x.IsNull(i) || y.IsNull(i) {
					bld.UnsafeAppendBoolToBitmap(false)
					continue
				}
				bld.UnsafeAppend(test(rowkey.CompareIntervals(x.Value(i), y.Value(i))))
			}
			return bld.NewArray(), nil
		}}
}

// divideInterval is x / k for an integer k as DuckDB gives it when the
// parts divide into whole days: a month's remainder carried as 30 days,
// a day's as 24 hours, microseconds rounded to the nearest; NULL for k = 0. A
// remainder of months that leaves a fraction of a day is refused (DuckDB
// rounds it in a way not reproduced here).
func divideInterval(x arrow.MonthDayNanoInterval, k int64) (arrow.MonthDayNanoInterval, bool, error) {
	if k == 0 {
		return x, false, nil
	}
	months, mrem := int64(x.Months)/k, int64(x.Months)%k
	if mrem*30%k != 0 {
		return x, false, fmt.Errorf("an interval of %d months divided by %d (a fraction of a day): %w", x.Months, k, errs.ErrNotSupported)
	}
	days := int64(x.Days) + mrem*30
	d, drem := days/k, days%k
	num := drem*MicrosPerDay + x.Nanoseconds/1000
	us := num / k
	if r := num % k; 2*abs64(r) >= abs64(k) { // to the nearest microsecond, halves away from zero
		if (num < 0) != (k < 0) {
			us--
		} else {
			us++
		}
	}
	return arrow.MonthDayNanoInterval{Months: int32(months), Days: int32(d), Nanoseconds: us * 1000}, true, nil
}

// AddIntervalMicros is a timestamp (microseconds since the epoch) plus an
// interval, as timestamp + interval computes it.
func AddIntervalMicros(us int64, iv arrow.MonthDayNanoInterval) (int64, error) {
	days, tod := floorDiv(us, MicrosPerDay), floorMod(us, MicrosPerDay)
	days = addMonths(days, iv.Months) + int64(iv.Days)
	if days > 100_000_000 || days < -100_000_000 {
		return 0, fmt.Errorf("timestamp out of range")
	}
	return days*MicrosPerDay + tod + iv.Nanoseconds/1000, nil
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// scaleInterval is x times an exact factor f as DuckDB gives it where no
// rounding is involved: the months' fraction as days (30 a month) whose
// own fraction is whole millionths of a day, the days' fraction as
// microseconds, each part toward zero. Where DuckDB would round (its
// arithmetic is in doubles), or both the months and the days leave a
// fraction of a day, it is refused.
func scaleInterval(x arrow.MonthDayNanoInterval, f *big.Rat) (arrow.MonthDayNanoInterval, error) {
	refuse := fmt.Errorf("an interval times %s that is not a whole number of microseconds: %w", f.FloatString(6), errs.ErrNotSupported)
	mul := func(v int64) *big.Rat { return new(big.Rat).Mul(f, new(big.Rat).SetInt64(v)) }
	split := func(r *big.Rat) (int64, *big.Rat, bool) {
		q := new(big.Int).Quo(r.Num(), r.Denom())
		if !q.IsInt64() {
			return 0, nil, false
		}
		return q.Int64(), new(big.Rat).Sub(r, new(big.Rat).SetInt(q)), true
	}
	whole := func(r *big.Rat) (int64, bool) {
		if !r.IsInt() || !r.Num().IsInt64() {
			return 0, false
		}
		return r.Num().Int64(), true
	}
	months, mfrac, ok1 := split(mul(int64(x.Months)))
	d1, dfrac1, ok2 := split(new(big.Rat).Mul(mfrac, big.NewRat(30, 1)))
	d2, dfrac2, ok3 := split(mul(int64(x.Days)))
	u1, ok4 := whole(new(big.Rat).Mul(dfrac1, big.NewRat(MicrosPerDay, 1)))
	_, ok5 := whole(new(big.Rat).Mul(dfrac1, big.NewRat(1_000_000, 1)))
	u2, ok6 := whole(new(big.Rat).Mul(dfrac2, big.NewRat(MicrosPerDay, 1)))
	u3, ok7 := whole(mul(x.Nanoseconds / 1000))
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || (dfrac1.Sign() != 0 && dfrac2.Sign() != 0) {
		return x, refuse
	}
	us := u1 + u2 + u3
	return checkedInterval(months, d1+d2, 0, 1, us*1000)
}
