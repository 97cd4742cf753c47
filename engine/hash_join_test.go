package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func ival(v any) *kapotv1.ScalarValue {
	if v == nil {
		return &kapotv1.ScalarValue{Type: wiretest.I64Type()}
	}
	return &kapotv1.ScalarValue{Type: wiretest.I64Type(), Value: &kapotv1.ScalarValue_IntValue{IntValue: int64(v.(int))}}
}

// orders(id, cust, amt): cust 3 is null, cust 40 has no customer.
func ordersValues() *kapotv1.PhysicalPlanNode {
	rows := [][]any{{1, 10, 100}, {2, 20, 200}, {3, nil, 300}, {4, 10, 400}, {5, 40, 500}}
	v := &kapotv1.ValuesNode{Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{
		{Name: "id", Type: wiretest.I64Type()}, {Name: "cust", Type: wiretest.I64Type(), Nullable: true}, {Name: "amt", Type: wiretest.I64Type()}}}}
	for _, r := range rows {
		v.Rows = append(v.Rows, &kapotv1.ValuesRow{Values: []*kapotv1.ScalarValue{ival(r[0]), ival(r[1]), ival(r[2])}})
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: v}}
}

// customers(cid, name) in two CSV partitions: key 10 twice, 30 unmatched,
// one null key.
func customersCSV(t *testing.T) *kapotv1.PhysicalPlanNode {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	os.WriteFile(a, []byte("cid,name\n10,ann\n20,bob\n"), 0o644)
	os.WriteFile(b, []byte("cid,name\n30,cy\n10,ann2\n,nul\n"), 0o644)
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{a}}, {Paths: []string{b}}}, HasHeader: true,
		Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "cid", Type: wiretest.I64Type(), Nullable: true}, {Name: "name", Type: wiretest.StrType(), Nullable: true}}}}}}
}

func joinNode(l, r *kapotv1.PhysicalPlanNode, jt kapotv1.JoinType, mode kapotv1.JoinMode, filter *kapotv1.PhysicalExprNode) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
		Left: l, Right: r, JoinType: jt, Mode: mode, Filter: filter,
		On: []*kapotv1.JoinOn{{Left: wiretest.Col("cust"), Right: wiretest.Col("cid")}}}}}
}

