package planner

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// The pipeline a query goes through: parse (parse.go, limits.go), bind
// (bind_*.go: the logical plan, rel.go), optimise (optimize*.go: the order
// of joins, key-range splits, semi-join reductions), lower (physical*.go:
// the physical plan the scheduler cuts into stages). Options tune it; Plan
// is what comes out.

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
	// EagerRows is the size of the largest table a join side scans from
	// which an aggregate above the join over that side's values
	// aggregates the side first (optimize_eager.go); 0 means 500 000,
	// negative never.
	EagerRows int64
	// MaxPlanNodes bounds the operators of the plan, counting a WITH
	// query or view read in several places once per reader; 0 means
	// DefaultMaxPlanNodes.
	MaxPlanNodes int
	// MaxPlanBytes bounds the plan's encoded size, likewise; 0 means
	// DefaultMaxPlanBytes.
	MaxPlanBytes int64
	// InProcess plans for RunInProcess, which runs a subtree read in two
	// places twice (there are no stages to share): nothing is planned to
	// be computed once for several readers that is not so anyway.
	InProcess bool
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

// logicalPlan is a bound query: its relation, the SQL names of its result
// columns, and the binder that knows every column's name and type.
type logicalPlan struct {
	b     *binder
	root  rel
	names []string
}

// PlanQuery parses one SELECT statement and plans it over the catalog.
// Planning stops with ctx: with its cause (PlanningTimeout, say) when it
// has one, else with ctx.Err().
func PlanQuery(ctx context.Context, cat *catalog.Catalog, sql string, o Options) (*Plan, error) {
	sel, lists, err := parseQuery(sql)
	if err != nil {
		return nil, err
	}
	return planSelect(ctx, cat, sel, lists, o)
}

// ExplainLogical parses one SELECT statement, binds and optimises it over
// the catalog, and renders the logical plan that lowering would turn into
// the physical plan (see logical_print.go).
func ExplainLogical(ctx context.Context, cat *catalog.Catalog, sql string, o Options) (string, error) {
	sel, lists, err := parseQuery(sql)
	if err != nil {
		return "", err
	}
	lp, err := bindQuery(ctx, cat, sel, lists, o)
	if err != nil {
		return "", err
	}
	optimise(lp, o)
	return printLogical(lp.root, lp.b.cols), nil
}

// parseQuery parses sql, which must be one SELECT statement.
func parseQuery(sql string) (*pg.SelectStmt, map[string]*longList, error) {
	res, lists, err := parseSQL(sql)
	if err != nil {
		return nil, nil, err
	}
	if len(res.GetStmts()) != 1 {
		return nil, nil, &SQLError{Pos: -1, Msg: fmt.Sprintf("want one statement, got %d", len(res.GetStmts())), Err: engine.ErrInvalidPlan}
	}
	sel := res.GetStmts()[0].GetStmt().GetSelectStmt()
	if sel == nil {
		return nil, nil, notSupported(-1, "statements other than SELECT here")
	}
	return sel, lists, nil
}

// planSelect plans a parsed query, whose long IN lists are lists, over
// the catalog: bind, optimise, lower.
func planSelect(ctx context.Context, cat *catalog.Catalog, sel *pg.SelectStmt, lists map[string]*longList, o Options) (*Plan, error) {
	lp, err := bindQuery(ctx, cat, sel, lists, o)
	if err != nil {
		return nil, err
	}
	optimise(lp, o)
	return lowerPlan(ctx, lp, o)
}

// bindQuery binds a parsed query to the catalog: its logical plan.
func bindQuery(ctx context.Context, cat *catalog.Catalog, sel *pg.SelectStmt, lists map[string]*longList, o Options) (*logicalPlan, error) {
	b := &binder{ctx: ctx, cat: cat, cols: map[colID]*column{}, parts: o.parts(), splitRows: o.SplitRows, lists: lists, inProcess: o.InProcess}
	r, names, err := b.bindSelect(sel)
	if err != nil {
		return nil, err
	}
	if err := refuseNestedRels(r, map[rel]bool{}); err != nil {
		return nil, err
	}
	return &logicalPlan{b: b, root: r, names: names}, nil
}

// lowerPlan turns an optimised logical plan into the physical plan,
// refused when it is larger than the options allow.
func lowerPlan(ctx context.Context, lp *logicalPlan, o Options) (*Plan, error) {
	// The plan as the executors get it must fit: refused here, before
	// it is built, when the logical plan with its shared relations
	// copied into each reader is already too large.
	maxNodes := o.maxNodes()
	if relSize(lp.root, maxNodes) > maxNodes {
		return nil, tooLarge("operators", maxNodes)
	}
	// (Each relation lowers to at least one operator; the count of calls
	// is a guard against a walk the estimate above missed.)
	p := &lowerer{ctx: ctx, b: lp.b, costModel: o.costModel(), maxNodes: 2 * maxNodes, readers: countReaders(lp.root)}
	l, err := p.lower(lp.root, nil)
	if err != nil {
		return nil, err
	}
	size := measurePlan(l.node)
	switch {
	case size.nodes > maxNodes:
		return nil, tooLarge("operators", maxNodes)
	case size.bytes > o.maxBytes():
		return nil, tooLarge("bytes", o.maxBytes())
	}
	unshare(l.node)
	filterGroupsEarly(l.node)
	collapseBuildScans(l.node)
	fields := make([]arrow.Field, len(l.cols))
	for i, id := range l.cols {
		// The engine marks every result column nullable.
		fields[i] = arrow.Field{Name: lp.names[i], Type: lp.b.cols[id].typ, Nullable: true}
	}
	return &Plan{Root: l.node, Columns: lp.names, Schema: arrow.NewSchema(fields, nil)}, nil
}

// costModel is the partition count and broadcast threshold the options
// give.
func (o Options) costModel() costModel {
	c := costModel{parts: o.parts(), broadcast: float64(o.BroadcastRows), eager: float64(o.EagerRows)}
	if o.BroadcastRows == 0 {
		c.broadcast = broadcastRows
	}
	if o.EagerRows == 0 {
		c.eager = eagerMinRows
	}
	return c
}

// parts is the partition count of hash exchanges.
func (o Options) parts() int {
	if o.TargetPartitions <= 0 {
		return 2
	}
	return o.TargetPartitions
}
