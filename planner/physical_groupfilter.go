package planner

import (
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// filterGroupsEarly copies each filter whose predicate reads only group
// keys of a FINAL aggregate below it (through projections that pass
// columns on and other filters) to that aggregate's input, on the plan
// after unshare: every reader of a WITH query finished once per reader
// (computedOnce) has its own final aggregate, which then merges only the
// partial groups its reader keeps. TPC-DS q39 reads its monthly inventory
// statistics twice, once for January and once for February: each final
// aggregate merged both months' 360 000 partial groups. The filter above
// stays (its rows are few). Only comparisons, AND, OR, NOT, IS NULL, IN,
// BETWEEN and LIKE over columns and constants move: they cannot fail or
// differ from row to row of a group, so testing each partial group is
// testing its group.
func filterGroupsEarly(root *kapotv1.PhysicalPlanNode) {
	wire.Walk(root, func(n *kapotv1.PhysicalPlanNode) {
		if f := n.GetFilter(); f != nil {
			pushGroupFilter(f)
		}
	})
}

// pushGroupFilter copies f's predicate under the final aggregate below f,
// when it reads group keys only.
func pushGroupFilter(f *kapotv1.FilterNode) {
	pred := f.GetPredicate()
	if pred == nil || !movablePredicate(pred.ProtoReflect()) {
		return
	}
	cur := f.GetInput()
	for {
		switch {
		case cur.GetProjection() != nil:
			p := cur.GetProjection()
			next, ok := remapThrough(pred, p.GetExprs())
			if !ok {
				return
			}
			pred, cur = next, p.GetInput()
		case cur.GetFilter() != nil:
			cur = cur.GetFilter().GetInput()
		case cur.GetHashAggregate() != nil:
			a := cur.GetHashAggregate()
			if a.GetMode() != kapotv1.AggregateMode_AGGREGATE_MODE_FINAL {
				return
			}
			below, ok := remapThrough(pred, a.GetGroupExprs())
			if !ok {
				return
			}
			a.Input = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: a.GetInput(), Predicate: below}}}
			return
		default:
			return
		}
	}
}

// remapThrough is pred, over the outputs of exprs (a projection's, an
// aggregate's groups), rewritten over their input: each column it reads
// must be an expression that is itself a plain input column.
func remapThrough(pred *kapotv1.PhysicalExprNode, exprs []*kapotv1.PhysicalExprNode) (*kapotv1.PhysicalExprNode, bool) {
	return remapColumns(pred, func(i int) (int, bool) {
		if i >= len(exprs) {
			return 0, false
		}
		return plainColumn(exprs[i])
	})
}

// plainColumn is the input column e reads when e is a column by index.
func plainColumn(e *kapotv1.PhysicalExprNode) (int, bool) {
	c := e.GetColumn()
	if c == nil || c.GetName() != "" {
		return 0, false
	}
	return int(c.GetIndex()), true
}

// movableOps are the binary operators a predicate moved under an
// aggregate may hold: none can fail.
var movableOps = []kapotv1.BinaryOp{kapotv1.BinaryOp_BINARY_OP_EQ, kapotv1.BinaryOp_BINARY_OP_NEQ, kapotv1.BinaryOp_BINARY_OP_LT,
	kapotv1.BinaryOp_BINARY_OP_LTE, kapotv1.BinaryOp_BINARY_OP_GT, kapotv1.BinaryOp_BINARY_OP_GTE,
	kapotv1.BinaryOp_BINARY_OP_AND, kapotv1.BinaryOp_BINARY_OP_OR}

// movablePredicate reports whether the expression m holds only columns,
// constants and the operators filterGroupsEarly moves.
func movablePredicate(m protoreflect.Message) bool {
	switch x := m.Interface().(type) {
	case *kapotv1.PhysicalExprNode:
		switch e := x.GetExpr().(type) {
		case *kapotv1.PhysicalExprNode_Column, *kapotv1.PhysicalExprNode_Literal:
			return true
		case *kapotv1.PhysicalExprNode_Binary:
			if !slices.Contains(movableOps, e.Binary.GetOp()) {
				return false
			}
		case *kapotv1.PhysicalExprNode_Not, *kapotv1.PhysicalExprNode_IsNull, *kapotv1.PhysicalExprNode_InList,
			*kapotv1.PhysicalExprNode_Between, *kapotv1.PhysicalExprNode_Like:
		default:
			return false
		}
	}
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && ok; i++ {
				ok = movablePredicate(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			if _, lit := v.Message().Interface().(*kapotv1.ScalarValue); !lit {
				ok = movablePredicate(v.Message())
			}
		}
		return ok
	})
	return ok
}

// remapColumns is a copy of e with every column index i replaced by
// to(i); ok is false when to refuses one.
func remapColumns(e *kapotv1.PhysicalExprNode, to func(int) (int, bool)) (*kapotv1.PhysicalExprNode, bool) {
	out := proto.Clone(e).(*kapotv1.PhysicalExprNode)
	ok := wire.VisitColumns(out, func(c *kapotv1.ColumnExpr) bool {
		if c.GetName() != "" {
			return false
		}
		k, good := to(int(c.GetIndex()))
		c.Index = uint32(k)
		return good
	})
	return out, ok
}
