package wire

import kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"

// InputSlots returns a pointer to each child field of a wire plan node, so
// callers can walk or rewrite the tree in place. Leaves return nil.
func InputSlots(n *kapotv1.PhysicalPlanNode) []**kapotv1.PhysicalPlanNode {
	switch x := n.GetNode().(type) {
	case *kapotv1.PhysicalPlanNode_Projection:
		return []**kapotv1.PhysicalPlanNode{&x.Projection.Input}
	case *kapotv1.PhysicalPlanNode_Filter:
		return []**kapotv1.PhysicalPlanNode{&x.Filter.Input}
	case *kapotv1.PhysicalPlanNode_Limit:
		return []**kapotv1.PhysicalPlanNode{&x.Limit.Input}
	case *kapotv1.PhysicalPlanNode_HashAggregate:
		return []**kapotv1.PhysicalPlanNode{&x.HashAggregate.Input}
	case *kapotv1.PhysicalPlanNode_Sort:
		return []**kapotv1.PhysicalPlanNode{&x.Sort.Input}
	case *kapotv1.PhysicalPlanNode_HashJoin:
		return []**kapotv1.PhysicalPlanNode{&x.HashJoin.Left, &x.HashJoin.Right}
	case *kapotv1.PhysicalPlanNode_NestedLoopJoin:
		return []**kapotv1.PhysicalPlanNode{&x.NestedLoopJoin.Left, &x.NestedLoopJoin.Right}
	case *kapotv1.PhysicalPlanNode_Union:
		out := make([]**kapotv1.PhysicalPlanNode, len(x.Union.Inputs))
		for i := range x.Union.Inputs {
			out[i] = &x.Union.Inputs[i]
		}
		return out
	case *kapotv1.PhysicalPlanNode_SortPreservingMerge:
		return []**kapotv1.PhysicalPlanNode{&x.SortPreservingMerge.Input}
	case *kapotv1.PhysicalPlanNode_CoalesceBatches:
		return []**kapotv1.PhysicalPlanNode{&x.CoalesceBatches.Input}
	case *kapotv1.PhysicalPlanNode_Repartition:
		return []**kapotv1.PhysicalPlanNode{&x.Repartition.Input}
	case *kapotv1.PhysicalPlanNode_CoalescePartitions:
		return []**kapotv1.PhysicalPlanNode{&x.CoalescePartitions.Input}
	case *kapotv1.PhysicalPlanNode_Exchange:
		return []**kapotv1.PhysicalPlanNode{&x.Exchange.Input}
	case *kapotv1.PhysicalPlanNode_ShuffleWriter:
		return []**kapotv1.PhysicalPlanNode{&x.ShuffleWriter.Input}
	case *kapotv1.PhysicalPlanNode_Window:
		return []**kapotv1.PhysicalPlanNode{&x.Window.Input}
	case *kapotv1.PhysicalPlanNode_Writer:
		return []**kapotv1.PhysicalPlanNode{&x.Writer.Input}
	case *kapotv1.PhysicalPlanNode_Unnest:
		return []**kapotv1.PhysicalPlanNode{&x.Unnest.Input}
	case *kapotv1.PhysicalPlanNode_TopNRanking:
		return []**kapotv1.PhysicalPlanNode{&x.TopNRanking.Input}
	}
	return nil
}

// Walk calls f with every node of the plan under n, each before its
// inputs (nil nodes skipped). f may change a node's fields, not replace
// the node in its parent (use InputSlots for that).
func Walk(n *kapotv1.PhysicalPlanNode, f func(*kapotv1.PhysicalPlanNode)) {
	if n == nil {
		return
	}
	f(n)
	for _, c := range InputSlots(n) {
		Walk(*c, f)
	}
}

// FileGroups returns the file groups of a scan node, nil for other nodes.
func FileGroups(n *kapotv1.PhysicalPlanNode) []*kapotv1.FileGroup {
	switch x := n.GetNode().(type) {
	case *kapotv1.PhysicalPlanNode_ParquetScan:
		return x.ParquetScan.GetFileGroups()
	case *kapotv1.PhysicalPlanNode_CsvScan:
		return x.CsvScan.GetFileGroups()
	case *kapotv1.PhysicalPlanNode_IpcScan:
		return x.IpcScan.GetFileGroups()
	}
	return nil
}

// WalkFiles calls f with every file path slot of every scan under n.
func WalkFiles(n *kapotv1.PhysicalPlanNode, f func(path *string)) {
	if n == nil {
		return
	}
	for _, g := range FileGroups(n) {
		for i := range g.Paths {
			f(&g.Paths[i])
		}
	}
	for _, c := range InputSlots(n) {
		WalkFiles(*c, f)
	}
}

// Writes reports whether a plan holds a node that writes files.
func Writes(n *kapotv1.PhysicalPlanNode) bool {
	if n.GetWriter() != nil {
		return true
	}
	for _, c := range InputSlots(n) {
		if Writes(*c) {
			return true
		}
	}
	return false
}
