package planner

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

type lowerer struct {
	ctx context.Context // the statement's (nil: none)
	b   *binder
	costModel
	// nodes counts the relations lowered, at most maxNodes.
	nodes, maxNodes int64
	// readers counts the references to each shared relation (countReaders).
	readers map[*sharedRel]int
}

// lowered is a physical subtree with the columns it outputs, in order.
type lowered struct {
	node  *kapotv1.PhysicalPlanNode
	cols  []colID
	parts int
	// hashed lists the column lists the output is hash-partitioned by
	// (each one alone says where a row is: an inner join's output is
	// partitioned by its left keys and, equally, by its right keys). Empty
	// when the partitioning is not known to follow column values.
	hashed [][]colID
	// ranged lists the columns by whose value ranges the output is split
	// (storage partitioning: file i of a table holds one range of a key).
	ranged []rangedCol
	// hive is set on the scan of a Hive-partitioned table: one branch per
	// partition, which a filter on partition columns prunes.
	hive *hiveScan
}

// rangedCol says that partition i of an output holds only rows whose col
// lies in bounds[i] (an empty range, min > max, for a partition without
// rows), and that col has no nulls.
type rangedCol struct {
	col    colID
	bounds [][2]int64
}

// rangedBy returns the value ranges of column id, if l is split by them.
func (l lowered) rangedBy(id colID) ([][2]int64, bool) {
	for _, rc := range l.ranged {
		if rc.col == id {
			return rc.bounds, true
		}
	}
	return nil, false
}

// disjointHulls reports whether a and b have the same number of ranges and
// the hulls of their i-th ranges are pairwise disjoint.
func disjointHulls(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	var hulls [][2]int64
	for i := range a {
		h, x := a[i], b[i]
		switch {
		case h[0] > h[1]:
			h = x
		case x[0] <= x[1]:
			h = [2]int64{min(h[0], x[0]), max(h[1], x[1])}
		}
		if h[0] <= h[1] {
			hulls = append(hulls, h)
		}
	}
	slices.SortFunc(hulls, func(x, y [2]int64) int { return cmp.Compare(x[0], y[0]) })
	for i := 1; i < len(hulls); i++ {
		if hulls[i][0] <= hulls[i-1][1] {
			return false
		}
	}
	return true
}

// projectRanged carries value-range partitionings through a projection
// that passes their columns through unchanged.
func projectRanged(ranged []rangedCol, es []*expr, outs []colID) []rangedCol {
	var out []rangedCol
	for _, rc := range ranged {
		for k, e := range es {
			if e.kind == eCol && e.col == rc.col {
				out = append(out, rangedCol{col: outs[k], bounds: rc.bounds})
			}
		}
	}
	return out
}

// hashedOn finds a partitioning of l that keys can reuse: for one of
// l.hashed, the positions in keys of its columns, in its order. keys that
// are not plain columns never match.
func (l lowered) hashedOn(keys []*expr, parts int) ([]int, bool) {
	if l.parts != parts {
		return nil, false
	}
next:
	for _, h := range l.hashed {
		pos := make([]int, len(h))
		for i, id := range h {
			pos[i] = -1
			for k, e := range keys {
				if e.kind == eCol && e.col == id {
					pos[i] = k
					break
				}
			}
			if pos[i] < 0 {
				continue next
			}
		}
		return pos, len(pos) > 0
	}
	return nil, false
}

func (l lowered) pos() func(colID) (int, bool) {
	return func(id colID) (int, bool) {
		for i, c := range l.cols {
			if c == id {
				return i, true
			}
		}
		return 0, false
	}
}

func (p *lowerer) exprs(es []*expr, in lowered) ([]*kapotv1.PhysicalExprNode, error) {
	out := make([]*kapotv1.PhysicalExprNode, len(es))
	for i, e := range es {
		n, err := e.proto(in.pos())
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func addRefs(need map[colID]bool, es ...*expr) map[colID]bool {
	out := map[colID]bool{}
	for id := range need {
		out[id] = true
	}
	for _, e := range es {
		if e == nil {
			continue
		}
		for _, id := range e.refs(nil) {
			out[id] = true
		}
	}
	return out
}

func exchange(in *kapotv1.PhysicalPlanNode, part *kapotv1.Partitioning) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Exchange{Exchange: &kapotv1.ExchangeNode{Input: in, Partitioning: part}}}
}

