package engine

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

func coalesceNode(in *kapotv1.PhysicalPlanNode) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CoalescePartitions{CoalescePartitions: &kapotv1.CoalescePartitionsNode{Input: in}}}
}

// intValues is a one-column (name x) values node; nil is a null.
func intValues(name string, vals ...any) *kapotv1.PhysicalPlanNode {
	v := &kapotv1.ValuesNode{Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: name, Type: wiretest.I64Type(), Nullable: true}}}}
	for _, x := range vals {
		v.Rows = append(v.Rows, &kapotv1.ValuesRow{Values: []*kapotv1.ScalarValue{ival(x)}})
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: v}}
}

func TestUnion(t *testing.T) {
	tc, _ := newTC(t)
	u := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Union{Union: &kapotv1.UnionNode{Inputs: []*kapotv1.PhysicalPlanNode{
		intValues("a", 1, nil), projectCols(customersCSV(t), "cid"), intValues("c"),
	}}}}
	p, err := FromProto(u)
	if err != nil {
		t.Fatal(err)
	}
	if p.OutputPartitions() != 4 || p.Schema().Field(0).Name != "a" {
		t.Fatalf("partitions %d, schema %s", p.OutputPartitions(), p.Schema())
	}
	got := runOrdered(t, u, tc)
	want := []string{"1", "NULL", "10", "20", "30", "10", "NULL"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	bad := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Union{Union: &kapotv1.UnionNode{Inputs: []*kapotv1.PhysicalPlanNode{
		intValues("a", 1), projectCols(customersCSV(t), "name")}}}}
	if _, err := FromProto(bad); err == nil {
		t.Fatal("union of int64 and utf8 accepted")
	}
}

func TestSortPreservingMerge(t *testing.T) {
	// Three sorted partitions (one empty) with duplicates and nulls.
	parts := [][]any{{1, 4, 4, 9, nil}, {}, {2, 4, 7, nil}}
	var inputs []*kapotv1.PhysicalPlanNode
	for _, p := range parts {
		inputs = append(inputs, intValues("x", p...))
	}
	union := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Union{Union: &kapotv1.UnionNode{Inputs: inputs}}}
	spm := func(desc bool, fetch *int64) *kapotv1.PhysicalPlanNode {
		in := union
		if desc {
			// Each partition sorted descending, nulls first.
			in = sortNode(union, nil, key("x", true, true))
		}
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_SortPreservingMerge{SortPreservingMerge: &kapotv1.SortPreservingMergeNode{
			Input: in, Exprs: []*kapotv1.SortExprNode{key("x", desc, desc)}, Fetch: fetch}}}
	}
	for _, c := range []struct {
		name  string
		desc  bool
		fetch *int64
		want  []string
	}{
		{"asc nulls last", false, nil, []string{"1", "2", "4", "4", "4", "7", "9", "NULL", "NULL"}},
		{"desc nulls first", true, nil, []string{"NULL", "NULL", "9", "7", "4", "4", "4", "2", "1"}},
		{"fetch", false, i64p(4), []string{"1", "2", "4", "4"}},
		{"fetch 0", false, i64p(0), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc, _ := newTC(t)
			got := runOrdered(t, spm(c.desc, c.fetch), tc)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestCoalesceBatches(t *testing.T) {
	tc, _ := newTC(t)
	// Ten one-row batches: a union of one-row values nodes, coalesced.
	var ones []*kapotv1.PhysicalPlanNode
	for i := 0; i < 10; i++ {
		ones = append(ones, intValues("x", i))
	}
	src := coalesceNode(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Union{Union: &kapotv1.UnionNode{Inputs: ones}}})
	n := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CoalesceBatches{CoalesceBatches: &kapotv1.CoalesceBatchesNode{
		Input:           &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{Input: src, Predicate: wiretest.Bin(wiretest.Col("x"), kapotv1.BinaryOp_BINARY_OP_NEQ, wiretest.I64(5))}}},
		TargetBatchSize: 4}}}
	p, err := FromProto(n)
	if err != nil {
		t.Fatal(err)
	}
	op, err := p.Execute(context.Background(), 0, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	var sizes []int64
	var rows []string
	for {
		b, err := op.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.NumRows())
		rows = append(rows, FormatRows([]arrow.RecordBatch{b}, "|")...)
		b.Release()
	}
	if !slices.Equal(sizes, []int64{4, 4, 1}) {
		t.Fatalf("batch sizes %v, want [4 4 1]", sizes)
	}
	if want := []string{"0", "1", "2", "3", "4", "6", "7", "8", "9"}; !slices.Equal(rows, want) {
		t.Fatalf("rows %q, want %q", rows, want)
	}
}

