package planner

import kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"

// Cardinality estimates: rough, but enough to keep the big tables on the
// probe side, join the selective relations first and broadcast small ones.

const (
	// selectivity of one filter conjunct.
	filterSelectivity = 0.25
	// unknownRows stands for a table without statistics (CSV).
	unknownRows = 1_000_000
	// broadcastRows is the largest estimated build side broadcast to every
	// probe partition instead of repartitioning both sides.
	broadcastRows = 100_000
)

// estimate is the estimated row count of r.
func estimate(r rel) float64 {
	switch x := r.(type) {
	case *scanRel:
		if x.table.Rows > 0 {
			return float64(x.table.Rows)
		}
		return unknownRows
	case *filterRel:
		n := estimate(x.in)
		for range splitAnd(x.pred) {
			n *= filterSelectivity
		}
		return max(n, 1)
	case *projectRel:
		return estimate(x.in)
	case *sortRel:
		n := estimate(x.in)
		if x.fetch >= 0 {
			n = min(n, float64(x.fetch))
		}
		return n
	case *limitRel:
		n := estimate(x.in)
		if x.fetch >= 0 {
			n = min(n, float64(x.fetch))
		}
		return n
	case *aggRel:
		if len(x.groups) == 0 {
			return 1
		}
		return max(estimate(x.in)*0.1, 1)
	case *joinRel:
		l, r := estimate(x.left), estimate(x.right)
		switch x.jt {
		case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
			return max(l*0.5, 1)
		case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
			return max(r*0.5, 1)
		}
		if len(x.leftKeys) == 0 {
			n := l * r
			if x.filter != nil {
				n *= filterSelectivity
			}
			return n
		}
		n := max(l, r) // a key/foreign-key join keeps the larger side
		if x.filter != nil {
			n *= filterSelectivity
		}
		return max(n, 1)
	}
	return unknownRows
}
