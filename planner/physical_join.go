package planner

import (
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Lowering joins: co-partitioned, range-exchanged, broadcast or hash-
// partitioned, and the partitioning a join's output keeps.

// coPartitioned finds a pair of plain-column keys that split l and r into
// matching partitions: every key value either side's partition i may hold
// lies in a range that no other partition of either side overlaps, so the
// partitions join pairwise without an exchange (a storage-partitioned
// join). It returns the pair's position.
func coPartitioned(lk, rk []*expr, l, r lowered) (int, bool) {
	if l.parts != r.parts {
		return 0, false
	}
	for i := range lk {
		if lk[i].kind != eCol || rk[i].kind != eCol {
			continue
		}
		a, aok := l.rangedBy(lk[i].col)
		b, bok := r.rangedBy(rk[i].col)
		if aok && bok && disjointHulls(a, b) {
			return i, true
		}
	}
	return 0, false
}

// colsAt is the columns of keys at pos, or nil when one of them is not a
// plain column.
func colsAt(keys []*expr, pos []int) []colID {
	out := make([]colID, len(pos))
	for i, k := range pos {
		if keys[k].kind != eCol {
			return nil
		}
		out[i] = keys[k].col
	}
	return out
}

// protosAt picks the key expressions at pos.
func protosAt(keys []*kapotv1.PhysicalExprNode, pos []int) []*kapotv1.PhysicalExprNode {
	out := make([]*kapotv1.PhysicalExprNode, len(pos))
	for i, k := range pos {
		out[i] = keys[k]
	}
	return out
}

// keyTypesMatch reports whether the key pairs at pos have the same types,
// so that both sides hash equal keys to the same partition.
func keyTypesMatch(lk, rk []*expr, pos []int) bool {
	for _, k := range pos {
		if !typesEqual(lk[k], rk[k]) {
			return false
		}
	}
	return true
}

func (p *lowerer) lowerJoin(j *joinRel, need map[colID]bool) (lowered, error) {
	if j.reduced != nil {
		j = j.reduced
	}
	j = buildSmaller(j)
	lneed := map[colID]bool{}
	rneed := map[colID]bool{}
	lset, rset := idSet(j.left.output()), idSet(j.right.output())
	all := addRefs(need, j.filter)
	if need == nil {
		all = addRefs(idSet(j.output()), j.filter)
	}
	all = addRefs(all, append(append([]*expr{}, j.leftKeys...), j.rightKeys...)...)
	for id := range all {
		if lset[id] {
			lneed[id] = true
		}
		if rset[id] {
			rneed[id] = true
		}
	}
	l, err := p.lower(j.left, lneed)
	if err != nil {
		return lowered{}, err
	}
	r, err := p.lower(j.right, rneed)
	if err != nil {
		return lowered{}, err
	}
	l, r = p.prune(l, lneed), p.prune(r, rneed)
	out := lowered{cols: append(append([]colID{}, l.cols...), r.cols...)}
	var filter *kapotv1.PhysicalExprNode
	if j.filter != nil {
		if filter, err = j.filter.proto(out.pos()); err != nil {
			return lowered{}, err
		}
	}
	if len(j.leftKeys) == 0 {
		// No equality: a nested-loop join probing each right partition
		// against all of the left. Outer joins keeping left rows need the
		// right side in one partition.
		if j.jt != kapotv1.JoinType_JOIN_TYPE_INNER && r.parts > 1 {
			r.node, r.parts = exchange(r.node, single), 1
		}
		out.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_NestedLoopJoin{NestedLoopJoin: &kapotv1.NestedLoopJoinNode{
			Left: l.node, Right: r.node, JoinType: j.jt, Filter: filter}}}
		out.parts = r.parts
		if j.jt == kapotv1.JoinType_JOIN_TYPE_INNER {
			out.hashed, out.ranged = r.hashed, r.ranged
		}
		out.cols = joinOutput(j.jt, l.cols, r.cols)
		return out, nil
	}
	lk, err := p.exprs(j.leftKeys, l)
	if err != nil {
		return lowered{}, err
	}
	rk, err := p.exprs(j.rightKeys, r)
	if err != nil {
		return lowered{}, err
	}
	if _, ok := coPartitioned(j.leftKeys, j.rightKeys, l, r); ok && l.parts >= p.parts {
		// Both sides are split by value ranges of a key that match file by
		// file: join partition i with partition i, no exchange, no
		// broadcast (each task builds its own range only).
		hj := &kapotv1.HashJoinNode{Left: l.node, Right: r.node, JoinType: j.jt, Mode: kapotv1.JoinMode_JOIN_MODE_PARTITIONED, Filter: filter}
		for i := range lk {
			hj.On = append(hj.On, &kapotv1.JoinOn{Left: lk[i], Right: rk[i]})
		}
		out.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: hj}}
		out.parts = l.parts
		out.cols = joinOutput(j.jt, l.cols, r.cols)
		out.ranged = joinRanged(j.jt, l.ranged, r.ranged)
		return out, nil
	}
	if out, ok := p.rangeExchangeJoin(j, l, r, lk, rk, filter); ok {
		return out, nil
	}
	// Both sides in one partition: one task builds the small left side
	// and probes it, where partitioning both sides costs two exchanges
	// for a join of few rows (TPC-DS q02's weeks of one year against
	// date_dim). A side in several partitions keeps them (q35's and q10's
	// aggregates by customer, in one task, were 25 % slower).
	if collectsLeft(j.jt) && l.parts == 1 && r.parts == 1 && p.broadcast >= 0 && estimate(j.left) <= p.broadcast {
		out, err := p.broadcastJoin(j, l, r, lk, rk, j.leftKeys, j.rightKeys, j.left)
		return out, err
	}
	// A small side cheap to compute is built in every probe task; a small
	// side costly to compute is computed once and broadcast.
	if out, ok, err := p.broadcastWith(j, l, r, lk, rk, p.broadcastable, false); ok {
		return out, err
	}
	if out, ok, err := p.broadcastWith(j, l, r, lk, rk, p.broadcastOnce, true); ok {
		return out, err
	}
	// Both sides must be hash-partitioned the same way on (some of) the
	// keys. A side already partitioned on some of them keeps its
	// partitioning and the other side follows it.
	pos := make([]int, len(lk))
	for i := range pos {
		pos[i] = i
	}
	// The side a semi or anti join only tests for existence is exchanged
	// without its duplicate keys.
	ln, rn := l.node, r.node
	switch j.jt {
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		rn = p.distinctKeys(j.filter, j.right, j.rightKeys, r)
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		ln = p.distinctKeys(j.filter, j.left, j.leftKeys, l)
	}
	left, right := exchange(ln, hashPart(lk, p.parts)), exchange(rn, hashPart(rk, p.parts))
	lpos, lok := l.hashedOn(j.leftKeys, p.parts)
	rpos, rok := r.hashedOn(j.rightKeys, p.parts)
	// A left side already partitioned but whose size is a guess (rows of
	// groups a HAVING filters: TPC-H Q18's orders of over 300 units), or
	// that a semi or anti join keeps rows of, is exchanged again when the
	// join may then adapt (a broadcast, or a right side reduced to the
	// rows matching its keys): the right side, a scan of a large table, is
	// then not repartitioned whole.
	adaptiveLeft := lok && !rok && (havingFiltered(j.left) || semiOrAnti(j.jt)) && p.adaptiveProbeRows(j) > 0
	bothExchanged := false
	switch {
	case lok && rok && slices.Equal(lpos, rpos):
		pos, left, right = lpos, l.node, r.node
	case lok && !adaptiveLeft && keyTypesMatch(j.leftKeys, j.rightKeys, lpos):
		pos, left, right = lpos, l.node, exchange(rn, hashPart(protosAt(rk, lpos), p.parts))
	case rok && keyTypesMatch(j.leftKeys, j.rightKeys, rpos):
		pos, left, right = rpos, exchange(ln, hashPart(protosAt(lk, rpos), p.parts)), r.node
	default:
		bothExchanged = true
	}
	hj := &kapotv1.HashJoinNode{
		Left: left, Right: right,
		JoinType: j.jt, Mode: kapotv1.JoinMode_JOIN_MODE_PARTITIONED, Filter: filter,
	}
	if bothExchanged {
		hj.AdaptiveProbeRows = p.adaptiveProbeRows(j)
	}
	out.hashed = joinHashed(j.jt, colsAt(j.leftKeys, pos), colsAt(j.rightKeys, pos))
	// After the exchange the keys are read from the exchanged columns.
	for i := range lk {
		hj.On = append(hj.On, &kapotv1.JoinOn{Left: lk[i], Right: rk[i]})
	}
	out.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: hj}}
	out.parts = p.parts
	out.cols = joinOutput(j.jt, l.cols, r.cols)
	return out, nil
}

