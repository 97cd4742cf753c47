package wire

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The nested types on the wire: LIST, STRUCT and MAP carry their child
// fields (name, type, nullability), so that a type survives the round trip
// exactly (the engine compares plan and operator schemas with
// arrow.TypeEqual).

// IsNested reports whether t is a LIST, STRUCT or MAP.
func IsNested(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.LIST, arrow.STRUCT, arrow.MAP, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW,
		arrow.LARGE_LIST_VIEW, arrow.DENSE_UNION, arrow.SPARSE_UNION, arrow.DICTIONARY, arrow.RUN_END_ENCODED:
		return true
	}
	return false
}

func fieldToProto(f arrow.Field) (*kapotv1.Field, error) {
	t, err := TypeToProto(f.Type)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", f.Name, err)
	}
	return &kapotv1.Field{Name: f.Name, Type: t, Nullable: f.Nullable}, nil
}

func fieldFromProto(f *kapotv1.Field) (arrow.Field, error) {
	t, err := TypeFromProto(f.GetType())
	if err != nil {
		return arrow.Field{}, fmt.Errorf("field %q: %w", f.GetName(), err)
	}
	return arrow.Field{Name: f.GetName(), Type: t, Nullable: f.GetNullable()}, nil
}

// nestedToProto converts a LIST, STRUCT or MAP type.
func nestedToProto(t arrow.DataType) (*kapotv1.DataType, error) {
	var fields []arrow.Field
	out := &kapotv1.DataType{}
	switch x := t.(type) {
	case *arrow.MapType:
		out.Id, out.KeysSorted = kapotv1.TypeId_TYPE_ID_MAP, x.KeysSorted
		fields = []arrow.Field{x.KeyField(), x.ItemField()}
	case *arrow.ListType:
		out.Id = kapotv1.TypeId_TYPE_ID_LIST
		fields = []arrow.Field{x.ElemField()}
	case *arrow.StructType:
		out.Id = kapotv1.TypeId_TYPE_ID_STRUCT
		fields = x.Fields()
	default:
		return nil, fmt.Errorf("data type %s: %w", t, ErrNotSupported)
	}
	for _, f := range fields {
		c, err := fieldToProto(f)
		if err != nil {
			return nil, err
		}
		out.Children = append(out.Children, c)
	}
	return out, nil
}

// nestedFromProto converts a wire LIST, STRUCT or MAP type.
func nestedFromProto(t *kapotv1.DataType) (arrow.DataType, error) {
	fields := make([]arrow.Field, len(t.GetChildren()))
	for i, c := range t.GetChildren() {
		f, err := fieldFromProto(c)
		if err != nil {
			return nil, err
		}
		fields[i] = f
	}
	switch t.GetId() {
	case kapotv1.TypeId_TYPE_ID_LIST:
		if len(fields) != 1 {
			return nil, fmt.Errorf("LIST with %d child fields, want 1: %w", len(fields), ErrInvalidPlan)
		}
		return arrow.ListOfField(fields[0]), nil
	case kapotv1.TypeId_TYPE_ID_STRUCT:
		names := map[string]bool{}
		for _, f := range fields {
			if names[f.Name] {
				return nil, fmt.Errorf("STRUCT with two fields named %q: %w", f.Name, ErrInvalidPlan)
			}
			names[f.Name] = true
		}
		return arrow.StructOf(fields...), nil
	case kapotv1.TypeId_TYPE_ID_MAP:
		if len(fields) != 2 || fields[0].Nullable {
			return nil, fmt.Errorf("MAP needs a non-nullable key field and a value field: %w", ErrInvalidPlan)
		}
		m := arrow.MapOfFields(fields[0], fields[1])
		m.KeysSorted = t.GetKeysSorted()
		return m, nil
	}
	return nil, fmt.Errorf("data type %v: %w", t.GetId(), ErrNotSupported)
}
