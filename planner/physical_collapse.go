package planner

import (
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// collapseBuildScans reads the Parquet scan that feeds a COLLECT_LEFT
// join's build side as one partition, on the plan after unshare. A task
// builds such a join from every partition of its left side, one after the
// other, and each partition is its own pipeline: a COLLECT_LEFT join
// nested in it (a dimension joined to the build side's rows) built its
// own side again for each. TPC-H Q9 builds partsupp joined with the green
// parts, with partsupp read as two partitions: every task read and
// filtered all 200 000 parts twice. Read as one partition, the nested
// joins build once a task; the rows are the same.
//
// The scan collapsed is the one the left side's rows come from, through
// projections, filters and the probe sides of COLLECT_LEFT joins (whose
// output has their probe side's partitions): the partitions of anything
// else (an exchange, a union, a join by partitions) are left as they are,
// and so are scans split by key ranges, which may leave rows out.
func collapseBuildScans(root *kapotv1.PhysicalPlanNode) {
	wire.Walk(root, func(n *kapotv1.PhysicalPlanNode) {
		if j := n.GetHashJoin(); j != nil && j.GetMode() == kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT && len(j.GetBuildRanges()) == 0 {
			if s, nested := buildSource(j.GetLeft()); nested {
				if g := oneGroup(s.GetFileGroups()); g != nil {
					s.FileGroups = []*kapotv1.FileGroup{g}
				}
			}
		}
	})
}

// buildSource is the Parquet scan n's partitions are, through
// projections, filters and the probe sides of COLLECT_LEFT joins without
// build ranges, and whether it passed such a join (without one, a
// partition builds nothing: its partitions cost nothing twice); nil when
// they come from anything else.
func buildSource(n *kapotv1.PhysicalPlanNode) (_ *kapotv1.ParquetScanNode, nested bool) {
	for n != nil {
		switch {
		case n.GetProjection() != nil:
			n = n.GetProjection().GetInput()
		case n.GetFilter() != nil:
			n = n.GetFilter().GetInput()
		case n.GetHashJoin() != nil:
			j := n.GetHashJoin()
			if j.GetMode() != kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT || len(j.GetBuildRanges()) > 0 {
				return nil, false
			}
			n, nested = j.GetRight(), true
		case n.GetParquetScan() != nil:
			return n.GetParquetScan(), nested
		default:
			return nil, false
		}
	}
	return nil, false
}

// oneGroup is the file group that reads what groups read together: their
// files, each whole, in order of first appearance. It is nil when there is
// nothing to merge (one group), when a group is split by key range, or
// when a file's row group shares are not all there.
func oneGroup(groups []*kapotv1.FileGroup) *kapotv1.FileGroup {
	if len(groups) < 2 {
		return nil
	}
	var paths []string
	shares := map[string]map[int32]bool{} // a split file's shares seen
	of := map[string]int32{}              // a split file's share count
	whole := map[string]bool{}
	for _, g := range groups {
		if g.GetRangeColumn() != "" || g.GetRange() != nil {
			return nil
		}
		n := g.GetRowGroupShares()
		for _, p := range g.GetPaths() {
			if !whole[p] && shares[p] == nil {
				paths = append(paths, p)
			}
			if n <= 1 {
				if whole[p] || shares[p] != nil {
					return nil // read twice: not a plain split
				}
				whole[p] = true
				continue
			}
			if i := g.GetRowGroupShare(); i < 0 || i >= n || whole[p] || (shares[p] != nil && of[p] != n) || shares[p][i] {
				return nil
			}
			if shares[p] == nil {
				shares[p], of[p] = map[int32]bool{}, n
			}
			shares[p][g.GetRowGroupShare()] = true
		}
	}
	for p, s := range shares {
		if int32(len(s)) != of[p] {
			return nil
		}
	}
	return &kapotv1.FileGroup{Paths: paths}
}