// adaptiveProbeRows is the estimate of j's right side when the join,
// repartitioning both sides, may turn into a broadcast once its left side
// is computed, or (a semi or anti join, which keeps left rows) have its
// right side reduced to the rows that match a left key before they are
// repartitioned (see HashJoinNode.adaptive_probe_rows), else 0. The join
// must output no unmatched left row (a broadcast) or left rows only (a
// reduction: a semi or anti join), the right side must be
// estimated at adaptiveProbeShare times the broadcast threshold or more
// (1 million rows by default: not repartitioning it must pay for building
// the left side in each of its tasks) and the left side at most
// 1/adaptiveShare of it. Estimates of filtered joins and aggregates are
// often far off: TPC-H Q18's orders whose lines add up to over 300,
// estimated at 7.5 million rows at SF 10, are 640.
func (p *lowerer) adaptiveProbeRows(j *joinRel) uint64 {
	switch j.jt {
	case kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinType_JOIN_TYPE_RIGHT, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI,
		kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
	default:
		return 0
	}
	if p.broadcast < 0 {
		return 0
	}
	pe := estimate(j.right)
	if pe < p.broadcast*adaptiveProbeShare || estimate(j.left)*adaptiveShare > pe {
		return 0
	}
	return uint64(pe)
}

// semiOrAnti reports whether jt keeps left rows by whether a right row
// matches.
func semiOrAnti(jt kapotv1.JoinType) bool {
	return jt == kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI || jt == kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI
}

