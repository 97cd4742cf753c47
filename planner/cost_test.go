package planner

import (
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/catalog"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestJoinKeysNDV: a join on several keys is estimated by all of them,
// each side's key combinations at most its rows. A sale and its return
// share a ticket and an item: the returns are found once each (the
// ticket alone estimated 12 times as many), and the estimate stays
// between half and twice DuckDB's count at SF 0.1.
func TestJoinKeysNDV(t *testing.T) {
	cat, _ := tpcdsCatalog(t, tpcdsDir(t), "store_sales", "store_returns")
	scan := func(name string, first colID) (*scanRel, map[string]*expr) {
		tb, _ := cat.Lookup(name)
		s := &scanRel{table: tb}
		cols := map[string]*expr{}
		for i, f := range tb.Schema.Fields() {
			id := first + colID(i)
			s.cols = append(s.cols, id)
			cols[f.Name] = &expr{kind: eCol, col: id, typ: f.Type}
		}
		return s, cols
	}
	ss, sc := scan("store_sales", 1000)
	sr, rc := scan("store_returns", 2000)
	j := &joinRel{left: ss, right: sr, jt: kapotv1.JoinType_JOIN_TYPE_INNER,
		leftKeys:  []*expr{sc["ss_ticket_number"], sc["ss_item_sk"]},
		rightKeys: []*expr{rc["sr_ticket_number"], rc["sr_item_sk"]}}
	const want = 28_704 // select count(*) from store_sales, store_returns where ss_ticket_number = sr_ticket_number and ss_item_sk = sr_item_sk
	if got := estimate(j); got < want/2 || got > 2*want {
		t.Fatalf("sales ⋈ returns on ticket and item: %.0f rows estimated, %d", got, want)
	}
}

// TestAggregateEstimateByKeys: an aggregate's groups are estimated at a
// tenth of its input rows, at most the product of its keys' distinct
// values when each key's are known (TPC-DS q70's states), and keys of
// unknown distinct values leave the tenth alone.
func TestAggregateEstimateByKeys(t *testing.T) {
	cat, _ := tpcdsCatalog(t, tpcdsDir(t), "customer_address")
	tb, _ := cat.Lookup("customer_address")
	s := &scanRel{table: tb}
	cols := map[string]*expr{}
	for i, f := range tb.Schema.Fields() {
		s.cols = append(s.cols, colID(i+1))
		cols[f.Name] = &expr{kind: eCol, col: colID(i + 1), typ: f.Type}
	}
	in := &joinRel{left: s, right: s, jt: kapotv1.JoinType_JOIN_TYPE_INNER} // a cross join: many rows
	rows := estimate(in)
	ndv := tb.NDV["ca_state"]
	if ndv <= 0 || ndv*10 >= rows {
		t.Fatalf("ca_state: %v distinct values of %v rows", ndv, rows)
	}
	if got := estimate(&aggRel{in: in, groups: []*expr{cols["ca_state"]}}); got != ndv {
		t.Errorf("grouped by ca_state: %v groups, want %v", got, ndv)
	}
	unknown := &expr{kind: eBinary, op: kapotv1.BinaryOp_BINARY_OP_ADD, args: []*expr{cols["ca_address_sk"], cols["ca_address_sk"]}}
	if got := estimate(&aggRel{in: in, groups: []*expr{cols["ca_state"], unknown}}); got != rows*0.1 {
		t.Errorf("grouped by ca_state and an expression: %v groups, want %v", got, rows*0.1)
	}
}

// TestKeyProductBounds: a key's distinct values cap an aggregate's groups
// only when they bound them: an integer key's (from its range) at any
// count, a string key's (from one row group's dictionary) only when few.
func TestKeyProductBounds(t *testing.T) {
	tb := &catalog.Table{Name: "t", Format: "parquet", Files: []string{"a"}, Rows: 10_000_000,
		Schema: arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "few", Type: arrow.BinaryTypes.String},
			{Name: "many", Type: arrow.BinaryTypes.String}}, nil),
		NDV: map[string]float64{"k": 50_000, "few": 12, "many": 60_000}}
	s := &scanRel{table: tb, cols: []colID{1, 2, 3}}
	col := func(id colID, typ arrow.DataType) *expr { return &expr{kind: eCol, col: id, typ: typ} }
	k, few, many := col(1, arrow.PrimitiveTypes.Int64), col(2, arrow.BinaryTypes.String), col(3, arrow.BinaryTypes.String)
	for _, c := range []struct {
		keys []*expr
		want float64
	}{
		{[]*expr{k}, 50_000},
		{[]*expr{few}, 12},
		{[]*expr{few, k}, 600_000},
		{[]*expr{many}, math.Inf(1)},
		{[]*expr{few, many}, math.Inf(1)},
	} {
		if got := keyProduct(&aggRel{in: s, groups: c.keys}); got != c.want {
			t.Errorf("%d keys: %v, want %v", len(c.keys), got, c.want)
		}
	}
}
