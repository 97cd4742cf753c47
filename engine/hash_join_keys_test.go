package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/engine/internal/wiretest"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestHashJoinIndexesEveryKey joins 20,000 rows on (year, item, customer)
// with one year, as TPC-DS q78 does, under a 16 MiB pool: the build side
// must be indexed by all three keys (indexed by the year alone, each probe
// row drew all 20,000 build rows as candidates, 400 M pairs, and q78 grew
// the process past 8 GB). Null customers match nothing.
func TestHashJoinIndexesEveryKey(t *testing.T) {
	const rows = 20000
	side := func(prefix string, nullEvery int) *genPlan {
		return newGen([]string{prefix + "year", prefix + "item", prefix + "cust"}, rows, 8192, func(c, i int) (int64, bool) {
			switch c {
			case 0:
				return 2000, true
			case 1:
				return int64(i % 97), true
			}
			return int64(i), i%nullEvery != 0
		})
	}
	n := &kapotv1.HashJoinNode{JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT}
	for _, k := range []string{"year", "item", "cust"} {
		n.On = append(n.On, &kapotv1.JoinOn{Left: wiretest.Col("b" + k), Right: wiretest.Col("p" + k)})
	}
	j, err := newHashJoin(side("b", 10), side("p", 15), n)
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := newTC(t)
	tc.Pool = alloc.NewMemoryPool(16 << 20)
	bs, err := ExecuteCollect(context.Background(), j, tc)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, b := range bs {
		bc, pc := b.Column(2).(*array.Int64), b.Column(5).(*array.Int64)
		for r := 0; r < int(b.NumRows()); r++ {
			if bc.IsNull(r) || pc.IsNull(r) || bc.Value(r) != pc.Value(r) {
				t.Fatalf("row %d pairs customer %v with %v", r, bc.GetOneForMarshal(r), pc.GetOneForMarshal(r))
			}
		}
		got += int(b.NumRows())
		b.Release()
	}
	// Every row but those with a null customer on either side (i%10 == 0
	// or i%15 == 0: 2,000 + 1,334 - 667).
	if want := rows - 2667; got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	if st := tc.Pool.Stats(); st.Used != 0 || st.Reservations != 0 {
		t.Fatalf("pool not returned: %+v", st)
	}
}

// TestHashJoinCandidatesExhaustMemory: a probe batch whose rows each match
// every build row needs more candidate pairs than the pool allows, and the
// join fails with ErrResourcesExhausted instead of growing the process.
func TestHashJoinCandidatesExhaustMemory(t *testing.T) {
	one := func(name string, rows int) *genPlan {
		return newGen([]string{name}, rows, 8192, func(c, i int) (int64, bool) { return 1, true })
	}
	n := &kapotv1.HashJoinNode{JoinType: kapotv1.JoinType_JOIN_TYPE_INNER, Mode: kapotv1.JoinMode_JOIN_MODE_COLLECT_LEFT,
		On: []*kapotv1.JoinOn{{Left: wiretest.Col("k"), Right: wiretest.Col("pk")}}}
	j, err := newHashJoin(one("k", 2000), one("pk", 8192), n)
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := newTC(t)
	tc.Pool = alloc.NewMemoryPool(1 << 20)
	_, err = ExecuteCollect(context.Background(), j, tc)
	if !errors.Is(err, ErrResourcesExhausted) || !strings.Contains(err.Error(), "candidate pairs") {
		t.Fatalf("got %v, want resources exhausted for candidate pairs", err)
	}
	if st := tc.Pool.Stats(); st.Used != 0 || st.Reservations != 0 {
		t.Fatalf("pool not returned: %+v", st)
	}
}