// havingFiltered reports whether r is groups of an aggregate that a
// filter keeps (a HAVING clause), under projections.
func havingFiltered(r rel) bool {
	for {
		switch x := r.(type) {
		case *projectRel:
			r = x.in
		case *filterRel:
			for in := x.in; ; {
				switch y := in.(type) {
				case *projectRel:
					in = y.in
				case *aggRel:
					return true
				default:
					return false
				}
			}
		default:
			return false
		}
	}
}

// adaptiveShare: a join may turn into a broadcast at run time when its
// left side is estimated at most 1/adaptiveShare of its right side.
const adaptiveShare = 4

// adaptiveProbeShare: a join may turn into a broadcast at run time when
// its right side is estimated at adaptiveProbeShare times the broadcast
// threshold or more.
const adaptiveProbeShare = 10

// distinctKeysReduction is how many times fewer rows each task's
// partial aggregate of a semi or anti join's keys must send (by the
// estimate) to be planned.
const distinctKeysReduction = 4

// distinctKeys is side's plan with a partial aggregate that drops rows
// whose join keys repeat, when side (lowered as in) outputs only its
// plain-column keys, the join has no residual filter and the keys'
// distinct values are estimated at under half of side's rows: a semi or
// anti join only asks whether a key exists, so each task sends every key
// once (Q22's NOT EXISTS over orders sent 1.5 M customer keys, of 100 000
// distinct). Otherwise it is in.node.
func (p *lowerer) distinctKeys(filter *expr, side rel, keys []*expr, in lowered) *kapotv1.PhysicalPlanNode {
	if filter != nil || len(keys) == 0 || len(keys) != len(in.cols) {
		return in.node
	}
	ndv := 1.0
	for _, k := range keys {
		if k.kind != eCol || !slices.Contains(in.cols, k.col) {
			return in.node
		}
		v := columnNDV(side, k)
		if v <= 0 {
			return in.node
		}
		ndv *= v
	}
	// Each task dedupes its own rows: of r rows drawn from ndv values it
	// keeps about ndv*(1-e^(-r/ndv)) (TPC-H Q22's orders at SF 1: 750 000
	// rows a task, one file read as two shares, keep 100 000, 7.5x fewer;
	// 187 000 a task, eight files, keep 85 000: the aggregate cost more
	// than the 2.2x fewer rows saved, 0.87x without it).
	rows := estimate(side) / float64(max(in.parts, 1))
	if kept := ndv * (1 - math.Exp(-rows/ndv)); kept*distinctKeysReduction > rows {
		return in.node
	}
	groups := make([]*kapotv1.PhysicalExprNode, len(in.cols))
	names := make([]string, len(in.cols))
	for i, id := range in.cols {
		groups[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(i)}}}
		names[i] = p.b.cols[id].name
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: in.node, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, GroupExprs: groups, GroupNames: names}}}
}

