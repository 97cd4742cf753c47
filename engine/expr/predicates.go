package expr

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// likeMatcher reports whether s matches a compiled LIKE pattern.
type likeMatcher func(s string) bool

// compileLike turns a LIKE pattern into a matcher. Patterns without '_' (the
// usual case: 'abc%', '%abc', '%a%b%') match by prefix, suffix and ordered
// substring search; the rest go through a regular expression.
func compileLike(pattern string, escape rune, fold bool) (likeMatcher, error) {
	// Tokenize into literal runs separated by '%' and '_' wildcards.
	var (
		segs       []string // literal runs between '%'
		cur        strings.Builder
		re         strings.Builder
		underscore bool
		escaped    bool
	)
	re.WriteString(`(?s)^`)
	if fold {
		re.WriteString(`(?i)`)
	}
	for _, c := range pattern {
		switch {
		case escaped:
			cur.WriteRune(c)
			re.WriteString(regexp.QuoteMeta(string(c)))
			escaped = false
		case c == escape:
			escaped = true
		case c == '%':
			segs = append(segs, cur.String())
			cur.Reset()
			re.WriteString(`.*`)
		case c == '_':
			underscore = true
			cur.WriteRune(c)
			re.WriteString(`.`)
		default:
			cur.WriteRune(c)
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if escaped {
		return nil, fmt.Errorf("LIKE pattern %q ends with the escape character: %w", pattern, errs.ErrInvalidPlan)
	}
	segs = append(segs, cur.String())
	re.WriteString(`$`)
	if underscore {
		rx, err := regexp.Compile(re.String())
		if err != nil {
			return nil, fmt.Errorf("LIKE pattern %q: %w", pattern, err)
		}
		return rx.MatchString, nil
	}
	if fold {
		for i := range segs {
			segs[i] = strings.ToLower(segs[i])
		}
	}
	first, last := segs[0], segs[len(segs)-1]
	middle := segs[1:max(len(segs)-1, 1)]
	return func(s string) bool {
		if fold {
			s = strings.ToLower(s)
		}
		if len(segs) == 1 {
			return s == first
		}
		if !strings.HasPrefix(s, first) || !strings.HasSuffix(s[len(first):], last) {
			return false
		}
		rest := s[len(first) : len(s)-len(last)]
		for _, m := range middle {
			i := strings.Index(rest, m)
			if i < 0 {
				return false
			}
			rest = rest[i+len(m):]
		}
		return true
	}, nil
}

// newLikeExpr binds [NOT] LIKE / ILIKE with a literal pattern.
func newLikeExpr(in Expr, x *kapotv1.LikeExpr, pattern Expr) (Expr, error) {
	if !isString(in.DataType()) {
		return nil, fmt.Errorf("LIKE over %s: operand must be a string: %w", in.DataType(), errs.ErrInvalidPlan)
	}
	p, ok := literalString(pattern)
	if !ok {
		return nil, fmt.Errorf("LIKE pattern %s must be a non-null string literal: %w", pattern, errs.ErrNotSupported)
	}
	escape := '\\'
	if x.GetEscape() != "" {
		r, size := utf8.DecodeRuneInString(x.GetEscape())
		if size != len(x.GetEscape()) {
			return nil, fmt.Errorf("LIKE escape %q must be one character: %w", x.GetEscape(), errs.ErrInvalidPlan)
		}
		escape = r
	}
	match, err := compileLike(p, escape, x.GetCaseInsensitive())
	if err != nil {
		return nil, err
	}
	neg := x.GetNegated()
	display := "LIKE"
	if x.GetCaseInsensitive() {
		display = "ILIKE"
	}
	if neg {
		display = "NOT " + display
	}
	return &kernelExpr{display: display, infix: true, args: []Expr{in}, shown: []Expr{in, pattern}, typ: arrow.FixedWidthTypes.Boolean,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			if str, ok := a[0].(*array.String); ok {
				return likeStrings(mem, str, match, neg), nil
			}
			s := a[0].(stringValues)
			return boolKernel(mem, s.Len(), func(i int) (bool, bool) {
				if s.IsNull(i) {
					return false, false
				}
				return match(s.Value(i)) != neg, true
			}), nil
		}}, nil
}

// newInListExpr binds expr [NOT] IN (list) with SQL null semantics.
func newInListExpr(in Expr, list []Expr, negated bool) (Expr, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("IN list is empty: %w", errs.ErrInvalidPlan)
	}
	allLiteral := true
	for _, e := range list {
		if _, ok := e.(*literalExpr); !ok {
			allLiteral = false
		}
	}
	// Arrow's is_in gives wrong answers for booleans (true IN (false) is
	// true): a boolean IN list is a chain of equalities.
	// Intervals compare normalized (1 day = 24 hours), as is_in does not.
	if !allLiteral || in.DataType().ID() == arrow.BOOL || in.DataType().ID() == arrow.INTERVAL_MONTH_DAY_NANO {
		// x IN (a, b) ≡ x = a OR x = b, which already has SQL's null rules.
		var or Expr
		for _, e := range list {
			eq, err := newBinaryExpr(in, kapotv1.BinaryOp_BINARY_OP_EQ, e)
			if err != nil {
				return nil, fmt.Errorf("IN list: %w", err)
			}
			if or == nil {
				or = eq
			} else {
				or = &funcExpr{name: "or_kleene", args: []Expr{or, eq}, typ: arrow.FixedWidthTypes.Boolean, display: "OR"}
			}
		}
		if negated {
			return &funcExpr{name: "not", args: []Expr{or}, typ: arrow.FixedWidthTypes.Boolean, display: "NOT"}, nil
		}
		return or, nil
	}
	t := in.DataType()
	arrs := make([]arrow.Array, 0, len(list))
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for _, e := range list {
		v := e.(*literalExpr).value
		if !arrow.TypeEqual(v.DataType(), t) {
			c, err := v.CastTo(t)
			if err != nil {
				return nil, fmt.Errorf("IN list value %s does not convert to %s: %w", v, t, errs.ErrInvalidPlan)
			}
			v = c
		}
		a, err := scalar.MakeArrayFromScalar(v, 1, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		arrs = append(arrs, a)
	}
	set, err := array.Concatenate(arrs, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	display := "IN"
	if negated {
		display = "NOT IN"
	}
	e := &inListExpr{in: in, set: set, negated: negated, display: display, list: list}
	if set.NullN() == 0 {
		switch st := set.(type) {
		case *array.String:
			e.strs = map[string]struct{}{}
			for i := 0; i < st.Len(); i++ {
				e.strs[strings.Clone(st.Value(i))] = struct{}{}
			}
		default:
			if vals, ok := rowkey.IntValues(set); ok && arrow.IsSignedInteger(t.ID()) {
				e.ints = newIntSet(vals)
			}
		}
	}
	return e, nil
}

// inListExpr tests membership in a literal set: strings in a Go map,
// signed integers in an intSet (a bitmap when their range is narrow),
// other types with Arrow's is_in kernel.
type inListExpr struct {
	in      Expr
	set     arrow.Array // owned for the life of the plan
	list    []Expr
	negated bool
	display string
	// The set as Go values, when it has no nulls and is of strings (strs)
	// or signed integers (ints).
	strs map[string]struct{}
	ints *intSet
	// short is strs packed into integers when they are few and short
	// (see shortStrings), built on first use.
	short     *shortStrings
	shortOnce sync.Once
	// A set sent as values (newInSetExpr) has no list: lazy holds the
	// values until the first evaluation builds strs or ints and set from
	// them; setLen counts them, sample is the first few, setMin and setMax
	// bound them (nil when there are none).
	lazy           *inSetValues
	setLen         int
	sample         []Expr
	setMin, setMax Expr
}

func (e *inListExpr) DataType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (e *inListExpr) String() string {
	if e.list == nil {
		return fmt.Sprintf("%s %s (%s)", operand(e.in, precCompare, false), e.display, e.setText())
	}
	parts := make([]string, len(e.list))
	for i, l := range e.list {
		parts[i] = l.String()
	}
	return fmt.Sprintf("%s %s (%s)", operand(e.in, precCompare, false), e.display, strings.Join(parts, ", "))
}
func (e *inListExpr) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, e, mem, b)
}
func (e *inListExpr) evalDatum(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	if e.lazy != nil {
		e.lazy.once.Do(e.buildSet)
	}
	if e.strs != nil || e.ints != nil {
		mem := exec.GetAllocator(ctx)
		a, err := evalArg(ctx, e.in, mem, b)
		if err != nil {
			return nil, err
		}
		defer a.Release()
		if out := e.member(mem, a); out != nil {
			return compute.NewDatumWithoutOwning(out), nil
		}
		return e.isIn(ctx, compute.NewDatumWithoutOwning(a))
	}
	d, err := e.in.evalDatum(ctx, b)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return e.isIn(ctx, d)
}

