package planner

import (
	"testing"

	"google.golang.org/protobuf/proto"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestOneGroup: the groups of a scan merge into one that reads each file
// whole only when together they read every file exactly once: all the
// row group shares of a split file, none twice, no key ranges.
func TestOneGroup(t *testing.T) {
	share := func(p string, i, n int32) *kapotv1.FileGroup {
		return &kapotv1.FileGroup{Paths: []string{p}, RowGroupShare: i, RowGroupShares: n}
	}
	files := func(ps ...string) *kapotv1.FileGroup { return &kapotv1.FileGroup{Paths: ps} }
	for _, c := range []struct {
		name   string
		groups []*kapotv1.FileGroup
		want   *kapotv1.FileGroup // nil: not merged
	}{
		{"one group", []*kapotv1.FileGroup{files("a", "b")}, nil},
		{"files", []*kapotv1.FileGroup{files("a", "b"), files("c")}, files("a", "b", "c")},
		{"shares of a file", []*kapotv1.FileGroup{share("a", 0, 2), share("a", 1, 2)}, files("a")},
		{"shares and files", []*kapotv1.FileGroup{share("a", 1, 3), files("b"), share("a", 0, 3), share("a", 2, 3)}, files("a", "b")},
		{"a share missing", []*kapotv1.FileGroup{share("a", 0, 3), share("a", 2, 3)}, nil},
		{"a share out of its count", []*kapotv1.FileGroup{share("a", 0, 2), share("a", 2, 2)}, nil},
		{"a share twice", []*kapotv1.FileGroup{share("a", 0, 2), share("a", 0, 2), share("a", 1, 2)}, nil},
		{"shares of two cuts", []*kapotv1.FileGroup{share("a", 0, 2), share("a", 1, 3)}, nil},
		{"a file twice", []*kapotv1.FileGroup{files("a"), files("a")}, nil},
		{"a file whole and split", []*kapotv1.FileGroup{files("a"), share("a", 0, 2), share("a", 1, 2)}, nil},
		{"key ranges", []*kapotv1.FileGroup{{Paths: []string{"a"}, RangeColumn: "k", Range: &kapotv1.KeyRange{Lo: 0, Hi: 9}}, files("b")}, nil},
	} {
		got := oneGroup(c.groups)
		if (got == nil) != (c.want == nil) || got != nil && !proto.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCollapseBuildScans: a COLLECT_LEFT join's build side whose rows
// come, through a projection and a nested COLLECT_LEFT join's probe side,
// from a scan split in two (TPC-H Q9's partsupp joined with the green
// parts) reads that scan as one partition; a build side with no nested
// join, one under an exchange or one split by key ranges keeps its
// partitions, and so does the probe side.
func TestCollapseBuildScans(t *testing.T) {
	scan := func(groups ...*kapotv1.FileGroup) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{FileGroups: groups}}}
	}
	split := func(p string) *kapotv1.PhysicalPlanNode {
		return scan(&kapotv1.FileGroup{Paths: []string{p}, RowGroupShare: 0, RowGroupShares: 2}, &kapotv1.FileGroup{Paths: []string{p}, RowGroupShare: 1, RowGroupShares: 2})
	}
	join := func(l, r *kapotv1.PhysicalPlanNode, ranges ...*kapotv1.KeyRange) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
			Left: l, Right: r, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, BuildRanges: ranges}}}
	}
	project := func(in *kapotv1.PhysicalPlanNode) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{Input: in}}}
	}
	exchange := func(in *kapotv1.PhysicalPlanNode) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Exchange{Exchange: &kapotv1.ExchangeNode{Input: in}}}
	}
	parts := func(n *kapotv1.PhysicalPlanNode) int { return len(n.GetParquetScan().GetFileGroups()) }

	part, partsupp, lineitem := split("part"), split("partsupp"), split("lineitem")
	collapseBuildScans(join(project(join(part, partsupp)), lineitem))
	if parts(partsupp) != 1 || parts(lineitem) != 2 {
		t.Errorf("Q9's shape: partsupp %d partitions (want 1), lineitem %d (want 2)", parts(partsupp), parts(lineitem))
	}
	if g := partsupp.GetParquetScan().GetFileGroups()[0]; len(g.GetPaths()) != 1 || g.GetRowGroupShares() != 0 {
		t.Errorf("partsupp's group %v, want the whole file", g)
	}

	plain, probe := split("customer"), split("orders")
	collapseBuildScans(join(plain, probe))
	if parts(plain) != 2 {
		t.Errorf("a build side without a nested join: %d partitions, want 2", parts(plain))
	}
	under := split("partsupp")
	collapseBuildScans(join(exchange(join(split("part"), under)), split("lineitem")))
	if parts(under) != 2 {
		t.Errorf("a build side under an exchange: %d partitions, want 2", parts(under))
	}
	ranged := split("partsupp")
	collapseBuildScans(join(join(split("part"), ranged, &kapotv1.KeyRange{Lo: 0, Hi: 9}, &kapotv1.KeyRange{Lo: 10, Hi: 19}), split("lineitem")))
	if parts(ranged) != 2 {
		t.Errorf("a nested join with build ranges: %d partitions, want 2", parts(ranged))
	}
}