// broadcastWith is j as a COLLECT_LEFT hash join that builds a side
// small says may be broadcast whole in every task probing a partition of
// the other, which keeps its partitioning (no exchange of the big side):
// for an outer, semi or anti join whose output never needs the build
// side's unmatched rows, its left side; for an inner join, the smaller of
// the sides that qualify. With once, the build side is computed once, in
// a stage of its own, and read whole by every probe task
// (costModel.broadcastOnce: TPC-H Q3's customer ⋈ orders, 150 000 rows
// from 1.6 M scanned, against 3.2 M lineitems, which repartitioning moved
// whole). ok is false when neither side qualifies.
func (p *lowerer) broadcastWith(j *joinRel, l, r lowered, lk, rk []*kapotv1.PhysicalExprNode, small func(build, probe rel) bool, once bool) (lowered, bool, error) {
	side := func(build lowered) lowered {
		if once && build.node.GetExchange() == nil {
			build.node = exchange(build.node, single)
		}
		return build
	}
	if collectsLeft(j.jt) {
		if small(j.left, j.right) && !small(j.right, j.left) {
			out, err := p.broadcastJoin(j, side(l), r, lk, rk, j.leftKeys, j.rightKeys, j.left)
			return out, true, err
		}
		return lowered{}, false, nil
	}
	if j.jt != kapotv1.JoinType_JOIN_TYPE_INNER {
		return lowered{}, false, nil
	}
	lb, rb := small(j.left, j.right), small(j.right, j.left)
	if rb && (!lb || estimate(j.right) < estimate(j.left)) {
		out, err := p.broadcastJoin(j, side(r), l, rk, lk, j.rightKeys, j.leftKeys, j.right)
		return out, true, err
	}
	if lb {
		out, err := p.broadcastJoin(j, side(l), r, lk, rk, j.leftKeys, j.rightKeys, j.left)
		return out, true, err
	}
	return lowered{}, false, nil
}

// onceScanShare: a build side of two probe tasks is computed once when it
// scans at least this many rows for each it keeps (and rangeExchangeRows
// in all): TPC-H Q9's green parts with their partsupp rows, 870 000 rows
// of 10 M scanned at SF 10, cost each lineitem task a second of scanning.
const onceScanShare = 4

// broadcastJoin is j as a COLLECT_LEFT hash join that builds all of build
// (buildRel lowered) in every task probing a partition of probe, which
// keeps its partitioning. Sides may be exchanged for an inner join (build
// is then j's right side); others keep j's order. A build side that
// would cost much to compute again in each of many probe tasks (a filter
// over a big table, probed by a table split into many ranges) is computed
// once, in a stage of its own, whose output every probe task reads.
func (p *lowerer) broadcastJoin(j *joinRel, build, probe lowered, bk, pk []*kapotv1.PhysicalExprNode, bke, pke []*expr, buildRel rel) (lowered, error) {
	if copies := probe.parts; build.node.GetExchange() == nil && copies >= 2 {
		scanned := scannedRows(buildRel) * float64(copies-1)
		if copies > 2 && scanned >= rangeExchangeRows || scanned >= rangeExchangeRows && scannedRows(buildRel) >= onceScanShare*estimate(buildRel) {
			build.node = exchange(build.node, single)
		}
	}
	out := lowered{cols: append(append([]colID{}, build.cols...), probe.cols...), parts: probe.parts, hashed: probe.hashed, ranged: probe.ranged}
	var f *kapotv1.PhysicalExprNode
	if j.filter != nil {
		var err error
		if f, err = j.filter.proto(out.pos()); err != nil {
			return lowered{}, err
		}
	}
	hj := &kapotv1.HashJoinNode{Left: build.node, Right: probe.node, JoinType: j.jt, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, Filter: f}
	for i := range bk {
		hj.On = append(hj.On, &kapotv1.JoinOn{Left: bk[i], Right: pk[i]})
	}
	hj.BuildRanges, hj.BuildRangeKey = buildRanges(j.jt, bke, pke, probe)
	out.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: hj}}
	out.cols = joinOutput(j.jt, build.cols, probe.cols)
	return out, nil
}