func TestRepartition(t *testing.T) {
	var vals []any
	for i := 0; i < 20; i++ {
		vals = append(vals, i%7)
	}
	vals = append(vals, nil)
	for _, scheme := range []*kapotv1.Partitioning{
		{Scheme: &kapotv1.Partitioning_Hash{Hash: &kapotv1.HashPartitioning{Exprs: []*kapotv1.PhysicalExprNode{wiretest.Col("x")}, PartitionCount: 3}}},
		{Scheme: &kapotv1.Partitioning_RoundRobin{RoundRobin: &kapotv1.RoundRobinPartitioning{PartitionCount: 3}}},
	} {
		t.Run(fmt.Sprintf("%T", scheme.GetScheme()), func(t *testing.T) {
			tc, _ := newTC(t)
			tc.BatchSize = 4
			in := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Union{Union: &kapotv1.UnionNode{Inputs: []*kapotv1.PhysicalPlanNode{
				intValues("x", vals[:10]...), intValues("x", vals[10:]...)}}}}
			rep := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Repartition{Repartition: &kapotv1.RepartitionNode{Input: in, Partitioning: scheme}}}
			p, err := FromProto(rep)
			if err != nil {
				t.Fatal(err)
			}
			// Every row exactly once, and for hash each key in one partition.
			got := collectFormatted(t, p, tc)
			var want []string
			for _, v := range vals {
				if v == nil {
					want = append(want, "NULL")
				} else {
					want = append(want, fmt.Sprint(v))
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
			if scheme.GetHash() != nil {
				seen := map[string]int{}
				for part := 0; part < 3; part++ {
					for _, r := range runPartition(t, p, part) {
						if q, ok := seen[r]; ok && q != part {
							t.Fatalf("key %s in partitions %d and %d", r, q, part)
						}
						seen[r] = part
					}
				}
			}
		})
	}
	t.Run("partitions read out of order and one abandoned", func(t *testing.T) {
		tc, _ := newTC(t)
		in := intValues("x", vals...)
		p, err := FromProto(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Repartition{Repartition: &kapotv1.RepartitionNode{Input: in,
			Partitioning: &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_RoundRobin{RoundRobin: &kapotv1.RoundRobinPartitioning{PartitionCount: 2}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		op1, err := p.Execute(ctx, 1, tc)
		if err != nil {
			t.Fatal(err)
		}
		b, err := op1.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
		op1.Close()
		// Partition 0 is never read: the task's end releases its queue (the
		// checked allocator in newTC proves it).
		tc.End()
	})
}

// runPartition executes one partition of p under a fresh task context
// (reading shuffle data from workDir, if given).
func runPartition(t *testing.T, p ExecutionPlan, part int, workDir ...string) []string {
	t.Helper()
	tc, _ := newTC(t)
	if len(workDir) > 0 {
		tc.WorkDir = workDir[0]
	}
	defer tc.End()
	op, err := p.Execute(context.Background(), part, tc)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := Collect(context.Background(), op)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	return FormatRows(bs, "|")
}

func TestShuffleWriterSpillsWithinBudget(t *testing.T) {
	in := spillInput(t, 3000)
	tc, _ := newTC(t)
	tc.Properties[PropShuffleWriteBuffer] = "4KiB"
	tc.Metrics = &Metrics{}
	writer := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleWriter{ShuffleWriter: &kapotv1.ShuffleWriterNode{
		JobId: "job1", StageId: 1, Input: in,
		Partitioning: &kapotv1.Partitioning{Scheme: &kapotv1.Partitioning_Hash{Hash: &kapotv1.HashPartitioning{Exprs: []*kapotv1.PhysicalExprNode{wiretest.Col("s")}, PartitionCount: 4}}},
	}}}
	wp, err := FromProto(writer)
	if err != nil {
		t.Fatal(err)
	}
	sw := wp.(*ShuffleWriter)
	stats, err := sw.Run(context.Background(), 0, tc)
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for _, s := range stats {
		rows += s.Rows
	}
	if rows != 3000 {
		t.Fatalf("wrote %d rows, want 3000", rows)
	}
	snap := tc.Metrics.Snapshot()
	if len(snap) == 0 || snap[0].SpillCount < 2 || snap[0].SpilledBytes == 0 {
		t.Fatalf("writer metrics %+v: want several spills", snap)
	}
	left, _ := filepath.Glob(filepath.Join(tc.WorkDir, "job1", ".*spill*"))
	if len(left) != 0 {
		t.Fatalf("spill runs left: %v", left)
	}
	// Read every partition back: all rows, each key in one partition.
	schema, err := wire.SchemaToProto(sw.Schema())
	if err != nil {
		t.Fatal(err)
	}
	reader := &kapotv1.ShuffleReaderNode{StageId: 1, Schema: schema}
	for out := uint32(0); out < 4; out++ {
		reader.Partitions = append(reader.Partitions, &kapotv1.ShuffleReaderPartition{Locations: []*kapotv1.PartitionLocation{
			{JobId: "job1", StageId: 1, MapPartition: 0, OutputPartition: out, Executor: &kapotv1.ExecutorMetadata{Id: "exec-a"}}}})
	}
	rp, err := FromProto(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_ShuffleReader{ShuffleReader: reader}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var got []string
	for part := 0; part < 4; part++ {
		for _, r := range runPartition(t, rp, part, tc.WorkDir) {
			got = append(got, r)
			s := strings.Split(r, "|")[1]
			if q, ok := seen[s]; ok && q != part {
				t.Fatalf("key %s in partitions %d and %d", s, q, part)
			}
			seen[s] = part
		}
	}
	want := run(t, in, tc)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("read back %d rows, want %d (or rows differ)", len(got), len(want))
	}
}

// TestCountingAllocator: the count follows allocations, growth and frees
// through Arrow builders and returns to zero when everything is released.
func TestCountingAllocator(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	mem := alloc.NewCountingAllocator(checked)
	b := array.NewInt64Builder(mem)
	for i := range 10000 {
		b.Append(int64(i))
	}
	arr := b.NewArray()
	b.Release()
	if got, want := mem.Allocated(), int64(checked.CurrentAlloc()); got != want || got == 0 {
		t.Fatalf("counted %d bytes, checked allocator holds %d", got, want)
	}
	arr.Release()
	if got := mem.Allocated(); got != 0 {
		t.Fatalf("counted %d bytes after release, want 0", got)
	}
}
