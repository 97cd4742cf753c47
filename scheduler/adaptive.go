package scheduler

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/wire"
)

// Adaptive execution: a join that repartitions both its sides, whose left
// side the planner estimated small enough perhaps
// (HashJoinNode.adaptive_probe_rows), adapts once the left side's stage
// is done and its output is small. The right side's stage is held until
// then (StagePlan.After). A join that outputs no unmatched left row
// becomes a broadcast: the right side's stage probes the whole left side
// itself and writes the join's output, partitioned as the join stage's
// was, and the join stage reads that instead of joining (TPC-H Q18 at SF
// 10 repartitioned 60 million lineitem rows to join 640 orders). A semi or
// anti join keeps its place, but the right side's stage writes only its
// rows whose keys match a left row's (TPC-H Q21's EXISTS and NOT EXISTS).

// Bounds of a left side a join adapts to at run time: each task of the
// right side's stage builds all of it (its keys, for a reduction), so its
// copies together must be
// at most 1/adaptiveShare of the right side's estimated rows, and it is at
// most adaptiveMaxRows rows and adaptiveMaxBytes bytes.
const (
	adaptiveShare    = 4
	adaptiveMaxRows  = 2_000_000
	adaptiveMaxBytes = 64 << 20
)

// adaptiveJoin is an adaptive join of stage join's plan: its left side
// reads stage build, its right side stage probe.
type adaptiveJoin struct {
	join, build, probe uint32
	slot               **kapotv1.PhysicalPlanNode // the join in join's plan
}

// adaptiveJoins lists the adaptive joins of stages that may still adapt:
// both sides read whole from a stage (build and probe), the probe stage
// hash-partitions its output on plain columns for this join alone, and
// the join outputs no unmatched left row (broadcasts) or is a semi or
// anti join (reduces).
func adaptiveJoins(stages map[uint32]*cluster.StagePlan) []adaptiveJoin {
	reads := map[uint32]int{} // how often each stage's output is read
	for _, st := range stages {
		walkPlan(&st.Plan, func(slot **kapotv1.PhysicalPlanNode) {
			if u := (*slot).GetUnresolvedShuffle(); u != nil {
				reads[u.GetStageId()]++
			}
		})
	}
	var out []adaptiveJoin
	for id, st := range stages {
		walkPlan(&st.Plan, func(slot **kapotv1.PhysicalPlanNode) {
			hj := (*slot).GetHashJoin()
			if hj == nil || hj.GetAdaptiveProbeRows() == 0 || hj.GetMode() != kapotv1.JoinMode_JOIN_MODE_PARTITIONED {
				return
			}
			if !broadcasts(hj.GetJoinType()) && !reduces(hj.GetJoinType()) {
				return
			}
			l, r := hj.GetLeft().GetUnresolvedShuffle(), hj.GetRight().GetUnresolvedShuffle()
			if l == nil || r == nil || l.GetStageId() == r.GetStageId() || reads[r.GetStageId()] != 1 {
				return
			}
			probe, ok := stages[r.GetStageId()]
			if !ok || !plainHash(probe.Plan.GetShuffleWriter().GetPartitioning()) {
				return
			}
			out = append(out, adaptiveJoin{join: id, build: l.GetStageId(), probe: r.GetStageId(), slot: slot})
		})
	}
	return out
}

// holdAdaptive makes the probe stage of every adaptive join wait for its
// build stage (see adaptiveJoins).
func holdAdaptive(stages map[uint32]*cluster.StagePlan) {
	for _, a := range adaptiveJoins(stages) {
		p := stages[a.probe]
		p.After = append(p.After, a.build)
	}
}

// adaptJoins is cluster.Config.Adapt: the adaptive joins whose build stage
// done just completed with a small output, and whose probe stage has not
// started, become broadcasts.
func adaptJoins(j *cluster.Job, done uint32) bool {
	stages := make(map[uint32]*cluster.StagePlan, len(j.Stages))
	for id, st := range j.Stages {
		if st.Plan == nil {
			return false
		}
		stages[id] = st.StagePlan
	}
	adapted := false
	for {
		a, ok := nextAdaptive(j, stages, done)
		if !ok || !adaptJoin(stages, a) {
			return adapted
		}
		j.Adapted = append(j.Adapted, a.probe)
		adapted = true
	}
}

