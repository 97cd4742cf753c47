package expr

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/engine/kernel"
	"github.com/kapot-go/kapot/engine/rowkey"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// scalarFunction binds a call of a registered function: it checks the
// argument expressions and returns the bound expression.
type scalarFunction func(name string, args []Expr) (Expr, error)

// functions is the engine's registry of scalar functions by lower-case name.
// It is built once, by newFunctions, and never written.
var functions = newFunctions()

// newFunctions builds the registry from its families: these, the library
// (funclib.go), dates (funcdate.go), regular expressions (funcregex.go),
// nested values and timestamps (functime.go).
func newFunctions() map[string]scalarFunction {
	m := baseFunctions()
	addLibFunctions(m)
	addDateFunctions(m)
	addRegexFunctions(m)
	addNestedFunctions(m)
	addListMakers(m)
	addJSONFunctions(m)
	addTimeFunctions(m)
	return m
}

// baseFunctions are the first family: text, numbers, conditionals.
func baseFunctions() map[string]scalarFunction {
	return map[string]scalarFunction{
		"upper":            stringMap(upperText),
		"lower":            stringMap(strings.ToLower),
		"trim":             trimFunc(strings.Trim),
		"btrim":            trimFunc(strings.Trim),
		"ltrim":            trimFunc(strings.TrimLeft),
		"rtrim":            trimFunc(strings.TrimRight),
		"length":           lengthFunc,
		"char_length":      lengthFunc,
		"character_length": lengthFunc,
		"substring":        substringFunc,
		"substr":           substringFunc,
		"concat":           concatFunc,
		"coalesce":         coalesceFunc,
		"nullif":           nullifFunc,
		"abs":              arrowUnary("abs"),
		"round":            roundFunc,
		"date_part":        datePartFunc,
		"extract":          datePartFunc,
		SingleRowFunc:      singleRowFunc,
	}
}

// SingleRowFunc is the planner's check on an uncorrelated scalar
// subquery of any shape: $single_row(count(*), max(v)) over the
// subquery's rows is v, or fails when there were several rows (as
// PostgreSQL and DuckDB do: SQLSTATE 21000). SQL cannot name it.
const SingleRowFunc = "$single_row"

// errSeveralRows is the failure of SingleRowFunc.
var errSeveralRows = errs.New("more than one row returned by a subquery used as an expression", errs.ErrCardinality)

func singleRowFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	if args[0].DataType().ID() != arrow.INT64 {
		return nil, fmt.Errorf("argument 1 must be a row count, not %s: %w", args[0].DataType(), errs.ErrInvalidPlan)
	}
	return &kernelExpr{display: name, args: args, typ: args[1].DataType(),
		fn: func(_ context.Context, _ memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			counts := a[0].(*array.Int64)
			for i := 0; i < counts.Len(); i++ {
				if counts.IsValid(i) && counts.Value(i) > 1 {
					return nil, errSeveralRows
				}
			}
			a[1].Retain()
			return a[1], nil
		}}, nil
}

// FunctionNames lists the registered scalar functions SQL can call,
// sorted (not the planner's own, named with a leading $).
func FunctionNames() []string {
	out := make([]string, 0, len(functions))
	for n := range functions {
		if !strings.HasPrefix(n, "$") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func bindFunction(name string, args []Expr) (Expr, error) {
	f, ok := functions[strings.ToLower(name)]
	if !ok {
		if near := nearNames(strings.ToLower(name), FunctionNames()); len(near) > 0 {
			return nil, fmt.Errorf("function %s does not exist; did you mean %s?: %w", name, strings.Join(near, " or "), errs.ErrNotSupported)
		}
		return nil, fmt.Errorf("function %s does not exist (SHOW FUNCTIONS lists them): %w", name, errs.ErrNotSupported)
	}
	e, err := f(strings.ToLower(name), args)
	if err != nil {
		return nil, fmt.Errorf("%s(%s): %w", name, exprList(args), err)
	}
	return e, nil
}

func exprList(args []Expr) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = fmt.Sprintf("%s: %s", a, a.DataType())
	}
	return strings.Join(parts, ", ")
}

