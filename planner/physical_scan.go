package planner

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/catalog"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Lowering scans: the files of a table as partitions (a file, a share of
// its row groups, a key range, or a few small files each), with the
// columns a plan needs.

// smallTableRows: a table of fewer rows in more files than a plan's
// target partitions is read in that many partitions, a run of
// consecutive files each. A task has a fixed cost of a few milliseconds
// (its launch, opening its files, writing its output), as much as reading
// 20 000 rows (TPC-H SF 1 in 8 files per table: Q22 ran 8 tasks of
// customer's 19 000 rows each, twice, and 8 of orders', 2.9x DuckDB's time).
const smallTableRows = 1_000_000

// filesPerPartition is how many consecutive files of t one partition
// reads: ceil(files/parts) for an external table in more files than
// parts, when that still gives each of the parts partitions a run and
// none more than defaultSplitRows rows (a small table's always), else 1.
// As Spark packs files into partitions of about the table's bytes over
// the cluster's cores: TPC-H SF 1's orders in 8 files was read by 8 tasks
// on 2 slots, each paying a task's fixed cost for 190 000 rows, most of
// which its join's dynamic filter dropped (Q22, 4 rounds of 7 ms).
func filesPerPartition(t *catalog.Table, parts int) int {
	files := len(t.Files)
	if t.Managed || len(t.Partitions) > 0 || parts < 1 || files <= parts || t.Rows <= 0 {
		return 1
	}
	per := (files + parts - 1) / parts
	if t.Rows < smallTableRows {
		return per
	}
	if (files+per-1)/per < parts || t.Rows/int64(files)*int64(per) > defaultSplitRows {
		return 1
	}
	for _, rs := range t.Ranges {
		// Files whose key ranges are disjoint stay so in runs only when
		// the runs follow the keys (part-1, part-10, part-2 do not): a
		// join partition by partition must not become a repartition.
		if len(rs) == files && disjointHulls(rs, rs) {
			if h := runHulls(rs, per); !disjointHulls(h, h) {
				return 1
			}
		}
	}
	return per
}

// runHulls is the hull of each run of per consecutive ranges of rs.
func runHulls(rs [][2]int64, per int) [][2]int64 {
	var hulls [][2]int64
	for i := 0; i < len(rs); i += per {
		h := rs[i]
		for _, r := range rs[i+1 : min(i+per, len(rs))] {
			h = [2]int64{min(h[0], r[0]), max(h[1], r[1])}
		}
		hulls = append(hulls, h)
	}
	return hulls
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
	} else if s.per > 1 {
		for i := 0; i < len(s.table.Files); i += s.per {
			groups = append(groups, &kapotv1.FileGroup{Paths: s.table.Files[i:min(i+s.per, len(s.table.Files))]})
		}
	} else {
		shares := rowGroupShares(s.table, proj, p.parts, p.b.splitRows)
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