func TestHashJoin(t *testing.T) {
	inner := []string{"1|10|100|10|ann", "1|10|100|10|ann2", "2|20|200|20|bob", "4|10|400|10|ann", "4|10|400|10|ann2"}
	leftOnly := []string{"3|NULL|300|NULL|NULL", "5|40|500|NULL|NULL"}
	rightOnly := []string{"NULL|NULL|NULL|30|cy", "NULL|NULL|NULL|NULL|nul"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		slices.Sort(out)
		return out
	}
	big := wiretest.Bin(wiretest.Col("amt"), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(150))
	type tcase struct {
		jt     kapotv1.JoinType
		filter *kapotv1.PhysicalExprNode
		want   []string
	}
	cases := map[string]tcase{
		"inner":               {kapotv1.JoinType_JOIN_TYPE_INNER, nil, inner},
		"left":                {kapotv1.JoinType_JOIN_TYPE_LEFT, nil, cat(inner, leftOnly)},
		"right":               {kapotv1.JoinType_JOIN_TYPE_RIGHT, nil, cat(inner, rightOnly)},
		"full":                {kapotv1.JoinType_JOIN_TYPE_FULL, nil, cat(inner, leftOnly, rightOnly)},
		"left semi":           {kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, nil, []string{"1|10|100", "2|20|200", "4|10|400"}},
		"left anti":           {kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI, nil, []string{"3|NULL|300", "5|40|500"}},
		"right semi":          {kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, nil, []string{"10|ann", "10|ann2", "20|bob"}},
		"right anti":          {kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI, nil, []string{"30|cy", "NULL|nul"}},
		"inner filtered":      {kapotv1.JoinType_JOIN_TYPE_INNER, big, []string{"2|20|200|20|bob", "4|10|400|10|ann", "4|10|400|10|ann2"}},
		"left filtered":       {kapotv1.JoinType_JOIN_TYPE_LEFT, big, []string{"1|10|100|NULL|NULL", "2|20|200|20|bob", "3|NULL|300|NULL|NULL", "4|10|400|10|ann", "4|10|400|10|ann2", "5|40|500|NULL|NULL"}},
		"left anti filtered":  {kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI, big, []string{"1|10|100", "3|NULL|300", "5|40|500"}},
		"right semi filtered": {kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, big, []string{"10|ann", "10|ann2", "20|bob"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tc, _ := newTC(t)
			// Left-side outputs need every probe row in one partition.
			right := customersCSV(t)
			if c.jt == kapotv1.JoinType_JOIN_TYPE_LEFT || c.jt == kapotv1.JoinType_JOIN_TYPE_FULL || c.jt == kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI || c.jt == kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI {
				right = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CoalescePartitions{CoalescePartitions: &kapotv1.CoalescePartitionsNode{Input: right}}}
			}
			for _, mode := range []kapotv1.JoinMode{kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, kapotv1.JoinMode_JOIN_MODE_PARTITIONED} {
				r := right
				if mode == kapotv1.JoinMode_JOIN_MODE_PARTITIONED && r.GetCoalescePartitions() == nil {
					r = &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CoalescePartitions{CoalescePartitions: &kapotv1.CoalescePartitionsNode{Input: r}}}
				}
				got := run(t, joinNode(ordersValues(), r, c.jt, mode, c.filter), tc)
				if !slices.Equal(got, c.want) {
					t.Fatalf("%v: got %q\nwant %q", mode, got, c.want)
				}
				if len(strings.Split(c.want[0], "|")) != 5 {
					continue
				}
				// A projection dropping the keys narrows the join: it
				// gathers name and id only, unmatched rows' nulls too.
				proj := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: &kapotv1.ProjectionNode{
					Input: joinNode(ordersValues(), r, c.jt, mode, c.filter),
					Exprs: []*kapotv1.PhysicalExprNode{wiretest.ColAt(4), wiretest.ColAt(0)}}}}
				var want []string
				for _, w := range c.want {
					f := strings.Split(w, "|")
					want = append(want, f[4]+"|"+f[0])
				}
				slices.Sort(want)
				p, err := FromProto(proj)
				if err != nil {
					t.Fatal(err)
				}
				if j := Unwrap(p.Children()[0]).String(); !strings.Contains(j, "output=[id@0, name@4]") {
					t.Fatalf("%v: the join under the projection is not narrowed: %s", mode, j)
				}
				if got := run(t, proj, tc); !slices.Equal(got, want) {
					t.Fatalf("%v, narrowed: got %q\nwant %q", mode, got, want)
				}
			}
		})
	}
}

func TestHashJoinRejects(t *testing.T) {
	cases := map[string]*kapotv1.PhysicalPlanNode{
		"collect-left left join over 2 probe partitions": joinNode(ordersValues(), customersCSV(t), kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, nil),
		"partition counts differ":                        joinNode(ordersValues(), customersCSV(t), kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinMode_JOIN_MODE_PARTITIONED, nil),
		"no mode":                                        joinNode(ordersValues(), customersCSV(t), kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinMode_JOIN_MODE_UNSPECIFIED, nil),
		"non-bool filter":                                joinNode(ordersValues(), customersCSV(t), kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, wiretest.Col("amt")),
	}
	mismatch := joinNode(ordersValues(), customersCSV(t), kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, nil)
	mismatch.GetHashJoin().On[0].Right = wiretest.Col("name")
	cases["key type mismatch"] = mismatch
	for name, n := range cases {
		if _, err := FromProto(n); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "key type mismatch" && !strings.Contains(err.Error(), "cast") {
			t.Errorf("%s: unhelpful error %v", name, err)
		}
	}
}