func wantArgs(args []Expr, lo, hi int) error {
	if len(args) < lo || len(args) > hi {
		if lo == hi {
			return fmt.Errorf("takes %d arguments, got %d: %w", lo, len(args), errs.ErrInvalidPlan)
		}
		return fmt.Errorf("takes %d to %d arguments, got %d: %w", lo, hi, len(args), errs.ErrInvalidPlan)
	}
	return nil
}

func isString(t arrow.DataType) bool { return t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING }

func isInteger(t arrow.DataType) bool { return arrow.IsInteger(t.ID()) }

// stringValues is the read side shared by String and LargeString arrays.
type stringValues interface {
	arrow.Array
	Value(int) string
}

// mapStrings applies f to every valid value of arr, building a string array
// of arr's type; nulls stay null.
func mapStrings(mem memory.Allocator, arr arrow.Array, f func(i int, s string) (string, bool)) arrow.Array {
	in := arr.(stringValues)
	bld := array.NewBuilder(mem, arr.DataType())
	defer bld.Release()
	bld.Reserve(arr.Len())
	put := func(s string) {
		switch b := bld.(type) {
		case *array.StringBuilder:
			b.Append(s)
		case *array.LargeStringBuilder:
			b.Append(s)
		}
	}
	for i := 0; i < arr.Len(); i++ {
		if in.IsNull(i) {
			bld.AppendNull()
			continue
		}
		if s, ok := f(i, in.Value(i)); ok {
			put(s)
		} else {
			bld.AppendNull()
		}
	}
	return bld.NewArray()
}

func stringMap(f func(string) string) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 1, 1); err != nil {
			return nil, err
		}
		if !isString(args[0].DataType()) {
			return nil, fmt.Errorf("argument must be a string: %w", errs.ErrInvalidPlan)
		}
		return &kernelExpr{display: name, args: args, typ: args[0].DataType(),
			fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				return mapStrings(mem, a[0], func(_ int, s string) (string, bool) { return f(s), true }), nil
			}}, nil
	}
}

// trimFunc trims spaces, or the characters of a literal second argument.
func trimFunc(f func(string, string) string) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 1, 2); err != nil {
			return nil, err
		}
		if !isString(args[0].DataType()) {
			return nil, fmt.Errorf("argument must be a string: %w", errs.ErrInvalidPlan)
		}
		cutset := " "
		if len(args) == 2 {
			s, ok := literalString(args[1])
			if !ok {
				return nil, fmt.Errorf("characters to trim must be a string literal: %w", errs.ErrNotSupported)
			}
			cutset = s
		}
		return &kernelExpr{display: name, args: args[:1], typ: args[0].DataType(),
			fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				return mapStrings(mem, a[0], func(_ int, s string) (string, bool) { return f(s, cutset), true }), nil
			}}, nil
	}
}

// literalString returns the value of a non-null string literal.
func literalString(e Expr) (string, bool) {
	l, ok := e.(*literalExpr)
	if !ok || !l.value.IsValid() {
		return "", false
	}
	switch s := l.value.(type) {
	case *scalar.String:
		return string(s.Data()), true
	case *scalar.LargeString:
		return string(s.Data()), true
	}
	return "", false
}

func lengthFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 1, 1); err != nil {
		return nil, err
	}
	if !isString(args[0].DataType()) {
		return nil, fmt.Errorf("argument must be a string: %w", errs.ErrInvalidPlan)
	}
	return &kernelExpr{display: name, args: args, typ: arrow.PrimitiveTypes.Int64,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			in := a[0].(stringValues)
			bld := array.NewInt64Builder(mem)
			defer bld.Release()
			bld.Reserve(in.Len())
			for i := 0; i < in.Len(); i++ {
				if in.IsNull(i) {
					bld.UnsafeAppendBoolToBitmap(false)
				} else {
					bld.UnsafeAppend(int64(utf8.RuneCountInString(in.Value(i))))
				}
			}
			return bld.NewArray(), nil
		}}, nil
}

