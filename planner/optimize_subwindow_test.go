package planner

import (
	"context"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/tpch"
)

// TestSubqueryWindow: a correlated MIN/MAX subquery over a part of the
// outer query's join becomes a window over it (TPC-H Q2), and only then:
// a condition the subquery lacks on its own tables, one it has that the
// outer query lacks, or an aggregate that counts repeats keep the join.
// Every answer is DuckDB's.
func TestSubqueryWindow(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	q2, err := tpch.Query(2)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, repl string) string {
		t.Helper()
		if !strings.Contains(q2, old) {
			t.Fatalf("Q2 has no %q", old)
		}
		return strings.Replace(q2, old, repl, 1)
	}
	const sub = "and r_name = 'EUROPE'\n    )"
	cases := []struct {
		name   string
		sql    string
		window bool
	}{
		{"q2", q2, true},
		{"max", edit("min(ps_supplycost)", "max(ps_supplycost)"), true},
		// The outer query keeps only some of a part's offers: the
		// minimum over all of them is not the minimum over those.
		{"outer condition on the subquery's table", edit("and p_size = 15", "and p_size = 15\n    and ps_availqty > 5000"), false},
		{"outer condition across tables", edit("and p_size = 15", "and p_size = 15\n    and s_acctbal > p_retailprice"), false},
		{"subquery condition of its own", edit(sub, "and r_name = 'EUROPE'\n            and ps_availqty > 5000\n    )"), false},
		{"a condition only the outer query's other table reads", edit("and p_size = 15", "and p_size = 15\n    and p_retailprice > 1000"), true},
		{"outer keys read twice", edit("and p_size = 15", "and p_size = 15\n    and ps_partkey < 1500"), true},
		{"count", `select p_partkey, ps_suppkey from part, partsupp where p_partkey = ps_partkey and p_size < 10
			and ps_availqty % 10 > (select count(*) from partsupp where ps_partkey = p_partkey) order by 1, 2`, false},
		{"one table", `select ps_partkey, ps_suppkey, ps_supplycost from partsupp
			where ps_supplycost = (select min(ps_supplycost) from partsupp ps2 where ps2.ps_partkey = partsupp.ps_partkey) order by 1, 2`, false},
		{"one table joined", `select p_partkey, ps_suppkey, ps_supplycost from part, partsupp where p_partkey = ps_partkey and p_size < 5
			and ps_supplycost = (select max(ps_supplycost) from partsupp ps2 where ps2.ps_partkey = p_partkey) order by 1, 2`, true},
		{"correlated on another column", `select p_partkey, ps_suppkey, ps_supplycost from part, partsupp where p_partkey = ps_partkey and p_size < 5
			and ps_supplycost < (select max(ps_supplycost) from partsupp ps2 where ps2.ps_suppkey = p_partkey) order by 1, 2`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, o := range []Options{{TargetPartitions: 3}, {TargetPartitions: 2, BroadcastRows: -1}} {
				p, err := PlanQuery(context.Background(), cat, c.sql, o)
				if err != nil {
					t.Fatal(err)
				}
				plan, err := Explain(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Contains(plan, "Window("); got != c.window {
					t.Fatalf("window: %v, want %v:\n%s", got, c.window, plan)
				}
				_, got := runSQLWith(t, cat, c.sql, o)
				want, err := db.Rows(c.sql)
				if err != nil {
					t.Fatal(err)
				}
				if err := oracle.SameRows(got, want); err != nil {
					t.Fatalf("%v\nkapot:  %q\nduckdb: %q", err, head(got), head(want))
				}
				if len(want) == 0 {
					t.Fatal("no rows: the case proves nothing")
				}
			}
		})
	}
}