// buildRanges finds a key whose probe column splits the probe side by
// value ranges (storage partitioning) and returns each probe partition's
// range and the key's position: the task probing a partition then builds
// only the broadcast rows whose key lies in its range, so each task's hash
// table holds its share of the build side instead of all of it (TPC-H Q5
// broadcasts customer ⋈ orders to tasks that probe one lineitem file each).
// A join that outputs unmatched build rows keeps them all (nil).
func buildRanges(jt kapotv1.JoinType, bke, pke []*expr, probe lowered) ([]*kapotv1.KeyRange, uint32) {
	switch jt {
	case kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinType_JOIN_TYPE_FULL, kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return nil, 0
	}
	for i, pk := range pke {
		if pk.kind != eCol || i >= len(bke) {
			continue
		}
		bounds, ok := probe.rangedBy(pk.col)
		if !ok || len(bounds) != probe.parts || len(bounds) < 2 {
			continue
		}
		switch bke[i].typ.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		default:
			continue
		}
		out := make([]*kapotv1.KeyRange, len(bounds))
		for p, b := range bounds {
			out[p] = &kapotv1.KeyRange{Lo: b[0], Hi: b[1]}
		}
		return out, uint32(i)
	}
	return nil, 0
}

// rangeExchangeJoin joins j's sides partition by partition when one side
// is split by value ranges of a join key (storage partitioning) into at
// least the target partition count: the other side is exchanged into the
// same ranges (its rows outside all of them can match nothing and are
// dropped), the split side stays where it is. That moves one side where a
// hash join moves both, and computes the other side once where a
// broadcast computes it in every task — unless that is cheap (a small
// table), or the split side itself can be broadcast: those stay
// broadcasts. Only for joins that output no unmatched row of the
// exchanged side.
func (p *lowerer) rangeExchangeJoin(j *joinRel, l, r lowered, lk, rk []*kapotv1.PhysicalExprNode, filter *kapotv1.PhysicalExprNode) (lowered, bool) {
	// Which side may lose its rows outside the ranges.
	var leftOK, rightOK bool
	switch j.jt {
	case kapotv1.JoinType_JOIN_TYPE_INNER:
		leftOK, rightOK = true, true
	case kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		rightOK = true
	case kapotv1.JoinType_JOIN_TYPE_RIGHT, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		leftOK = true
	}
	for i := range j.leftKeys {
		lke, rke := j.leftKeys[i], j.rightKeys[i]
		if !arrow.IsSignedInteger(lke.typ.ID()) || !arrow.IsSignedInteger(rke.typ.ID()) {
			continue
		}
		for _, c := range []struct {
			ok               bool
			split, other     lowered
			splitKey         *expr
			otherRel         rel
			splitRel         rel
			otherKey         *kapotv1.PhysicalExprNode
			otherKeyExpr     *expr
			exchangeIsOnLeft bool
		}{
			{leftOK, r, l, rke, j.left, j.right, lk[i], lke, true},
			{rightOK, l, r, lke, j.right, j.left, rk[i], rke, false},
		} {
			if !c.ok || c.splitKey.kind != eCol || c.split.parts < p.parts {
				continue
			}
			bounds, ok := c.split.rangedBy(c.splitKey.col)
			if !ok || len(bounds) != c.split.parts || len(bounds) < 2 {
				continue
			}
			if p.broadcastable(c.splitRel, c.otherRel) {
				continue // the split side is broadcast, the other stays
			}
			if p.broadcastable(c.otherRel, c.splitRel) && scannedRows(c.otherRel)*float64(c.split.parts-1) < rangeExchangeRows {
				continue // cheaper broadcast (with build ranges)
			}
			ranges := make([]*kapotv1.KeyRange, len(bounds))
			for k, b := range bounds {
				ranges[k] = &kapotv1.KeyRange{Lo: b[0], Hi: b[1]}
			}
			src := c.other.node
			switch {
			case !c.exchangeIsOnLeft && (j.jt == kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI || j.jt == kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI):
				src = p.distinctKeys(j.filter, j.right, j.rightKeys, r)
			case c.exchangeIsOnLeft && (j.jt == kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI || j.jt == kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI):
				src = p.distinctKeys(j.filter, j.left, j.leftKeys, l)
			}
			moved := exchange(src, &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Range{Range: &kapotv1.RangePartitioning{Expr: c.otherKey, Ranges: ranges}}})
			hj := &kapotv1.HashJoinNode{JoinType: j.jt, Mode: kapotv1.JoinMode_JOIN_MODE_PARTITIONED, Filter: filter}
			moved2 := []rangedCol(nil)
			if c.otherKeyExpr.kind == eCol {
				moved2 = []rangedCol{{col: c.otherKeyExpr.col, bounds: bounds}}
			}
			var lr, rr []rangedCol
			if c.exchangeIsOnLeft {
				hj.Left, hj.Right = moved, r.node
				lr, rr = moved2, r.ranged
			} else {
				hj.Left, hj.Right = l.node, moved
				lr, rr = l.ranged, moved2
			}
			for k := range lk {
				hj.On = append(hj.On, &kapotv1.JoinOn{Left: lk[k], Right: rk[k]})
			}
			return lowered{node: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: hj}},
				cols: joinOutput(j.jt, l.cols, r.cols), parts: c.split.parts, ranged: joinRanged(j.jt, lr, rr)}, true
		}
	}
	return lowered{}, false
}

