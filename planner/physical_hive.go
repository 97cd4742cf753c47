package planner

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/catalog"
	physexpr "github.com/kapot-go/kapot/engine/expr"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// Hive-partitioned external tables (PARTITIONED BY): the partition
// columns live in the files' directory names, not in the files. The scan
// is a union with one branch per partition (the directory's files, then a
// projection that adds its values as constants); a filter whose conjuncts
// on partition columns alone are false or NULL for a partition drops that
// branch before anything is read.

// hiveScan is a Hive scan's branches, for pruning.
type hiveScan struct {
	branches []*kapotv1.PhysicalPlanNode
	parts    []int       // partitions of each branch (its files)
	values   [][]*string // each branch's partition values
	cols     []colID     // the partition columns, in table order
	types    []arrow.DataType
}

func (p *lowerer) lowerHiveScan(s *scanRel, need map[colID]bool) (lowered, error) {
	t := s.table
	nfile := len(t.Schema.Fields()) - len(t.Partitions)
	fileSchema := arrow.NewSchema(t.Schema.Fields()[:nfile], nil)
	fs, err := wire.SchemaToProto(fileSchema)
	if err != nil {
		return lowered{}, err
	}
	var proj []string // file columns read
	var cols []colID  // output: needed columns in table order
	for i, id := range s.cols {
		if need == nil || need[id] {
			cols = append(cols, id)
			if i < nfile {
				proj = append(proj, t.Schema.Field(i).Name)
			}
		}
	}
	if len(proj) == 0 { // only partition columns, or count(*)
		proj = []string{t.Schema.Field(0).Name}
	}
	if len(cols) == 0 {
		cols = []colID{s.cols[0]}
	}
	// Files by partition, partitions in order of their values.
	groups := map[string][]int{}
	var keys []string
	for i, vals := range t.PartitionValues {
		k := hiveKey(vals)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	sort.Strings(keys)
	h := &hiveScan{cols: s.cols[nfile:]}
	for j := range t.Partitions {
		h.types = append(h.types, t.Schema.Field(nfile+j).Type)
	}
	for _, k := range keys {
		files := groups[k]
		vals := t.PartitionValues[files[0]]
		var fg []*kapotv1.FileGroup
		for _, f := range files {
			fg = append(fg, &kapotv1.FileGroup{Paths: []string{t.Files[f]}})
		}
		scan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ParquetScan{ParquetScan: &kapotv1.ParquetScanNode{
			FileGroups: fg, Projection: proj, FileSchema: fs}}}
		var exprs []*kapotv1.PhysicalExprNode
		var names []string
		for _, id := range cols {
			i := slicesIndex(s.cols, id)
			name := t.Schema.Field(i).Name
			names = append(names, name)
			if i < nfile {
				exprs = append(exprs, &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: uint32(slicesIndex(proj, name))}}})
				continue
			}
			lit, err := hiveLiteral(vals[i-nfile], t.Schema.Field(i).Type)
			if err != nil {
				return lowered{}, err
			}
			exprs = append(exprs, &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Literal{Literal: lit}})
		}
		node := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{Input: scan, Exprs: exprs, Names: names}}}
		h.branches = append(h.branches, node)
		h.parts = append(h.parts, len(files))
		h.values = append(h.values, vals)
	}
	return p.hiveUnion(h, cols, hiveNames(t, s.cols, cols))
}

func hiveNames(t *catalog.Table, all, cols []colID) []string {
	out := make([]string, len(cols))
	for i, id := range cols {
		out[i] = t.Schema.Field(slicesIndex(all, id)).Name
	}
	return out
}

func slicesIndex[T comparable](s []T, v T) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// hiveUnion is the union of h's branches (an empty result without any).
func (p *lowerer) hiveUnion(h *hiveScan, cols []colID, colNames []string) (lowered, error) {
	out := lowered{cols: cols, hive: h}
	switch len(h.branches) {
	case 0:
		fields := make([]arrow.Field, len(cols))
		for i, id := range cols {
			fields[i] = arrow.Field{Name: colNames[i], Type: p.b.cols[id].typ, Nullable: true}
		}
		schema, err := wire.SchemaToProto(arrow.NewSchema(fields, nil))
		if err != nil {
			return lowered{}, err
		}
		out.node, out.parts = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: &kapotv1.ValuesNode{Schema: schema}}}, 1
	case 1:
		out.node, out.parts = h.branches[0], h.parts[0]
	default:
		out.node = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Union{Union: &kapotv1.UnionNode{Inputs: h.branches}}}
		for _, n := range h.parts {
			out.parts += n
		}
	}
	return out, nil
}