// int64Values casts an integer array to int64 values (no copy when it is
// int64 already); the second result releases what the cast made.
func int64Values(ctx context.Context, mem memory.Allocator, arr arrow.Array) (*array.Int64, error) {
	if a, ok := arr.(*array.Int64); ok {
		a.Retain()
		return a, nil
	}
	out, err := compute.CastArray(ctx, arr, compute.SafeCastOptions(arrow.PrimitiveTypes.Int64))
	if err != nil {
		return nil, err
	}
	return out.(*array.Int64), nil
}

// substringFunc is SQL substring(s, start [, count]) over characters, with
// 1-based start; a start before 1 shortens the count as SQL requires.
func substringFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 3); err != nil {
		return nil, err
	}
	if !isString(args[0].DataType()) {
		return nil, fmt.Errorf("first argument must be a string: %w", errs.ErrInvalidPlan)
	}
	for _, a := range args[1:] {
		if !isInteger(a.DataType()) {
			return nil, fmt.Errorf("start and count must be integers: %w", errs.ErrInvalidPlan)
		}
	}
	if from, end, ok := constantSubstring(args); ok {
		// Constant bounds (substr(ca_zip, 1, 5), TPC-H Q22's
		// substring(c_phone, 1, 2)): no argument arrays, no call a row.
		return &kernelExpr{display: name, args: args[:1], shown: args, typ: args[0].DataType(),
			fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
				return substringConst(mem, a[0], from, end), nil
			}}, nil
	}
	return &kernelExpr{display: name, args: args, typ: args[0].DataType(),
		fn: func(ctx context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			start, err := int64Values(ctx, mem, a[1])
			if err != nil {
				return nil, err
			}
			defer start.Release()
			var count *array.Int64
			if len(a) == 3 {
				if count, err = int64Values(ctx, mem, a[2]); err != nil {
					return nil, err
				}
				defer count.Release()
			}
			return mapStrings(mem, a[0], func(i int, s string) (string, bool) {
				if start.IsNull(i) || (count != nil && count.IsNull(i)) {
					return "", false
				}
				from := start.Value(i) // 1-based
				end := int64(1) << 62
				if count != nil {
					c := count.Value(i)
					if c < 0 {
						return "", false
					}
					end = from + c
				}
				return substringRunes(s, from, end), true
			}), nil
		}}, nil
}

// constantSubstring reports whether substring's start and count are
// non-null integer constants (count >= 0), and the 1-based positions
// [from, end) they select.
func constantSubstring(args []Expr) (from, end int64, ok bool) {
	val := func(e Expr) (int64, bool) {
		l, isLit := e.(*literalExpr)
		if !isLit || !l.value.IsValid() {
			return 0, false
		}
		switch v := l.value.(type) {
		case *scalar.Int64:
			return v.Value, true
		case *scalar.Int32:
			return int64(v.Value), true
		case *scalar.Int16:
			return int64(v.Value), true
		case *scalar.Int8:
			return int64(v.Value), true
		}
		return 0, false
	}
	if from, ok = val(args[1]); !ok {
		return 0, 0, false
	}
	end = int64(1) << 62
	if len(args) == 3 {
		c, ok := val(args[2])
		if !ok || c < 0 || c > 1<<40 {
			return 0, 0, false
		}
		end = from + c
	}
	return from, end, true
}

// substringConst is substring over arr with constant positions [from, end).
func substringConst(mem memory.Allocator, arr arrow.Array, from, end int64) arrow.Array {
	if s, ok := arr.(*array.String); ok && from == 1 {
		if out := stringPrefixes(mem, s, end-1); out != nil {
			return out
		}
	}
	in := arr.(stringValues)
	bld := array.NewBuilder(mem, arr.DataType())
	defer bld.Release()
	bld.Reserve(arr.Len())
	sb, _ := bld.(*array.StringBuilder)
	lb, _ := bld.(*array.LargeStringBuilder)
	for i := 0; i < arr.Len(); i++ {
		if in.IsNull(i) {
			bld.AppendNull()
			continue
		}
		s := in.Value(i)
		var sub string
		if from == 1 && end-1 <= int64(len(s)) && isASCII(s[:end-1]) {
			sub = s[:end-1] // the first end-1 characters are as many bytes
		} else {
			sub = substringRunes(s, from, end)
		}
		if sb != nil {
			sb.Append(sub)
		} else {
			lb.Append(sub)
		}
	}
	return bld.NewArray()
}