func hashPart(keys []*kapotv1.PhysicalExprNode, n int) *kapotv1.Partitioning {
	return &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Hash{Hash: &kapotv1.HashPartitioning{Exprs: keys, PartitionCount: uint32(n)}}}
}

var single = &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Single{Single: &kapotv1.SinglePartitioning{}}}

// lower lowers r; need says which of its columns the parent reads (nil:
// all of them).
func (p *lowerer) lower(r rel, need map[colID]bool) (lowered, error) {
	if p.nodes++; p.maxNodes > 0 && p.nodes > p.maxNodes {
		return lowered{}, tooLarge("operators", p.maxNodes)
	}
	if p.ctx != nil && p.nodes%checkEvery == 0 {
		if err := ctxErr(p.ctx); err != nil {
			return lowered{}, err
		}
	}
	switch x := r.(type) {
	case *sharedRel:
		return p.lowerShared(x, need)
	case *valuesRel:
		return p.lowerValues(x)
	case *scanRel:
		return p.lowerScan(x, need)
	case *filterRel:
		return p.lowerFilter(x, need)
	case *projectRel:
		return p.lowerProject(x, need)
	case *joinRel:
		return p.lowerJoin(x, need)
	case *windowRel:
		return p.lowerWindow(x, need)
	case *unnestRel:
		return p.lowerUnnest(x, need)
	case *unionRel:
		return p.lowerUnion(x)
	case *aggRel:
		return p.lowerAgg(x)
	case *sortRel:
		return p.lowerSort(x, need)
	case *limitRel:
		return p.lowerLimit(x, need)
	}
	return lowered{}, fmt.Errorf("internal: relation %T", r)
}

// lowerValues is VALUES: its rows of literals, in one partition.
func (p *lowerer) lowerValues(x *valuesRel) (lowered, error) {
	if len(x.out) == 0 {
		return lowered{node: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: &kapotv1.ValuesNode{
			Schema: &kapotv1.Schema{}, Rows: []*kapotv1.ValuesRow{{}}}}}, parts: 1}, nil
	}
	fields := make([]arrow.Field, len(x.out))
	for i, id := range x.out {
		fields[i] = arrow.Field{Name: p.b.cols[id].name, Type: p.b.cols[id].typ, Nullable: true}
	}
	schema, err := wire.SchemaToProto(arrow.NewSchema(fields, nil))
	if err != nil {
		return lowered{}, err
	}
	v := &kapotv1.ValuesNode{Schema: schema}
	for _, row := range x.rows {
		r := &kapotv1.ValuesRow{}
		for _, e := range row {
			r.Values = append(r.Values, e.lit)
		}
		v.Rows = append(v.Rows, r)
	}
	return lowered{node: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: v}}, cols: x.out, parts: 1}, nil
}

// lowerFilter is a filter; over a Parquet scan it also prunes row groups,
// over a Hive-partitioned table whole partitions.
func (p *lowerer) lowerFilter(x *filterRel, need map[colID]bool) (lowered, error) {
	in, err := p.lower(x.in, addRefs(need, x.pred))
	if err != nil {
		return lowered{}, err
	}
	pred, err := x.pred.proto(in.pos())
	if err != nil {
		return lowered{}, err
	}
	// A filter on partition columns drops the partitions it rules out.
	if in.hive != nil {
		if in, err = p.pruneHive(in, x.pred); err != nil {
			return lowered{}, err
		}
	}
	// A filter right over a Parquet scan also prunes its row groups.
	if ps := in.node.GetParquetScan(); ps != nil {
		if ps.PruningPredicate == nil {
			ps.PruningPredicate = pred
		} else {
			ps.PruningPredicate = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Binary{Binary: &kapotv1.BinaryExpr{
				Left: ps.PruningPredicate, Op: kapotv1.BinaryOp_BINARY_OP_AND, Right: pred}}}
		}
	}
	in.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: in.node, Predicate: pred}}}
	return in, nil
}

