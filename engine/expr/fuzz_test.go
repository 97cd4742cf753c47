package expr

import (
	"testing"

	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzExpr binds arbitrary expression trees over a fixed schema and
// evaluates the ones that bind: type checking must reject what evaluation
// cannot run, and neither may panic or leak.
func FuzzExpr(f *testing.F) {
	for _, e := range []*kapotv1.PhysicalExprNode{
		wiretest.Bin(wiretest.Col("d"), kapotv1.BinaryOp_BINARY_OP_MUL, wiretest.Col("i")),
		caseNode(nil, wiretest.Str("x"), wiretest.Bin(wiretest.Col("i"), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(0)), wiretest.Fn("upper", wiretest.Col("s"))),
		wiretest.InList(wiretest.Col("i"), true, wiretest.I64(1), nullLit(kapotv1.TypeId_TYPE_ID_INT64)),
		wiretest.Like(wiretest.Col("s"), "%a_b%", false, true),
		wiretest.Fn("substring", wiretest.Col("s"), wiretest.I64(2), wiretest.Col("i")),
		wiretest.Bin(wiretest.Col("dt"), kapotv1.BinaryOp_BINARY_OP_SUB, intervalLit(3, 1)),
	} {
		seed, _ := proto.Marshal(e)
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e kapotv1.PhysicalExprNode
		if proto.Unmarshal(b, &e) != nil {
			return
		}
		_, _, _ = evalProto(t, &e)
	})
}