// stringPrefixes is the first n characters of each value of s (n >= 0)
// written straight into the result's offsets and bytes, when every value
// begins with at least n ASCII bytes or is shorter and all ASCII (a
// character a byte); nil otherwise, for the rune by rune path (substring
// of ASCII codes and phone numbers: one copy a row instead of a
// builder's append).
func stringPrefixes(mem memory.Allocator, s *array.String, n int64) arrow.Array {
	if n < 0 || s.Len() == 0 {
		return nil
	}
	offs, data := s.ValueOffsets(), s.ValueBytes()
	base := offs[0]
	rows := s.Len()
	total := 0
	for i := range rows {
		v := data[offs[i]-base : offs[i+1]-base]
		k := min(int64(len(v)), n)
		if !isASCII(unsafe.String(unsafe.SliceData(v), k)) {
			return nil
		}
		total += int(k)
	}
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize((rows + 1) * arrow.Int32SizeBytes)
	defer offBuf.Release()
	dataBuf := memory.NewResizableBuffer(mem)
	dataBuf.Resize(total)
	defer dataBuf.Release()
	out := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())[:rows+1]
	dst := dataBuf.Bytes()
	pos := 0
	out[0] = 0
	for i := range rows {
		v := data[offs[i]-base : offs[i+1]-base]
		pos += copy(dst[pos:], v[:min(int64(len(v)), n)])
		out[i+1] = int32(pos)
	}
	var nulls *memory.Buffer
	if s.NullN() > 0 {
		nulls = memory.NewResizableBuffer(mem)
		defer nulls.Release()
		nulls.Resize(int(bitutil.BytesForBits(int64(rows))))
		bitutil.CopyBitmap(s.NullBitmapBytes(), s.Data().Offset(), rows, nulls.Bytes(), 0)
	}
	d := array.NewData(s.DataType(), rows, []*memory.Buffer{nulls, offBuf, dataBuf}, nil, s.NullN(), 0)
	defer d.Release()
	return array.NewStringData(d)
}

// isASCII reports whether s has only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// substringRunes returns the characters at 1-based positions [from, end).
func substringRunes(s string, from, end int64) string {
	if from < 1 {
		from = 1
	}
	if end <= from {
		return ""
	}
	pos := int64(1)
	startByte, endByte := len(s), len(s)
	for i := range s {
		if pos == from {
			startByte = i
		}
		if pos == end {
			endByte = i
			break
		}
		pos++
	}
	if startByte > endByte {
		return ""
	}
	return s[startByte:endByte]
}

// concatFunc joins its string arguments; null arguments count as empty
// (PostgreSQL's concat).
func concatFunc(name string, args []Expr) (Expr, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("takes at least one argument: %w", errs.ErrInvalidPlan)
	}
	for _, a := range args {
		if !isString(a.DataType()) {
			return nil, fmt.Errorf("arguments must be strings: %w", errs.ErrInvalidPlan)
		}
	}
	return &kernelExpr{display: name, args: args, typ: arrow.BinaryTypes.String,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			bld := array.NewStringBuilder(mem)
			defer bld.Release()
			var sb strings.Builder
			for i := 0; i < a[0].Len(); i++ {
				sb.Reset()
				for _, arr := range a {
					if arr.IsValid(i) {
						sb.WriteString(arr.(stringValues).Value(i))
					}
				}
				bld.Append(sb.String())
			}
			return bld.NewArray(), nil
		}}, nil
}

