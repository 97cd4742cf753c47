package engine

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/window"
	"github.com/kapot-go/kapot/objstore"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// MaxPlanDepth bounds plan nesting so a hostile plan cannot exhaust the stack.
const MaxPlanDepth = 256

// BuildOptions say where a plan's scans find their files.
type BuildOptions struct {
	// Ctx bounds the reads made while building (scan schemas) and, for
	// object stores, the reads of the task: cancelling it stops them.
	Ctx context.Context
	// Store opens data locations (paths, file://, s3://, http(s)://); nil
	// means a registry with the AWS SDK's defaults and no cache.
	Store *objstore.Registry
	// Properties are the job's session properties (kapot.s3.* credentials
	// and endpoint).
	Properties map[string]string
	// Footers, when set, keeps the Parquet footers scans read for the
	// next scans of the same files (an executor's, shared by its tasks).
	Footers *FooterCache
}

func (o BuildOptions) opener() opener {
	store, props := o.Store, o.Properties
	return func(ctx context.Context, location string) (objstore.Object, error) {
		return store.Open(ctx, location, props)
	}
}

func (o BuildOptions) withDefaults() BuildOptions {
	if o.Ctx == nil {
		o.Ctx = context.Background()
	}
	if o.Store == nil {
		o.Store = objstore.Default()
	}
	return o
}

// DecodePlan parses serialized plan bytes and builds the plan.
func DecodePlan(b []byte) (ExecutionPlan, error) { return DecodePlanWith(b, BuildOptions{}) }

// DecodePlanWith is DecodePlan with build options.
func DecodePlanWith(b []byte, o BuildOptions) (ExecutionPlan, error) {
	var n kapotv1.PhysicalPlanNode
	if err := proto.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("decode plan: %v: %w", err, ErrInvalidPlan)
	}
	return FromProtoWith(&n, o)
}

// FromProto builds the ExecutionPlan of a wire plan. It is the one place that
// maps plan nodes to operators; unknown nodes are ErrNotSupported.
//
// Every node gets its pre-order position as node id and is wrapped so that
// the operators it opens report metrics into TaskContext.Metrics.
func FromProto(n *kapotv1.PhysicalPlanNode) (ExecutionPlan, error) {
	return FromProtoWith(n, BuildOptions{})
}

// FromProtoWith is FromProto with build options.
func FromProtoWith(n *kapotv1.PhysicalPlanNode, o BuildOptions) (ExecutionPlan, error) {
	b := &planBuilder{opts: o.withDefaults()}
	return b.build(n, 0, -1)
}

type planBuilder struct {
	next int
	opts BuildOptions
	// filters numbers the plan's dynamic filters.
	filters int
}

// nodeIDSetter is implemented by nodes that record metrics themselves
// (spills, the shuffle writer) and need their node id.
type nodeIDSetter interface{ setNodeID(int) }

func (b *planBuilder) build(n *kapotv1.PhysicalPlanNode, depth, parent int) (ExecutionPlan, error) {
	if n == nil || n.GetNode() == nil {
		return nil, fmt.Errorf("plan node missing: %w", ErrInvalidPlan)
	}
	if depth > MaxPlanDepth {
		return nil, fmt.Errorf("plan deeper than %d nodes: %w", MaxPlanDepth, ErrInvalidPlan)
	}
	id := b.next
	b.next++
	p, err := b.node(n, depth, id)
	if err != nil {
		return nil, err
	}
	if s, ok := p.(nodeIDSetter); ok {
		s.setNodeID(id)
	}
	if _, ok := p.(*ShuffleWriter); ok {
		return p, nil // a stage root records its own metrics in Run
	}
	return operator.NewMetered(p, id, parent), nil
}

