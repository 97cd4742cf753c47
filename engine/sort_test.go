package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	"github.com/kapot-go/kapot/engine/operator"
	"github.com/kapot-go/kapot/engine/rowkey"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func sortNode(in *kapotv1.PhysicalPlanNode, fetch *int64, keys ...*kapotv1.SortExprNode) *kapotv1.PhysicalPlanNode {
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Sort{Sort: &kapotv1.SortNode{Input: in, Exprs: keys, Fetch: fetch}}}
}

func key(name string, desc, nullsFirst bool) *kapotv1.SortExprNode {
	return &kapotv1.SortExprNode{Expr: wiretest.Col(name), Descending: desc, NullsFirst: nullsFirst}
}

func projectCols(in *kapotv1.PhysicalPlanNode, names ...string) *kapotv1.PhysicalPlanNode {
	p := &kapotv1.ProjectionNode{Input: in}
	for _, n := range names {
		p.Exprs = append(p.Exprs, wiretest.Col(n))
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Projection{Projection: p}}
}

// runOrdered returns the rows of every partition in output order.
func runOrdered(t *testing.T, n *kapotv1.PhysicalPlanNode, tc *TaskContext) []string {
	t.Helper()
	p, err := FromProto(n)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := ExecuteCollect(context.Background(), p, tc)
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

func i64p(v int64) *int64 { return &v }

func TestSort(t *testing.T) {
	sales := func() *kapotv1.PhysicalPlanNode { return salesCSV([]string{"testdata/sales.csv"}) }
	cases := []struct {
		name string
		plan *kapotv1.PhysicalPlanNode
		want []string
	}{
		{"qty asc nulls last", projectCols(sortNode(sales(), nil, key("qty", false, false)), "qty", "product"),
			[]string{"1|pear", "1|apple", "2|pear", "3|apple", "4|plum", "5|apple", "NULL|apple"}},
		{"qty desc nulls first", projectCols(sortNode(sales(), nil, key("qty", true, true)), "qty"),
			[]string{"NULL", "5", "4", "3", "2", "1", "1"}},
		{"region asc nulls first, qty desc", projectCols(sortNode(sales(), nil, key("region", false, true), key("qty", true, false)), "region", "qty"),
			[]string{"NULL|4", "east|NULL", "north|3", "north|2", "north|1", "south|5", "south|1"}},
		{"float desc with fetch", projectCols(sortNode(sales(), i64p(3), key("price", true, false), key("product", false, false)), "price", "product"),
			[]string{"3.25|plum", "2|pear", "2|pear"}},
		{"fetch 0", sortNode(sales(), i64p(0), key("qty", false, false)), nil},
		{"empty input", sortNode(&kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Filter{Filter: &kapotv1.FilterNode{
			Input: sales(), Predicate: wiretest.Bin(wiretest.Col("qty"), kapotv1.BinaryOp_BINARY_OP_GT, wiretest.I64(99))}}}, nil, key("qty", false, false)), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, _ := newTC(t)
			got := runOrdered(t, c.plan, tc)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestTopKMatchesFullSort compares the heap path (small fetch) with a full
// sort on random data with duplicates and nulls.
func TestTopKMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([]*kapotv1.ValuesRow, 500)
	typ := &kapotv1.DataType{Id: kapotv1.TypeId_TYPE_ID_INT64}
	for i := range rows {
		v := &kapotv1.ScalarValue{Type: typ}
		if rng.IntN(10) > 0 {
			v.Value = &kapotv1.ScalarValue_IntValue{IntValue: rng.Int64N(50) - 25}
		}
		id := &kapotv1.ScalarValue{Type: typ, Value: &kapotv1.ScalarValue_IntValue{IntValue: int64(i)}}
		rows[i] = &kapotv1.ValuesRow{Values: []*kapotv1.ScalarValue{v, id}}
	}
	values := &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_Values{Values: &kapotv1.ValuesNode{
		Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "v", Type: typ, Nullable: true}, {Name: "id", Type: typ}}}, Rows: rows}}}
	for _, desc := range []bool{false, true} {
		for _, nf := range []bool{false, true} {
			tc, _ := newTC(t)
			full := runOrdered(t, sortNode(values, nil, key("v", desc, nf)), tc)
			for _, k := range []int64{1, 7, 50, 124} {
				got := runOrdered(t, sortNode(values, i64p(k), key("v", desc, nf)), tc)
				if !slices.Equal(got, full[:k]) {
					t.Fatalf("desc=%v nullsFirst=%v k=%d: top-K differs from the sorted prefix\n%v\n%v", desc, nf, k, got, full[:k])
				}
			}
		}
	}
}

