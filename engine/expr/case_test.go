package expr

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// CASE WHEN cond THEN column [ELSE NULL] END (masked: the column's buffers with a new
// validity) is the column where cond is true and NULL where it is false or
// NULL, for columns with and without nulls, strings, sliced batches.
func TestMaskedCase(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n = 70
	cb := array.NewBooleanBuilder(mem)
	ib := array.NewInt64Builder(mem)
	sb := array.NewStringBuilder(mem)
	for i := range n {
		switch i % 5 {
		case 0:
			cb.AppendNull()
		case 1, 3:
			cb.Append(true)
		default:
			cb.Append(false)
		}
		if i%7 == 2 {
			ib.AppendNull()
		} else {
			ib.Append(int64(i))
		}
		sb.Append(string(rune('a' + i%26)))
	}
	cols := []arrow.Array{cb.NewArray(), ib.NewArray(), sb.NewArray()}
	cb.Release()
	ib.Release()
	sb.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	whole := array.NewRecordBatch(schema, cols, n)
	for _, c := range cols {
		c.Release()
	}
	defer whole.Release()
	sliced := whole.NewSlice(13, 61)
	defer sliced.Release()
	cond := &columnExpr{index: 0, name: "c", typ: arrow.FixedWidthTypes.Boolean}
	for _, b := range []arrow.RecordBatch{whole, sliced} {
		for k := 1; k <= 2; k++ {
			x := &columnExpr{index: k, name: schema.Field(k).Name, typ: schema.Field(k).Type}
			for _, els := range []Expr{nil, &literalExpr{value: scalar.MakeNullScalar(x.typ)}, &castExpr{in: &literalExpr{value: scalar.MakeNullScalar(arrow.Null)}, to: x.typ}} {
				e := &caseExpr{whens: []Expr{cond}, thens: []Expr{x}, els: els, typ: x.typ}
				got, err := e.Eval(context.Background(), mem, b)
				if err != nil {
					t.Fatal(err)
				}
				c, v := b.Column(0).(*array.Boolean), b.Column(k)
				for i := range int(b.NumRows()) {
					take := c.IsValid(i) && c.Value(i) && v.IsValid(i)
					if got.IsValid(i) != take || take && got.ValueStr(i) != v.ValueStr(i) {
						t.Fatalf("%s row %d: %s (valid %v), want %s (valid %v)", schema.Field(k).Name, i, got.ValueStr(i), got.IsValid(i), v.ValueStr(i), take)
					}
				}
				if got.Len() != int(b.NumRows()) {
					t.Fatalf("%d rows, want %d", got.Len(), b.NumRows())
				}
				got.Release()
			}
		}
	}
}
