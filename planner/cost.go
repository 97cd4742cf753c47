package planner

import (
	"math"

	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// Cardinality estimates: rough, but enough to keep the big tables on the
// probe side, join the selective relations first and broadcast small ones.

const (
	// selectivity of one filter conjunct of no better-known kind.
	filterSelectivity = 0.25
	// selectivity of an equality with a column of unknown distinct values.
	eqDefaultSelectivity = 0.1
	// selectivity of <, <=, >, >=.
	rangeSelectivity = 0.33
	// selectivity of LIKE.
	likeSelectivity = 0.1
	// unknownRows stands for a table without statistics (CSV).
	unknownRows = 1_000_000
	// unnestFanout is the elements per list an estimate assumes.
	unnestFanout = 4
	// broadcastRows is the default largest estimated build side broadcast
	// to every probe partition instead of repartitioning both sides.
	broadcastRows = 100_000
	// broadcastScanRows bounds the tables a broadcast side may read: each
	// probe task computes the side again, so it must be cheap as well as
	// small.
	broadcastScanRows = 200_000
	// maxBroadcastRows bounds a broadcast side above the threshold.
	maxBroadcastRows = 2_000_000
	// broadcastShare: a side above the threshold is broadcast when all
	// tasks' copies of it add up to at most 1/broadcastShare of the rows
	// repartitioning the other side would move.
	broadcastShare = 8
	// broadcastOnceShare: a side computed once and broadcast when all
	// tasks' copies of it add up to at most 1/broadcastOnceShare of the
	// rows of the side it joins (which then stays where it is). Each
	// copy is a hash table built again; each row not repartitioned saves
	// its hashing, encoding, writing and reading.
	broadcastOnceShare = 4
	// broadcastOnceProbeRows: a side estimated under this many rows is
	// repartitioned rather than made to probe a side computed once. The
	// stage boundary keeps its scan from overlapping the stages that
	// compute the other side, which costs more than moving a few hundred
	// thousand rows (TPC-DS q72 and q85, 400 000 rows, were 1.2-1.3x
	// slower on two task slots). From half a million rows moving them
	// costs more (q14's, q23's and q70's store_sales sides, 0.83-0.96x
	// in a same-run A/B against 1 M).
	broadcastOnceProbeRows = 500_000
)

// selectivity estimates the fraction of in's rows for which the predicate
// p holds: 1/NDV for an equality with a constant when the column's
// distinct values are known, textbook defaults otherwise.
func selectivity(p *expr, in rel) float64 {
	switch p.kind {
	case eBinary:
		switch p.op {
		case kapotv1.BinaryOp_BINARY_OP_AND:
			return selectivity(p.args[0], in) * selectivity(p.args[1], in)
		case kapotv1.BinaryOp_BINARY_OP_OR:
			return min(1, selectivity(p.args[0], in)+selectivity(p.args[1], in))
		case kapotv1.BinaryOp_BINARY_OP_EQ:
			return eqSelectivity(p.args, in)
		case kapotv1.BinaryOp_BINARY_OP_NEQ:
			return 1 - eqSelectivity(p.args, in)
		case kapotv1.BinaryOp_BINARY_OP_LT, kapotv1.BinaryOp_BINARY_OP_LTE, kapotv1.BinaryOp_BINARY_OP_GT, kapotv1.BinaryOp_BINARY_OP_GTE:
			return rangeSelectivity
		}
	case eInList:
		n := len(p.args) - 1
		if p.set != nil {
			n = p.set.len()
		}
		s := min(0.5, float64(n)*eqSelectivity(p.args[:1], in))
		if p.negated {
			return 1 - s
		}
		return s
	case eLike:
		if p.negated {
			return 1 - likeSelectivity
		}
		return likeSelectivity
	case eBetween:
		if p.negated {
			return 1 - filterSelectivity
		}
		return filterSelectivity
	case eNot:
		return 1 - selectivity(p.args[0], in)
	}
	return filterSelectivity
}

// eqSelectivity is the selectivity of args[0] = args[1] (or of one value
// of an IN list when args has one element).
func eqSelectivity(args []*expr, in rel) float64 {
	for _, a := range args {
		if a.kind == eCol {
			if ndv := columnNDV(in, a); ndv > 0 {
				return 1 / ndv
			}
		}
	}
	return eqDefaultSelectivity
}

// scannedRows is the largest table r reads (unknownRows for a table without
// statistics).
func scannedRows(r rel) float64 {
	switch x := r.(type) {
	case *valuesRel:
		return float64(max(len(x.rows), 1))
	case *scanRel:
		return tableRows(x)
	case *filterRel:
		return scannedRows(x.in)
	case *projectRel:
		return scannedRows(x.in)
	case *sortRel:
		return scannedRows(x.in)
	case *limitRel:
		return scannedRows(x.in)
	case *aggRel:
		return scannedRows(x.in)
	case *joinRel:
		return max(scannedRows(x.left), scannedRows(x.right))
	case *unionRel:
		n := 0.0
		for _, in := range x.inputs {
			n += scannedRows(in)
		}
		return n
	case *windowRel:
		return scannedRows(x.in)
	case *unnestRel:
		return scannedRows(x.in)
	case *joinGraphRel:
		return scannedRows(x.best())
	case *sharedRel:
		if !x.haveScanned {
			x.scanned, x.haveScanned = scannedRows(x.in), true
		}
		return x.scanned
	}
	return unknownRows
}

// costModel is what the physical choices (broadcast or repartition, reduce
// an aggregate or not) read besides estimates: the plan's partition count
// and the largest side to broadcast.
type costModel struct {
	parts     int
	broadcast float64 // largest broadcast side, estimated rows; <0: never
	eager     float64 // smallest fact table aggregated early; <0: never
}

// broadcastable reports whether build is small enough to be built whole in
// every task that probes a partition of probe, and cheap enough to compute
// again in each: it scans little, or less (times the tasks) than
// repartitioning probe would move. (TPC-H Q8 at SF 10: the 13 000 parts of
// one type come from scanning 2 M, yet repartitioning lineitem moves 60 M.)
// probe may be nil (unknown).
//
// A side above the broadcast threshold is still broadcast when it is at
// most maxBroadcastRows and building it in every task is a small fraction
// of moving probe (TPC-H Q9 at SF 10: 100 000 green parts against 60 M
// lineitems).
func (p costModel) broadcastable(build, probe rel) bool {
	if p.broadcast < 0 {
		return false
	}
	e, parts := estimate(build), float64(max(p.parts, 1))
	if e > p.broadcast && (probe == nil || e > maxBroadcastRows || e*parts*broadcastShare > estimate(probe)) {
		return false
	}
	s := scannedRows(build)
	return s <= broadcastScanRows || probe != nil && s*parts <= estimate(probe)
}

// broadcastOnce reports whether build's output, computed once and read
// whole by every task that probes a partition of probe, moves fewer rows
// than repartitioning both sides: it is at most maxBroadcastRows and all
// tasks' copies of it add up to at most 1/broadcastOnceShare of probe's
// rows, and probe is estimated at broadcastOnceProbeRows or more. Unlike
// broadcastable it does not ask what computing build costs: it is
// computed once, as a repartition would.
func (p costModel) broadcastOnce(build, probe rel) bool {
	if p.broadcast < 0 || probe == nil {
		return false
	}
	e, pe := estimate(build), estimate(probe)
	return pe >= broadcastOnceProbeRows && e <= maxBroadcastRows && e*float64(max(p.parts, 1))*broadcastOnceShare <= pe
}

// smallSide is broadcastable with the default thresholds and two tasks,
// for the join order's cost model (which runs before the partition count
// is known).
func smallSide(build, probe rel) bool {
	return costModel{broadcast: broadcastRows, parts: 2}.broadcastable(build, probe)
}

// estimate is the estimated row count of r.
func estimate(r rel) float64 {
	switch x := r.(type) {
	case *valuesRel:
		return float64(max(len(x.rows), 1))
	case *scanRel:
		return tableRows(x)
	case *filterRel:
		n := estimate(x.in)
		for _, c := range splitAnd(x.pred) {
			n *= selectivity(c, x.in)
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
		if x.local {
			// An early aggregate is judged as the rows it reads: the
			// joins above keep the strategies they had without it.
			return estimate(x.in)
		}
		if len(x.groups) == 0 {
			return 1
		}
		return max(min(estimate(x.in)*0.1, keyProduct(x)), 1)
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
		// |L ⋈ R| ≈ |L|·|R| / max(ndv) per key (the textbook estimate);
		// without statistics, a key/foreign-key join keeps the larger side.
		n := max(l, r)
		if d := joinKeysNDV(x, l, r); d > 0 {
			n = l * r / d
		}
		if x.filter != nil {
			n *= filterSelectivity
		}
		return max(n, 1)
	case *unionRel:
		n := 0.0
		for _, in := range x.inputs {
			n += estimate(in)
		}
		return n
	case *windowRel:
		return estimate(x.in)
	case *unnestRel:
		return estimate(x.in) * unnestFanout
	case *joinGraphRel:
		return estimate(x.best())
	case *sharedRel:
		if !x.haveEst {
			x.est, x.haveEst = estimate(x.in), true
		}
		return x.est
	}
	return unknownRows
}

// joinKeysNDV is the distinct values of j's keys: the larger of its two
// sides' estimates, where a side's is the product of its keys' (known
// ones; the first must be known) but at most its rows l or r. Only the
// first key counted, a join on a key and a second equality (TPC-H Q5's
// supplier, on s_suppkey and s_nationkey = c_nationkey, 25 nations) was
// estimated at the rows of the first alone, 25 times too many; a
// composite key (TPC-DS's ticket and item of a sale and its return) is
// at most the rows of its side.
func joinKeysNDV(j *joinRel, l, r float64) float64 {
	var d float64 // the first key's
	dl, dr := 1.0, 1.0
	for i := range j.leftKeys {
		a, b := columnNDV(j.left, j.leftKeys[i]), columnNDV(j.right, j.rightKeys[i])
		if a <= 0 || b <= 0 {
			if i == 0 {
				return 0
			}
			continue
		}
		if i == 0 {
			d = max(a, b)
		}
		dl, dr = dl*a, dr*b
	}
	if len(j.leftKeys) == 1 {
		return d
	}
	return max(d, min(dl, l), min(dr, r))
}

// columnNDV finds the scan a column comes from under r and returns the
// table's distinct-value estimate for it, at most the constants the
// filters on the way let it take.
func columnNDV(r rel, e *expr) float64 {
	if e.kind != eCol {
		return 0
	}
	implied := 0.0 // fewest values a filter allows; 0: no such filter
	s, i, _ := columnOrigin(r, e.col, func(f *filterRel, col colID) {
		if vals := impliedValues(f.pred, col); vals != nil && (implied == 0 || float64(len(vals)) < implied) {
			implied = float64(len(vals))
		}
	})
	n := 0.0
	if s != nil {
		n = s.table.NDV[s.table.Schema.Field(i).Name]
	}
	if implied > 0 && (n == 0 || implied < n) {
		n = implied
	}
	return n
}

// columnOrigin finds the table column that col, a column of r, is: its
// scan and field index (nil scan when r computes it or it is not found).
// produced reports whether r produces col, which stops a search of a
// join's other side. Each filter passed on the way is given to seen (if
// not nil) with the column's id below it. It allocates nothing, since the
// join order asks this of every candidate join (64-way joins:
// sqllogictest's select5 spent seconds a query building joins' output
// lists here).
func columnOrigin(r rel, col colID, seen func(f *filterRel, col colID)) (s *scanRel, field int, produced bool) {
	switch x := r.(type) {
	case *scanRel:
		for i, id := range x.cols {
			if id == col {
				return x, i, true
			}
		}
	case *filterRel:
		s, i, ok := columnOrigin(x.in, col, seen)
		if ok && seen != nil {
			seen(x, col)
		}
		return s, i, ok
	case *sharedRel:
		return columnOrigin(x.in, col, seen)
	case *joinGraphRel:
		return columnOrigin(x.best(), col, seen)
	case *joinRel:
		// One side produces it: a side read twice (a WITH query joined
		// with itself) is read through projections of its own columns,
		// which stop a search for the other's.
		if s, i, ok := columnOrigin(x.left, col, seen); ok {
			return s, i, true
		}
		return columnOrigin(x.right, col, seen)
	case *projectRel:
		for i, id := range x.out {
			if id == col {
				if x.exprs[i].kind == eCol {
					s, f, _ := columnOrigin(x.in, x.exprs[i].col, seen)
					return s, f, true
				}
				return nil, 0, true
			}
		}
	}
	return nil, 0, false
}

// impliedValues is the set of constants (by their text) that pred lets
// column id take — col = c, col IN (…), their ORs and ANDs (TPC-DS q04's
// date_dim filter "d_year = 2001 AND … OR d_year = 2002 AND …": two
// values) — or nil when pred does not restrict it to constants.
func impliedValues(pred *expr, id colID) map[string]bool {
	switch {
	case pred.kind == eBinary && pred.op == kapotv1.BinaryOp_BINARY_OP_OR:
		a, b := impliedValues(pred.args[0], id), impliedValues(pred.args[1], id)
		if a == nil || b == nil {
			return nil
		}
		for k := range b {
			a[k] = true
		}
		return a
	case pred.kind == eBinary && pred.op == kapotv1.BinaryOp_BINARY_OP_AND:
		a, b := impliedValues(pred.args[0], id), impliedValues(pred.args[1], id)
		if a == nil || b != nil && len(b) < len(a) {
			return b
		}
		return a
	case pred.kind == eBinary && pred.op == kapotv1.BinaryOp_BINARY_OP_EQ:
		c, l := pred.args[0], pred.args[1]
		if c.kind != eCol {
			c, l = l, c
		}
		if c.kind == eCol && c.col == id && l.kind == eLit {
			return map[string]bool{l.key(): true}
		}
	case pred.kind == eInList && !pred.negated && pred.set == nil && pred.args[0].kind == eCol && pred.args[0].col == id:
		vals := map[string]bool{}
		for _, l := range pred.args[1:] {
			if l.kind != eLit {
				return nil
			}
			vals[l.key()] = true
		}
		return vals
	}
	return nil
}

// tableRows is a scan's table size, unknownRows without statistics.
func tableRows(s *scanRel) float64 {
	if s.table.Rows > 0 {
		return float64(s.table.Rows)
	}
	return unknownRows
}

// relRanged is the value-range partitioning the lowering will most likely
// give r (see lowered.ranged): scans of tables whose files split a column
// into disjoint ranges keep it through filters, projections, joins that
// broadcast the other side, co-partitioned joins and aggregates grouped by
// it. The join order uses it to cost co-partitioned joins as exchange-free.
func relRanged(r rel) []rangedCol {
	switch x := r.(type) {
	case *sharedRel:
		if !x.haveRanged {
			x.ranged, x.haveRanged = relRanged(x.in), true
		}
		return x.ranged
	case *scanRel:
		var out []rangedCol
		if len(x.table.Files) < 2 {
			return nil
		}
		for i, id := range x.cols {
			if rs, ok := scanRanges(x, x.table.Schema.Field(i).Name); ok {
				out = append(out, rangedCol{col: id, bounds: rs})
			}
		}
		return out
	case *joinGraphRel:
		return relRanged(x.best())
	case *filterRel:
		return relRanged(x.in)
	case *projectRel:
		return projectRanged(relRanged(x.in), x.exprs, x.out)
	case *aggRel:
		in := relRanged(x.in)
		for k, g := range x.groups {
			if g.kind != eCol {
				continue
			}
			for _, rc := range in {
				if rc.col == g.col {
					return []rangedCol{{col: x.gout[k], bounds: rc.bounds}}
				}
			}
		}
	case *joinRel:
		l, rr := relRanged(x.left), relRanged(x.right)
		if relCoPartitioned(x, l, rr) {
			return joinRanged(x.jt, l, rr)
		}
		if x.jt == kapotv1.JoinType_JOIN_TYPE_INNER && len(x.leftKeys) > 0 {
			switch {
			case smallSide(x.right, x.left) && (!smallSide(x.left, x.right) || estimate(x.right) < estimate(x.left)):
				return l
			case smallSide(x.left, x.right):
				return rr
			}
		}
	}
	return nil
}

// relCoPartitioned reports whether j's sides, split as l and r say, join
// pairwise on one of its key pairs.
func relCoPartitioned(j *joinRel, l, r []rangedCol) bool {
	find := func(rs []rangedCol, e *expr) ([][2]int64, bool) {
		if e.kind != eCol {
			return nil, false
		}
		for _, rc := range rs {
			if rc.col == e.col {
				return rc.bounds, true
			}
		}
		return nil, false
	}
	for i := range j.leftKeys {
		a, aok := find(l, j.leftKeys[i])
		b, bok := find(r, j.rightKeys[i])
		if aok && bok && disjointHulls(a, b) {
			return true
		}
	}
	return false
}

// keyProduct bounds the groups of aggregate a by the product of its keys'
// distinct values, when each key's are known to be at most that (+Inf
// otherwise): TPC-DS q70's ranking of states, 24 000 groups estimated, is
// one state. An integer key's come from its range, a bound; a string
// key's from the dictionary of the first row group, which bounds nothing
// (a column of many values in many row groups): only a small one, a
// column of a few values repeated, is taken (maxDictionaryNDV).
func keyProduct(a *aggRel) float64 {
	n := 1.0
	for _, g := range a.groups {
		ndv := columnNDV(a.in, g)
		if ndv <= 0 || ndv > maxDictionaryNDV && !rowkey.IsIntType(g.typ) {
			return math.Inf(1)
		}
		n *= ndv
	}
	return n
}

// maxDictionaryNDV is the most distinct values of a non-integer key
// keyProduct takes as its count (states, categories, flags).
const maxDictionaryNDV = 1024
