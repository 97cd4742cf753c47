package wire

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// VisitColumns calls f with every column reference of expression e, which
// f may change in place; it stops, returning false, when f returns false.
// An expression holds no plan: every column it names is of one input.
func VisitColumns(e *kapotv1.PhysicalExprNode, f func(c *kapotv1.ColumnExpr) bool) bool {
	ok := true
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		if c, isCol := m.Interface().(*kapotv1.ColumnExpr); isCol {
			ok = f(c)
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := v.List()
				for i := 0; i < l.Len() && ok; i++ {
					visit(l.Get(i).Message())
				}
			case fd.Message() != nil && !fd.IsMap():
				visit(v.Message())
			}
			return ok
		})
	}
	if e != nil {
		visit(e.ProtoReflect())
	}
	return ok
}