func TestHashJoinBuildSideExhaustsMemory(t *testing.T) {
	tc, _ := newTC(t)
	tc.Pool = alloc.NewMemoryPool(64)
	p, err := FromProto(joinNode(ordersValues(), coalesceNode(customersCSV(t)), kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ExecuteCollect(context.Background(), p, tc)
	if !errors.Is(err, ErrResourcesExhausted) || !strings.Contains(err.Error(), "hash join build side does not fit in memory even after 2 rounds") {
		t.Fatalf("got %v, want resources exhausted naming the build side", err)
	}
	if st := tc.Pool.Stats(); st.Used != 0 || st.Reservations != 0 {
		t.Fatalf("pool not returned: %+v", st)
	}
}

// TestHashJoinSpills checks the grace hash join: with a pool too small for
// the build side, both sides are partitioned to disk and joined partition by
// partition, and every join type returns exactly what it does in memory.
func TestHashJoinSpills(t *testing.T) {
	left, right := spillInput(t, 2000), spillInput(t, 1500)
	for _, keyCol := range []string{"v", "s"} {
		for _, jt := range []kapotv1.JoinType{
			kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinType_JOIN_TYPE_LEFT, kapotv1.JoinType_JOIN_TYPE_RIGHT, kapotv1.JoinType_JOIN_TYPE_FULL,
			kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI, kapotv1.JoinType_JOIN_TYPE_LEFT_ANTI, kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI,
		} {
			t.Run(keyCol+"/"+jt.String(), func(t *testing.T) {
				plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
					Left: left, Right: right, JoinType: jt, Mode: kapotv1.JoinMode_JOIN_MODE_PARTITIONED,
					On: []*kapotv1.JoinOn{{Left: wiretest.Col(keyCol), Right: wiretest.Col(keyCol)}},
				}}}
				tc, _ := newTC(t)
				tc.BatchSize = 4096
				want := run(t, plan, tc)
				tc2, _ := newTC(t)
				tc2.BatchSize = 4096
				tc2.Pool = alloc.NewMemoryPool(32 << 10)
				tc2.Metrics = &Metrics{}
				got := run(t, plan, tc2)
				if !slices.Equal(got, want) {
					t.Fatalf("spilled join: %d rows, in memory: %d", len(got), len(want))
				}
				var spills int64
				for _, m := range tc2.Metrics.Snapshot() {
					spills += m.SpillCount
				}
				if spills == 0 {
					t.Fatal("join did not spill")
				}
				if st := tc2.Pool.Stats(); st.Used != 0 || st.Reservations != 0 {
					t.Fatalf("pool not returned: %+v", st)
				}
			})
		}
	}
}

