package scheduler

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
	"github.com/kapot-go/kapot/wire"
)

func examplePlan(t *testing.T) *kapotv1.PhysicalPlanNode {
	t.Helper()
	req, err := client.LoadPlanFile("../examples/groupby/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	return req.GetPlan()
}

func TestSplitStages(t *testing.T) {
	stages, final, schema, err := splitStages("job1", examplePlan(t), engine.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if final != 2 || len(stages) != 2 {
		t.Fatalf("final=%d stages=%d", final, len(stages))
	}
	s1, s2 := stages[1], stages[2]
	// Stage 1: two CSV partitions, each hash-partitioned into two.
	if s1.NumTasks != 2 || s1.OutParts != 2 || len(s1.Inputs) != 0 {
		t.Fatalf("stage 1: %+v", s1)
	}
	// Stage 2: reads stage 1's two partitions; the final writer keeps one output each.
	if s2.NumTasks != 2 || s2.OutParts != 1 || !slices.Equal(s2.Inputs, []uint32{1}) {
		t.Fatalf("stage 2: %+v", s2)
	}
	var names []string
	for _, f := range schema.GetFields() {
		names = append(names, f.GetName())
	}
	if want := []string{"region", "orders", "units", "cheapest", "dearest"}; !slices.Equal(names, want) {
		t.Fatalf("result schema %v", names)
	}
	// Each stage plan is rooted at a writer for this job and stage.
	for id, s := range stages {
		w := s.Plan.GetShuffleWriter()
		if w == nil || w.GetJobId() != "job1" || w.GetStageId() != id {
			t.Fatalf("stage %d root %v", id, s.Plan)
		}
	}
	// Resolving replaces the unresolved read with two reader partitions,
	// each listing both map outputs.
	loc := func(stage uint32, p int) []*kapotv1.PartitionLocation {
		return []*kapotv1.PartitionLocation{{StageId: stage, MapPartition: 0, OutputPartition: uint32(p)}, {StageId: stage, MapPartition: 1, OutputPartition: uint32(p)}}
	}
	r := cluster.Resolve(s2.Plan, loc)
	var reader *kapotv1.ShuffleReaderNode
	var find func(n *kapotv1.PhysicalPlanNode)
	find = func(n *kapotv1.PhysicalPlanNode) {
		if x := n.GetShuffleReader(); x != nil {
			reader = x
		}
		for _, c := range wire.InputSlots(n) {
			find(*c)
		}
	}
	find(r)
	if reader == nil || len(reader.GetPartitions()) != 2 || len(reader.GetPartitions()[1].GetLocations()) != 2 || reader.GetPartitions()[1].GetLocations()[0].GetOutputPartition() != 1 {
		t.Fatalf("resolved reader %v", reader)
	}
	if len(unresolvedInputs(s2.Plan)) != 1 {
		t.Fatal("resolve modified the stage plan in place")
	}
}

func TestSplitStagesRejectsBadPlans(t *testing.T) {
	p := examplePlan(t)
	// Group by a column the input does not have.
	p.GetHashAggregate().GetInput().GetExchange().GetInput().GetHashAggregate().GroupExprs[0].GetColumn().Name = "nope"
	if _, _, _, err := splitStages("job1", p, engine.BuildOptions{}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("plan with an unknown column: %v", err)
	}
	if _, _, _, err := splitStages("job1", &kapotv1.PhysicalPlanNode{}, engine.BuildOptions{}); err == nil {
		t.Fatal("empty plan accepted")
	}
}

// TestSplitStagesSharesEqualExchanges: a CTE read twice (TPC-H Q15's
// revenue0 feeds a join and a max) is one stage read by both parents.
func TestSplitStagesSharesEqualExchanges(t *testing.T) {
	group := examplePlan(t) // a final aggregate over an exchange
	// The grouped result twice: two equal subtrees, each with an exchange
	// inside.
	union := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Union{Union: &kapotv1.UnionNode{
		Inputs: []*kapotv1.PhysicalPlanNode{proto.Clone(group).(*kapotv1.PhysicalPlanNode), proto.Clone(group).(*kapotv1.PhysicalPlanNode)}}}}
	stages, final, _, err := splitStages("job1", union, engine.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || final != 2 {
		t.Fatalf("%d stages (final %d), want 2: the shared exchange once and the final stage", len(stages), final)
	}
	if got := stages[final].Inputs; !slices.Equal(got, []uint32{1}) {
		t.Fatalf("final stage inputs %v, want [1]", got)
	}
	readers := 0
	var walk func(n *kapotv1.PhysicalPlanNode)
	walk = func(n *kapotv1.PhysicalPlanNode) {
		if u := n.GetUnresolvedShuffle(); u != nil && u.GetStageId() == 1 {
			readers++
		}
		for _, c := range wire.InputSlots(n) {
			walk(*c)
		}
	}
	walk(stages[final].Plan)
	if readers != 2 {
		t.Fatalf("final stage reads stage 1 %d times, want 2", readers)
	}
}
