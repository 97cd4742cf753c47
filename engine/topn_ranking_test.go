package engine

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/expr"
	"github.com/kapot-go/kapot/engine/internal/optest"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// rankRow is a row of the top-n ranking tests: partition key p, order key
// o (either may be null) and id.
type rankRow struct {
	p, o   int64
	pv, ov bool // valid
	id     int64
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rankedRows is the reference: the rows of each partition of rows whose
// ranking fn by o (desc, nullsFirst) is at most limit, each with its
// ranking, listed by partition and then (ranking, o, id). For ROW_NUMBER,
// whose order among ties is free, the id is left out.
func rankedRows(rows []rankRow, fn kapotv1.WindowFunction, limit int64, desc, nullsFirst bool) []string {
	cmpO := func(a, b rankRow) int {
		switch {
		case !a.ov && !b.ov:
			return 0
		case !a.ov:
			if nullsFirst {
				return -1
			}
			return 1
		case !b.ov:
			if nullsFirst {
				return 1
			}
			return -1
		}
		if desc {
			return cmp.Compare(b.o, a.o)
		}
		return cmp.Compare(a.o, b.o)
	}
	cmpP := func(a, b rankRow) int {
		if a.pv != b.pv || !a.pv {
			return cmp.Compare(boolInt(a.pv), boolInt(b.pv))
		}
		return cmp.Compare(a.p, b.p)
	}
	slices.SortFunc(rows, func(a, b rankRow) int {
		if c := cmpP(a, b); c != 0 {
			return c
		}
		if c := cmpO(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	var out []string
	var first int // the partition's first row
	distinct, rk := int64(0), int64(0)
	for i, r := range rows {
		newKey := i == 0 || cmpO(rows[i-1], r) != 0
		if i == 0 || cmpP(rows[i-1], r) != 0 {
			first, distinct, newKey = i, 0, true
		}
		if newKey {
			distinct++
		}
		switch fn {
		case kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER:
			rk = int64(i-first) + 1
		case kapotv1.WindowFunction_WINDOW_FUNCTION_RANK:
			if newKey {
				rk = int64(i-first) + 1
			}
		default:
			rk = distinct
		}
		if rk > limit {
			continue
		}
		k, o := "NULL", "NULL"
		if r.pv {
			k = fmt.Sprint(r.p)
		}
		if r.ov {
			o = fmt.Sprint(r.o)
		}
		if fn == kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER {
			out = append(out, fmt.Sprintf("%s|%d|%s", k, rk, o))
		} else {
			out = append(out, fmt.Sprintf("%s|%d|%s|%d", k, rk, o, r.id))
		}
	}
	slices.Sort(out)
	return out
}

// rankSource is rows as batches of batchRows rows of (p, o, id).
func rankSource(rows []rankRow, batchRows int) *optest.Source {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "p", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "o", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	src := optest.NewSource(schema)
	mem := memory.NewGoAllocator()
	for start := 0; start < len(rows); start += batchRows {
		b := array.NewRecordBuilder(mem, schema)
		for _, r := range rows[start:min(start+batchRows, len(rows))] {
			b.Field(0).(*array.Int64Builder).AppendValues([]int64{r.p}, []bool{r.pv})
			b.Field(1).(*array.Int64Builder).AppendValues([]int64{r.o}, []bool{r.ov})
			b.Field(2).(*array.Int64Builder).Append(r.id)
		}
		src.Batches = append(src.Batches, b.NewRecordBatch())
		b.Release()
	}
	return src
}

// TestTopNRanking: the rows the operator keeps give every partition the
// same first rows, with the same rankings, as all the rows do, for each
// ranking function, direction and null order; on few partition keys
// (rows gathered as the operator goes), one key, and keys of one row each
// (where it passes its input on).
func TestTopNRanking(t *testing.T) {
	fns := []kapotv1.WindowFunction{kapotv1.WindowFunction_WINDOW_FUNCTION_ROW_NUMBER,
		kapotv1.WindowFunction_WINDOW_FUNCTION_RANK, kapotv1.WindowFunction_WINDOW_FUNCTION_DENSE_RANK}
	shapes := []struct {
		name       string
		rows, keys int // keys < 0: no partition key; 0: a key per row
		values     int64
		batch      int
	}{
		{"few keys", 5000, 7, 50, 333},
		{"many rows few keys", 80_000, 5, 1_000_000, 4096},
		{"one partition", 20_000, -1, 300, 1000},
		{"a key per row", 70_000, 0, 10, 8192},
	}
	for _, sh := range shapes {
		rng := rand.New(rand.NewPCG(uint64(sh.rows), 3))
		rows := make([]rankRow, sh.rows)
		for i := range rows {
			r := rankRow{id: int64(i), o: rng.Int64N(sh.values), ov: rng.IntN(20) != 0}
			switch {
			case sh.keys > 0:
				r.p, r.pv = rng.Int64N(int64(sh.keys)), rng.IntN(30) != 0
			case sh.keys == 0:
				r.p, r.pv = int64(i), true
			}
			rows[i] = r
		}
		src := rankSource(rows, sh.batch)
		for _, fn := range fns {
			for _, limit := range []int64{1, 3, 100} {
				for _, dir := range [][2]bool{{false, false}, {true, true}, {true, false}} {
					name := fmt.Sprintf("%s/%s<=%d/desc=%v,nullsFirst=%v", sh.name, fn, limit, dir[0], dir[1])
					kept := runTopNRanking(t, src, sh.keys >= 0, fn, limit, dir[0], dir[1])
					keptRows := make([]rankRow, 0, len(kept))
					for _, id := range kept {
						keptRows = append(keptRows, rows[id])
					}
					want := rankedRows(slices.Clone(rows), fn, limit, dir[0], dir[1])
					got := rankedRows(keptRows, fn, limit, dir[0], dir[1])
					if !slices.Equal(got, want) {
						t.Fatalf("%s: the kept rows rank as %d rows, want %d: %q, want %q", name, len(got), len(want), head(got), head(want))
					}
					if sh.keys != 0 && len(kept) > 3*len(want)+3*int(limit)*max(sh.keys, 1)+64 {
						t.Fatalf("%s: kept %d rows of %d for %d answers", name, len(kept), sh.rows, len(want))
					}
				}
			}
		}
		for _, b := range src.Batches {
			b.Release()
		}
	}
}

// runTopNRanking runs the operator over src (partitioned by p when
// byKey) under a checked, poisoning allocator and a memory pool, and
// returns the ids of the rows it keeps.
func runTopNRanking(t *testing.T, src *optest.Source, byKey bool, fn kapotv1.WindowFunction, limit int64, desc, nullsFirst bool) []int64 {
	return runTopNRankingIn(t, src, byKey, fn, limit, desc, nullsFirst, 1<<30)
}

// runTopNRankingIn is runTopNRanking with a memory pool of poolBytes.
func runTopNRankingIn(t *testing.T, src *optest.Source, byKey bool, fn kapotv1.WindowFunction, limit int64, desc, nullsFirst bool, poolBytes int64) []int64 {
	t.Helper()
	schema := src.Schema()
	col := func(name string) expr.Expr {
		e, err := expr.FromProto(wiretest.Col(name), schema)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	var part []expr.Expr
	if byKey {
		part = []expr.Expr{col("p")}
	}
	op, err := NewTopNRanking(src, part, []expr.SortKey{{Expr: col("o"), Descending: desc, NullsFirst: nullsFirst}}, fn, limit)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	pool := alloc.NewMemoryPool(poolBytes)
	tc := &TaskContext{Mem: alloc.NewPoisoningAllocator(mem), Pool: pool, BatchSize: DefaultBatchSize, Properties: map[string]string{}}
	ctx := context.Background()
	run, err := op.Execute(ctx, 0, tc)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for {
		b, err := run.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.Column(2).(*array.Int64).Int64Values()...)
		b.Release()
	}
	if err := run.Close(); err != nil {
		t.Fatal(err)
	}
	if st := pool.Stats(); st.Used != 0 || st.Reservations != 0 {
		t.Fatalf("the operator left %d bytes reserved in %d open reservations", st.Used, st.Reservations)
	}
	return ids
}

// TestTopNRankingUnderMemoryPressure: when the pool refuses the rows it
// would hold, the operator passes its input on (a pre-filter may keep
// more than it must) and the answer stays right.
func TestTopNRankingUnderMemoryPressure(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	rows := make([]rankRow, 20_000)
	for i := range rows {
		rows[i] = rankRow{id: int64(i), p: rng.Int64N(4), pv: true, o: rng.Int64N(1000), ov: true}
	}
	src := rankSource(rows, 1000)
	defer func() {
		for _, b := range src.Batches {
			b.Release()
		}
	}()
	fn := kapotv1.WindowFunction_WINDOW_FUNCTION_RANK
	kept := runTopNRankingIn(t, src, true, fn, 5, false, false, 64<<10)
	keptRows := make([]rankRow, 0, len(kept))
	for _, id := range kept {
		keptRows = append(keptRows, rows[id])
	}
	if got, want := rankedRows(keptRows, fn, 5, false, false), rankedRows(slices.Clone(rows), fn, 5, false, false); !slices.Equal(got, want) {
		t.Fatalf("under a 64 KiB pool: %q, want %q", head(got), head(want))
	}
	if len(kept) < 1000 {
		t.Fatalf("kept %d rows: the pool should have refused holding them", len(kept))
	}
}