// TestHashJoinMultiKey joins on an integer key plus a second key (integer,
// then string): the build side is indexed by the first key, and candidate
// pairs must match on the second too; a null in either key matches nothing.
func TestHashJoinMultiKey(t *testing.T) {
	sval := func(v any) *kapotv1.ScalarValue {
		if v == nil {
			return &kapotv1.ScalarValue{Type: wiretest.StrType()}
		}
		return &kapotv1.ScalarValue{Type: wiretest.StrType(), Value: &kapotv1.ScalarValue_StringValue{StringValue: v.(string)}}
	}
	values := func(names []string, types []*kapotv1.DataType, rows [][]*kapotv1.ScalarValue) *kapotv1.PhysicalPlanNode {
		v := &kapotv1.ValuesNode{Schema: &kapotv1.Schema{}}
		for i, n := range names {
			v.Schema.Fields = append(v.Schema.Fields, &kapotv1.Field{Name: n, Type: types[i], Nullable: true})
		}
		for _, r := range rows {
			v.Rows = append(v.Rows, &kapotv1.ValuesRow{Values: r})
		}
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: v}}
	}
	// build (k, n, s), probe (pk, pn, ps)
	build := values([]string{"k", "n", "s"}, []*kapotv1.DataType{wiretest.I64Type(), wiretest.I64Type(), wiretest.StrType()}, [][]*kapotv1.ScalarValue{
		{ival(1), ival(10), sval("a")}, {ival(1), ival(11), sval("b")}, {ival(2), ival(20), sval("c")},
		{ival(2), ival(nil), sval("d")}, {ival(3), ival(30), sval(nil)}, {ival(1), ival(10), sval("e")},
	})
	probe := values([]string{"pk", "pn", "ps"}, []*kapotv1.DataType{wiretest.I64Type(), wiretest.I64Type(), wiretest.StrType()}, [][]*kapotv1.ScalarValue{
		{ival(1), ival(10), sval("a")}, {ival(1), ival(11), sval("a")}, {ival(2), ival(nil), sval("d")},
		{ival(2), ival(20), sval("x")}, {ival(3), ival(30), sval(nil)}, {ival(4), ival(40), sval("z")},
		{ival(-1), ival(10), sval("a")}, {ival(1), ival(-22), sval("a")},
	})
	// The same with a negative build key: the two integer keys are not
	// packed into one (probe rows above test the packed path's bounds).
	negBuild := values([]string{"k", "n", "s"}, []*kapotv1.DataType{wiretest.I64Type(), wiretest.I64Type(), wiretest.StrType()}, [][]*kapotv1.ScalarValue{
		{ival(1), ival(10), sval("a")}, {ival(-1), ival(10), sval("m")}, {ival(1), ival(-22), sval("n")}, {ival(2), ival(nil), sval("d")},
	})
	intInt := []*kapotv1.JoinOn{{Left: wiretest.Col("k"), Right: wiretest.Col("pk")}, {Left: wiretest.Col("n"), Right: wiretest.Col("pn")}}
	cases := map[string]struct {
		build *kapotv1.PhysicalPlanNode
		on    []*kapotv1.JoinOn
		want  []string
	}{
		"int, int": {build, intInt,
			[]string{"1|10|a|1|10|a", "1|10|e|1|10|a", "1|11|b|1|11|a", "2|20|c|2|20|x", "3|30|NULL|3|30|NULL"}},
		"int, int, string": {build, []*kapotv1.JoinOn{{Left: wiretest.Col("k"), Right: wiretest.Col("pk")}, {Left: wiretest.Col("n"), Right: wiretest.Col("pn")}, {Left: wiretest.Col("s"), Right: wiretest.Col("ps")}},
			[]string{"1|10|a|1|10|a"}},
		"int, int with negative keys": {negBuild, intInt,
			[]string{"-1|10|m|-1|10|a", "1|-22|n|1|-22|a", "1|10|a|1|10|a"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tc, _ := newTC(t)
			n := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
				Left: c.build, Right: probe, JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, On: c.on}}}
			if got := run(t, n, tc); !slices.Equal(got, c.want) {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestHashJoinBuildRanges: a broadcast (collect-left) join whose probe
// partitions each hold one range of the key builds, per task, only the
// rows of that range; answers equal those of the join building all rows,
// for every join type that may drop build rows, and the malformed uses
// are refused.
func TestHashJoinBuildRanges(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	os.WriteFile(a, []byte("cid,name\n10,ann\n20,bob\n12,eve\n"), 0o644)
	os.WriteFile(b, []byte("cid,name\n40,dan\n30,cy\n"), 0o644)
	probe := func() *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{a}}, {Paths: []string{b}}}, HasHeader: true,
			Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "cid", Type: wiretest.I64Type()}, {Name: "name", Type: wiretest.StrType(), Nullable: true}}}}}}
	}
	ranges := []*kapotv1.KeyRange{{Lo: 10, Hi: 20}, {Lo: 30, Hi: 40}}
	for _, jt := range []kapotv1.JoinType{kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinType_JOIN_TYPE_RIGHT,
		kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI} {
		t.Run(jt.String(), func(t *testing.T) {
			tc, _ := newTC(t)
			want := run(t, joinNode(ordersValues(), probe(), jt, kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, nil), tc)
			n := joinNode(ordersValues(), probe(), jt, kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, nil)
			n.GetHashJoin().BuildRanges = ranges
			p, err := FromProto(n)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(p.String(), "build=ranges of") {
				t.Errorf("plan %s does not say it builds by ranges", p)
			}
			tc.Metrics = &Metrics{}
			if got := run(t, n, tc); !slices.Equal(got, want) || len(want) == 0 {
				t.Fatalf("with build ranges: got %q\nwant %q", got, want)
			}
		})
	}
	bad := map[string]func(*kapotv1.HashJoinNode){
		"left semi join":    func(h *kapotv1.HashJoinNode) { h.JoinType = kapotv1.JoinType_JOIN_TYPE_LEFT_SEMI },
		"partitioned":       func(h *kapotv1.HashJoinNode) { h.Mode = kapotv1.JoinMode_JOIN_MODE_PARTITIONED },
		"one range too few": func(h *kapotv1.HashJoinNode) { h.BuildRanges = ranges[:1] },
		"key out of range":  func(h *kapotv1.HashJoinNode) { h.BuildRangeKey = 1 },
		"not an integer key": func(h *kapotv1.HashJoinNode) {
			h.On[0] = &kapotv1.JoinOn{Left: wiretest.Str("x"), Right: wiretest.Col("name")}
		},
	}
	for name, mutate := range bad {
		n := joinNode(ordersValues(), probe(), kapotv1.JoinType_JOIN_TYPE_INNER, kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT, nil)
		n.GetHashJoin().BuildRanges = ranges
		mutate(n.GetHashJoin())
		if _, err := FromProto(n); !errors.Is(err, ErrInvalidPlan) && !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: got %v, want an invalid plan", name, err)
		}
	}
}

