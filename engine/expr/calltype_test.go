package expr

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// TestKnownCallType checks the types resolveCallType answers without
// running Arrow against what running Arrow answers, for every type
// comparedByArrow lists, and that the calls it does not know (mixed
// operand types, other functions, types it leaves out) go to Arrow.
func TestKnownCallType(t *testing.T) {
	types := []arrow.DataType{
		arrow.FixedWidthTypes.Boolean, arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16,
		arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint8,
		arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64, arrow.BinaryTypes.String,
		arrow.BinaryTypes.LargeString, arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary,
		arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64, &arrow.TimestampType{Unit: arrow.Microsecond},
		&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, arrow.FixedWidthTypes.Time32ms,
		arrow.FixedWidthTypes.Time64us,
	}
	fns := []string{"equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "and_kleene", "or_kleene"}
	col := func(t arrow.DataType) Expr { return &columnExpr{name: "c", typ: t} }
	for _, typ := range types {
		args := []Expr{col(typ), col(typ)}
		for _, fn := range fns {
			known, ok := knownCallType(fn, args)
			ran, err := runCallType(fn, nil, args)
			if !ok {
				if typ.ID() != arrow.BOOL && (fn == "and_kleene" || fn == "or_kleene") ||
					typ.ID() == arrow.BOOL && fn != "equal" && fn != "not_equal" && fn != "and_kleene" && fn != "or_kleene" {
					continue
				}
				t.Errorf("%s(%s, %s): not known", fn, typ, typ)
				continue
			}
			if err != nil || !arrow.TypeEqual(known, ran) {
				t.Errorf("%s(%s, %s): known %s, Arrow %v (%v)", fn, typ, typ, known, ran, err)
			}
		}
	}
	for _, c := range []struct {
		fn   string
		args []Expr
	}{
		{"equal", []Expr{col(arrow.PrimitiveTypes.Int32), col(arrow.PrimitiveTypes.Int64)}},
		{"equal", []Expr{col(&arrow.TimestampType{Unit: arrow.Microsecond}), col(&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"})}},
		{"less", []Expr{col(arrow.FixedWidthTypes.Boolean), col(arrow.FixedWidthTypes.Boolean)}},
		{"equal", []Expr{col(&arrow.Decimal128Type{Precision: 10, Scale: 2}), col(&arrow.Decimal128Type{Precision: 10, Scale: 2})}},
		{"equal", []Expr{col(arrow.FixedWidthTypes.MonthDayNanoInterval), col(arrow.FixedWidthTypes.MonthDayNanoInterval)}},
		{"add", []Expr{col(arrow.PrimitiveTypes.Int64), col(arrow.PrimitiveTypes.Int64)}},
		{"and_kleene", []Expr{col(arrow.PrimitiveTypes.Int64), col(arrow.PrimitiveTypes.Int64)}},
		{"less", []Expr{col(arrow.PrimitiveTypes.Int64)}},
	} {
		if typ, ok := knownCallType(c.fn, c.args); ok {
			t.Errorf("%s over %d args: known as %s, want Arrow to answer", c.fn, len(c.args), typ)
		}
	}
}