// lowerProject is a projection of the needed outputs only.
func (p *lowerer) lowerProject(x *projectRel, need map[colID]bool) (lowered, error) {
	keep := map[colID]bool{}
	var es []*expr
	var outs []colID
	for i, e := range x.exprs {
		if need != nil && !need[x.out[i]] {
			continue
		}
		if keep[x.out[i]] {
			continue
		}
		keep[x.out[i]] = true
		es, outs = append(es, e), append(outs, x.out[i])
	}
	in, err := p.lower(x.in, addRefs(map[colID]bool{}, es...))
	if err != nil {
		return lowered{}, err
	}
	pe, err := p.exprs(es, in)
	if err != nil {
		return lowered{}, err
	}
	names := make([]string, len(outs))
	for i, id := range outs {
		names[i] = p.b.cols[id].name
	}
	return lowered{node: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
		Input: in.node, Exprs: pe, Names: names}}}, cols: outs, parts: in.parts, hashed: projectHashed(in.hashed, es, outs),
		ranged: projectRanged(in.ranged, es, outs)}, nil
}

// lowerUnion is UNION ALL: the inputs' partitions side by side, in one
// stage; columns by position (the inputs' types are equal).
func (p *lowerer) lowerUnion(x *unionRel) (lowered, error) {
	u := &kapotv1.UnionNode{}
	parts := 0
	for _, in := range x.inputs {
		l, err := p.lower(in, nil)
		if err != nil {
			return lowered{}, err
		}
		if len(l.cols) != len(x.out) {
			return lowered{}, fmt.Errorf("internal: union input has %d columns, want %d", len(l.cols), len(x.out))
		}
		u.Inputs = append(u.Inputs, l.node)
		parts += l.parts
	}
	return lowered{node: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Union{Union: u}}, cols: x.out, parts: parts}, nil
}

// lowerSort sorts in one partition (with a fetch, a top-k).
func (p *lowerer) lowerSort(x *sortRel, need map[colID]bool) (lowered, error) {
	if need != nil {
		for _, k := range x.keys {
			need = addRefs(need, k.e)
		}
	}
	in, err := p.lower(x.in, need)
	if err != nil {
		return lowered{}, err
	}
	if in.parts > 1 {
		in.node, in.parts, in.hashed, in.ranged = exchange(in.node, single), 1, nil, nil
	}
	s := &kapotv1.SortNode{Input: in.node}
	for _, k := range x.keys {
		e, err := k.e.proto(in.pos())
		if err != nil {
			return lowered{}, err
		}
		s.Exprs = append(s.Exprs, &kapotv1.SortExprNode{Expr: e, Descending: k.desc, NullsFirst: k.nullsFirst})
	}
	if x.fetch >= 0 {
		f := x.fetch
		s.Fetch = &f
	}
	in.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Sort{Sort: s}}
	return in, nil
}

// lowerLimit limits each partition to skip+fetch rows, then the whole in
// one partition.
func (p *lowerer) lowerLimit(x *limitRel, need map[colID]bool) (lowered, error) {
	in, err := p.lower(x.in, need)
	if err != nil {
		return lowered{}, err
	}
	if in.parts > 1 {
		if x.fetch >= 0 {
			in.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Limit{Limit: &kapotv1.LimitNode{Input: in.node, Fetch: x.skip + x.fetch}}}
		}
		in.node, in.parts, in.hashed, in.ranged = exchange(in.node, single), 1, nil, nil
	}
	in.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Limit{Limit: &kapotv1.LimitNode{Input: in.node, Skip: x.skip, Fetch: x.fetch}}}
	return in, nil
}

// prune drops the columns of in that need does not list (a filter's
// predicate columns, say), so that an exchange or a hash table above does
// not carry them. The projection passes columns through without a copy.
func (p *lowerer) prune(in lowered, need map[colID]bool) lowered {
	var keep []colID
	for _, id := range in.cols {
		if need[id] {
			keep = append(keep, id)
		}
	}
	if len(keep) == len(in.cols) || len(keep) == 0 {
		return in
	}
	es := make([]*expr, len(keep))
	names := make([]string, len(keep))
	pe := make([]*kapotv1.PhysicalExprNode, len(keep))
	pos := in.pos()
	for i, id := range keep {
		es[i] = &expr{kind: eCol, col: id, typ: p.b.cols[id].typ}
		names[i] = p.b.cols[id].name
		k, _ := pos(id)
		pe[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(k)}}}
	}
	return lowered{node: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
		Input: in.node, Exprs: pe, Names: names}}}, cols: keep, parts: in.parts,
		hashed: projectHashed(in.hashed, es, keep), ranged: projectRanged(in.ranged, es, keep)}
}

