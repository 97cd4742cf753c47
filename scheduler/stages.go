package scheduler

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/wire"
)

// splitStages cuts plan at Exchange nodes. Each exchange's input becomes a
// stage rooted at a shuffle writer with the exchange's partitioning, read by
// its parent through an UnresolvedShuffle. The root becomes the final stage,
// whose writer keeps each partition's output as output partition 0.
//
// Identical exchanges (the same input plan and partitioning, as a common
// table expression read twice produces: TPC-H Q15's revenue0) become one
// stage that both parents read, so its input is scanned and aggregated
// once.
//
// Building plans reads the schemas of scanned files through opts.Store with
// the job's session properties (object-store credentials).
func splitStages(jobID string, root *kapotv1.PhysicalPlanNode, opts engine.BuildOptions) (map[uint32]*cluster.StagePlan, uint32, *kapotv1.Schema, error) {
	// Validate and type the whole plan first: bad plans fail at submit.
	if _, err := engine.FromProtoWith(root, opts); err != nil {
		return nil, 0, nil, err
	}
	root = proto.Clone(root).(*kapotv1.PhysicalPlanNode)
	stages := map[uint32]*cluster.StagePlan{}
	next := uint32(1)
	newStage := func(input *kapotv1.PhysicalPlanNode, part *kapotv1.Partitioning) (*cluster.StagePlan, *engine.ShuffleWriter, error) {
		id := next
		next++
		w := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleWriter{ShuffleWriter: &kapotv1.ShuffleWriterNode{
			JobId: jobID, StageId: id, Input: input, Partitioning: part}}}
		ep, err := engine.FromProtoWith(w, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("stage %d: %w", id, err)
		}
		sw := ep.(*engine.ShuffleWriter)
		s := &cluster.StagePlan{ID: id, Plan: w, NumTasks: sw.OutputPartitions(), OutParts: sw.OutputPartitionCount(), Inputs: unresolvedInputs(input)}
		stages[id] = s
		return s, sw, nil
	}
	// Exchanges already cut, by their encoding (inner exchanges are
	// replaced first, so equal subtrees encode equally).
	cut := map[string]*kapotv1.UnresolvedShuffleNode{}
	var walk func(slot **kapotv1.PhysicalPlanNode) error
	walk = func(slot **kapotv1.PhysicalPlanNode) error {
		n := *slot
		for _, c := range wire.InputSlots(n) {
			if err := walk(c); err != nil {
				return err
			}
		}
		ex := n.GetExchange()
		if ex == nil {
			return nil
		}
		key, err := proto.MarshalOptions{Deterministic: true}.Marshal(ex)
		if err != nil {
			return fmt.Errorf("encode exchange: %w", err)
		}
		if u, ok := cut[string(key)]; ok {
			*slot = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_UnresolvedShuffle{UnresolvedShuffle: proto.Clone(u).(*kapotv1.UnresolvedShuffleNode)}}
			return nil
		}
		s, sw, err := newStage(ex.GetInput(), ex.GetPartitioning())
		if err != nil {
			return err
		}
		schema, err := wire.SchemaToProto(sw.Schema())
		if err != nil {
			return err
		}
		u := &kapotv1.UnresolvedShuffleNode{StageId: s.ID, Schema: schema, OutputPartitionCount: uint32(s.OutParts)}
		cut[string(key)] = u
		*slot = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_UnresolvedShuffle{UnresolvedShuffle: proto.Clone(u).(*kapotv1.UnresolvedShuffleNode)}}
		return nil
	}
	if err := walk(&root); err != nil {
		return nil, 0, nil, err
	}
	final, sw, err := newStage(root, nil)
	if err != nil {
		return nil, 0, nil, err
	}
	schema, err := wire.SchemaToProto(sw.Schema())
	if err != nil {
		return nil, 0, nil, err
	}
	return stages, final.ID, schema, nil
}

func unresolvedInputs(n *kapotv1.PhysicalPlanNode) []uint32 {
	var out []uint32
	var walk func(n *kapotv1.PhysicalPlanNode)
	walk = func(n *kapotv1.PhysicalPlanNode) {
		if u := n.GetUnresolvedShuffle(); u != nil && !slices.Contains(out, u.GetStageId()) {
			out = append(out, u.GetStageId())
		}
		for _, c := range wire.InputSlots(n) {
			walk(*c)
		}
	}
	walk(n)
	return out
}