// member tests each row of a against the set in Go: null stays null, and
// NOT IN flips the rest. It returns nil for a layout it does not handle.
func (e *inListExpr) member(mem memory.Allocator, a arrow.Array) arrow.Array {
	n := a.Len()
	var x *array.String
	var vals []int64
	switch xa := a.(type) {
	case *array.String:
		if e.strs == nil {
			return nil
		}
		x = xa
	default:
		var ok bool
		if vals, ok = rowkey.IntValues(a); !ok || e.ints == nil {
			return nil
		}
	}
	values := alloc.NewUninitBuffer(mem, int(bitutil.BytesForBits(int64(n))))
	bits := values.Bytes()
	clear(bits)
	if x == nil {
		e.ints.mark(vals, bits, e.negated)
		return boolsLike(mem, values, a)
	}
	e.shortOnce.Do(func() { e.short = newShortStrings(e.strs) })
	if e.short != nil {
		e.short.mark(x, bits, e.negated)
		return boolsLike(mem, values, a)
	}
	for i := range n {
		if _, hit := e.strs[x.Value(i)]; hit != e.negated {
			bitutil.SetBit(bits, i)
		}
	}
	return boolsLike(mem, values, a)
}

// likeStrings is [NOT] LIKE (match, negated when neg) over a string
// array: each value read in place, the answers set in a bitmap (null
// where s is).
func likeStrings(mem memory.Allocator, s *array.String, match likeMatcher, neg bool) arrow.Array {
	n := s.Len()
	values := alloc.NewUninitBuffer(mem, int(bitutil.BytesForBits(int64(n))))
	bits := values.Bytes()
	clear(bits)
	offs, data := s.ValueOffsets(), s.ValueBytes()
	base := offs[0]
	for i := range n {
		lo, hi := offs[i]-base, offs[i+1]-base
		v := ""
		if hi > lo {
			v = unsafe.String(&data[lo], hi-lo)
		}
		if match(v) != neg {
			bitutil.SetBit(bits, i)
		}
	}
	return boolsLike(mem, values, s)
}

