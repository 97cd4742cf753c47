package expr

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/kapot-go/kapot/errs"
)

// The function library beyond the first registry (functions.go): math,
// string and date functions under PostgreSQL's and DuckDB's names, with
// DuckDB's results (the tests' oracle), added to the registry by
// addLibFunctions.

// addLibFunctions adds the library to the registry functions.
func addLibFunctions(functions map[string]scalarFunction) {
	for name, f := range map[string]scalarFunction{
		// Math.
		"ceil":    roundingFunc("ceil", compute.RoundUp),
		"ceiling": roundingFunc("ceil", compute.RoundUp),
		"floor":   roundingFunc("floor", compute.RoundDown),
		"trunc":   roundingFunc("trunc", compute.RoundTowardsZero),
		"sqrt":    checkedFloat("sqrt"),
		"ln":      checkedFloat("ln"),
		"log10":   checkedFloat("log10"),
		"log":     checkedFloat("log10"),
		"log2":    checkedFloat("log2"),
		"sin":     checkedFloat("sin"),
		"cos":     checkedFloat("cos"),
		"tan":     checkedFloat("tan"),
		"asin":    checkedFloat("asin"),
		"acos":    checkedFloat("acos"),
		"atan":    checkedFloat("atan"),
		"exp":     floatMap(math.Exp),
		"cbrt":    floatMap(math.Cbrt),
		"degrees": floatMap(func(x float64) float64 { return x * 180 / math.Pi }),
		"radians": floatMap(func(x float64) float64 { return x * math.Pi / 180 }),
		"power":   powerFunc,
		"pow":     powerFunc,
		"atan2":   atan2Func,
		"pi":      piFunc,
		"sign":    signFunc,
		// Text.
		"replace": textFunc([]argKind{argText, argText, argText}, 3, 3, func(v []any) (any, error) {
			return strings.ReplaceAll(v[0].(string), v[1].(string), v[2].(string)), nil
		}),
		"left":        textFunc([]argKind{argText, argInt}, 2, 2, func(v []any) (any, error) { return leftRunes(v[0].(string), v[1].(int64)), nil }),
		"right":       textFunc([]argKind{argText, argInt}, 2, 2, func(v []any) (any, error) { return rightRunes(v[0].(string), v[1].(int64)), nil }),
		"lpad":        padFunc(true),
		"rpad":        padFunc(false),
		"repeat":      textFunc([]argKind{argText, argInt}, 2, 2, repeatText),
		"reverse":     textFunc([]argKind{argText}, 1, 1, func(v []any) (any, error) { return reverseRunes(v[0].(string)), nil }),
		"initcap":     textFunc([]argKind{argText}, 1, 1, func(v []any) (any, error) { return initcap(v[0].(string)), nil }),
		"split_part":  textFunc([]argKind{argText, argText, argInt}, 3, 3, splitPart),
		"translate":   textFunc([]argKind{argText, argText, argText}, 3, 3, translate),
		"md5":         textFunc([]argKind{argText}, 1, 1, func(v []any) (any, error) { s := md5.Sum([]byte(v[0].(string))); return hex.EncodeToString(s[:]), nil }),
		"chr":         textFunc([]argKind{argInt}, 1, 1, chr),
		"concat_ws":   concatWS,
		"textcat":     textcatFunc,
		"strpos":      intFunc([]argKind{argText, argText}, 2, func(v []any) (any, error) { return strpos(v[0].(string), v[1].(string)), nil }),
		"instr":       intFunc([]argKind{argText, argText}, 2, func(v []any) (any, error) { return strpos(v[0].(string), v[1].(string)), nil }),
		"ascii":       intFunc([]argKind{argText}, 1, asciiOf),
		"starts_with": boolFunc(func(v []any) (any, error) { return strings.HasPrefix(v[0].(string), v[1].(string)), nil }),
		"ends_with":   boolFunc(func(v []any) (any, error) { return strings.HasSuffix(v[0].(string), v[1].(string)), nil }),
		"contains":    boolFunc(func(v []any) (any, error) { return strings.Contains(v[0].(string), v[1].(string)), nil }),
	} {
		functions[name] = f
	}
}

