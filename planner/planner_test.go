package planner

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/engine"
	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
	"github.com/kapot-go/kapot/tpch"
)

var (
	tpchOnce sync.Once
	tpchDir  string
	tpchErr  error
)

// tpchData generates TPC-H SF 0.01 once per test binary.
func tpchData(t *testing.T) string {
	t.Helper()
	tpchOnce.Do(func() {
		tpchDir, tpchErr = os.MkdirTemp("", "kapot-planner-tpch-")
		if tpchErr == nil {
			tpchErr = tpch.Generate(context.Background(), tpch.Options{SF: 0.01, Dir: tpchDir, Partitions: 2})
		}
	})
	if tpchErr != nil {
		t.Fatal(tpchErr)
	}
	return tpchDir
}

// tpchCatalog is a catalog of the SF 0.01 TPC-H tables (tpchData).
func tpchCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat := catalog.New()
	if err := cat.RegisterParquetDir(tpchData(t), tpch.Tables); err != nil {
		t.Fatal(err)
	}
	return cat
}

// tpchOracle is DuckDB over the same tables, closed when the test ends.
func tpchOracle(t *testing.T) *duck.DB {
	t.Helper()
	db, err := duck.OpenTPCH(tpchData(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tpchDir != "" {
		os.RemoveAll(tpchDir)
	}
	os.Exit(code)
}

func runSQL(t *testing.T, cat *catalog.Catalog, sql string) ([]string, []string) {
	t.Helper()
	return runSQLWith(t, cat, sql, Options{TargetPartitions: 3})
}

// runSQLWith plans sql with o, runs it in this process and formats its rows.
func runSQLWith(t *testing.T, cat *catalog.Catalog, sql string, o Options) ([]string, []string) {
	t.Helper()
	p, err := PlanQuery(context.Background(), cat, sql, o)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	checkPlanSchema(t, p)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tc := &engine.TaskContext{JobID: "q", WorkDir: t.TempDir(), Mem: alloc.NewPoisoningAllocator(mem), Properties: map[string]string{}}
	if o.TargetPartitions >= 3 {
		// Partial aggregates emit every few groups, grow their bound and
		// pass rows through, paths the test data is too small to reach with
		// the default bound.
		tc.Properties[engine.PropPartialAggGroups] = "2"
	}
	bs, err := RunInProcess(context.Background(), p, tc, nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	rows := engine.FormatRows(bs, "|")
	for _, b := range bs {
		b.Release()
	}
	return p.Columns, rows
}

// checkPlanSchema asserts that the schema the planner states is the one
// the engine's operators produce.
func checkPlanSchema(t *testing.T, p *Plan) {
	t.Helper()
	op, err := engine.FromProto(p.Named())
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if got := op.Schema(); !got.Equal(p.Schema) {
		t.Fatalf("Plan.Schema is\n%s\nthe engine produces\n%s", p.Schema, got)
	}
}

func TestSmoke(t *testing.T) {
	cat := tpchCatalog(t)
	for _, q := range []string{
		`select count(*) from lineitem`,
		`select l_returnflag, l_linestatus, sum(l_quantity) as sum_qty, sum(l_extendedprice) as sum_base_price,
		  sum(l_extendedprice * (1 - l_discount)) as sum_disc_price, sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) as sum_charge,
		  avg(l_quantity) as avg_qty, avg(l_extendedprice) as avg_price, avg(l_discount) as avg_disc, count(*) as count_order
		from lineitem where l_shipdate <= date '1998-12-01' - interval '90' day
		group by l_returnflag, l_linestatus order by l_returnflag, l_linestatus`,
		`select sum(l_extendedprice * l_discount) as revenue from lineitem
		where l_shipdate >= date '1994-01-01' and l_shipdate < date '1994-01-01' + interval '1' year
		  and l_discount between 0.06 - 0.01 and 0.06 + 0.01 and l_quantity < 24`,
		`select n_name, count(*) from customer, nation where c_nationkey = n_nationkey group by n_name order by 2 desc, 1 limit 3`,
	} {
		cols, rows := runSQL(t, cat, q)
		t.Logf("%v\n%v", cols, rows)
	}
}

// longOr is a WHERE clause of n OR-ed comparisons.
func longOr(n int) string {
	return "select k from t where " + strings.Repeat("k = 1 or ", n-1) + "k = 2"
}

// TestLongDisjunctionPlans: FuzzSQL found that a long OR chain took
// quadratic time to type (each operator re-bound its whole left side in
// the engine: 1000 terms took 13 s, so this test would run for hours).
// Each node is now bound once (BenchmarkPlanLongOr), and the plan keeps
// every term.
func TestLongDisjunctionPlans(t *testing.T) {
	cat := catalog.New()
	if err := cat.Register(&catalog.Table{Name: "t", Format: "parquet", Files: []string{"/x/t.parquet"}, Rows: 1000,
		Schema: arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)}); err != nil {
		t.Fatal(err)
	}
	p, err := PlanQuery(context.Background(), cat, longOr(10000), Options{TargetPartitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	text, err := Explain(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(text, "= 1"); n < 9999 {
		t.Fatalf("plan keeps %d of the 9999 'k = 1' terms", n)
	}
}

func BenchmarkPlanLongOr(b *testing.B) {
	cat := catalog.New()
	if err := cat.Register(&catalog.Table{Name: "t", Format: "parquet", Files: []string{"/x/t.parquet"}, Rows: 1000,
		Schema: arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)}); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := PlanQuery(context.Background(), cat, longOr(n), Options{TargetPartitions: 2}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestIsNullOfUntypedNull: NULL IS [NOT] NULL, on a literal and on a
// column of the NULL type (an Arrow Null array has no validity bitmap).
func TestIsNullOfUntypedNull(t *testing.T) {
	cat := tpchCatalog(t)
	for sql, want := range map[string][]string{
		`select count(*) from nation where null is not null`:                                          {"0"},
		`select count(*) from nation where null is null`:                                              {"25"},
		`select x is null, x is not null from (select null as x from region where r_regionkey = 0) t`: {"true|false"},
	} {
		if _, got := runSQL(t, cat, sql); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", sql, got, want)
		}
	}
}