// boolsLike makes the boolean array of values (a bitmap of a.Len() rows,
// which it takes over) that is null where a is.
func boolsLike(mem memory.Allocator, values *memory.Buffer, a arrow.Array) arrow.Array {
	n := a.Len()
	var valid *memory.Buffer
	if a.NullN() > 0 {
		valid = alloc.NewUninitBuffer(mem, int(bitutil.BytesForBits(int64(n))))
		bitutil.CopyBitmap(a.NullBitmapBytes(), a.Data().Offset(), n, valid.Bytes(), 0)
	}
	d := array.NewData(arrow.FixedWidthTypes.Boolean, n, []*memory.Buffer{valid, values}, nil, a.NullN(), 0)
	values.Release()
	if valid != nil {
		valid.Release()
	}
	defer d.Release()
	return array.MakeFromData(d)
}

// isIn runs Arrow's is_in kernel on d.
func (e *inListExpr) isIn(ctx context.Context, d compute.Datum) (compute.Datum, error) {
	// Arrow's is_in ignores the offset of a sliced decimal array (it
	// answers for the rows before the slice): such input is copied to
	// offset 0 first. A join's output is sliced.
	if ad, ok := d.(*compute.ArrayDatum); ok && ad.Value.Offset() != 0 {
		flat, err := copyArray(ctx, ad)
		if err != nil {
			return nil, err
		}
		defer flat.Release()
		d = compute.NewDatumWithoutOwning(flat)
	}
	out, err := compute.IsIn(kernel.Context(ctx), compute.SetOptions{ValueSet: compute.NewDatumWithoutOwning(e.set), NullBehavior: compute.NullMatchingInconclusive}, d)
	if err != nil || !e.negated {
		return out, err
	}
	defer out.Release()
	return kernel.CallFunction(ctx, "not", nil, out)
}

// newBetweenExpr binds expr [NOT] BETWEEN low AND high.
func newBetweenExpr(in, low, high Expr, negated bool) (Expr, error) {
	ge, err := newBinaryExpr(in, kapotv1.BinaryOp_BINARY_OP_GTE, low)
	if err != nil {
		return nil, fmt.Errorf("BETWEEN: %w", err)
	}
	le, err := newBinaryExpr(in, kapotv1.BinaryOp_BINARY_OP_LTE, high)
	if err != nil {
		return nil, fmt.Errorf("BETWEEN: %w", err)
	}
	var e Expr = &funcExpr{name: "and_kleene", args: []Expr{ge, le}, typ: arrow.FixedWidthTypes.Boolean, display: "AND"}
	if negated {
		e = &funcExpr{name: "not", args: []Expr{e}, typ: arrow.FixedWidthTypes.Boolean, display: "NOT"}
	}
	return e, nil
}

