package planner

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/tpch"
)

// TestImpliedJoinEqualities: equalities the WHERE clause implies (a = b
// and b = c: a = c) let a join meet its dimension early (TPC-H Q5's
// customer meets nation and region before orders and lineitem); an implied
// equality is only ever a join key, and a key its other keys already make
// redundant (equal columns on the built side, the same probe column) is
// dropped; answers checked against DuckDB.
func TestImpliedJoinEqualities(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	q5, err := tpch.Query(5)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, sql string
		early     string // a join the plan must hold, "" for none
	}{
		{"q5", q5, "on=[n_nationkey@0 = c_nationkey@"},
		{"three tables on one key", `select n_name, count(*) from nation, supplier, customer
			where s_nationkey = n_nationkey and c_nationkey = n_nationkey and n_regionkey = 1
			and s_acctbal > 9000 and c_acctbal > 9000 group by n_name order by n_name`, ""},
		{"q9 shape", `select n_name, sum(l_quantity) from part, supplier, lineitem, partsupp, nation
			where s_suppkey = l_suppkey and ps_suppkey = l_suppkey and ps_partkey = l_partkey
			and p_partkey = l_partkey and s_nationkey = n_nationkey and p_name like '%green%'
			group by n_name order by n_name`, ""},
	}
	keys := regexp.MustCompile(`on=\[([^\]]*)\]`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := explainSQL(t, cat, c.sql, Options{TargetPartitions: 2})
			if c.early != "" && !strings.Contains(plan, c.early) {
				t.Errorf("no join %q:\n%s", c.early, plan)
			}
			for _, m := range keys.FindAllStringSubmatch(plan, -1) {
				probe := map[string]bool{}
				for _, k := range strings.Split(m[1], ", ") {
					if _, right, ok := strings.Cut(k, " = "); ok {
						if probe[right] {
							t.Errorf("redundant key in %s:\n%s", m[0], plan)
						}
						probe[right] = true
					}
				}
			}
			if strings.Contains(plan, "filter=") && regexp.MustCompile(`filter=[^)]*key@\d+ = \w+key@`).MatchString(plan) {
				t.Errorf("an equality of keys left as a join filter:\n%s", plan)
			}
			_, got := runSQLWith(t, cat, c.sql, Options{TargetPartitions: 2})
			want, err := db.Rows(c.sql)
			if err != nil {
				t.Fatal(err)
			}
			if err := oracle.SameRows(got, want); err != nil || len(want) == 0 {
				t.Fatalf("%v\nkapot:  %q\nduckdb: %q", err, head(got), head(want))
			}
		})
	}
}

// explainSQL is the physical plan of sql, explained.
func explainSQL(t *testing.T, cat *catalog.Catalog, sql string, o Options) string {
	t.Helper()
	p, err := PlanQuery(context.Background(), cat, sql, o)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Explain(p)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestAdaptiveJoins checks which joins may turn into broadcasts at run
// time: in TPC-H Q18, with a broadcast threshold far below the tables,
// the semi join of orders with the orders whose lines add up to over 300
// (a HAVING's guess, exchanged again to be a stage of its own) and the
// join of its result with lineitem; none when broadcasts are off.
func TestAdaptiveJoins(t *testing.T) {
	// One file per table: no key ranges to join file by file.
	cat := generatedTPCH(t, 0, "customer", "orders", "lineitem")
	q18, err := tpch.Query(18)
	if err != nil {
		t.Fatal(err)
	}
	plan := explainSQL(t, cat, q18, Options{TargetPartitions: 2, BroadcastRows: 100})
	semi := regexp.MustCompile(`HashJoin\(RIGHT_SEMI, PARTITIONED, on=\[l_orderkey@0 = o_orderkey@0\], adaptive\)\n\s*Exchange\(Hash\(\[l_orderkey@0\], 2\)\)\n\s*Projection\(l_orderkey@0 AS l_orderkey\)\n\s*Filter\(sum_0@1 > 300(, output=\[l_orderkey@0\])?\)`)
	if !semi.MatchString(plan) {
		t.Errorf("no adaptive semi join over its exchanged HAVING:\n%s", plan)
	}
	if !strings.Contains(plan, "HashJoin(INNER, PARTITIONED, on=[o_orderkey@2 = l_orderkey@0], adaptive)") {
		t.Errorf("no adaptive join with lineitem:\n%s", plan)
	}
	if plan := explainSQL(t, cat, q18, Options{TargetPartitions: 2, BroadcastRows: -1}); strings.Contains(plan, "adaptive") {
		t.Errorf("adaptive joins with broadcasts off:\n%s", plan)
	}
}
