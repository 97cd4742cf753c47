package oracle

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SameRows compares rows in order, field by field: equal text, or numbers
// within 1e-9 relative (DuckDB divides decimals in double precision, as
// kapot does, but may sum floats in another order).
func SameRows(got, want []string) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d rows, DuckDB has %d", len(got), len(want))
	}
	for i := range got {
		g, w := strings.Split(got[i], "|"), strings.Split(want[i], "|")
		if len(g) != len(w) {
			return fmt.Errorf("row %d: %d columns, DuckDB has %d", i, len(g), len(w))
		}
		for j := range g {
			if g[j] == w[j] {
				continue
			}
			x, err1 := strconv.ParseFloat(g[j], 64)
			y, err2 := strconv.ParseFloat(w[j], 64)
			if err1 == nil && err2 == nil && math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y)) {
				continue
			}
			return fmt.Errorf("row %d column %d: %q, DuckDB has %q", i, j, g[j], w[j])
		}
	}
	return nil
}
