package expr

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	"github.com/kapot-go/kapot/errs"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestJSONNumber: numbers written back as DuckDB 1.5 writes them (each
// checked against DuckDB).
func TestJSONNumber(t *testing.T) {
	for in, want := range map[string]string{
		"1": "1", "-0": "0", "2.50": "2.5", "1e2": "100.0", "-0.0": "-0.0", "1E-7": "1e-7", "1E300": "1e300",
		"123456789.0": "123456789.0", "1e20": "100000000000000000000.0", "1e21": "1e21", "1.5e-6": "0.0000015",
		"-1.5e-9": "-1.5e-9", "12345678901234567890": "12345678901234567890", "123456789012345678901234": "123456789012345678901234",
		"1.23456789012345678": "1.2345678901234567", "2.5e22": "2.5e22",
	} {
		got, err := jsonNumber(in)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := jsonNumber("1e999"); !errors.Is(err, errs.ErrNotSupported) {
		t.Errorf("1e999: %v, want not supported", err)
	}
}

// TestJSONExtractOverSlices: json_extract and json_extract_string over a
// sliced column with NULLs, a checked and poisoning allocator; text that is
// not JSON fails, a number past a double's range is refused.
func TestJSONExtractOverSlices(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "j", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	batch := func(js string) arrow.RecordBatch {
		col, _, err := array.FromJSON(mem, arrow.BinaryTypes.String, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		defer col.Release()
		whole := array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len()))
		defer whole.Release()
		return whole.NewSlice(1, int64(col.Len()))
	}
	b := batch(`["skip", "{\"a\": {\"b\": [1, \"x\"]}, \"c\": null}", null, "[1, 2.50]", "\"s\""]`)
	defer b.Release()
	eval := func(e *kapotv1.PhysicalExprNode, b arrow.RecordBatch) (string, error) {
		ex, err := FromProto(e, schema)
		if err != nil {
			return "", err
		}
		out, err := ex.Eval(context.Background(), alloc.NewPoisoningAllocator(mem), b)
		if err != nil {
			return "", err
		}
		defer out.Release()
		return out.String(), nil
	}
	for _, c := range []struct {
		e    *kapotv1.PhysicalExprNode
		want string
	}{
		{wiretest.Fn("json_extract", wiretest.Col("j"), wiretest.Str("$.a.b")), `["[1,\"x\"]" (null) (null) (null)]`},
		{wiretest.Fn("json_extract_string", wiretest.Col("j"), wiretest.Str("$.a.b[-1]")), `["x" (null) (null) (null)]`},
		{wiretest.Fn("json_extract", wiretest.Col("j"), wiretest.Str("c")), `["null" (null) (null) (null)]`},
		{wiretest.Fn("json_extract_string", wiretest.Col("j"), wiretest.Str("c")), `[(null) (null) (null) (null)]`},
		{wiretest.Fn("json_extract", wiretest.Col("j"), wiretest.I64(1)), `[(null) (null) "2.5" (null)]`},
		{wiretest.Fn("json_extract_string", wiretest.Col("j"), wiretest.Str("$")), `["{\"a\":{\"b\":[1,\"x\"]},\"c\":null}" (null) "[1,2.5]" "s"]`},
	} {
		got, err := eval(c.e, b)
		if err != nil || got != c.want {
			t.Errorf("%v: %s, %v; want %s", c.e, got, err, c.want)
		}
	}
	bad := batch(`["x", "{\"a\": 1} x"]`)
	defer bad.Release()
	if _, err := eval(wiretest.Fn("json_extract", wiretest.Col("j"), wiretest.Str("a")), bad); err == nil || !strings.Contains(err.Error(), "malformed JSON") {
		t.Errorf("trailing content: %v, want malformed JSON", err)
	}
	huge := batch(`["x", "[1e999]"]`)
	defer huge.Release()
	if _, err := eval(wiretest.Fn("json_extract", wiretest.Col("j"), wiretest.Str("$")), huge); !errors.Is(err, errs.ErrNotSupported) {
		t.Errorf("1e999: %v, want not supported", err)
	}
}