// nextAdaptive is an adaptive join of j whose build stage done wrote few
// enough rows to broadcast and whose probe and join stages have not
// started.
func nextAdaptive(j *cluster.Job, stages map[uint32]*cluster.StagePlan, done uint32) (adaptiveJoin, bool) {
	for _, a := range adaptiveJoins(stages) {
		if a.build != done || j.Stages[a.probe].Started() || j.Stages[a.join].Started() || (*a.slot).GetHashJoin().GetAdaptiveProbeRows() == 0 {
			continue
		}
		rows, bytes := stageOutput(j.Stages[a.build])
		probeRows := (*a.slot).GetHashJoin().GetAdaptiveProbeRows()
		if rows <= adaptiveMaxRows && bytes <= adaptiveMaxBytes &&
			uint64(rows)*uint64(max(j.Stages[a.probe].NumTasks, 1))*adaptiveShare <= probeRows {
			return a, true
		}
	}
	return adaptiveJoin{}, false
}

// readaptJoins adapts the stages of j a previous scheduler adapted (a job
// recovered from its record), before their tasks are restored.
func readaptJoins(j *cluster.Job, probes []uint32) {
	stages := make(map[uint32]*cluster.StagePlan, len(j.Stages))
	for id, st := range j.Stages {
		stages[id] = st.StagePlan
	}
	for _, p := range probes {
		for _, a := range adaptiveJoins(stages) {
			if a.probe == p && adaptJoin(stages, a) {
				j.Adapted = append(j.Adapted, p)
				break
			}
		}
	}
}

// stageOutput is the rows and bytes st's tasks wrote.
func stageOutput(st *cluster.Stage) (rows, bytes int64) {
	for _, t := range st.Tasks {
		for _, o := range t.Outputs {
			rows += o.GetStats().GetNumRows()
			bytes += o.GetStats().GetNumBytes()
		}
	}
	return rows, bytes
}

// broadcasts reports whether a join of jt may build its left side whole
// in each task of its right side: it outputs no unmatched left row.
func broadcasts(jt kapotv1.JoinType) bool {
	switch jt {
	case kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinType_JOIN_TYPE_RIGHT, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		return true
	}
	return false
}

// reduces reports whether a join of jt needs of its right side only the
// rows whose keys match a left row's: a semi or anti join (of keys that
// never match when null; NOT IN over nullable values is no anti join).
func reduces(jt kapotv1.JoinType) bool {
	return jt == kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI || jt == kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI
}

// adaptJoin rewrites a's stages: a broadcast (broadcastJoin) or the right
// side reduced to the rows matching a left key (reduceProbe).
func adaptJoin(stages map[uint32]*cluster.StagePlan, a adaptiveJoin) bool {
	if reduces((*a.slot).GetHashJoin().GetJoinType()) {
		reduceProbe(stages, a)
		return true
	}
	return broadcastJoin(stages, a)
}

// reduceProbe rewrites the probe stage of a semi or anti join a to write
// only the rows of its input whose keys match a row of the build stage's
// whole output (a RIGHT_SEMI join building those): the join stage, which
// keeps or drops left rows by whether a right row matches, reads the same
// answer from far fewer rows (TPC-H Q21's EXISTS and NOT EXISTS over
// lineitem, for 730 000 orders of 15 million). The join is no longer
// adaptive.
func reduceProbe(stages map[uint32]*cluster.StagePlan, a adaptiveJoin) {
	probe := stages[a.probe]
	hj := (*a.slot).GetHashJoin()
	w := probe.Plan.GetShuffleWriter()
	// Each task builds the build side's keys only.
	keys := &kapotv1.ProjectionNode{Input: proto.Clone(hj.GetLeft()).(*kapotv1.PhysicalPlanNode)}
	red := &kapotv1.HashJoinNode{Left: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: keys}}, Right: w.GetInput(),
		JoinType: kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT}
	for i, on := range hj.GetOn() {
		keys.Exprs = append(keys.Exprs, proto.Clone(on.GetLeft()).(*kapotv1.PhysicalExprNode))
		keys.Names = append(keys.Names, fmt.Sprintf("key%d", i))
		red.On = append(red.On, &kapotv1.JoinOn{Left: &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(i)}}},
			Right: proto.Clone(on.GetRight()).(*kapotv1.PhysicalExprNode)})
	}
	probe.Plan = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleWriter{ShuffleWriter: &kapotv1.ShuffleWriterNode{
		JobId: w.GetJobId(), StageId: w.GetStageId(), Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: red}},
		Partitioning: w.GetPartitioning()}}}
	probe.Inputs, probe.After = unresolvedInputs(probe.Plan), nil
	hj.AdaptiveProbeRows = 0
}

