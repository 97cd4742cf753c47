package planner

import (
	"math"
	"slices"
	"strings"

	"github.com/kapot-go/kapot/catalog"
)

// Large files sorted by a key are read as several partitions, each the
// rows of one range of the key (kapotv1.FileGroup's range): a task then
// scans, joins and aggregates a share of a file instead of all of it
// (TPC-H SF 10 written as two files per table gave tasks 7.5 M orders to
// build and 7.5 M groups to aggregate), and more tasks than files can run
// at once. Tables whose files split a key the same way (orders and
// lineitem by order key) must be split alike to stay joined partition by
// partition: the ranges come from the hull of their files' ranges and the
// split count from the largest of them.
const (
	// defaultSplitRows is the rows of its family's largest table a split
	// partition holds, about (Options.SplitRows). Splitting for
	// parallelism alone (more slots than files) keeps a quarter of that.
	defaultSplitRows = 4 << 20
	// maxSplits bounds the partitions one file is read as, and
	// maxSplitPartitions those of a table (files × ranges): a table of
	// many files is read a file per partition.
	maxSplits          = 64
	maxSplitPartitions = 2048
)

// tableSplit is how a table's files are read: file i as one partition
// per range in cells[i], holding the rows whose col lies in it.
type tableSplit struct {
	col   string
	cells [][][2]int64
	// hulls are the family's per-file ranges, and par the ranges per
	// file that parallelism alone asks for (see useSplits).
	hulls [][2]int64
	par   int
}

// forParallelism is s with only the ranges parallelism asks for: nil
// when that is one per file.
func (s *tableSplit) forParallelism() *tableSplit {
	if s.par < 2 {
		return nil
	}
	out := &tableSplit{col: s.col, hulls: s.hulls, par: s.par}
	for _, h := range s.hulls {
		out.cells = append(out.cells, splitRange(h, s.par))
	}
	return out
}

// bounds is the value range of col in each partition, in partition order.
func (s *tableSplit) bounds() [][2]int64 {
	var out [][2]int64
	for _, c := range s.cells {
		out = append(out, c...)
	}
	return out
}

