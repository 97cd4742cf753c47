package planner

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// InProcess turns a distributed plan into one that runs in a single task:
// every exchange becomes an in-stage repartition with the same
// partitioning. The input is not modified.
func InProcess(root *kapotv1.PhysicalPlanNode) *kapotv1.PhysicalPlanNode {
	out := proto.Clone(root).(*kapotv1.PhysicalPlanNode)
	var walk func(slot **kapotv1.PhysicalPlanNode)
	walk = func(slot **kapotv1.PhysicalPlanNode) {
		n := *slot
		if ex := n.GetExchange(); ex != nil {
			*slot = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Repartition{Repartition: &kapotv1.RepartitionNode{
				Input: ex.GetInput(), Partitioning: ex.GetPartitioning()}}}
			n = *slot
		}
		for _, c := range wire.InputSlots(n) {
			walk(c)
		}
	}
	walk(&out)
	return out
}

// RunInProcess plans nothing: it executes a planned query in this process
// (every partition, one after the other) and returns its batches. Scans
// read through store (nil: the default registry) with tc's properties.
func RunInProcess(ctx context.Context, p *Plan, tc *engine.TaskContext, store *objstore.Registry) ([]arrow.RecordBatch, error) {
	plan, err := engine.FromProtoWith(InProcess(p.Root), engine.BuildOptions{Ctx: ctx, Store: store, Properties: tc.Properties})
	if err != nil {
		return nil, err
	}
	return engine.ExecuteCollect(ctx, plan, tc)
}
