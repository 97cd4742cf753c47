package flightsql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/kapot-go/kapot/planner"
)

// countParams is the number of parameters sql takes.
func countParams(sql string) (int, error) {
	n := 0
	err := planner.Placeholders(sql, func(_, _, k int) { n = max(n, k) })
	return n, err
}

// bindParams substitutes SQL literals for the placeholders of sql.
func bindParams(sql string, lits []string) (string, error) {
	want, err := countParams(sql)
	if err != nil {
		return "", err
	}
	if want != len(lits) {
		return "", fmt.Errorf("statement takes %d parameter(s), %d bound", want, len(lits))
	}
	if want == 0 {
		return sql, nil
	}
	var b strings.Builder
	last := 0
	planner.Placeholders(sql, func(start, end, n int) {
		b.WriteString(sql[last:start])
		lit := lits[n-1]
		if strings.HasPrefix(lit, "-") {
			// x-? bound to -5 must not read as x--5, a comment.
			lit = "(" + lit + ")"
		}
		b.WriteString(lit)
		last = end
	})
	b.WriteString(sql[last:])
	return b.String(), nil
}

// sqlLiteral renders row i of a parameter column as a SQL literal.
func sqlLiteral(col arrow.Array, i int) (string, error) {
	if col.IsNull(i) {
		return "NULL", nil
	}
	switch a := col.(type) {
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10), nil
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10), nil
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10), nil
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'f', -1, 32), nil
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'f', -1, 64), nil
	case *array.Boolean:
		if a.Value(i) {
			return "TRUE", nil
		}
		return "FALSE", nil
	case *array.String:
		return quote(a.Value(i)), nil
	case *array.LargeString:
		return quote(a.Value(i)), nil
	case *array.Date32:
		return "DATE '" + a.Value(i).FormattedString() + "'", nil
	case *array.Date64:
		return "DATE '" + a.Value(i).FormattedString() + "'", nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return "TIMESTAMP '" + a.Value(i).ToTime(unit).UTC().Format(time.DateTime+".999999") + "'", nil
	case *array.Decimal128:
		return a.ValueStr(i), nil
	}
	return "", fmt.Errorf("type %s cannot be a parameter", col.DataType())
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
