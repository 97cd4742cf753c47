package wire

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func TestNestedSchemaRoundTrip(t *testing.T) {
	m := arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32)
	sorted := arrow.MapOf(arrow.PrimitiveTypes.Int64, arrow.ListOf(arrow.BinaryTypes.String))
	sorted.KeysSorted = true
	in := arrow.NewSchema([]arrow.Field{
		{Name: "li", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "le", Type: arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
		{Name: "ln", Type: arrow.ListOfNonNullable(arrow.ListOf(arrow.FixedWidthTypes.Date32))},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String}, arrow.Field{Name: "c", Type: m, Nullable: true}), Nullable: true},
		{Name: "m", Type: m, Nullable: true},
		{Name: "ms", Type: sorted},
	}, nil)
	p, err := SchemaToProto(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := SchemaFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Equal(in) {
		t.Fatalf("round trip: got %s, want %s", out, in)
	}
	if got, want := out.Field(1).Type.(*arrow.ListType).ElemField().Name, "element"; got != want {
		t.Errorf("list element named %q, want %q", got, want)
	}
	if _, err := TypeToProto(arrow.LargeListOf(arrow.PrimitiveTypes.Int32)); !errors.Is(err, ErrNotSupported) {
		t.Errorf("large list: got %v, want ErrNotSupported", err)
	}
}

func TestNestedTypeFromProtoRejects(t *testing.T) {
	i32 := &kapotv1.Field{Name: "x", Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT32}}
	nullKey := &kapotv1.Field{Name: "k", Type: &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT32}, Nullable: true}
	for name, dt := range map[string]*kapotv1.DataType{
		"list of none":     {Id: kapotv1.TypeId_TYPE_ID_LIST},
		"list of two":      {Id: kapotv1.TypeId_TYPE_ID_LIST, Children: []*kapotv1.Field{i32, i32}},
		"struct dup":       {Id: kapotv1.TypeId_TYPE_ID_STRUCT, Children: []*kapotv1.Field{i32, i32}},
		"map of one":       {Id: kapotv1.TypeId_TYPE_ID_MAP, Children: []*kapotv1.Field{i32}},
		"map nullable key": {Id: kapotv1.TypeId_TYPE_ID_MAP, Children: []*kapotv1.Field{nullKey, i32}},
		"child missing":    {Id: kapotv1.TypeId_TYPE_ID_LIST, Children: []*kapotv1.Field{{Name: "x"}}},
	} {
		if _, err := TypeFromProto(dt); !errors.Is(err, ErrInvalidPlan) {
			t.Errorf("%s: got %v, want ErrInvalidPlan", name, err)
		}
	}
}