func hiveKey(vals []*string) string {
	var sb strings.Builder
	for _, v := range vals {
		if v == nil {
			sb.WriteString("\\x01")
		} else {
			sb.WriteString("\\x02" + *v)
		}
		sb.WriteByte(0)
	}
	return sb.String()
}

// hiveLiteral is a partition value as a literal of the column's type.
func hiveLiteral(v *string, t arrow.DataType) (*kapotv1.ScalarValue, error) {
	pt, err := wire.TypeToProto(t)
	if err != nil {
		return nil, err
	}
	lit := &kapotv1.ScalarValue{Type: pt}
	switch {
	case v == nil:
	case t.ID() == arrow.INT64:
		n, err := strconv.ParseInt(*v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("partition value %q: %w", *v, err)
		}
		lit.Value = &kapotv1.ScalarValue_IntValue{IntValue: n}
	default:
		lit.Value = &kapotv1.ScalarValue_StringValue{StringValue: *v}
	}
	return lit, nil
}

// pruneHive drops the branches of a Hive scan for which a conjunct of pred
// that reads partition columns only is not true.
func (p *lowerer) pruneHive(in lowered, pred *expr) (lowered, error) {
	h := in.hive
	part := map[colID]int{}
	for j, id := range h.cols {
		part[id] = j
	}
	var conj []*expr
	for _, c := range splitAnd(pred) {
		refs := addRefs(map[colID]bool{}, c)
		only := len(refs) > 0
		for id := range refs {
			if _, ok := part[id]; !ok {
				only = false
			}
		}
		if only {
			conj = append(conj, c)
		}
	}
	if len(conj) == 0 {
		return in, nil
	}
	// Each branch's values as one row of in's columns (NULL elsewhere).
	fields := make([]arrow.Field, len(in.cols))
	for i, id := range in.cols {
		fields[i] = arrow.Field{Name: fmt.Sprintf("c%d", i), Type: p.b.cols[id].typ, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	kept := &hiveScan{cols: h.cols, types: h.types}
	mem := memory.NewGoAllocator()
	for b, vals := range h.values {
		arrs := make([]arrow.Array, len(in.cols))
		for i, id := range in.cols {
			j, ok := part[id]
			if !ok || vals[j] == nil {
				arrs[i] = array.MakeArrayOfNull(mem, fields[i].Type, 1)
				continue
			}
			switch fields[i].Type.ID() {
			case arrow.INT64:
				n, _ := strconv.ParseInt(*vals[j], 10, 64)
				bld := array.NewInt64Builder(mem)
				bld.Append(n)
				arrs[i] = bld.NewArray()
			default:
				bld := array.NewStringBuilder(mem)
				bld.Append(*vals[j])
				arrs[i] = bld.NewArray()
			}
		}
		row := array.NewRecordBatch(schema, arrs, 1)
		keep := true
		for _, c := range conj {
			pe, err := c.proto(in.pos())
			if err != nil {
				return lowered{}, err
			}
			e, err := physexpr.FromProto(pe, schema)
			if err != nil {
				return lowered{}, err
			}
			res, err := e.Eval(context.Background(), mem, row)
			if err != nil {
				// Not decidable here (an error at run time too): keep.
				continue
			}
			bl, ok := res.(*array.Boolean)
			if ok && (bl.IsNull(0) || !bl.Value(0)) {
				keep = false
			}
			res.Release()
			if !keep {
				break
			}
		}
		row.Release()
		for _, a := range arrs {
			a.Release()
		}
		if keep {
			kept.branches = append(kept.branches, h.branches[b])
			kept.parts = append(kept.parts, h.parts[b])
			kept.values = append(kept.values, vals)
		}
	}
	colNames := make([]string, len(in.cols))
	for i := range colNames {
		colNames[i] = fmt.Sprintf("c%d", i)
	}
	return p.hiveUnion(kept, in.cols, colNames)
}
