package engine

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// genPlan is a test source of int64 columns: row i of column c is
// val(c, i), null where val says so, in batches of batch rows; with rows < 0
// it never ends. It never looks at its context (as an input busy elsewhere),
// so whoever consumes it must notice a cancellation on its own.
type genPlan struct {
	schema      *arrow.Schema
	rows, batch int
	val         func(c, i int) (int64, bool)
}

var _ ExecutionPlan = (*genPlan)(nil)

func newGen(names []string, rows, batch int, val func(c, i int) (int64, bool)) *genPlan {
	fs := make([]arrow.Field, len(names))
	for i, n := range names {
		fs[i] = arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Int64, Nullable: true}
	}
	return &genPlan{schema: arrow.NewSchema(fs, nil), rows: rows, batch: batch, val: val}
}

func (g *genPlan) Schema() *arrow.Schema     { return g.schema }
func (g *genPlan) OutputPartitions() int     { return 1 }
func (g *genPlan) Children() []ExecutionPlan { return nil }
func (g *genPlan) String() string            { return "Gen" }
func (g *genPlan) Execute(ctx context.Context, p int, tc *TaskContext) (Operator, error) {
	return &genOp{g: g, tc: tc}, nil
}

type genOp struct {
	g    *genPlan
	tc   *TaskContext
	next int
}

func (o *genOp) Schema() *arrow.Schema { return o.g.schema }
func (o *genOp) Close() error          { return nil }
func (o *genOp) Next(context.Context) (arrow.RecordBatch, error) {
	n := o.g.batch
	if o.g.rows >= 0 {
		if n = min(n, o.g.rows-o.next); n <= 0 {
			return nil, io.EOF
		}
	}
	b := array.NewRecordBuilder(o.tc.Mem, o.g.schema)
	defer b.Release()
	for c := range o.g.schema.NumFields() {
		f := b.Field(c).(*array.Int64Builder)
		for i := o.next; i < o.next+n; i++ {
			if v, ok := o.g.val(c, i); ok {
				f.Append(v)
			} else {
				f.AppendNull()
			}
		}
	}
	o.next += n
	return b.NewRecordBatch(), nil
}

// TestOperatorsStopWhenCancelled runs operators that consume many input
// batches within one Next (a filter that keeps nothing, an aggregate, a
// sort, hash joins probing without a match) over an endless input that
// ignores its context, cancels the context, and wants each to return
// context.Canceled promptly: `kapot sql` ignored its --timeout and SIGTERM
// on TPC-DS q78 because a hash join's loops never looked (issue 36).
func TestOperatorsStopWhenCancelled(t *testing.T) {
	endless := func(names ...string) *genPlan {
		return newGen(names, -1, 8192, func(c, i int) (int64, bool) { return int64(-1 - i%1000), true })
	}
	build := func(names ...string) *genPlan {
		return newGen(names, 1000, 1000, func(c, i int) (int64, bool) { return int64(i), true })
	}
	join := func(keys ...string) ExecutionPlan {
		n := &kapotv1.HashJoinNode{JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT}
		var probeKeys []string
		for _, k := range keys {
			n.On = append(n.On, &kapotv1.JoinOn{Left: wiretest.Col(k), Right: wiretest.Col("p" + k)})
			probeKeys = append(probeKeys, "p"+k)
		}
		j, err := newHashJoin(build(keys...), endless(probeKeys...), n)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	src := endless("k")
	never, err := expr.FromProto(wiretest.Bin(wiretest.Col("k"), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(0)), src.Schema())
	if err != nil {
		t.Fatal(err)
	}
	filter, err := NewFilter(src, never)
	if err != nil {
		t.Fatal(err)
	}
	agg, err := newHashAggregate(src, &kapotv1.HashAggregateNode{Mode: kapotv1.AggregateMode_AGGREGATE_MODE_SINGLE,
		GroupExprs: []*kapotv1.PhysicalExprNode{wiretest.Col("k")},
		Aggregates: []*kapotv1.AggregateExprNode{{Func: kapotv1.AggregateFunction_AGGREGATE_FUNCTION_COUNT, Name: "n"}}})
	if err != nil {
		t.Fatal(err)
	}
	sort, err := newSort(newGen([]string{"k"}, -1, 1024, func(c, i int) (int64, bool) { return int64(i % 7), true }),
		&kapotv1.SortNode{Exprs: []*kapotv1.SortExprNode{{Expr: wiretest.Col("k")}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]ExecutionPlan{
		"filter":                filter,
		"aggregate":             agg,
		"sort":                  sort,
		"hash join, one key":    join("a"),
		"hash join, three keys": join("a", "b", "c"),
	} {
		t.Run(name, func(t *testing.T) {
			tc, _ := newTC(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			op, err := p.Execute(ctx, 0, tc)
			if err != nil {
				t.Fatal(err)
			}
			defer op.Close()
			done := make(chan error, 1)
			go func() {
				for {
					b, err := op.Next(ctx)
					if err != nil {
						done <- err
						return
					}
					b.Release()
				}
			}()
			time.Sleep(100 * time.Millisecond)
			cancel()
			start := time.Now()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("got %v, want context.Canceled", err)
				}
				t.Logf("returned %v after the cancellation", time.Since(start))
			case <-time.After(5 * time.Second):
				t.Fatal("still running 5 s after its context was cancelled")
			}
		})
	}
}
