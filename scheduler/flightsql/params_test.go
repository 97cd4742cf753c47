package flightsql

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestBindParams(t *testing.T) {
	for _, c := range []struct {
		sql  string
		lits []string
		want string
	}{
		{"select 1", nil, "select 1"},
		{"select * from t where a = ? and b = ?", []string{"1", "'x'"}, "select * from t where a = 1 and b = 'x'"},
		// ? glued to an operator is still a placeholder.
		{"select * from t where a=? and b<?", []string{"1", "2"}, "select * from t where a=1 and b<2"},
		{"select $2, $1, $2", []string{"'a'", "'b'"}, "select 'b', 'a', 'b'"},
		// Not in strings, dollar quotes, quoted names or comments.
		{"select '?', $$ $1 ? $$, \"?\" /* ? /* $1 */ */ -- ?\n, ?", []string{"7"}, "select '?', $$ $1 ? $$, \"?\" /* ? /* $1 */ */ -- ?\n, 7"},
		// A negative literal after a minus does not start a comment.
		{"select a-? from t", []string{"-5"}, "select a-(-5) from t"},
	} {
		got, err := bindParams(c.sql, c.lits)
		if err != nil || got != c.want {
			t.Errorf("%q %v: got %q, %v; want %q", c.sql, c.lits, got, err, c.want)
		}
	}
	for _, c := range []struct {
		sql  string
		lits []string
	}{
		{"select ?", nil},
		{"select ?", []string{"1", "2"}},
		{"select 'open ?", []string{"1"}},
		{"select $0", []string{"1"}},
	} {
		if got, err := bindParams(c.sql, c.lits); err == nil {
			t.Errorf("%q %v: bound as %q, want an error", c.sql, c.lits, got)
		}
	}
}

func TestSQLLiteral(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{-3, 0}, []bool{true, false})
	ints := ib.NewArray()
	defer ints.Release()
	ib.Release()
	sb := array.NewStringBuilder(mem)
	sb.Append("it's")
	strs := sb.NewArray()
	defer strs.Release()
	sb.Release()
	db := array.NewDate32Builder(mem)
	db.Append(arrow.Date32(9131)) // 1995-01-01
	dates := db.NewArray()
	defer dates.Release()
	db.Release()
	for _, c := range []struct {
		col  arrow.Array
		i    int
		want string
	}{{ints, 0, "-3"}, {ints, 1, "NULL"}, {strs, 0, "'it''s'"}, {dates, 0, "DATE '1995-01-01'"}} {
		got, err := sqlLiteral(c.col, c.i)
		if err != nil || got != c.want {
			t.Errorf("%s[%d]: got %q, %v; want %q", c.col.DataType(), c.i, got, err, c.want)
		}
	}
}