// rangeExchangeRows is the redundant work, in rows scanned, past which a
// side that could be broadcast to a side split by key ranges is range
// exchanged instead: broadcast, each of the N tasks computes it whole
// (N-1 copies too many, however few rows of it each keeps).
const rangeExchangeRows = 1_000_000

// projectHashed carries a partitioning through a projection: a column list
// survives when each of its columns is passed through unchanged.
func projectHashed(hashed [][]colID, es []*expr, outs []colID) [][]colID {
	var out [][]colID
next:
	for _, h := range hashed {
		m := make([]colID, len(h))
		for i, id := range h {
			k := slices.IndexFunc(es, func(e *expr) bool { return e.kind == eCol && e.col == id })
			if k < 0 {
				continue next
			}
			m[i] = outs[k]
		}
		out = append(out, m)
	}
	return out
}

// lowerShared lowers a shared relation (a WITH query or view read in
// several places) once for each set of columns its readers need; readers
// that need the same columns get the same subtree, which unshare copies
// once the whole plan is known to be within budget.
func (p *lowerer) lowerShared(s *sharedRel, need map[colID]bool) (lowered, error) {
	once := s.once || computedOnce(s) && (p.readers[s] >= sharedOnceReaders ||
		p.readers[s] == 2 && topGroups(unshared(s.in)) >= sharedTwiceGroups)
	if once {
		need = nil // every reader reads the one stage
	}
	key := needKey(need)
	if l, ok := s.lowered[key]; ok {
		return l, nil
	}
	l, err := p.lower(s.in, need)
	if err != nil {
		return lowered{}, err
	}
	if once && costlyToRepeat(l.node) {
		l = p.exchangeOnce(l)
	}
	// Readers build on the subtree, never into it.
	l.hive = nil
	if s.lowered == nil {
		s.lowered = map[string]lowered{}
	}
	s.lowered[key] = l
	return l, nil
}

// sharedOnceReaders is the fewest readers of a shared relation computed
// once for them (computedOnce): the stage it then takes costs about what
// finishing it again in a second reader costs (TPC-DS q01 and q30, read
// twice, were 20-35 ms slower so; q04, read six times, 30 % faster).
const sharedOnceReaders = 3

// sharedTwiceGroups is the estimated group count of its aggregates (or
// input rows of its windows) from which a shared relation read twice is
// computed once (computedOnce) too: finishing an aggregate of a million
// groups again costs far more than a stage (TPC-DS q23's frequent items,
// 1.5 M groups of which 43 are kept, 440 ms each time), where finishing
// one of few groups costs less (q01's, q30's, q59's).
const sharedTwiceGroups = 500_000

// topGroups is the largest estimated group count of the aggregates at r's
// top (under projections and filters, in a UNION ALL: the product of
// their keys' distinct values, a key of unknown ones counted once, at most
// their input's rows), or input rows of its windows.
func topGroups(r rel) float64 {
	switch x := r.(type) {
	case *projectRel:
		return topGroups(x.in)
	case *filterRel:
		return topGroups(x.in)
	case *aggRel:
		n := 1.0
		for _, g := range x.groups {
			n *= max(columnNDV(x.in, g), 1)
		}
		return min(n, estimate(x.in))
	case *windowRel:
		return estimate(x.in)
	case *unionRel:
		n := 0.0
		for _, in := range x.inputs {
			n = max(n, topGroups(in))
		}
		return n
	}
	return 0
}

// sharedOnceRows bounds the estimated output of a shared relation
// computed once for its readers (computedOnce): each reader reads it all
// back from the stage, where repeating cheap work over many rows can cost
// less than moving them.
const sharedOnceRows = 2_000_000

