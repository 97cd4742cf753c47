package engine

import (
	"testing"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"google.golang.org/protobuf/proto"
)

func FuzzDecodePlan(f *testing.F) {
	seed, _ := proto.Marshal(aggNode(salesCSV([]string{"testdata/sales.csv"}), 3))
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Any bytes: an error or a plan, never a panic.
		p, err := DecodePlan(b)
		if err == nil && p == nil {
			t.Fatal("nil plan without error")
		}
	})
}

// FuzzExpr binds arbitrary expression trees over a fixed schema and
// evaluates the ones that bind: type checking must reject what evaluation
// cannot run, and neither may panic or leak.
func FuzzExpr(f *testing.F) {
	for _, e := range []*kapotv1.PhysicalExprNode{
		bin(col("d"), kapotv1.BinaryOp_BINARY_OP_MUL, col("i")),
		caseNode(nil, strLit("x"), bin(col("i"), kapotv1.BinaryOp_BINARY_OP_GT, i64(0)), fn("upper", col("s"))),
		inList(col("i"), true, i64(1), nullLit(kapotv1.TypeId_TYPE_ID_INT64)),
		like(col("s"), "%a_b%", false, true),
		fn("substring", col("s"), i64(2), col("i")),
		bin(col("dt"), kapotv1.BinaryOp_BINARY_OP_SUB, intervalLit(3, 1)),
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
