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

// Options tune planning.
type Options struct {
	// TargetPartitions is the partition count of hash exchanges (joins and
	// grouped aggregates); 0 means 2.
	TargetPartitions int
	// BroadcastRows is the largest estimated row count of a join side that
	// is built whole in every task of the other side instead of
	// repartitioning both; 0 means 100 000, negative never broadcasts.
	// A larger side (up to 2 M rows) is broadcast too when all tasks'
	// copies of it are at most 1/8 of the other side.
	BroadcastRows int64
	// SplitRows is about the rows a partition of a large Parquet file
	// sorted by a key holds when the file is read as key-range partitions
	// (see tableSplit); 0 means 4 Mi rows, negative reads each file as one
	// partition.
	SplitRows int64
	// MaxPlanNodes bounds the operators of the plan, counting a WITH
	// query or view read in several places once per reader; 0 means
	// DefaultMaxPlanNodes.
	MaxPlanNodes int
	// MaxPlanBytes bounds the plan's encoded size, likewise; 0 means
	// DefaultMaxPlanBytes.
	MaxPlanBytes int64
}

// Plan is a planned query: the physical plan the scheduler splits into
// stages at its exchanges, and the names of the result columns.
type Plan struct {
	Root    *kapotv1.PhysicalPlanNode
	Columns []string
	// Schema is the result's schema, columns under their SQL names (that
	// of Named's output), known before anything runs: clients print the
	// header of an empty result and Flight SQL answers GetSchema from it.
	Schema *arrow.Schema
}

// Named is the plan with its result columns under their SQL names: a
// projection of every column on top, so results read the same wherever
// they are fetched (a client, the Flight SQL endpoint, an executor).
func (p *Plan) Named() *kapotv1.PhysicalPlanNode {
	exprs := make([]*kapotv1.PhysicalExprNode, len(p.Columns))
	for i := range p.Columns {
		// By position only: the root's own column names may repeat
		// (count(*), count(*)) or differ from the SQL names.
		exprs[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(i)}}}
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{Input: p.Root, Exprs: exprs, Names: p.Columns}}}
}

type lowerer struct {
	ctx       context.Context // the statement's (nil: none)
	b         *binder
	parts     int
	broadcast float64 // largest broadcast side, estimated rows; <0: never
	// nodes counts the relations lowered, at most maxNodes.
	nodes, maxNodes int64
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
	case *scanRel:
		return p.lowerScan(x, need)
	case *filterRel:
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
	case *projectRel:
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
	case *joinRel:
		return p.lowerJoin(x, need)
	case *windowRel:
		return p.lowerWindow(x, need)
	case *unionRel:
		// UNION ALL: the inputs' partitions side by side, in one stage;
		// columns by position (the inputs' types are equal).
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
	case *aggRel:
		return p.lowerAgg(x)
	case *sortRel:
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
	case *limitRel:
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
	return lowered{}, fmt.Errorf("internal: relation %T", r)
}

func (p *lowerer) lowerScan(s *scanRel, need map[colID]bool) (lowered, error) {
	if len(s.table.Partitions) > 0 {
		return p.lowerHiveScan(s, need)
	}
	var proj []string
	var cols []colID
	for i, id := range s.cols {
		if need == nil || need[id] {
			proj = append(proj, s.table.Schema.Field(i).Name)
			cols = append(cols, id)
		}
	}
	if len(proj) == 0 { // count(*): read the narrowest thing there is
		proj, cols = []string{s.table.Schema.Field(0).Name}, []colID{s.cols[0]}
	}
	if len(s.table.Files) == 0 {
		// An empty (managed) table: no rows, one partition.
		fields := make([]arrow.Field, len(proj))
		for i, name := range proj {
			f, _ := s.table.Schema.FieldsByName(name)
			fields[i] = arrow.Field{Name: name, Type: f[0].Type, Nullable: true}
		}
		schema, err := wire.SchemaToProto(arrow.NewSchema(fields, nil))
		if err != nil {
			return lowered{}, err
		}
		return lowered{node: &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: &kapotv1.ValuesNode{Schema: schema}}}, cols: cols, parts: 1}, nil
	}
	var groups []*kapotv1.FileGroup
	if s.table.Managed && len(s.table.Files) > p.parts {
		// A managed table grows a file or more per INSERT: its files are
		// read in at most one group per partition, in order.
		per := (len(s.table.Files) + p.parts - 1) / p.parts
		for i := 0; i < len(s.table.Files); i += per {
			groups = append(groups, &kapotv1.FileGroup{Paths: s.table.Files[i:min(i+per, len(s.table.Files))]})
		}
	} else if sp := s.split; sp != nil && s.table.Format == "parquet" {
		for i, f := range s.table.Files {
			for _, c := range sp.cells[i] {
				groups = append(groups, &kapotv1.FileGroup{Paths: []string{f}, RangeColumn: sp.col, Range: &kapotv1.KeyRange{Lo: c[0], Hi: c[1]}})
			}
		}
	} else {
		shares := rowGroupShares(s.table, p.parts, p.b.splitRows)
		for _, f := range s.table.Files {
			if shares < 2 {
				groups = append(groups, &kapotv1.FileGroup{Paths: []string{f}})
				continue
			}
			for i := range shares {
				groups = append(groups, &kapotv1.FileGroup{Paths: []string{f}, RowGroupShare: int32(i), RowGroupShares: int32(shares)})
			}
		}
	}
	var n *kapotv1.PhysicalPlanNode
	switch s.table.Format {
	case "parquet":
		scan := &kapotv1.ParquetScanNode{FileGroups: groups, Projection: proj}
		// With the files' schema in the plan, the scheduler and executors
		// type the plan without reading footers.
		if fs, err := wire.SchemaToProto(s.table.Schema); err == nil {
			scan.FileSchema = fs
		}
		n = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: scan}}
	case "csv":
		schema, err := wire.SchemaToProto(s.table.Schema)
		if err != nil {
			return lowered{}, err
		}
		n = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{FileGroups: groups, Projection: proj,
			Schema: schema, HasHeader: s.table.Header, Delimiter: s.table.Delimiter}}}
	default:
		return lowered{}, notSupported(-1, "tables stored as "+s.table.Format)
	}
	out := lowered{node: n, cols: cols, parts: len(groups)}
	for i, id := range cols {
		if rs, ok := scanRanges(s, proj[i]); ok && len(rs) == len(groups) {
			out.ranged = append(out.ranged, rangedCol{col: id, bounds: rs})
		}
	}
	return out, nil
}