// node is the one plan→operator switch: it builds n (node id, depth deep)
// over its inputs, which build builds first.
func (b *planBuilder) node(n *kapotv1.PhysicalPlanNode, depth, id int) (ExecutionPlan, error) {
	child := func(c *kapotv1.PhysicalPlanNode) (ExecutionPlan, error) { return b.build(c, depth+1, id) }
	// over builds a node of one input c with mk.
	over := func(c *kapotv1.PhysicalPlanNode, mk func(in ExecutionPlan) (ExecutionPlan, error)) (ExecutionPlan, error) {
		in, err := child(c)
		if err != nil {
			return nil, err
		}
		return mk(in)
	}
	// join builds a node of two inputs l and r with mk.
	join := func(l, r *kapotv1.PhysicalPlanNode, mk func(l, r ExecutionPlan) (ExecutionPlan, error)) (ExecutionPlan, error) {
		lp, err := child(l)
		if err != nil {
			return nil, err
		}
		rp, err := child(r)
		if err != nil {
			return nil, err
		}
		return mk(lp, rp)
	}
	switch x := n.GetNode().(type) {
	case *kapotv1.PhysicalPlanNode_ParquetScan:
		return newParquetScan(x.ParquetScan, b.opts)
	case *kapotv1.PhysicalPlanNode_CsvScan:
		return newCsvScan(x.CsvScan, b.opts)
	case *kapotv1.PhysicalPlanNode_IpcScan:
		return newIpcScan(x.IpcScan, b.opts)
	case *kapotv1.PhysicalPlanNode_Values:
		return newValues(x.Values)
	case *kapotv1.PhysicalPlanNode_Projection:
		return over(x.Projection.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) {
			return projectionFromProto(narrowJoin(in, x.Projection))
		})
	case *kapotv1.PhysicalPlanNode_Filter:
		return over(x.Filter.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) { return filterFromProto(in, x.Filter, id) })
	case *kapotv1.PhysicalPlanNode_Limit:
		return over(x.Limit.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) {
			return NewLimit(in, x.Limit.GetSkip(), x.Limit.GetFetch())
		})
	case *kapotv1.PhysicalPlanNode_HashJoin:
		return join(x.HashJoin.GetLeft(), x.HashJoin.GetRight(), func(l, r ExecutionPlan) (ExecutionPlan, error) {
			j, err := newHashJoin(l, r, x.HashJoin)
			if err == nil {
				wireDynamicFilters(j, &b.filters)
			}
			return j, err
		})
	case *kapotv1.PhysicalPlanNode_NestedLoopJoin:
		return join(x.NestedLoopJoin.GetLeft(), x.NestedLoopJoin.GetRight(), func(l, r ExecutionPlan) (ExecutionPlan, error) {
			return newNestedLoopJoin(l, r, x.NestedLoopJoin)
		})
	case *kapotv1.PhysicalPlanNode_Writer:
		return over(x.Writer.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) { return newWriter(in, x.Writer, b.opts) })
	case *kapotv1.PhysicalPlanNode_Window:
		return over(x.Window.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) { return window.New(in, x.Window) })
	case *kapotv1.PhysicalPlanNode_Unnest:
		return over(x.Unnest.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) { return newUnnest(in, x.Unnest) })
	case *kapotv1.PhysicalPlanNode_Union:
		var inputs []ExecutionPlan
		for _, c := range x.Union.GetInputs() {
			in, err := child(c)
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, in)
		}
		return NewUnion(inputs)
	case *kapotv1.PhysicalPlanNode_SortPreservingMerge:
		return over(x.SortPreservingMerge.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) {
			return newSortPreservingMerge(in, x.SortPreservingMerge)
		})
	case *kapotv1.PhysicalPlanNode_CoalesceBatches:
		return over(x.CoalesceBatches.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) {
			return NewCoalesceBatches(in, x.CoalesceBatches.GetTargetBatchSize())
		})
	case *kapotv1.PhysicalPlanNode_Repartition:
		return over(x.Repartition.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) {
			p, err := partitioningOf(x.Repartition.GetPartitioning(), in, "repartition")
			if err != nil {
				return nil, err
			}
			return &Repartition{input: in, part: p}, nil
		})
	case *kapotv1.PhysicalPlanNode_Sort:
		return over(x.Sort.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) { return newSort(in, x.Sort) })
	case *kapotv1.PhysicalPlanNode_TopNRanking:
		return over(x.TopNRanking.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) { return newTopNRanking(in, x.TopNRanking) })
	case *kapotv1.PhysicalPlanNode_HashAggregate:
		return over(x.HashAggregate.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) { return newHashAggregate(in, x.HashAggregate) })
	case *kapotv1.PhysicalPlanNode_CoalescePartitions:
		return over(x.CoalescePartitions.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) { return NewCoalescePartitions(in), nil })
	case *kapotv1.PhysicalPlanNode_Exchange:
		return over(x.Exchange.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) {
			p, err := partitioningOf(x.Exchange.GetPartitioning(), in, "exchange")
			if err != nil {
				return nil, err
			}
			return &Exchange{input: in, part: p}, nil
		})
	case *kapotv1.PhysicalPlanNode_ShuffleWriter:
		return over(x.ShuffleWriter.GetInput(), func(in ExecutionPlan) (ExecutionPlan, error) { return shuffleWriterFromProto(in, x.ShuffleWriter) })
	case *kapotv1.PhysicalPlanNode_ShuffleReader:
		return shuffleReaderFromProto(x.ShuffleReader)
	case *kapotv1.PhysicalPlanNode_UnresolvedShuffle:
		return unresolvedShuffleFromProto(x.UnresolvedShuffle)
	}
	return nil, fmt.Errorf("plan node %T: %w", n.GetNode(), ErrNotSupported)
}