// coalesceFunc returns the first non-null argument; all arguments must have
// one type (the planner casts them).
func coalesceFunc(name string, args []Expr) (Expr, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("takes at least one argument: %w", errs.ErrInvalidPlan)
	}
	t, err := commonType(args)
	if err != nil {
		return nil, err
	}
	return &kernelExpr{display: name, args: args, typ: t,
		fn: func(ctx context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			n := a[0].Len()
			pick := make([]int64, n)
			for i := 0; i < n; i++ {
				pick[i] = -1
				for j, arr := range a {
					// A Null-typed array (an untyped NULL argument) has
					// no validity bitmap: IsValid says true for it.
					if arr.DataType().ID() != arrow.NULL && arr.IsValid(i) {
						pick[i] = int64(j*n + i)
						break
					}
				}
			}
			return pickRows(ctx, mem, t, a, pick)
		}}, nil
}

// nullifFunc is NULLIF(a, b): null where a = b, else a.
func nullifFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	var eq Expr = &funcExpr{name: "equal", args: args, typ: arrow.FixedWidthTypes.Boolean, display: "="}
	nested := IsNestedType(args[0].DataType()) && rowkey.SameOrderClass(args[0].DataType(), args[1].DataType())
	if !arrow.TypeEqual(args[0].DataType(), args[1].DataType()) && !nested {
		return nil, fmt.Errorf("arguments must have one type: %w", errs.ErrInvalidPlan)
	}
	if nested {
		// Nested values are equal in DuckDB's order (nestedCompare).
		var err error
		if eq, err = nestedCompare(args[0], kapotv1.BinaryOp_BINARY_OP_EQ, args[1]); err != nil {
			return nil, err
		}
	}
	return &caseExpr{whens: []Expr{eq}, thens: []Expr{&literalExpr{value: scalar.MakeNullScalar(args[0].DataType())}},
		els: args[0], typ: args[0].DataType()}, nil
}

// commonType checks that every argument has the same type (nulls aside).
func commonType(args []Expr) (arrow.DataType, error) {
	var t arrow.DataType
	for _, a := range args {
		if a.DataType().ID() == arrow.NULL {
			continue
		}
		if t == nil {
			t = a.DataType()
		} else if !arrow.TypeEqual(t, a.DataType()) {
			return nil, fmt.Errorf("arguments must have one type, got %s and %s: %w", t, a.DataType(), errs.ErrInvalidPlan)
		}
	}
	if t == nil {
		t = arrow.Null
	}
	return t, nil
}

// pickRows builds an array of type t whose row i is row pick[i] of the
// concatenation of arrs (all of the same length), or null when pick[i] < 0.
func pickRows(ctx context.Context, mem memory.Allocator, t arrow.DataType, arrs []arrow.Array, pick []int64) (arrow.Array, error) {
	cast := make([]arrow.Array, len(arrs))
	defer func() {
		for _, c := range cast {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, a := range arrs {
		if arrow.TypeEqual(a.DataType(), t) {
			a.Retain()
			cast[i] = a
			continue
		}
		cast[i] = array.MakeArrayOfNull(mem, t, a.Len()) // a null-typed argument
	}
	// One null row after the arguments' rows stands for "none".
	none := array.MakeArrayOfNull(mem, t, 1)
	cast = append(cast, none)
	all, err := array.Concatenate(cast, mem)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	nullRow := int32(all.Len() - 1)
	idx := make([]int32, len(pick))
	for i, p := range pick {
		if p < 0 {
			idx[i] = nullRow
		} else {
			idx[i] = int32(p)
		}
	}
	return kernel.Take(ctx, mem, all, idx)
}

// arrowUnary calls an Arrow compute function of one argument.
func arrowUnary(fn string) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 1, 1); err != nil {
			return nil, err
		}
		return bindArrowFunc(fn, name, args, nil)
	}
}

// bindArrowFunc binds a call of an Arrow compute function, resolving its
// result type (and rejecting argument types it cannot take) at plan time.
func bindArrowFunc(fn, display string, args []Expr, opts compute.FunctionOptions) (Expr, error) {
	typ, err := resolveCallType(fn, opts, args)
	if err != nil {
		return nil, err
	}
	return &funcExpr{name: fn, args: args, display: display, opts: opts, typ: typ}, nil
}

