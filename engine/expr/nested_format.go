package expr

import (
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Nested values as text, as DuckDB 1.5 casts them to VARCHAR: a LIST as
// [1, 2, NULL], a STRUCT as {'a': 1, 'b': hello}, a MAP as {k=1, k2=2};
// strings inside unquoted unless they need quotes (nestedString), doubles
// with ".0" when whole (doubleText).

// nestedText writes row i (not null) of a LIST, MAP or STRUCT array.
func nestedText(arr arrow.Array, i int) string {
	var sb strings.Builder
	writeNested(&sb, arr, i)
	return sb.String()
}

// writeNested writes row i of arr as an element of a nested value.
func writeNested(sb *strings.Builder, arr arrow.Array, i int) {
	if arr.DataType().ID() == arrow.NULL || arr.IsNull(i) {
		sb.WriteString("NULL")
		return
	}
	switch a := arr.(type) {
	case *array.Map:
		lo, hi := a.ValueOffsets(i)
		keys, items := a.Keys(), a.Items()
		sb.WriteByte('{')
		for j := lo; j < hi; j++ {
			if j > lo {
				sb.WriteString(", ")
			}
			writeNested(sb, keys, int(j))
			sb.WriteByte('=')
			writeNested(sb, items, int(j))
		}
		sb.WriteByte('}')
	case *array.List:
		lo, hi := a.ValueOffsets(i)
		sb.WriteByte('[')
		for j := lo; j < hi; j++ {
			if j > lo {
				sb.WriteString(", ")
			}
			writeNested(sb, a.ListValues(), int(j))
		}
		sb.WriteByte(']')
	case *array.Struct:
		t := a.DataType().(*arrow.StructType)
		sb.WriteByte('{')
		for f := 0; f < a.NumField(); f++ {
			if f > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(quoteNested(t.Field(f).Name))
			sb.WriteString(": ")
			writeNested(sb, a.Field(f), i)
		}
		sb.WriteByte('}')
	case *array.String:
		sb.WriteString(nestedString(a.Value(i)))
	case *array.LargeString:
		sb.WriteString(nestedString(a.Value(i)))
	case *array.Float64:
		sb.WriteString(doubleText(a.Value(i)))
	case *array.Float32:
		sb.WriteString(doubleText(float64(a.Value(i))))
	case *array.Boolean:
		sb.WriteString(strconv.FormatBool(a.Value(i)))
	default:
		// Times and intervals too are quoted when their text holds a
		// delimiter ('2024-01-01 10:00:00', '02:00:00'), as DuckDB does.
		sb.WriteString(nestedString(FormatValue(arr, i)))
	}
}

// nestedString is a string inside a nested value: as it is, unless it is
// empty, starts or ends with white space, reads NULL (in any case) or
// holds one of the characters that delimit nested values; then quoted,
// with its quotes escaped by a backslash.
func nestedString(s string) string {
	if s == "" || strings.EqualFold(s, "null") || strings.ContainsAny(s, `"'(),:=[]{}`) ||
		isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return quoteNested(s)
	}
	return s
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// quoteNested quotes s as DuckDB quotes a string or a field name inside
// a nested value: in single quotes, a quote inside escaped as \'.
func quoteNested(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// AppendNestedText appends row i (not null) of a LIST, MAP or STRUCT
// array as DuckDB casts it to VARCHAR: the one text form of nested
// values, which the PostgreSQL endpoint sends too.
func AppendNestedText(buf []byte, arr arrow.Array, i int) []byte {
	return append(buf, nestedText(arr, i)...)
}