func TestSortRejects(t *testing.T) {
	sales := salesCSV([]string{"testdata/sales.csv"})
	for name, n := range map[string]*kapotv1.PhysicalPlanNode{
		"no keys":        sortNode(sales, nil),
		"negative fetch": sortNode(sales, i64p(-1), key("qty", false, false)),
		"unknown column": sortNode(sales, nil, key("nope", false, false)),
	} {
		if _, err := FromProto(n); err == nil {
			t.Errorf("%s: accepted", name)
		} else if testing.Verbose() {
			fmt.Println(name, err)
		}
	}
}

// spillInput writes n random rows (v int64 with nulls, s utf8, id) to a CSV
// file and returns a scan of it that yields batches of 100 rows.
func spillInput(t *testing.T, n int) *kapotv1.PhysicalPlanNode {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var sb strings.Builder
	sb.WriteString("v,s,id\n")
	for i := 0; i < n; i++ {
		v := ""
		if rng.IntN(10) > 0 {
			v = fmt.Sprint(rng.Int64N(200) - 100)
		}
		fmt.Fprintf(&sb, "%s,w%03d,%d\n", v, rng.IntN(40), i)
	}
	path := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return &kapotv1.PhysicalPlanNode{Node: &kapotv1.PhysicalPlanNode_CsvScan{CsvScan: &kapotv1.CsvScanNode{
		FileGroups: []*kapotv1.FileGroup{{Paths: []string{path}}}, HasHeader: true, BatchSize: 100,
		Schema: &kapotv1.Schema{Fields: []*kapotv1.Field{{Name: "v", Type: wiretest.I64Type(), Nullable: true}, {Name: "s", Type: wiretest.StrType()}, {Name: "id", Type: wiretest.I64Type()}}}}}}
}

func TestSortSpillsAndMerges(t *testing.T) {
	in := spillInput(t, 3000)
	keys := []*kapotv1.SortExprNode{key("v", true, true), key("s", false, false)}
	tc, _ := newTC(t)
	tc.BatchSize = 256
	want := runOrdered(t, sortNode(in, nil, keys...), tc)
	for _, fetch := range []*int64{nil, i64p(10), i64p(2999)} {
		t.Run(fmt.Sprint(fetch != nil), func(t *testing.T) {
			tc, _ := newTC(t)
			tc.BatchSize = 256
			tc.Pool = alloc.NewMemoryPool(16 << 10) // a few 100-row batches
			tc.Metrics = &Metrics{}
			got := runOrdered(t, sortNode(in, fetch, keys...), tc)
			w := want
			if fetch != nil {
				w = want[:*fetch]
			}
			if !slices.Equal(got, w) {
				t.Fatalf("spilled sort differs: %d rows vs %d", len(got), len(w))
			}
			var spilled int64
			for _, m := range tc.Metrics.Snapshot() {
				spilled += m.SpillCount
			}
			if spilled < 2 {
				t.Fatalf("sort spilled %d runs, want several", spilled)
			}
			// ExecuteCollect ended the task: no spill file is left.
			left, _ := filepath.Glob(filepath.Join(tc.WorkDir, "job1", operator.SpillDirName, "*"))
			if len(left) != 0 {
				t.Fatalf("spill files left after the task: %v", left)
			}
			if st := tc.Pool.Stats(); st.Used != 0 || st.Reservations != 0 {
				t.Fatalf("pool not returned: %+v", st)
			}
		})
	}
}