// roundingFunc is ceil, floor or trunc: integers are returned as they are,
// floating point and decimal values rounded to a whole number in their own
// type.
func roundingFunc(fn string, mode compute.RoundMode) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 1, 1); err != nil {
			return nil, err
		}
		t := args[0].DataType()
		switch {
		case isInteger(t):
			return args[0], nil
		case arrow.IsFloating(t.ID()):
			return bindArrowFunc(fn, name, args, nil)
		case t.ID() == arrow.DECIMAL128:
			return decimalWhole(name, args[0], mode), nil
		}
		return nil, fmt.Errorf("argument must be numeric, not %s: %w", t, errs.ErrInvalidPlan)
	}
}

// decimalWhole is floor, ceil or trunc of a decimal: a whole number of
// scale 0 with one more integer digit (9.5 → 10, -0.5 → -1). Arrow's round
// with RoundDown/RoundUp never steps from a truncated 0 (floor(-0.5) was
// 0) and refuses decimal(3, 3), whose type cannot hold a 1; the quotient
// and remainder by 10^scale are exact.
func decimalWhole(name string, arg Expr, mode compute.RoundMode) Expr {
	d := arg.DataType().(*arrow.Decimal128Type)
	out := &arrow.Decimal128Type{Precision: min(d.Precision-d.Scale+1, maxDecimalPrecision), Scale: 0}
	return &kernelExpr{display: name, args: []Expr{arg}, typ: out,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			return mapDecimals(mem, a[0].(*array.Decimal128), out, func(v decimal128.Num) (decimal128.Num, bool, error) {
				return wholeDecimal(v, d.Scale, mode), true, nil
			})
		}}
}

// wholeDecimal rounds v, of scale s, to a whole number (scale 0): down
// (floor), up (ceil) or towards zero (trunc).
func wholeDecimal(v decimal128.Num, s int32, mode compute.RoundMode) decimal128.Num {
	if s == 0 {
		return v
	}
	var q, r decimal128.Num
	if fitsInt64(v) && s <= 18 {
		m := int64(1)
		for range s {
			m *= 10
		}
		x := int64(v.LowBits())
		q, r = decimal128.FromI64(x/m), decimal128.FromI64(x%m)
	} else {
		q, r = v.Div(pow10[s])
	}
	switch {
	case mode == compute.RoundDown && r.Sign() < 0:
		q = q.Sub(decimal128.FromI64(1))
	case mode == compute.RoundUp && r.Sign() > 0:
		q = q.Add(decimal128.FromI64(1))
	}
	return q
}

// asFloat64 casts a numeric argument to DOUBLE.
func asFloat64(e Expr) (Expr, error) {
	t := e.DataType()
	switch {
	case t.ID() == arrow.FLOAT64:
		return e, nil
	case isInteger(t) || arrow.IsFloating(t.ID()) || t.ID() == arrow.DECIMAL128 || t.ID() == arrow.NULL:
		return &castExpr{in: e, to: arrow.PrimitiveTypes.Float64}, nil
	}
	return nil, fmt.Errorf("argument must be numeric, not %s: %w", t, errs.ErrInvalidPlan)
}

// checkedFloat is an Arrow function of one DOUBLE argument that fails on
// values outside its domain (sqrt of a negative number, ln of 0), as
// DuckDB and PostgreSQL do.
func checkedFloat(fn string) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 1, 1); err != nil {
			return nil, err
		}
		x, err := asFloat64(args[0])
		if err != nil {
			return nil, err
		}
		return bindArrowFunc(fn, name, []Expr{x}, nil)
	}
}

// floatMap is f over one DOUBLE argument.
func floatMap(f func(float64) float64) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 1, 1); err != nil {
			return nil, err
		}
		return rowFunc(name, args, []argKind{argFloat}, arrow.PrimitiveTypes.Float64, func(v []any) (any, error) { return f(v[0].(float64)), nil })
	}
}

func powerFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	return rowFunc(name, args, []argKind{argFloat}, arrow.PrimitiveTypes.Float64, func(v []any) (any, error) {
		return math.Pow(v[0].(float64), v[1].(float64)), nil
	})
}

func atan2Func(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	return rowFunc(name, args, []argKind{argFloat}, arrow.PrimitiveTypes.Float64, func(v []any) (any, error) {
		return math.Atan2(v[0].(float64), v[1].(float64)), nil
	})
}

func piFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 0, 0); err != nil {
		return nil, err
	}
	return &literalExpr{value: scalar.NewFloat64Scalar(math.Pi)}, nil
}

// signFunc is -1, 0 or 1 (DuckDB gives a TINYINT; here a BIGINT).
func signFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 1, 1); err != nil {
		return nil, err
	}
	return rowFunc(name, args, []argKind{argFloat}, arrow.PrimitiveTypes.Int64, func(v []any) (any, error) {
		x := v[0].(float64)
		switch {
		case x > 0:
			return int64(1), nil
		case x < 0:
			return int64(-1), nil
		}
		return int64(0), nil
	})
}

// textFunc is a function returning text, of lo to hi arguments of kinds.
func textFunc(kinds []argKind, lo, hi int, f func(v []any) (any, error)) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, lo, hi); err != nil {
			return nil, err
		}
		return rowFunc(name, args, kinds, arrow.BinaryTypes.String, f)
	}
}

func intFunc(kinds []argKind, n int, f func(v []any) (any, error)) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, n, n); err != nil {
			return nil, err
		}
		return rowFunc(name, args, kinds, arrow.PrimitiveTypes.Int64, f)
	}
}

// boolFunc is a predicate of two text arguments.
func boolFunc(f func(v []any) (any, error)) scalarFunction {
	return func(name string, args []Expr) (Expr, error) {
		if err := wantArgs(args, 2, 2); err != nil {
			return nil, err
		}
		return rowFunc(name, args, []argKind{argText, argText}, arrow.FixedWidthTypes.Boolean, f)
	}
}

// leftRunes is the first n characters; a negative n drops the last -n.
func leftRunes(s string, n int64) string {
	r := []rune(s)
	if n < 0 {
		n = max(int64(len(r))+n, 0)
	}
	return string(r[:min(n, int64(len(r)))])
}

// rightRunes is the last n characters; a negative n drops the first -n.
func rightRunes(s string, n int64) string {
	r := []rune(s)
	if n < 0 {
		n = max(int64(len(r))+n, 0)
	}
	n = min(n, int64(len(r)))
	return string(r[int64(len(r))-n:])
}

