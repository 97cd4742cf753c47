package scheduler

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/planner"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/scheduler/cluster"
)

// adaptiveJob is a job of a join of 2 rows with 12 that repartitions both
// sides (a broadcast threshold of 1 row) and may turn into a broadcast;
// its adaptive join's stages are build, probe and join.
func adaptiveJob(t *testing.T) (j *cluster.Job, build, probe, join uint32) {
	t.Helper()
	return adaptiveJobOf(t, `SELECT a.k, a.v, b.w FROM (VALUES (1, 'x'), (2, 'y')) AS a(k, v)
		JOIN `+twelveRows+` ON a.k = b.k`)
}

// twelveRows is a relation b(k, w) of 12 rows.
const twelveRows = `(VALUES (1, 10), (2, 20), (3, 30), (4, 40), (5, 50), (6, 60), (7, 70), (8, 80), (9, 90), (10, 100), (1, 11), (2, 21)) AS b(k, w)`

// adaptiveJobOf is adaptiveJob of query q.
func adaptiveJobOf(t *testing.T, q string) (j *cluster.Job, build, probe, join uint32) {
	t.Helper()
	plan, err := planner.PlanQuery(context.Background(), catalog.New(), q, planner.Options{TargetPartitions: 2, BroadcastRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	stages, final, _, err := splitStages("job1", plan.Root, engine.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holdAdaptive(stages)
	a := adaptiveJoins(stages)
	if len(a) != 1 {
		t.Fatalf("%d adaptive joins, want 1", len(a))
	}
	j = cluster.NewJob("job1")
	j.Final = final
	for sid := uint32(1); sid <= final; sid++ {
		j.AddStage(stages[sid])
	}
	return j, a[0].build, a[0].probe, a[0].join
}

// complete marks every task of stage id done, each having written rows
// rows to each output partition.
func complete(j *cluster.Job, id uint32, rows int64) {
	st := j.Stages[id]
	for _, t := range st.Tasks {
		t.Phase, t.Outputs = cluster.TaskDone, nil
		for p := 0; p < st.OutParts; p++ {
			t.Outputs = append(t.Outputs, &kapotv1.ShuffleWritePartition{OutputPartition: uint32(p), Stats: &kapotv1.PartitionStats{NumRows: rows, NumBytes: rows * 16}})
		}
	}
}

func TestAdaptiveJoinBecomesBroadcast(t *testing.T) {
	j, build, probe, join := adaptiveJob(t)
	if p := j.Stages[probe]; !slices.Equal(p.After, []uint32{build}) || j.Runnable(p) {
		t.Fatalf("the probe stage does not wait for the build stage: after %v, runnable %v", p.After, j.Runnable(p))
	}
	complete(j, build, 1) // 1 row in each of the 2 partitions
	if !adaptJoins(j, build) {
		t.Fatal("a build side of 2 rows against 12 did not turn into a broadcast")
	}
	if !slices.Equal(j.Adapted, []uint32{probe}) {
		t.Fatalf("adapted %v, want [%d]", j.Adapted, probe)
	}
	// The probe stage joins its input with all of the build stage's
	// output and partitions the join's rows as it partitioned its own.
	p := j.Stages[probe]
	hj := p.Plan.GetShuffleWriter().GetInput().GetHashJoin()
	if hj.GetMode() != kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT || hj.GetAdaptiveProbeRows() != 0 ||
		hj.GetLeft().GetUnresolvedShuffle().GetStageId() != build || hj.GetRight().GetUnresolvedShuffle() != nil {
		t.Fatalf("probe stage plan %v", p.Plan)
	}
	if !slices.Equal(p.Inputs, []uint32{build}) || len(p.After) != 0 || !j.Runnable(p) {
		t.Fatalf("probe stage inputs %v after %v runnable %v", p.Inputs, p.After, j.Runnable(p))
	}
	// The join's output is the build side's 2 columns then the probe
	// side's: its rows are partitioned on the probe key, column 2.
	part := p.Plan.GetShuffleWriter().GetPartitioning().GetHash()
	if len(part.GetExprs()) != 1 || part.GetExprs()[0].GetColumn().GetIndex() != 2 || part.GetPartitionCount() != 2 {
		t.Fatalf("probe stage partitioning %v", part)
	}
	// The join stage reads the probe stage where it joined.
	js := j.Stages[join]
	if !slices.Equal(js.Inputs, []uint32{probe}) {
		t.Fatalf("join stage inputs %v", js.Inputs)
	}
	if _, err := engine.FromProto(js.Plan); err != nil {
		t.Fatalf("join stage plan: %v", err)
	}
	if _, err := engine.FromProto(p.Plan); err != nil {
		t.Fatalf("probe stage plan: %v", err)
	}
	// Done again (its output lost and computed again): nothing changes.
	if adaptJoins(j, build) {
		t.Fatal("adapted twice")
	}

	// A scheduler taking over adapts the same stages the same way.
	j2, _, _, _ := adaptiveJob(t)
	readaptJoins(j2, j.Adapted)
	for id, st := range j.Stages {
		if !proto.Equal(st.Plan, j2.Stages[id].Plan) || !slices.Equal(st.Inputs, j2.Stages[id].Inputs) {
			t.Fatalf("stage %d adapted again differs:\n%v\n%v", id, st.Plan, j2.Stages[id].Plan)
		}
	}
	if !slices.Equal(j2.Adapted, j.Adapted) {
		t.Fatalf("adapted again %v, want %v", j2.Adapted, j.Adapted)
	}
}

func TestAdaptiveJoinStaysWhenLarge(t *testing.T) {
	// The probe stage's one task x 4 x the build side's rows must be at
	// most the probe side's 12 estimated rows: 4 rows are too many.
	j, build, probe, _ := adaptiveJob(t)
	complete(j, build, 2) // 2 rows in each of the 2 partitions
	if adaptJoins(j, build) {
		t.Fatal("a build side of 4 rows against 12 turned into a broadcast")
	}
	if p := j.Stages[probe]; !j.Runnable(p) || p.Plan.GetShuffleWriter().GetInput().GetHashJoin() != nil {
		t.Fatalf("probe stage changed or not runnable: %v", p.Plan)
	}

	// A probe stage already started stays as planned.
	j, build, probe, _ = adaptiveJob(t)
	j.Stages[probe].Tasks[0].Phase = cluster.TaskRunning
	complete(j, build, 0)
	if adaptJoins(j, build) {
		t.Fatal("a started probe stage turned into a broadcast")
	}
}

func TestAdaptiveSemiJoinReducesProbe(t *testing.T) {
	q := `SELECT a.k, a.v FROM (VALUES (1, 'x'), (2, 'y')) AS a(k, v) WHERE EXISTS (SELECT 1 FROM ` + twelveRows + ` WHERE b.k = a.k)`
	j, build, probe, join := adaptiveJobOf(t, q)
	complete(j, build, 1)
	if !adaptJoins(j, build) {
		t.Fatal("the semi join's probe side was not reduced")
	}
	// The probe stage writes only its rows whose key matches a build key,
	// partitioned as before; the join stage joins as planned.
	p := j.Stages[probe]
	red := p.Plan.GetShuffleWriter().GetInput().GetHashJoin()
	if red.GetJoinType() != kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI || red.GetMode() != kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT ||
		red.GetLeft().GetProjection().GetInput().GetUnresolvedShuffle().GetStageId() != build || len(red.GetLeft().GetProjection().GetExprs()) != 1 {
		t.Fatalf("probe stage plan %v", p.Plan)
	}
	if !slices.Equal(p.Inputs, []uint32{build}) || !j.Runnable(p) {
		t.Fatalf("probe stage inputs %v runnable %v", p.Inputs, j.Runnable(p))
	}
	var semi *kapotv1.HashJoinNode
	walkPlan(&j.Stages[join].Plan, func(slot **kapotv1.PhysicalPlanNode) {
		if hj := (*slot).GetHashJoin(); hj != nil {
			semi = hj
		}
	})
	if semi.GetJoinType() != kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI || semi.GetMode() != kapotv1.JoinMode_JOIN_MODE_PARTITIONED || semi.GetAdaptiveProbeRows() != 0 {
		t.Fatalf("join stage's join %v", semi)
	}
	for _, id := range []uint32{probe, join} {
		if _, err := engine.FromProto(j.Stages[id].Plan); err != nil {
			t.Fatalf("stage %d plan: %v", id, err)
		}
	}
	if adaptJoins(j, build) {
		t.Fatal("reduced twice")
	}
	j2, _, _, _ := adaptiveJobOf(t, q)
	readaptJoins(j2, j.Adapted)
	for id, st := range j.Stages {
		if !proto.Equal(st.Plan, j2.Stages[id].Plan) {
			t.Fatalf("stage %d adapted again differs:\n%v\n%v", id, st.Plan, j2.Stages[id].Plan)
		}
	}
}