func (p *lowerer) lowerJoin(j *joinRel, need map[colID]bool) (lowered, error) {
	j = buildSmaller(p.reduceAggregate(j))
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
	if collectsLeft(j.jt) && p.broadcastable(j.left, j.right) && !p.broadcastable(j.right, j.left) {
		// Broadcast the small build side of an outer, semi or anti join
		// whose output never needs the build side's unmatched rows: each
		// probe task builds it whole and keeps its own partitioning.
		return p.broadcastJoin(j, l, r, lk, rk, j.leftKeys, j.rightKeys, j.left)
	}
	if j.jt == kapotv1.JoinType_JOIN_TYPE_INNER {
		// Broadcast a small side: build it whole in every task that probes
		// a partition of the other, which keeps its partitioning (no
		// exchange of the big side).
		lb, rb := p.broadcastable(j.left, j.right), p.broadcastable(j.right, j.left)
		if rb && (!lb || estimate(j.right) < estimate(j.left)) {
			return p.broadcastJoin(j, r, l, rk, lk, j.rightKeys, j.leftKeys, j.right)
		}
		if lb {
			return p.broadcastJoin(j, l, r, lk, rk, j.leftKeys, j.rightKeys, j.left)
		}
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
	switch {
	case lok && rok && slices.Equal(lpos, rpos):
		pos, left, right = lpos, l.node, r.node
	case lok && keyTypesMatch(j.leftKeys, j.rightKeys, lpos):
		pos, left, right = lpos, l.node, exchange(rn, hashPart(protosAt(rk, lpos), p.parts))
	case rok && keyTypesMatch(j.leftKeys, j.rightKeys, rpos):
		pos, left, right = rpos, exchange(ln, hashPart(protosAt(lk, rpos), p.parts)), r.node
	}
	hj := &kapotv1.HashJoinNode{
		Left: left, Right: right,
		JoinType: j.jt, Mode: kapotv1.JoinMode_JOIN_MODE_PARTITIONED, Filter: filter,
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
	if ndv*2 > estimate(side) {
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

// broadcastJoin is j as a COLLECT_LEFT hash join that builds all of build
// (buildRel lowered) in every task probing a partition of probe, which
// keeps its partitioning. Sides may be exchanged for an inner join (build
// is then j's right side); others keep j's order. A build side that
// would cost much to compute again in each of many probe tasks (a filter
// over a big table, probed by a table split into many ranges) is computed
// once, in a stage of its own, whose output every probe task reads.
func (p *lowerer) broadcastJoin(j *joinRel, build, probe lowered, bk, pk []*kapotv1.PhysicalExprNode, bke, pke []*expr, buildRel rel) (lowered, error) {
	if copies := probe.parts; copies > 2 && build.node.GetExchange() == nil && scannedRows(buildRel)*float64(copies-1) >= rangeExchangeRows {
		build.node = exchange(build.node, single)
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

// rangeExchangeRows is the redundant work, in rows scanned, past which a
// side that could be broadcast to a side split by key ranges is range
// exchanged instead: broadcast, each of the N tasks computes it whole
// (N-1 copies too many, however few rows of it each keeps).
const rangeExchangeRows = 1_000_000

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
// streams the right, so the smaller side should be on the left. Joins
// without equality keys (nested loops) keep their order.
func buildSmaller(j *joinRel) *joinRel {
	if len(j.leftKeys) == 0 || estimate(j.right) >= estimate(j.left) {
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

func (p *lowerer) lowerAgg(a *aggRel) (lowered, error) {
	need := addRefs(map[colID]bool{}, a.groups...)
	for _, c := range a.aggs {
		need = addRefs(need, c.arg, c.arg2)
		for _, k := range c.order {
			need = addRefs(need, k.e)
		}
	}
	in, err := p.lower(a.in, need)
	if err != nil {
		return lowered{}, err
	}
	groups, err := p.exprs(a.groups, in)
	if err != nil {
		return lowered{}, err
	}
	names := make([]string, len(a.gout))
	for i, id := range a.gout {
		names[i] = p.b.cols[id].name
	}
	var aggs []*kapotv1.AggregateExprNode
	for i, c := range a.aggs {
		// Named by position, not by the binder's column id: a WITH query
		// bound twice then lowers to equal plans, whose exchanges the
		// scheduler runs once (parents refer to the outputs by index).
		ae := &kapotv1.AggregateExprNode{Func: c.fn, Distinct: c.distinct, Name: fmt.Sprintf("%s_%d", strings.ToLower(strings.TrimPrefix(c.fn.String(), "AGGREGATE_FUNCTION_")), i)}
		if c.arg != nil {
			if ae.Expr, err = c.arg.proto(in.pos()); err != nil {
				return lowered{}, err
			}
		}
		if c.arg2 != nil {
			if ae.Expr2, err = c.arg2.proto(in.pos()); err != nil {
				return lowered{}, err
			}
		}
		for _, k := range c.order {
			ke, err := k.e.proto(in.pos())
			if err != nil {
				return lowered{}, err
			}
			ae.OrderBy = append(ae.OrderBy, &kapotv1.SortExprNode{Expr: ke, Descending: k.desc, NullsFirst: k.nullsFirst})
		}
		ae.Param = c.param
		aggs = append(aggs, ae)
	}
	if pos, ok := in.hashedOn(a.groups, p.parts); ok && len(a.groups) > 0 {
		// The input is already partitioned by some of the group keys, so
		// each group lives in one partition: aggregate in one step.
		single := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
			Input: in.node, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, GroupExprs: groups, GroupNames: names, Aggregates: aggs}}}
		h := make([]colID, len(pos))
		for i, k := range pos {
			h[i] = a.gout[k]
		}
		return lowered{node: single, cols: a.output(), parts: in.parts, hashed: [][]colID{h}}, nil
	}
	if in.parts >= p.parts {
		for k, g := range a.groups {
			if g.kind != eCol {
				continue
			}
			if bounds, ok := in.rangedBy(g.col); ok {
				// The input is split by value ranges of a group key: each
				// group lives in one partition.
				single := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
					Input: in.node, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE, GroupExprs: groups, GroupNames: names, Aggregates: aggs}}}
				return lowered{node: single, cols: a.output(), parts: in.parts, ranged: []rangedCol{{col: a.gout[k], bounds: bounds}}}, nil
			}
		}
	}
	partial := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: in.node, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_PARTIAL, GroupExprs: groups, GroupNames: names, Aggregates: aggs}}}
	parts := 1
	var ex *kapotv1.PhysicalPlanNode
	if len(groups) == 0 {
		ex = exchange(partial, single)
	} else {
		keys := make([]*kapotv1.PhysicalExprNode, len(groups))
		for i := range groups {
			keys[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(i)}}}
		}
		ex, parts = exchange(partial, hashPart(keys, p.parts)), p.parts
	}
	finalGroups := make([]*kapotv1.PhysicalExprNode, len(groups))
	for i := range finalGroups {
		finalGroups[i] = &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(i)}}}
	}
	final := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashAggregate{HashAggregate: &kapotv1.HashAggregateNode{
		Input: ex, Mode: kapotv1.AggregateMode_AGGREGATE_MODE_FINAL, GroupExprs: finalGroups, GroupNames: names, Aggregates: aggs}}}
	out := lowered{node: final, cols: a.output(), parts: parts}
	if len(groups) > 0 {
		out.hashed = [][]colID{slices.Clone(a.gout)}
	}
	return out, nil
}

// lowerShared lowers a shared relation (a WITH query or view read in
// several places) once for each set of columns its readers need; readers
// that need the same columns get the same subtree, which unshare copies
// once the whole plan is known to be within budget.
func (p *lowerer) lowerShared(s *sharedRel, need map[colID]bool) (lowered, error) {
	key := needKey(need)
	if l, ok := s.lowered[key]; ok {
		return l, nil
	}
	l, err := p.lower(s.in, need)
	if err != nil {
		return lowered{}, err
	}
	// Readers build on the subtree, never into it.
	l.hive = nil
	if s.lowered == nil {
		s.lowered = map[string]lowered{}
	}
	s.lowered[key] = l
	return l, nil
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
