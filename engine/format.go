package engine

import (
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// FormatValue renders row i of arr as text (a copy: it outlives arr): NULL for nulls, dates as
// YYYY-MM-DD, decimals at their scale, floats in shortest round-trip form.
func FormatValue(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return "NULL"
	}
	switch a := arr.(type) {
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Date32:
		return a.Value(i).FormattedString()
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.String:
		return strings.Clone(a.Value(i))
	case *array.LargeString:
		return strings.Clone(a.Value(i))
	}
	// ValueStr of some types aliases the array's buffers: copy, the text
	// outlives the batch.
	return strings.Clone(arr.ValueStr(i))
}

// FormatRows renders every row of batches as values joined by sep.
func FormatRows(batches []arrow.RecordBatch, sep string) []string {
	var out []string
	vals := []string{}
	for _, b := range batches {
		for r := 0; r < int(b.NumRows()); r++ {
			vals = vals[:0]
			for _, c := range b.Columns() {
				vals = append(vals, FormatValue(c, r))
			}
			out = append(out, strings.Join(vals, sep))
		}
	}
	return out
}