func reverseRunes(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// MaxTextResult bounds the text repeat and pad may build (1 GiB would end
// the process; a query may not).
const MaxTextResult = 16 << 20

var errTextTooLong = errors.New("result longer than 16 MiB")

func repeatText(v []any) (any, error) {
	s, n := v[0].(string), v[1].(int64)
	if n <= 0 || s == "" {
		return "", nil
	}
	if int64(len(s))*n > MaxTextResult {
		return nil, errTextTooLong
	}
	return strings.Repeat(s, int(n)), nil
}

// padFunc is lpad/rpad(s, n [, fill]): s cut or filled to n characters.
func padFunc(left bool) scalarFunction {
	return textFunc([]argKind{argText, argInt, argText}, 2, 3, func(v []any) (any, error) {
		s, n := []rune(v[0].(string)), v[1].(int64)
		fill := []rune(" ")
		if len(v) == 3 {
			fill = []rune(v[2].(string))
		}
		if n <= 0 {
			return "", nil
		}
		if n > MaxTextResult {
			return nil, errTextTooLong
		}
		if int64(len(s)) >= n {
			return string(s[:n]), nil
		}
		if len(fill) == 0 {
			return string(s), nil
		}
		pad := make([]rune, 0, n-int64(len(s)))
		for i := 0; int64(len(pad)) < n-int64(len(s)); i++ {
			pad = append(pad, fill[i%len(fill)])
		}
		if left {
			return string(pad) + string(s), nil
		}
		return string(s) + string(pad), nil
	})
}

// initcap upper-cases the first letter of each word (runs of letters and
// digits) and lower-cases the rest, as PostgreSQL does.
func initcap(s string) string {
	var sb strings.Builder
	inWord := false
	for _, r := range s {
		alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
		switch {
		case alnum && !inWord:
			sb.WriteRune(unicode.ToUpper(r))
		case alnum:
			sb.WriteRune(unicode.ToLower(r))
		default:
			sb.WriteRune(r)
		}
		inWord = alnum
	}
	return sb.String()
}

// splitPart is split_part(s, sep, n): the n-th field (1-based; negative
// counts from the end), "" beyond the fields.
func splitPart(v []any) (any, error) {
	s, sep, n := v[0].(string), v[1].(string), v[2].(int64)
	if n == 0 {
		return nil, errors.New("field position must not be zero")
	}
	var parts []string
	if sep == "" {
		parts = []string{s}
	} else {
		parts = strings.Split(s, sep)
	}
	if n < 0 {
		n += int64(len(parts)) + 1
	}
	if n < 1 || n > int64(len(parts)) {
		return "", nil
	}
	return parts[n-1], nil
}

// translate replaces each character of from by the one at the same place
// in to, dropping those beyond to's length.
func translate(v []any) (any, error) {
	from, to := []rune(v[1].(string)), []rune(v[2].(string))
	m := map[rune]int{}
	for i, r := range from {
		if _, ok := m[r]; !ok {
			m[r] = i
		}
	}
	var sb strings.Builder
	for _, r := range v[0].(string) {
		i, ok := m[r]
		switch {
		case !ok:
			sb.WriteRune(r)
		case i < len(to):
			sb.WriteRune(to[i])
		}
	}
	return sb.String(), nil
}

func chr(v []any) (any, error) {
	c := v[0].(int64)
	if c <= 0 || c > unicode.MaxRune || !utf8.ValidRune(rune(c)) {
		return nil, fmt.Errorf("character code %d out of range", c)
	}
	return string(rune(c)), nil
}

// strpos is the 1-based character position of sub in s, 0 when absent.
func strpos(s, sub string) int64 {
	i := strings.Index(s, sub)
	if i < 0 {
		return 0
	}
	return int64(utf8.RuneCountInString(s[:i])) + 1
}

func asciiOf(v []any) (any, error) {
	s := v[0].(string)
	if s == "" {
		return int64(0), nil
	}
	r, _ := utf8.DecodeRuneInString(s)
	return int64(r), nil
}

// concatWS is concat_ws(sep, a, b, …): the non-NULL arguments joined by
// sep; NULL only when sep is.
func concatWS(name string, args []Expr) (Expr, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("takes a separator and at least one value: %w", errs.ErrInvalidPlan)
	}
	for i, a := range args {
		if !argText.accepts(a.DataType()) {
			return nil, fmt.Errorf("argument %d must be text, not %s: %w", i+1, a.DataType(), errs.ErrInvalidPlan)
		}
	}
	return &kernelExpr{display: name, args: args, typ: arrow.BinaryTypes.String,
		fn: func(_ context.Context, mem memory.Allocator, a []arrow.Array) (arrow.Array, error) {
			bld := array.NewStringBuilder(mem)
			defer bld.Release()
			var parts []string
			for r := 0; r < a[0].Len(); r++ {
				if a[0].DataType().ID() == arrow.NULL || a[0].IsNull(r) {
					bld.AppendNull()
					continue
				}
				parts = parts[:0]
				for _, arr := range a[1:] {
					if arr.DataType().ID() != arrow.NULL && arr.IsValid(r) {
						parts = append(parts, arr.(stringValues).Value(r))
					}
				}
				bld.Append(strings.Join(parts, a[0].(stringValues).Value(r)))
			}
			return bld.NewArray(), nil
		}}, nil
}

// textcatFunc is the || operator on text: NULL when either side is (unlike
// concat, which skips NULLs).
func textcatFunc(name string, args []Expr) (Expr, error) {
	if err := wantArgs(args, 2, 2); err != nil {
		return nil, err
	}
	e, err := rowFunc("||", args, []argKind{argText, argText}, arrow.BinaryTypes.String, func(v []any) (any, error) {
		if s := len(v[0].(string)) + len(v[1].(string)); s > MaxTextResult {
			return nil, errTextTooLong
		}
		return v[0].(string) + v[1].(string), nil
	})
	if k, ok := e.(*kernelExpr); ok {
		k.infix = true
	}
	return e, err
}

// upperText is strings.ToUpper with ß as ẞ (U+1E9E), as DuckDB's upper
// (Unicode's simple case mapping has no capital for ß).
func upperText(s string) string {
	u := strings.ToUpper(s)
	if strings.Contains(u, "ß") {
		u = strings.ReplaceAll(u, "ß", "ẞ")
	}
	return u
}