// broadcastJoin rewrites a's stages: the probe stage joins its input with
// all of the build stage's output (COLLECT_LEFT) and partitions the
// join's rows on the probe side's columns it partitioned on before; the
// join stage reads them where it joined. It reports false, changing
// nothing, when the join's output cannot be typed.
func broadcastJoin(stages map[uint32]*cluster.StagePlan, a adaptiveJoin) bool {
	join, probe := stages[a.join], stages[a.probe]
	hj := (*a.slot).GetHashJoin()
	left, right := hj.GetLeft().GetUnresolvedShuffle(), hj.GetRight().GetUnresolvedShuffle()
	typed := proto.Clone(hj).(*kapotv1.HashJoinNode)
	typed.Mode, typed.AdaptiveProbeRows = kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, 0
	ep, err := engine.FromProto(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: typed}})
	if err != nil {
		return false
	}
	schema, err := wire.SchemaToProto(ep.Schema())
	if err != nil {
		return false
	}
	// The probe side's columns follow the left side's in the join's
	// output, or are all of it (semi and anti joins).
	offset := uint32(0)
	if t := hj.GetJoinType(); t == kapotv1.JoinType_JOIN_TYPE_INNER || t == kapotv1.JoinType_JOIN_TYPE_RIGHT {
		offset = uint32(len(left.GetSchema().GetFields()))
	}
	w := probe.Plan.GetShuffleWriter()
	hash := w.GetPartitioning().GetHash()
	exprs := make([]*kapotv1.PhysicalExprNode, len(hash.GetExprs()))
	for i, e := range hash.GetExprs() {
		exprs[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{
			Name: e.GetColumn().GetName(), Index: e.GetColumn().GetIndex() + offset}}}
	}
	bj := proto.Clone(typed).(*kapotv1.HashJoinNode)
	bj.Right = w.GetInput()
	probe.Plan = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleWriter{ShuffleWriter: &kapotv1.ShuffleWriterNode{
		JobId: w.GetJobId(), StageId: w.GetStageId(), Input: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: bj}},
		Partitioning: &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Hash{Hash: &kapotv1.HashPartitioning{Exprs: exprs, PartitionCount: hash.GetPartitionCount()}}}}}}
	probe.Inputs, probe.After = unresolvedInputs(probe.Plan), nil
	*a.slot = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_UnresolvedShuffle{UnresolvedShuffle: &kapotv1.UnresolvedShuffleNode{
		StageId: a.probe, Schema: schema, OutputPartitionCount: right.GetOutputPartitionCount()}}}
	join.Inputs = unresolvedInputs(join.Plan)
	return true
}

// plainHash reports whether p hash-partitions on plain columns.
func plainHash(p *kapotv1.Partitioning) bool {
	h := p.GetHash()
	if h == nil || len(h.GetExprs()) == 0 {
		return false
	}
	for _, e := range h.GetExprs() {
		if e.GetColumn() == nil {
			return false
		}
	}
	return true
}

// walkPlan calls f with the slot of every node of the plan in *slot,
// parents first.
func walkPlan(slot **kapotv1.PhysicalPlanNode, f func(**kapotv1.PhysicalPlanNode)) {
	f(slot)
	for _, c := range wire.InputSlots(*slot) {
		walkPlan(c, f)
	}
}