// splits decides how the catalog's tables are split for a plan whose
// target partition count is parts, about splitRows rows per partition
// (see Options.SplitRows): tables absent from the result are read a file
// per partition.
func splits(c *catalog.Catalog, parts int, splitRows int64) map[*catalog.Table]*tableSplit {
	if splitRows < 0 {
		return map[*catalog.Table]*tableSplit{}
	}
	if splitRows == 0 {
		splitRows = defaultSplitRows
	}
	per, minPer := float64(splitRows), float64(max(splitRows/4, 1))
	type node struct {
		t   *catalog.Table
		col string
	}
	var nodes []node
	tables := c.Tables()
	slices.SortFunc(tables, func(a, b *catalog.Table) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	for _, t := range tables {
		if t.Managed || len(t.Partitions) > 0 || t.Format != "parquet" || len(t.Files) < 2 || t.Rows <= 0 {
			continue
		}
		cols := make([]string, 0, len(t.Ranges))
		for col, rs := range t.Ranges {
			if len(rs) == len(t.Files) && t.Sorted[col] && disjointHulls(rs, rs) {
				cols = append(cols, col)
			}
		}
		slices.Sort(cols)
		for _, col := range cols {
			nodes = append(nodes, node{t, col})
		}
	}

	// Families: columns whose files' ranges pair up disjointly (each
	// could be joined with the other partition by partition).
	parent := make([]int, len(nodes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			ri, rj := nodes[i].t.Ranges[nodes[i].col], nodes[j].t.Ranges[nodes[j].col]
			if len(ri) == len(rj) && disjointHulls(ri, rj) {
				parent[find(j)] = find(i)
			}
		}
	}
	type family struct {
		hulls  [][2]int64
		rows   float64 // the largest member's rows per file
		k, par int
	}
	fams := map[int]*family{}
	for i, n := range nodes {
		rs := n.t.Ranges[n.col]
		f := fams[find(i)]
		if f == nil {
			f = &family{hulls: slices.Clone(rs)}
			fams[find(i)] = f
		}
		for p, r := range rs {
			h := &f.hulls[p]
			switch {
			case r[0] > r[1]:
			case h[0] > h[1]:
				*h = r
			default:
				*h = [2]int64{min(h[0], r[0]), max(h[1], r[1])}
			}
		}
		f.rows = max(f.rows, float64(n.t.Rows)/float64(len(rs)))
	}
	for _, f := range fams {
		if !disjointHulls(f.hulls, f.hulls) {
			continue
		}
		k := int(math.Ceil(f.rows / per))
		if files := len(f.hulls); parts > files {
			f.par = min((parts+files-1)/files, int(f.rows/minPer), maxSplits, maxSplitPartitions/files)
		}
		f.k = min(max(k, f.par), maxSplits, maxSplitPartitions/len(f.hulls))
	}
	out := map[*catalog.Table]*tableSplit{}
	best := map[*catalog.Table]int{}
	for i, n := range nodes {
		f := fams[find(i)]
		if f.k < 2 || f.k <= best[n.t] {
			continue
		}
		s := &tableSplit{col: n.col, hulls: f.hulls, par: f.par}
		for _, h := range f.hulls {
			s.cells = append(s.cells, splitRange(h, f.k))
		}
		out[n.t], best[n.t] = s, f.k
	}
	return out
}

// splitRange divides [h[0], h[1]] into k ranges of equal width (fewer
// when it holds fewer values); an empty range stays one empty range.
func splitRange(h [2]int64, k int) [][2]int64 {
	if h[0] > h[1] {
		return [][2]int64{h}
	}
	span := uint64(h[1]) - uint64(h[0]) // values - 1, without overflow
	if span < uint64(k) {
		k = int(span) + 1
	}
	w := span/uint64(k) + 1
	var out [][2]int64
	for off := uint64(0); off <= span && len(out) < k; off += w {
		lo := int64(uint64(h[0]) + off)
		hi := h[1]
		if off+w-1 < span {
			hi = int64(uint64(h[0]) + off + w - 1)
		}
		out = append(out, [2]int64{lo, hi})
		if off+w < off { // wrapped: the last range ends at h[1]
			break
		}
	}
	out[len(out)-1][1] = h[1]
	return out
}

// tableSplitOf is how the binder's plan reads t (nil: a file per
// partition), from the catalog's splits, decided once per plan.
func (b *binder) tableSplitOf(t *catalog.Table) *tableSplit {
	if len(t.Ranges) == 0 {
		return nil
	}
	if b.split == nil {
		b.split = splits(b.cat, b.parts, b.splitRows)
	}
	return b.split[t]
}

// scanRanges is the value range of column col in each partition of a
// scan of s's table when those ranges split the table (no two partitions
// share values): each file's range, or the split's ranges for its column
// (a split table's other columns are no longer known to be split).
func scanRanges(s *scanRel, col string) ([][2]int64, bool) {
	if s.split != nil {
		if col != s.split.col {
			return nil, false
		}
		return s.split.bounds(), true
	}
	rs, ok := s.table.Ranges[col]
	if !ok || len(rs) != len(s.table.Files) {
		return nil, false
	}
	if s.per > 1 {
		// A partition of consecutive files holds their ranges' hull.
		rs = runHulls(rs, s.per)
	}
	if !disjointHulls(rs, rs) {
		return nil, false
	}
	return rs, true
}

// useSplits keeps the splits of r's scans whose table r joins or groups
// by the split column: only then does splitting bound what a task holds
// (a join partition, a group's rows) while each range keeps its rows
// together. A scan read for other keys is split only as far as
// parallelism asks: every partition's partial aggregate or distinct keys
// on another key emits most of its groups again (TPC-H Q22's orders by
// customer key: 2 M keys from 2 files, 9.7 M from 16 ranges).
func useSplits(r rel) {
	keys := map[colID]bool{}
	var scans []*scanRel
	var projs []*projectRel
	var aggs []*aggRel
	seen := map[*sharedRel]bool{}
	var walk func(rel)
	walk = func(r rel) {
		switch x := r.(type) {
		case *sharedRel:
			// Read wherever it is named, split alike for every reader;
			// its value-range partitioning is derived again after.
			if !seen[x] {
				seen[x] = true
				x.ranged, x.haveRanged = nil, false
				walk(x.in)
			}
		case *scanRel:
			scans = append(scans, x)
		case *filterRel:
			walk(x.in)
		case *projectRel:
			projs = append(projs, x)
			walk(x.in)
		case *joinRel:
			for _, k := range append(slices.Clone(x.leftKeys), x.rightKeys...) {
				if k.kind == eCol {
					keys[k.col] = true
				}
			}
			walk(x.left)
			walk(x.right)
		case *aggRel:
			for _, g := range x.groups {
				if g.kind == eCol {
					keys[g.col] = true
				}
			}
			aggs = append(aggs, x)
			walk(x.in)
		case *sortRel:
			walk(x.in)
		case *limitRel:
			walk(x.in)
		case *unionRel:
			for _, in := range x.inputs {
				walk(in)
			}
		case *windowRel:
			walk(x.in)
		}
	}
	walk(r)
	// A key named through projections and group outputs is its source's.
	for changed := true; changed; {
		changed = false
		mark := func(out colID, e *expr) {
			if keys[out] && e.kind == eCol && !keys[e.col] {
				keys[e.col], changed = true, true
			}
		}
		for _, p := range projs {
			for i, o := range p.out {
				mark(o, p.exprs[i])
			}
		}
		for _, a := range aggs {
			for i, o := range a.gout {
				mark(o, a.groups[i])
			}
		}
	}
	for _, s := range scans {
		if s.split == nil {
			continue
		}
		if i := s.table.Schema.FieldIndices(s.split.col); len(i) == 1 && i[0] < len(s.cols) && keys[s.cols[i[0]]] {
			continue
		}
		s.split = s.split.forParallelism()
	}
}

// shareRowsDivisor sets the fewest rows of a file that one share of its
// row groups (kapotv1.FileGroup.row_group_share) is planned to hold:
// Options.SplitRows / 16, 262,144 rows by default. Each share is a task,
// whose fixed cost and partial aggregate a small share would not repay;
// TPC-H SF 1's orders (1.5 M rows, 23 row groups) is still read as two.
const shareRowsDivisor = 16

// shareBytesPerRow sets the other bound of a share: the bytes its columns
// decode, at least shareBytesPerRow times its fewest rows (2 MiB by
// default, 5-10 ms of a task's time). A share of fewer rows that decodes
// that much (customer's 150 000 rows of strings, 25 MB; its phones and
// balances, 4 MB) repays its task: read whole, it was the one task of its
// stage while the other slot waited (TPC-H Q10 0.87x, Q22 0.95x, Q18
// 0.89x, TPC-DS q04 0.86x).
const shareBytesPerRow = 8

// rowGroupShares is how many partitions each of t's files is read as,
// each a share of its row groups, when t has fewer files than the plan's
// target partitions parts (1: a file per partition). One Parquet file per
// table, what kapot tpch gen and most exports write, was read by one task
// whatever the cluster: TPC-H Q1 at SF 1 scanned and aggregated lineitem
// on one core of two. Shares need no order in the file (unlike
// tableSplit's key ranges, which scans of sorted tables get first) and
// partition the rows by no column. splitRows is Options.SplitRows; below
// 0 (kapot.scan.split_rows=-1) every file is one partition. cols are the
// columns the scan reads: a file's share holds at least the rows, or the
// uncompressed bytes of cols (t.Bytes), that shareRowsDivisor and
// shareBytesPerRow set.
func rowGroupShares(t *catalog.Table, cols []string, parts int, splitRows int64) int {
	if splitRows < 0 || t.Format != "parquet" || len(t.Partitions) > 0 || t.Rows <= 0 || len(t.Files) == 0 || len(t.Files) >= parts {
		return 1
	}
	if splitRows == 0 {
		splitRows = defaultSplitRows
	}
	perFile := t.Rows / int64(len(t.Files))
	minRows := max(splitRows/shareRowsDivisor, 1)
	var bytes int64
	for _, c := range cols {
		bytes += t.Bytes[c]
	}
	bytes /= int64(len(t.Files))
	worth := max(perFile/minRows, bytes/(minRows*shareBytesPerRow))
	return int(max(1, min(int64((parts+len(t.Files)-1)/len(t.Files)), worth, maxSplits)))
}