func TestSortResourcesExhausted(t *testing.T) {
	tc, _ := newTC(t)
	tc.Pool = alloc.NewMemoryPool(512) // smaller than one batch
	p, err := FromProto(sortNode(spillInput(t, 300), nil, key("v", false, false)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ExecuteCollect(context.Background(), p, tc)
	if !errors.Is(err, ErrResourcesExhausted) || !strings.Contains(err.Error(), "Sort[partition 0]") {
		t.Fatalf("got %v, want resources exhausted naming the sort", err)
	}
}

// TestSortIntTuples checks the closure-free sort of two or three integer
// keys against the comparator sort every other key list takes, for every
// direction, with duplicates and negative values (stable: ties by row).
func TestSortIntTuples(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 2000
	i64 := array.NewInt64Builder(mem)
	i32 := array.NewInt32Builder(mem)
	d32 := array.NewDate32Builder(mem)
	wide := array.NewInt64Builder(mem)
	extremes := []int64{math.MinInt64, math.MaxInt64, 0, -1, 1}
	for range n {
		i64.Append(rng.Int64N(20) - 10)
		i32.Append(int32(rng.IntN(5)))
		d32.Append(arrow.Date32(rng.IntN(7) - 3))
		wide.Append(extremes[rng.IntN(len(extremes))])
	}
	small := []arrow.Array{i64.NewArray(), i32.NewArray(), d32.NewArray()}
	// A key spanning all of int64 does not pack: the tuple sort runs.
	wideKeys := []arrow.Array{wide.NewArray(), small[1], small[2]}
	for _, b := range []array.Builder{i64, i32, d32, wide} {
		b.Release()
	}
	defer func() {
		for _, k := range append(small, wideKeys[0]) {
			k.Release()
		}
	}()
	for _, c := range []struct {
		keys []arrow.Array
		nk   int
	}{{small, 2}, {small, 3}, {wideKeys, 2}, {wideKeys, 3}} {
		keys, nk := c.keys, c.nk
		for dirs := 0; dirs < 1<<nk; dirs++ {
			sk := make([]expr.SortKey, nk)
			for k := range sk {
				sk[k].Descending = dirs&(1<<k) != 0
			}
			want := comparatorOrder(t, keys[:nk], sk)
			got, ok := sortIntTuples(keys[:nk], sk)
			if !ok || !slices.Equal(got, want) {
				t.Fatalf("%d keys, descending mask %b: ok %v, order differs from the comparator sort", nk, dirs, ok)
			}
		}
	}
	// A fourth key takes the comparator path.
	if _, ok := sortIntTuples(append(small, small[0]), make([]expr.SortKey, 4)); ok {
		t.Error("four keys: want the comparator path")
	}
}

// TestSortNormalized: sorting by order-preserving key encodings gives the
// comparator sort's order, stable, for strings (with 0x00 bytes, common
// prefixes, nulls), decimals, floats (NaN, -0) and booleans in every
// direction and null placement; keys it cannot encode take the comparator
// path.
func TestSortNormalized(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 3000
	sb := array.NewStringBuilder(mem)
	db := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 20, Scale: 2})
	fb := array.NewFloat64Builder(mem)
	bb := array.NewBooleanBuilder(mem)
	strs := []string{"", "Electronics", "Electronic", "Electronics\x00", "Books", "Books\x00x", "abcdefgh", "abcdefghi"}
	floats := []float64{math.NaN(), math.Copysign(0, -1), 0, math.Inf(-1), 1.5, -2}
	for range n {
		if rng.IntN(10) == 0 {
			sb.AppendNull()
		} else {
			sb.Append(strs[rng.IntN(len(strs))])
		}
		if rng.IntN(10) == 0 {
			db.AppendNull()
		} else {
			db.Append(decimal128.FromI64(rng.Int64N(41) - 20))
		}
		fb.Append(floats[rng.IntN(len(floats))])
		bb.Append(rng.IntN(2) == 0)
	}
	keys := []arrow.Array{sb.NewArray(), db.NewArray(), fb.NewArray(), bb.NewArray()}
	for _, b := range []array.Builder{sb, db, fb, bb} {
		b.Release()
	}
	defer operator.ReleaseAll(keys)
	tc := &TaskContext{Mem: mem, Pool: alloc.NewMemoryPool(1 << 30)}
	for _, nk := range []int{1, 2, 4} {
		for flags := 0; flags < 1<<(2*nk); flags++ {
			sk := make([]expr.SortKey, nk)
			for k := range sk {
				sk[k].Descending, sk[k].NullsFirst = flags&(1<<(2*k)) != 0, flags&(1<<(2*k+1)) != 0
			}
			want := comparatorOrder(t, keys[:nk], sk)
			o := &sortOp{s: &Sort{keys: sk}, tc: tc, res: tc.Pool.NewReservation("sort")}
			got, ok := o.sortNormalized(keys[:nk])
			if !ok || !slices.Equal(got, want) {
				t.Fatalf("%d keys, flags %b: ok %v, order differs from the comparator sort", nk, flags, ok)
			}
			if o.res.Size() != 0 {
				t.Fatalf("the keys' memory stays reserved: %d bytes", o.res.Size())
			}
		}
	}
	// A pool that refuses the keys' memory: the comparator path sorts.
	o := &sortOp{s: &Sort{keys: make([]expr.SortKey, 1)}, tc: tc, res: alloc.NewMemoryPool(16).NewReservation("sort")}
	if _, ok := o.sortNormalized(keys[:1]); ok {
		t.Error("sorted with keys the pool refused")
	}
}

// comparatorOrder is the order of keys' rows by sk, stable, as the
// comparator sort gives it: what the faster sorts must match.
func comparatorOrder(t *testing.T, keys []arrow.Array, sk []expr.SortKey) []int32 {
	t.Helper()
	cmps := make([]func(i, j int) int, len(sk))
	for k := range sk {
		var err error
		if cmps[k], err = rowkey.NewComparator(keys[k], sk[k].Descending, sk[k].NullsFirst); err != nil {
			t.Fatal(err)
		}
	}
	want := make([]int32, keys[0].Len())
	for i := range want {
		want[i] = int32(i)
	}
	slices.SortStableFunc(want, func(a, b int32) int {
		for _, c := range cmps {
			if r := c(int(a), int(b)); r != 0 {
				return r
			}
		}
		return 0
	})
	return want
}