// TestHashJoinKeyFilter joins a build side large enough for the key filter
// (70,000 keys, every fifth integer, one null) with probe rows that mostly
// miss it (the filter is built after the trial probes) and with probe rows
// that all match (it is not): inner, probe-side outer, semi and anti joins
// give exactly the rows computed here. With every third integer the keys
// are dense enough for an array index (hashJoinOp.dense), which the same
// joins use instead, with the same rows.
func TestHashJoinKeyFilter(t *testing.T) {
	for _, stride := range []int64{5, 3} {
		t.Run(fmt.Sprintf("stride=%d", stride), func(t *testing.T) { testHashJoinKeyFilter(t, stride) })
	}
}

func testHashJoinKeyFilter(t *testing.T, stride int64) {
	dir := t.TempDir()
	var sb strings.Builder
	sb.WriteString("k,x\n,0\n") // a null key
	for i := range 70000 {
		fmt.Fprintf(&sb, "%d,0\n", stride*int64(i))
	}
	build := filepath.Join(dir, "build.csv")
	os.WriteFile(build, []byte(sb.String()), 0o644)
	csv := func(path string) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}, HasHeader: true, BatchSize: 4096,
			Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "k", Type: wiretest.I64Type(), Nullable: true}, {Name: "x", Type: wiretest.I64Type()}}}}}}
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range []struct {
		name string
		key  func() int64
		kept bool // the filter was built
	}{
		{"mostly missing", func() int64 { return rng.Int64N(10 * stride * 70000) }, true},
		{"all matching", func() int64 { return stride * rng.Int64N(70000) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var sb strings.Builder
			sb.WriteString("k,x\n,1\n")
			var probe []int64
			for range 150000 {
				k := c.key()
				probe = append(probe, k)
				fmt.Fprintf(&sb, "%d,1\n", k)
			}
			path := filepath.Join(t.TempDir(), "probe.csv")
			os.WriteFile(path, []byte(sb.String()), 0o644)
			want := map[kapotv1.JoinType][]string{}
			right := kapotv1.JoinType_JOIN_TYPE_RIGHT
			want[right] = []string{"NULL|NULL|NULL|1"}
			for _, k := range probe {
				if k%stride == 0 && k < stride*70000 {
					want[right] = append(want[right], fmt.Sprintf("%d|0|%d|1", k, k))
				} else {
					want[right] = append(want[right], fmt.Sprintf("NULL|NULL|%d|1", k))
				}
				if k%stride == 0 && k < stride*70000 {
					want[kapotv1.JoinType_JOIN_TYPE_INNER] = append(want[kapotv1.JoinType_JOIN_TYPE_INNER], fmt.Sprintf("%d|0|%d|1", k, k))
					want[kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI] = append(want[kapotv1.JoinType_JOIN_TYPE_RIGHT_SEMI], fmt.Sprintf("%d|1", k))
				} else {
					want[kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI] = append(want[kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI], fmt.Sprintf("%d|1", k))
				}
			}
			want[kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI] = append(want[kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI], "NULL|1")
			for jt, rows := range want {
				slices.Sort(rows)
				t.Run(jt.String(), func(t *testing.T) {
					plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
						Left: csv(build), Right: csv(path), JoinType: jt, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
						On: []*kapotv1.JoinOn{{Left: wiretest.Col("k"), Right: wiretest.Col("k")}}}}}
					j := joinOpAfter(t, plan, rows)
					if dense := stride <= 4; (j.dense != nil) != dense {
						t.Fatalf("array index %v, want %v", j.dense != nil, dense)
					} else if dense {
						return
					}
					if (j.filter != nil) != c.kept || j.filterProbes != -1 {
						t.Fatalf("filter built %v (trial probes %d, %d hits), want built %v", j.filter != nil, j.filterProbes, j.filterHits, c.kept)
					}
				})
			}
		})
	}
}

