package planner

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
)

// The pipeline a query goes through: parse (parse.go, limits.go), bind
// (bind*.go: the logical plan, rel.go), optimise (optimize.go: the order
// of joins, then key-range splits), lower (physical.go: the physical plan
// the scheduler cuts into stages).

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
	b := &binder{ctx: ctx, cat: cat, cols: map[colID]*column{}, parts: o.parts(), splitRows: o.SplitRows, lists: lists}
	r, names, err := b.bindSelect(sel)
	if err != nil {
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
	p := &lowerer{ctx: ctx, b: lp.b, costModel: o.costModel(), maxNodes: 2 * maxNodes}
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
	c := costModel{parts: o.parts(), broadcast: float64(o.BroadcastRows)}
	if o.BroadcastRows == 0 {
		c.broadcast = broadcastRows
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
