package cluster

import (
	"google.golang.org/protobuf/proto"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// StagePlan is one stage of a split plan.
type StagePlan struct {
	ID     uint32
	Plan   *kapotv1.PhysicalPlanNode // rooted at a ShuffleWriterNode
	Inputs []uint32                  // stages whose output this one reads
	// After are stages this one waits for without reading them: the left
	// sides of adaptive joins this stage is the right side of (see
	// HashJoinNode.adaptive_probe_rows), so that it can still be turned
	// into a broadcast join's probe when they turn out small.
	After    []uint32
	NumTasks int // input partitions = map tasks
	OutParts int // shuffle partitions each task writes
}

// Resolve replaces every UnresolvedShuffle in a copy of plan by a
// ShuffleReader listing, per reduce partition, the map outputs in locs.
func Resolve(plan *kapotv1.PhysicalPlanNode, locs func(stage uint32, outPart int) []*kapotv1.PartitionLocation) *kapotv1.PhysicalPlanNode {
	plan = proto.Clone(plan).(*kapotv1.PhysicalPlanNode)
	var walk func(slot **kapotv1.PhysicalPlanNode)
	walk = func(slot **kapotv1.PhysicalPlanNode) {
		n := *slot
		if u := n.GetUnresolvedShuffle(); u != nil {
			r := &kapotv1.ShuffleReaderNode{StageId: u.GetStageId(), Schema: u.GetSchema()}
			for p := 0; p < int(u.GetOutputPartitionCount()); p++ {
				r.Partitions = append(r.Partitions, &kapotv1.ShuffleReaderPartition{Locations: locs(u.GetStageId(), p)})
			}
			*slot = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleReader{ShuffleReader: r}}
			return
		}
		for _, c := range wire.InputSlots(n) {
			walk(c)
		}
	}
	walk(&plan)
	return plan
}
