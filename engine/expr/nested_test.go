package expr

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestNestedFunctionsOverSlices evaluates the functions of nested values
// over a batch sliced at an offset (as LIMIT … OFFSET and joins hand them
// on), with a checked, poisoning allocator: values, NULLs of the parent
// and of the child, and no leak.
func TestNestedFunctionsOverSlices(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	st := arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, arrow.Field{Name: "B", Type: arrow.BinaryTypes.String, Nullable: true})
	lt := arrow.ListOf(arrow.PrimitiveTypes.Int64)
	mt := arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64)
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: st, Nullable: true}, {Name: "l", Type: lt, Nullable: true},
		{Name: "m", Type: mt, Nullable: true}, {Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	col := func(t arrow.DataType, js string) arrow.Array {
		a, _, err := array.FromJSON(mem, t, strings.NewReader(js))
		if err != nil {
			panic(err)
		}
		return a
	}
	cols := []arrow.Array{
		col(st, `[{"a": 9, "B": "skip"}, {"a": 1, "B": "x"}, null, {"a": null, "B": "y"}, {"a": 4, "B": null}]`),
		col(lt, `[[9], [1, 2, 3], null, [], [null, 5]]`),
		col(mt, `[[{"key": "k", "value": 9}], [{"key": "k", "value": 1}, {"key": "j", "value": 2}], null, [], [{"key": "j", "value": null}]]`),
		col(arrow.PrimitiveTypes.Int64, `[0, 2, 1, 1, -1]`),
	}
	whole := array.NewRecordBatch(schema, cols, 5)
	for _, c := range cols {
		c.Release()
	}
	defer whole.Release()
	b := whole.NewSlice(1, 5)
	defer b.Release()
	for _, c := range []struct {
		e    *kapotv1.PhysicalExprNode
		want string
	}{
		{wiretest.Fn("struct_extract", wiretest.Col("s"), wiretest.Str("a")), "[1 (null) (null) 4]"},
		{wiretest.Fn("struct_extract", wiretest.Col("s"), wiretest.Str("b")), `["x" (null) "y" (null)]`},
		{wiretest.Fn("list_element", wiretest.Col("l"), wiretest.Col("i")), "[2 (null) (null) 5]"},
		{wiretest.Fn("list_element", wiretest.Col("l"), wiretest.I64(-3)), "[1 (null) (null) (null)]"},
		{wiretest.Fn("len", wiretest.Col("l")), "[3 (null) 0 2]"},
		{wiretest.Fn("list_contains", wiretest.Col("l"), wiretest.I64(5)), "[false (null) false true]"},
		{wiretest.Fn("map_extract_value", wiretest.Col("m"), wiretest.Str("j")), "[2 (null) (null) (null)]"},
		{wiretest.Fn("map_extract_value", wiretest.Col("m"), wiretest.Str("k")), "[1 (null) (null) (null)]"},
		{wiretest.Fn("list_sort", wiretest.Col("l"), wiretest.Str("desc")), "[[3 2 1] (null) [] [5 (null)]]"},
		{wiretest.Fn("list_reverse_sort", wiretest.Col("l"), wiretest.Str("nulls first")), "[[3 2 1] (null) [] [(null) 5]]"},
		{wiretest.Fn("list_value", wiretest.Col("i"), wiretest.Fn("len", wiretest.Col("l"))), "[[2 3] [1 (null)] [1 0] [-1 2]]"},
		{wiretest.Fn("string_split", wiretest.Fn("struct_extract", wiretest.Col("s"), wiretest.Str("b")), wiretest.Str("")), `[["x"] (null) ["y"] (null)]`},
	} {
		ex, err := FromProto(c.e, schema)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ex.Eval(context.Background(), alloc.NewPoisoningAllocator(mem), b)
		if err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
		if got := out.String(); got != c.want {
			t.Errorf("%s over a slice = %s, want %s", ex, got, c.want)
		}
		out.Release()
	}
	for i, want := range []string{"{'a': 1, 'B': x}", "NULL", "{'a': NULL, 'B': y}", "{'a': 4, 'B': NULL}"} {
		if got := FormatValue(b.Column(0), i); got != want {
			t.Errorf("row %d: %s, want %s", i, got, want)
		}
	}
}