// newNegativeExpr binds -expr.
func newNegativeExpr(in Expr) (Expr, error) {
	t := in.DataType()
	if t.ID() == arrow.INTERVAL_MONTH_DAY_NANO {
		return &kernelExpr{display: "-", args: []Expr{in}, typ: t,
			fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				iv := a[0].(*array.MonthDayNanoInterval)
				bld := array.NewMonthDayNanoIntervalBuilder(mem)
				defer bld.Release()
				for i := 0; i < iv.Len(); i++ {
					if iv.IsNull(i) {
						bld.AppendNull()
						continue
					}
					v := iv.Value(i)
					bld.Append(arrow.MonthDayNanoInterval{Months: -v.Months, Days: -v.Days, Nanoseconds: -v.Nanoseconds})
				}
				return bld.NewArray(), nil
			}}, nil
	}
	if !arrow.IsInteger(t.ID()) && !arrow.IsFloating(t.ID()) && t.ID() != arrow.DECIMAL128 {
		return nil, fmt.Errorf("negation of %s: operand must be numeric: %w", t, errs.ErrInvalidPlan)
	}
	return bindArrowFunc("negate", "-", []Expr{in}, nil)
}

// decimalBinary binds arithmetic where one side is a decimal and the other a
// decimal or an integer; it returns nil for other operand types.
func decimalBinary(l Expr, op kapotv1.BinaryOp, r Expr) (Expr, error) {
	switch op {
	case kapotv1.BinaryOp_BINARY_OP_ADD, kapotv1.BinaryOp_BINARY_OP_SUB, kapotv1.BinaryOp_BINARY_OP_MUL:
	default:
		return nil, nil
	}
	if l.DataType().ID() != arrow.DECIMAL128 && r.DataType().ID() != arrow.DECIMAL128 {
		return nil, nil
	}
	lt, ok1 := decimalOperand(l.DataType())
	rt, ok2 := decimalOperand(r.DataType())
	if !ok1 || !ok2 {
		return nil, nil
	}
	out, err := decimalResultType(op, lt, rt)
	if err != nil {
		return nil, err
	}
	ka, kb := arithScales(op, lt, rt, out)
	// A constant operand (price * (1 - discount)) is converted once, not
	// materialized for every batch.
	if lit, ok := r.(*literalExpr); ok {
		if c, ok := decimalConstant(lit.value, kb); ok {
			return &kernelExpr{display: binaryFuncs[op].display, infix: true, args: []Expr{l}, shown: []Expr{l, r}, typ: out,
				fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
					v, err := decimalOperandValues(a[0], ka)
					if err != nil {
						return nil, err
					}
					return decimalCompute(mem, op, decimalSide{a[0], v}, decimalSide{nil, []decimal128.Num{c}}, a[0].Len(), lt, rt, out)
				}}, nil
		}
	}
	if lit, ok := l.(*literalExpr); ok {
		if c, ok := decimalConstant(lit.value, ka); ok {
			return &kernelExpr{display: binaryFuncs[op].display, infix: true, args: []Expr{r}, shown: []Expr{l, r}, typ: out,
				fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
					v, err := decimalOperandValues(a[0], kb)
					if err != nil {
						return nil, err
					}
					return decimalCompute(mem, op, decimalSide{nil, []decimal128.Num{c}}, decimalSide{a[0], v}, a[0].Len(), lt, rt, out)
				}}, nil
		}
	}
	return &kernelExpr{display: binaryFuncs[op].display, infix: true, args: []Expr{l, r}, typ: out,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			return decimalArith(mem, op, a[0], a[1], lt, rt, out)
		}}, nil
}