// joinHashed is the partitioning of a partitioned join's output, given the
// key columns its sides were partitioned by (nil when not plain columns):
// the sides whose rows the join passes through keep theirs.
func joinHashed(jt kapotv1.JoinType, l, r []colID) [][]colID {
	var out [][]colID
	switch jt {
	case kapotv1.JoinType_JOIN_TYPE_INNER:
		out = [][]colID{l, r}
	case kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		out = [][]colID{l}
	case kapotv1.JoinType_JOIN_TYPE_RIGHT, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		out = [][]colID{r}
	}
	return slices.DeleteFunc(out, func(c []colID) bool { return c == nil })
}

// joinRanged is the value-range partitioning of a co-partitioned join's
// output: the sides whose rows pass through unchanged (and never as nulls)
// keep theirs.
func joinRanged(jt kapotv1.JoinType, l, r []rangedCol) []rangedCol {
	switch jt {
	case kapotv1.JoinType_JOIN_TYPE_INNER:
		return append(slices.Clone(l), r...)
	case kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return l
	case kapotv1.JoinType_JOIN_TYPE_RIGHT, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		return r
	}
	return nil
}

// swappedJoin is the join type that gives the same rows with the sides
// exchanged.
func swappedJoin(jt kapotv1.JoinType) kapotv1.JoinType {
	switch jt {
	case kapotv1.JoinType_JOIN_TYPE_LEFT:
		return kapotv1.JoinType_JOIN_TYPE_RIGHT
	case kapotv1.JoinType_JOIN_TYPE_RIGHT:
		return kapotv1.JoinType_JOIN_TYPE_LEFT
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI:
		return kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI:
		return kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI
	case kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		return kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI
	}
	return jt // inner, full
}

// buildSmaller returns j with its sides exchanged when the right side is
// estimated smaller: the engine builds its hash table on the left side and
// streams the right, so the smaller side should be on the left. A
// nested-loop join (no keys) collects its left side and keeps the
// partitions of its right: inner ones are turned the same way (with the
// larger side on the left, TPC-DS q23's 2.75 M store_sales rows against
// the one row of a max ran in one task); outer ones keep their order.
func buildSmaller(j *joinRel) *joinRel {
	if len(j.leftKeys) == 0 && j.jt != kapotv1.JoinType_JOIN_TYPE_INNER || estimate(j.right) >= estimate(j.left) {
		return j
	}
	return &joinRel{left: j.right, right: j.left, jt: swappedJoin(j.jt), leftKeys: j.rightKeys, rightKeys: j.leftKeys, filter: j.filter}
}

// collectsLeft reports whether a join of jt may build its left side whole in
// every task: true when the build side's unmatched rows are never emitted.
func collectsLeft(jt kapotv1.JoinType) bool {
	switch jt {
	case kapotv1.JoinType_JOIN_TYPE_RIGHT, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		return true
	}
	return false
}

// joinOutput is the column layout a join of jt emits: semi and anti joins
// keep one side only.
func joinOutput(jt kapotv1.JoinType, l, r []colID) []colID {
	switch jt {
	case kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI:
		return l
	case kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI:
		return r
	}
	return append(append([]colID{}, l...), r...)
}