// narrowJoin narrows a hash join or a filter (in) under a projection n
// that reads only some of its columns to those columns (joinSpec.narrow,
// Filter.narrow), and returns it with n reading the narrowed output.
// Anything else it returns as it is.
func narrowJoin(in ExecutionPlan, n *kapotv1.ProjectionNode) (ExecutionPlan, *kapotv1.ProjectionNode) {
	inner := in
	if m, ok := in.(*operator.Metered); ok {
		inner = m.Unwrap()
	}
	var narrow func(cols []int)
	switch x := inner.(type) {
	case *HashJoin:
		if x.narrowed || !x.outputsBothSides() {
			return in, n
		}
		narrow = x.narrow
	case *Filter:
		if x.keep != nil {
			return in, n
		}
		narrow = x.narrow
	default:
		return in, n
	}
	schema := inner.Schema()
	width := schema.NumFields()
	used := make([]bool, width)
	out := proto.Clone(n).(*kapotv1.ProjectionNode)
	var refs []*kapotv1.ColumnExpr // every column the projection reads
	for _, e := range out.GetExprs() {
		ok := wire.VisitColumns(e, func(c *kapotv1.ColumnExpr) bool {
			k := int(c.GetIndex())
			if c.GetName() != "" {
				idx := schema.FieldIndices(c.GetName())
				if len(idx) != 1 {
					return false
				}
				k = idx[0]
			}
			if k >= width {
				return false
			}
			c.Index, c.Name = uint32(k), ""
			used[k] = true
			refs = append(refs, c)
			return true
		})
		if !ok {
			return in, n
		}
	}
	var cols []int
	pos := make([]uint32, width) // a kept column's position in the output
	for i, u := range used {
		if u {
			pos[i] = uint32(len(cols))
			cols = append(cols, i)
		}
	}
	if len(cols) == width || len(cols) == 0 {
		return in, n
	}
	narrow(cols)
	for _, c := range refs {
		c.Index = pos[c.GetIndex()] // by position: names may repeat across a join's sides
	}
	return in, out
}

// projectionFromProto builds the projection n over in.
func projectionFromProto(in ExecutionPlan, n *kapotv1.ProjectionNode) (ExecutionPlan, error) {
	exprs := make([]expr.Expr, len(n.GetExprs()))
	for i, e := range n.GetExprs() {
		var err error
		if exprs[i], err = expr.FromProto(e, in.Schema()); err != nil {
			return nil, fmt.Errorf("projection: %w", err)
		}
	}
	return NewProjection(in, exprs, n.GetNames())
}

// filterFromProto builds the filter n over in, node id of the plan.
func filterFromProto(in ExecutionPlan, n *kapotv1.FilterNode, id int) (ExecutionPlan, error) {
	pred, err := expr.FromProto(n.GetPredicate(), in.Schema())
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	// A filter over a filter becomes one (see Filter); the inner
	// filter's input reports to this node in the metrics tree.
	if m, ok := in.(*operator.Metered); ok {
		if inner, ok := m.ExecutionPlan.(*Filter); ok {
			if f := inner.merge(pred); f != nil {
				if c, ok := f.input.(*operator.Metered); ok {
					c.SetParent(id)
				}
				pushPrefilters(f)
				return f, nil
			}
		}
	}
	f, err := NewFilter(in, pred)
	if err != nil {
		return nil, err
	}
	pushPrefilters(f)
	return f, nil
}

// partitioningOf is the partitioning p of a repartition or exchange (what)
// over in, which the node must have.
func partitioningOf(p *kapotv1.Partitioning, in ExecutionPlan, what string) (*partitioning, error) {
	if p == nil {
		return nil, fmt.Errorf("%s without partitioning: %w", what, ErrInvalidPlan)
	}
	part, err := newPartitioning(p, in.Schema())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return part, nil
}

// shuffleWriterFromProto builds the stage root w over in.
func shuffleWriterFromProto(in ExecutionPlan, w *kapotv1.ShuffleWriterNode) (ExecutionPlan, error) {
	if err := shuffleValidate(w.GetJobId()); err != nil {
		return nil, err
	}
	p, err := newPartitioning(w.GetPartitioning(), in.Schema())
	if err != nil {
		return nil, fmt.Errorf("shuffle writer: %w", err)
	}
	return &ShuffleWriter{JobID: w.GetJobId(), StageID: w.GetStageId(), input: in, part: p}, nil
}

// shuffleReaderFromProto builds the reader r of an earlier stage's output.
func shuffleReaderFromProto(r *kapotv1.ShuffleReaderNode) (ExecutionPlan, error) {
	schema, err := wire.SchemaFromProto(r.GetSchema())
	if err != nil {
		return nil, fmt.Errorf("shuffle reader: %w", err)
	}
	out := &ShuffleReader{stageID: r.GetStageId(), schema: schema}
	for _, p := range r.GetPartitions() {
		out.partitions = append(out.partitions, p.GetLocations())
	}
	if len(out.partitions) == 0 {
		return nil, fmt.Errorf("shuffle reader of stage %d has no partitions: %w", r.GetStageId(), ErrInvalidPlan)
	}
	return out, nil
}

// unresolvedShuffleFromProto builds the placeholder u for a stage whose
// output is not placed yet.
func unresolvedShuffleFromProto(u *kapotv1.UnresolvedShuffleNode) (ExecutionPlan, error) {
	schema, err := wire.SchemaFromProto(u.GetSchema())
	if err != nil {
		return nil, fmt.Errorf("unresolved shuffle: %w", err)
	}
	if u.GetOutputPartitionCount() < 1 {
		return nil, fmt.Errorf("unresolved shuffle of stage %d has no partitions: %w", u.GetStageId(), ErrInvalidPlan)
	}
	return &UnresolvedShuffle{stageID: u.GetStageId(), schema: schema, n: int(u.GetOutputPartitionCount())}, nil
}