// newModExpr binds l % r: integers as int64, floats as float64, decimals at
// the larger scale. A zero divisor is an error.
func newModExpr(l, r Expr) (Expr, error) {
	lt, rt := l.DataType(), r.DataType()
	switch {
	case arrow.IsInteger(lt.ID()) && arrow.IsInteger(rt.ID()):
		return &kernelExpr{display: "%", infix: true, args: []Expr{l, r}, typ: arrow.PrimitiveTypes.Int64,
			fn: func(ctx context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				x, err := int64Values(ctx, mem, a[0])
				if err != nil {
					return nil, err
				}
				defer x.Release()
				y, err := int64Values(ctx, mem, a[1])
				if err != nil {
					return nil, err
				}
				defer y.Release()
				bld := array.NewInt64Builder(mem)
				defer bld.Release()
				for i := 0; i < x.Len(); i++ {
					if x.IsNull(i) || y.IsNull(i) {
						bld.AppendNull()
						continue
					}
					if y.Value(i) == 0 {
						return nil, fmt.Errorf("division by zero")
					}
					bld.Append(x.Value(i) % y.Value(i))
				}
				return bld.NewArray(), nil
			}}, nil
	case lt.ID() == arrow.DECIMAL128 || rt.ID() == arrow.DECIMAL128:
		ld, ok1 := decimalOperand(lt)
		rd, ok2 := decimalOperand(rt)
		if !ok1 || !ok2 {
			break
		}
		s := max(ld.Scale, rd.Scale)
		out := &arrow.Decimal128Type{Precision: min(max(ld.Precision-ld.Scale, rd.Precision-rd.Scale)+s, maxDecimalPrecision), Scale: s}
		return &kernelExpr{display: "%", infix: true, args: []Expr{l, r}, typ: out,
			fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				x, err := decimalValues(a[0])
				if err != nil {
					return nil, err
				}
				y, err := decimalValues(a[1])
				if err != nil {
					return nil, err
				}
				scaleUp(x, s-ld.Scale)
				scaleUp(y, s-rd.Scale)
				bld := array.NewDecimal128Builder(mem, out)
				defer bld.Release()
				for i := range x {
					if a[0].IsNull(i) || a[1].IsNull(i) {
						bld.AppendNull()
						continue
					}
					if y[i] == (decimal128.Num{}) {
						return nil, fmt.Errorf("division by zero")
					}
					_, rem := x[i].Div(y[i])
					bld.Append(rem)
				}
				return bld.NewArray(), nil
			}}, nil
	case (arrow.IsFloating(lt.ID()) || arrow.IsInteger(lt.ID())) && (arrow.IsFloating(rt.ID()) || arrow.IsInteger(rt.ID())):
		return &kernelExpr{display: "%", infix: true, args: []Expr{l, r}, typ: arrow.PrimitiveTypes.Float64,
			fn: func(ctx context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				x, err := compute.CastArray(ctx, a[0], compute.SafeCastOptions(arrow.PrimitiveTypes.Float64))
				if err != nil {
					return nil, err
				}
				defer x.Release()
				y, err := compute.CastArray(ctx, a[1], compute.SafeCastOptions(arrow.PrimitiveTypes.Float64))
				if err != nil {
					return nil, err
				}
				defer y.Release()
				xf, yf := x.(*array.Float64), y.(*array.Float64)
				bld := array.NewFloat64Builder(mem)
				defer bld.Release()
				for i := 0; i < xf.Len(); i++ {
					if xf.IsNull(i) || yf.IsNull(i) {
						bld.AppendNull()
						continue
					}
					bld.Append(math.Mod(xf.Value(i), yf.Value(i)))
				}
				return bld.NewArray(), nil
			}}, nil
	}
	return nil, fmt.Errorf("%s %% %s: operands must be numeric: %w", lt, rt, errs.ErrInvalidPlan)
}

// tryCast converts d to t, giving null for values that do not convert
// instead of failing the batch.
func tryCast(ctx context.Context, d compute.Datum, t arrow.DataType) (compute.Datum, error) {
	out, err := compute.CastDatum(ctx, d, compute.SafeCastOptions(t))
	if err == nil {
		return out, nil
	}
	ad, ok := d.(*compute.ArrayDatum)
	if !ok {
		if sd, ok := d.(*compute.ScalarDatum); ok {
			if c, err := sd.Value.CastTo(t); err == nil {
				return compute.NewDatum(c), nil
			}
			return compute.NewDatum(scalar.MakeNullScalar(t)), nil
		}
		return nil, err
	}
	// Convert row by row; only batches with a bad value take this path.
	arr := ad.MakeArray()
	defer arr.Release()
	mem := exec.GetAllocator(ctx)
	bld := array.NewBuilder(mem, t)
	defer bld.Release()
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			bld.AppendNull()
			continue
		}
		one := array.NewSlice(arr, int64(i), int64(i+1))
		c, err := compute.CastArray(ctx, one, compute.SafeCastOptions(t))
		one.Release()
		if err != nil {
			bld.AppendNull()
			continue
		}
		if err := rowkey.AppendFrom(bld, c, 0); err != nil {
			c.Release()
			return nil, err
		}
		c.Release()
	}
	res := bld.NewArray()
	defer res.Release()
	return compute.NewDatum(res), nil
}