// computedOnce reports whether shared relation s, read by several
// readers, is computed once for all of them, in a stage of its own, rather than
// again above its exchanges in each reader's: its result is an aggregate
// with GROUP BY keys, a window or a join (under projections and filters),
// alone or in a UNION ALL, of at most sharedOnceRows estimated rows. A WITH query of TPC-DS q04 read
// six times repeated its final aggregation six times; q39's twice, q47's
// window functions three times.
func computedOnce(s *sharedRel) bool {
	if estimate(s.in) > sharedOnceRows {
		return false
	}
	var top func(r rel) bool
	top = func(r rel) bool {
		switch x := r.(type) {
		case *projectRel:
			return top(x.in)
		case *filterRel:
			return top(x.in)
		case *aggRel:
			return len(x.groups) > 0 // one row: as cheap to finish again
		case *windowRel:
			return true
		case *joinRel, *joinGraphRel:
			// Only with sharedOnceReaders readers (topGroups is 0): a
			// WITH query of joins read three times (TPC-DS q27's
			// results, one reader per ROLLUP level written out) joined
			// store_sales' rows again in each.
			return true
		case *unionRel:
			for _, in := range x.inputs {
				if !top(in) {
					return false
				}
			}
			return len(x.inputs) > 0
		}
		return false
	}
	return top(unshared(s.in))
}

// costlyToRepeat reports whether n does more than scan, filter and
// project above its exchanges: an aggregate, window, join or sort each
// reader would run again.
func costlyToRepeat(n *kapotv1.PhysicalPlanNode) bool {
	switch n.Node.(type) {
	case *kapotv1.PhysicalPlanNode_Exchange:
		return false
	case *kapotv1.PhysicalPlanNode_HashAggregate, *kapotv1.PhysicalPlanNode_Window, *kapotv1.PhysicalPlanNode_HashJoin,
		*kapotv1.PhysicalPlanNode_Sort:
		return true
	}
	for _, c := range wire.InputSlots(n) {
		if costlyToRepeat(*c) {
			return true
		}
	}
	return false
}

// exchangeOnce puts l behind an exchange, whose stage its readers then
// read (the scheduler cuts one stage for equal subtrees): l's
// partitioning kept (by its first hash key list, into as many
// partitions), else by its first column (a WITH query's first column is
// mostly its key, which readers join on: q04's customer_id). l stays as
// it is in one partition (a result gathered for a final step, small) or
// when its first column is of a nested type.
func (p *lowerer) exchangeOnce(l lowered) lowered {
	var ids []colID
	switch {
	case l.node.GetExchange() != nil, l.parts <= 1:
		// One partition: what was gathered in one place is left there.
		return l
	case len(l.hashed) > 0:
		ids = l.hashed[0]
	case len(l.cols) > 0 && !nestedCol(p.b.cols[l.cols[0]].typ):
		ids = l.cols[:1]
		l.parts = max(p.parts, 1) // a union's are its inputs' together
	default:
		return l
	}
	pos := l.pos()
	keys := make([]*kapotv1.PhysicalExprNode, len(ids))
	for i, id := range ids {
		k, ok := pos(id)
		if !ok {
			return l
		}
		keys[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(k)}}}
	}
	l.node = exchange(l.node, hashPart(keys, l.parts))
	l.hashed, l.ranged = [][]colID{ids}, nil
	return l
}

// countReaders counts the references to each shared relation under root
// (a shared relation's own input is walked once).
func countReaders(root rel) map[*sharedRel]int {
	n := map[*sharedRel]int{}
	var walk func(r rel)
	walk = func(r rel) {
		if s, ok := r.(*sharedRel); ok {
			if n[s]++; n[s] > 1 {
				return
			}
		}
		for _, in := range inputs(r) {
			walk(in)
		}
	}
	walk(root)
	return n
}

// needKey names a set of needed columns (nil: all).
func needKey(need map[colID]bool) string {
	if need == nil {
		return "*"
	}
	ids := make([]int, 0, len(need))
	for id, ok := range need {
		if ok {
			ids = append(ids, int(id))
		}
	}
	slices.Sort(ids)
	var sb strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&sb, "%d,", id)
	}
	return sb.String()
}