// openOp builds plan and opens its partition 0.
func openOp(t *testing.T, plan *kapotv1.PhysicalPlanNode, tc *TaskContext) Operator {
	t.Helper()
	p, err := FromProto(plan)
	if err != nil {
		t.Fatal(err)
	}
	op, err := p.Execute(context.Background(), 0, tc)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// drainOp reads op to its end, releasing the batches.
func drainOp(t *testing.T, op Operator) {
	t.Helper()
	for {
		b, err := op.Next(context.Background())
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
}

// TestHashJoinPackedKeyFilter: a join on two integer keys packed into one
// (hashJoinOp.packed) whose probe rows mostly miss filters them through
// the key filter a batch at a time; rows with a null key, a key past the
// build side's largest, or a first key matching with a second key that
// does not are dropped, and the build side's null keys (packed as -1)
// match nothing.
func TestHashJoinPackedKeyFilter(t *testing.T) {
	dir := t.TempDir()
	var sb strings.Builder
	sb.WriteString("k,x\n,0\n5,\n") // null keys
	for i := range int64(70000) {
		fmt.Fprintf(&sb, "%d,%d\n", 5*i, i%7)
	}
	build := filepath.Join(dir, "build.csv")
	os.WriteFile(build, []byte(sb.String()), 0o644)
	rng := rand.New(rand.NewPCG(11, 12))
	sb.Reset()
	sb.WriteString("k,x\n,1\n0,\n-1,0\n0,-1\n")
	var want, anti []string
	anti = append(anti, "NULL|1", "0|NULL", "-1|0", "0|-1")
	for range 150000 {
		k := rng.Int64N(5*70000 + 5000) // a few past the largest build key
		x := (k / 5) % 7
		if rng.IntN(3) == 0 {
			x = (x + 1) % 7
		}
		fmt.Fprintf(&sb, "%d,%d\n", k, x)
		if k%5 == 0 && k < 5*70000 && x == (k/5)%7 {
			want = append(want, fmt.Sprintf("%d|%d|%d|%d", k, x, k, x))
		} else {
			anti = append(anti, fmt.Sprintf("%d|%d", k, x))
		}
	}
	probe := filepath.Join(dir, "probe.csv")
	os.WriteFile(probe, []byte(sb.String()), 0o644)
	slices.Sort(want)
	slices.Sort(anti)
	csv := func(path string) *kapotv1.PhysicalPlanNode {
		return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
			FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}, HasHeader: true, BatchSize: 4096,
			Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "k", Type: wiretest.I64Type(), Nullable: true}, {Name: "x", Type: wiretest.I64Type(), Nullable: true}}}}}}
	}
	for jt, rows := range map[kapotv1.JoinType][]string{kapotv1.JoinType_JOIN_TYPE_INNER: want, kapotv1.JoinType_JOIN_TYPE_RIGHT_ANTI: anti} {
		t.Run(jt.String(), func(t *testing.T) {
			plan := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_HashJoin{HashJoin: &kapotv1.HashJoinNode{
				Left: csv(build), Right: csv(probe), JoinType: jt, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
				On: []*kapotv1.JoinOn{{Left: wiretest.Col("k"), Right: wiretest.Col("k")}, {Left: wiretest.Col("x"), Right: wiretest.Col("x")}}}}}
			j := joinOpAfter(t, plan, rows)
			if !j.packed || j.filter == nil {
				t.Fatalf("packed %v, filter built %v (trial probes %d, %d hits, %d keys): want both", j.packed, j.filter != nil, j.filterProbes, j.filterHits, j.heads64.Len())
			}
		})
	}
}

// joinOpAfter runs the hash join plan, checks that it gives rows, and
// returns its operator after a second run read it whole (closed when the
// test ends), to look at what it built.
func joinOpAfter(t *testing.T, plan *kapotv1.PhysicalPlanNode, rows []string) *hashJoinOp {
	t.Helper()
	tc, _ := newTC(t)
	if got := run(t, plan, tc); !slices.Equal(got, rows) {
		t.Fatalf("%d rows, want %d", len(got), len(rows))
	}
	op := openOp(t, plan, tc)
	t.Cleanup(func() { op.Close() })
	drainOp(t, op)
	return op.(*hashJoinOp)
}
