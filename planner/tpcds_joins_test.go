package planner

import (
	"context"
	"github.com/kapot-go/kapot/catalog"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTPCDSQ16AntiJoinAfterDimensions: TPC-DS q16's NOT EXISTS over
// catalog_returns filters catalog_sales after its joins with a state, a
// county and two months (which keep a few rows of a thousand), not all of
// catalog_sales before them, where it also kept the dimensions' dynamic
// filters from the scan; the answer is DuckDB's at SF 0.1.
func TestTPCDSQ16AntiJoinAfterDimensions(t *testing.T) {
	dir := tpcdsDir(t)
	text := tpcdsQueryText(t, dir, "q16")
	cat, files := tpcdsCatalog(t, dir, "catalog_sales", "date_dim", "customer_address", "call_center", "catalog_returns")
	logical, err := ExplainLogical(context.Background(), cat, string(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(logical, "LEFT_ANTI"), strings.Index(logical, "Join: INNER"); i < 0 || j < 0 || i > j {
		t.Fatalf("the anti join is not above the inner joins:\n%s", logical)
	}
	_, got := runSQL(t, cat, string(text))
	sameAsDuckDB(t, got, files, string(text))
}

// TestTPCDSQ17DimensionBeforeRepartition: TPC-DS q17's store_returns
// meets its returned dates (three quarters of all years) before its
// repartitioned join with store_sales, not after it, so the join moves
// the returns it keeps; the answer is DuckDB's at SF 0.1.
func TestTPCDSQ17DimensionBeforeRepartition(t *testing.T) {
	dir := tpcdsDir(t)
	text := tpcdsQueryText(t, dir, "q17")
	cat, files := tpcdsCatalog(t, dir, "store_sales", "store_returns", "catalog_sales", "date_dim", "store", "item")
	_, got := runSQL(t, cat, string(text))
	sameAsDuckDB(t, got, files, string(text))
	// The plan at SF 1: its tables' rows, their columns' distinct values
	// as many times SF 0.1's (at most the rows; date_dim's are the same).
	scaleStats(cat, map[string]int64{"store_sales": 2_880_404, "store_returns": 287_514, "catalog_sales": 1_441_548,
		"item": 18_000, "store": 12})
	logical, err := ExplainLogical(context.Background(), cat, string(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	facts, dates := strings.Index(logical, "sr_ticket_number"), strings.Index(logical, "on=[sr_returned_date_sk")
	if facts < 0 || dates < 0 || dates < facts {
		t.Fatalf("store_returns meets its dates after store_sales:\n%s", logical)
	}
}

// scaleStats gives the tables of cat the row counts rows and their
// columns as many more distinct values (at most the rows), so that a test
// sees the plan of a larger scale factor over a small one's files.
func scaleStats(cat *catalog.Catalog, rows map[string]int64) {
	for name, n := range rows {
		tb, _ := cat.Lookup(name)
		scale := float64(n) / float64(tb.Rows)
		tb.Rows = n
		for c, d := range tb.NDV {
			tb.NDV[c] = min(d*scale, float64(n))
		}
	}
}

// TestTPCDSQ02WeeksOnDateDim: TPC-DS q02's semi-join reduction (the
// weeks of one year, for each reader of the weekly sales) goes onto
// date_dim, the small side the week comes from, in one task with no
// exchange, not above its join with every web and catalog sale; the
// answer is DuckDB's at SF 0.1.
func TestTPCDSQ02WeeksOnDateDim(t *testing.T) {
	dir := tpcdsDir(t)
	text := tpcdsQueryText(t, dir, "q02")
	cat, files := tpcdsCatalog(t, dir, "web_sales", "catalog_sales", "date_dim")
	_, got := runSQL(t, cat, string(text))
	sameAsDuckDB(t, got, files, string(text))
	scaleStats(cat, map[string]int64{"web_sales": 719_384, "catalog_sales": 1_441_548})
	plan := explainSQL(t, cat, string(text), Options{TargetPartitions: 2})
	// date_dim ⋉ weeks builds the join with the sales.
	semi := strings.Index(plan, "HashJoin(RIGHT_SEMI, COLLECT_LEFT, on=[d_week_seq@0 = d_week_seq@")
	inner := strings.LastIndex(plan[:max(semi, 0)], "HashJoin(INNER, COLLECT_LEFT, on=[d_date_sk@0 = sold_date_sk@0]")
	if semi < 0 || inner < 0 || strings.Count(plan, "RIGHT_SEMI, PARTITIONED") > 0 {
		t.Fatalf("the weeks do not reduce date_dim in the sales' join:\n%s", plan)
	}
}

// TestTPCDSQ39ReaderFiltersUnderFinalAggregate: each of q39's two readers
// of its monthly statistics, finished per reader, merges only its month's
// partial groups: its filter on d_moy is copied under its final aggregate
// (filterGroupsEarly); the answer is DuckDB's at SF 0.1.
func TestTPCDSQ39ReaderFiltersUnderFinalAggregate(t *testing.T) {
	dir := tpcdsDir(t)
	text := tpcdsQueryText(t, dir, "q39")
	cat, files := tpcdsCatalog(t, dir, "inventory", "item", "warehouse", "date_dim")
	_, got := runSQL(t, cat, string(text))
	sameAsDuckDB(t, got, files, string(text))
	plan := explainSQL(t, cat, string(text), Options{TargetPartitions: 2})
	for _, month := range []string{"1", "2"} {
		if !strings.Contains(plan, "HashAggregate(mode=FINAL") || !strings.Contains(plan, "Filter(d_moy@3 = "+month+" AND") {
			t.Fatalf("month %s is not filtered under its final aggregate:\n%s", month, plan)
		}
	}
}

// TestGroupFilterOperators: only predicates that cannot fail move under
// an aggregate; arithmetic and functions stay above it.
func TestGroupFilterOperators(t *testing.T) {
	col := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Column{Column: &kapotv1.ColumnExpr{Index: 0}}}
	lit := &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Literal{Literal: &kapotv1.ScalarValue{}}}
	bin := func(op kapotv1.BinaryOp, l, r *kapotv1.PhysicalExprNode) *kapotv1.PhysicalExprNode {
		return &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Binary{Binary: &kapotv1.BinaryExpr{Left: l, Op: op, Right: r}}}
	}
	for _, c := range []struct {
		e    *kapotv1.PhysicalExprNode
		move bool
	}{
		{bin(kapotv1.BinaryOp_BINARY_OP_EQ, col, lit), true},
		{bin(kapotv1.BinaryOp_BINARY_OP_OR, bin(kapotv1.BinaryOp_BINARY_OP_LT, col, lit), bin(kapotv1.BinaryOp_BINARY_OP_GT, col, lit)), true},
		{bin(kapotv1.BinaryOp_BINARY_OP_EQ, bin(kapotv1.BinaryOp_BINARY_OP_DIV, lit, col), lit), false},
		{bin(kapotv1.BinaryOp_BINARY_OP_EQ, &kapotv1.PhysicalExprNode{Expr: &kapotv1.PhysicalExprNode_Function{Function: &kapotv1.ScalarFunctionExpr{Args: []*kapotv1.PhysicalExprNode{col}}}}, lit), false},
	} {
		if got := movablePredicate(c.e.ProtoReflect()); got != c.move {
			t.Errorf("%v: movable %v, want %v", c.e, got, c.move)
		}
	}
}

// tpcdsQueryText is the text of TPC-DS query name (q01 … q99) beside the
// data of dir; the test is skipped without it.
func tpcdsQueryText(t *testing.T, dir, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(dir, "..", "queries", name+".sql"))
	if err != nil {
		t.Skipf("no TPC-DS queries: %v", err)
	}
	return text
}

// TestTPCDSQ38DistinctAggregatesEarly: each of TPC-DS q38's three SELECT
// DISTINCT (customer names and a date, over a year's sales joined to
// customer) first dedupes its sales by customer key and date, so the join
// and the aggregate of strings see one row a pair (SF 1: 540 000 store
// sales, 48 000 pairs); the answer is DuckDB's at SF 0.1.
func TestTPCDSQ38DistinctAggregatesEarly(t *testing.T) {
	dir := tpcdsDir(t)
	text := tpcdsQueryText(t, dir, "q38")
	cat, files := tpcdsCatalog(t, dir, "store_sales", "catalog_sales", "web_sales", "date_dim", "customer")
	_, got := runSQL(t, cat, string(text))
	sameAsDuckDB(t, got, files, string(text))
	scaleStats(cat, map[string]int64{"store_sales": 2_880_404, "catalog_sales": 1_441_548, "web_sales": 719_384, "customer": 100_000})
	logical, err := ExplainLogical(context.Background(), cat, string(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"ss_customer_sk", "cs_bill_customer_sk", "ws_bill_customer_sk"} {
		if !regexp.MustCompile(`Aggregate \(early, per task\): group=\[` + key + `#\d+, d_date#\d+\]`).MatchString(logical) {
			t.Errorf("no early aggregate by %s and d_date:\n%s", key, logical)
		}
	}
}