// resolveCallType returns the type of fn's result over args: known for
// the calls every filter is made of (knownCallType), else found by running
// fn over empty arrays of the argument types. Running it costs tens of
// microseconds a call (Arrow's dispatch, casts, allocations): a filter of
// 60 comparisons took milliseconds to bind in every task of a short query.
func resolveCallType(fn string, opts compute.FunctionOptions, args []Expr) (arrow.DataType, error) {
	if t, ok := knownCallType(fn, args); ok {
		return t, nil
	}
	return runCallType(fn, opts, args)
}

// knownCallType is the result type of Kleene AND and OR over booleans and
// of a comparison of two operands of one type that Arrow compares so
// (always boolean); ok is false for any other call. TestKnownCallType checks each
// against what Arrow answers.
func knownCallType(fn string, args []Expr) (arrow.DataType, bool) {
	if len(args) != 2 || !arrow.TypeEqual(args[0].DataType(), args[1].DataType()) {
		return nil, false
	}
	t := args[0].DataType()
	switch fn {
	case "and_kleene", "or_kleene":
		return arrow.FixedWidthTypes.Boolean, t.ID() == arrow.BOOL
	case "equal", "not_equal":
		return arrow.FixedWidthTypes.Boolean, t.ID() == arrow.BOOL || comparedByArrow(t)
	case "less", "less_equal", "greater", "greater_equal":
		return arrow.FixedWidthTypes.Boolean, comparedByArrow(t)
	}
	return nil, false
}

// comparedByArrow reports whether Arrow's comparison kernels order two
// operands of type t as they are (booleans they only test for equality).
func comparedByArrow(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64:
		return true
	}
	return false
}

// runCallType runs fn over empty arrays of the argument types and returns
// the type of the result.
func runCallType(fn string, opts compute.FunctionOptions, args []Expr) (arrow.DataType, error) {
	ds := make([]compute.Datum, len(args))
	for i, a := range args {
		arr := array.MakeArrayOfNull(memory.DefaultAllocator, a.DataType(), 0)
		ds[i] = compute.NewDatum(arr)
		arr.Release()
	}
	defer func() {
		for _, d := range ds {
			d.Release()
		}
	}()
	out, err := kernel.CallFunction(context.Background(), fn, opts, ds...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errs.ErrNotSupported, err)
	}
	defer out.Release()
	return out.(compute.ArrayLikeDatum).Type(), nil
}

// roundFunc is round(x [, digits]) with halves away from zero.
func roundFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 1, 2); err != nil {
		return nil, err
	}
	digits := int64(0)
	if len(args) == 2 {
		l, ok := args[1].(*literalExpr)
		if !ok || !l.value.IsValid() || !isInteger(l.value.DataType()) {
			return nil, fmt.Errorf("digits must be an integer literal: %w", errs.ErrNotSupported)
		}
		s, err := l.value.CastTo(arrow.PrimitiveTypes.Int64)
		if err != nil {
			return nil, err
		}
		digits = s.(*scalar.Int64).Value
	}
	if !arrow.IsFloating(args[0].DataType().ID()) && args[0].DataType().ID() != arrow.DECIMAL128 && !isInteger(args[0].DataType()) {
		return nil, fmt.Errorf("argument must be numeric: %w", errs.ErrInvalidPlan)
	}
	return bindArrowFunc("round", name, args[:1], &compute.RoundOptions{NDigits: digits, Mode: compute.RoundHalfTowardsInfinity})
}

// nearNames are the names within two edits of name (at most three,
// closest first), or sharing its first four letters.
func nearNames(name string, names []string) []string {
	type cand struct {
		n string
		d int
	}
	var cs []cand
	for _, n := range names {
		d := editDistance(name, n)
		if d <= 2 || (len(name) >= 4 && strings.HasPrefix(n, name[:4])) {
			cs = append(cs, cand{n, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for _, c := range cs[:min(len(cs), 3)] {
		out = append(out, c.n)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
