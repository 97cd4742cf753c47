package engine

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine/expr"
)

// FormatRows renders every row of batches as values joined by sep.
func FormatRows(batches []arrow.RecordBatch, sep string) []string {
	var out []string
	vals := []string{}
	for _, b := range batches {
		for r := 0; r < int(b.NumRows()); r++ {
			vals = vals[:0]
			for _, c := range b.Columns() {
				vals = append(vals, expr.FormatValue(c, r))
			}
			out = append(out, strings.Join(vals, sep))
		}
	}
	return out
}
