package planner

import (
	"strings"
	"testing"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
	"github.com/kapot-go/kapot/tpch"
)

// checkWindowCase plans sql in two modes (broadcast, partitioned), checks
// that its plan has a window exactly when window says, and that its rows
// are DuckDB's, and some.
func checkWindowCase(t *testing.T, cat *catalog.Catalog, db *duck.DB, sql string, window bool) {
	t.Helper()
	for _, o := range []Options{{TargetPartitions: 3}, {TargetPartitions: 2, BroadcastRows: -1}} {
		plan := explainSQL(t, cat, sql, o)
		if got := strings.Contains(plan, "Window("); got != window {
			t.Fatalf("window: %v, want %v:\n%s", got, window, plan)
		}
		_, got := runSQLWith(t, cat, sql, o)
		want, err := db.Rows(sql)
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
}

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
		t.Run(c.name, func(t *testing.T) { checkWindowCase(t, cat, db, c.sql, c.window) })
	}
}

// TestTotalWindow: an uncorrelated subquery aggregating exactly the rows
// a grouped query groups becomes a window over the groups (TPC-H Q11),
// and only then: other rows, a HAVING condition besides it, an aggregate
// the groups do not have or a float's sum keep the join. Every answer is
// DuckDB's.
func TestTotalWindow(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	q11, err := tpch.Query(11)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, repl string) string {
		t.Helper()
		if !strings.Contains(q11, old) {
			t.Fatalf("Q11 has no %q", old)
		}
		return strings.Replace(q11, old, repl, 1)
	}
	const grouped = `select n_regionkey, %s as v from nation, region where n_regionkey = r_regionkey and r_name <> 'ASIA'
		group by n_regionkey having %s > (select %s from nation, region where n_regionkey = r_regionkey and r_name <> 'ASIA') order by 1`
	q := func(sel, having, sub string) string {
		return strings.Replace(strings.Replace(strings.Replace(grouped, "%s", sel, 1), "%s", having, 1), "%s", sub, 1)
	}
	cases := []struct {
		name   string
		sql    string
		window bool
	}{
		{"q11", q11, true},
		{"count", q("count(*)", "count(*) * 5", "count(*)"), true},
		{"min", q("min(n_nationkey)", "min(n_nationkey) + 1", "min(n_nationkey)"), true},
		{"max and sum", q("sum(n_nationkey)", "max(n_nationkey) + sum(n_nationkey)", "max(n_nationkey) + sum(n_nationkey) / 5"), true},
		{"float sum", q("sum(n_nationkey * 1.5e0)", "sum(n_nationkey * 1.5e0) * 5", "sum(n_nationkey * 1.5e0)"), false},
		{"an aggregate the groups lack", q("sum(n_nationkey)", "sum(n_nationkey) * 3", "avg(n_nationkey)"), false},
		// The aggregate only the comparison reads is computed (it was
		// not: "column … is not in the input").
		{"an aggregate only HAVING's comparison reads", `select n_regionkey, count(*) from nation group by n_regionkey
			having max(n_nationkey) > (select count(*) * 4 from region) order by 1`, false},
		{"other rows", edit("and n_name = 'GERMANY'\n        )", "and n_name = 'FRANCE'\n        )"), false},
		{"a HAVING condition besides", edit("having\n        sum(ps_supplycost * ps_availqty) > (", "having\n        sum(ps_supplycost * ps_availqty) > 100 and sum(ps_supplycost * ps_availqty) > ("), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkWindowCase(t, cat, db, c.sql, c.window) })
	}
}

// TestSameRelationWindow: a correlated aggregate subquery over the very
// WITH query the outer side reads unfiltered becomes a window over it
// (TPC-DS q01, q30, q81), any aggregate, NULL keys dropped as the join
// drops them; a filtered subquery, another key or a COUNT keep the join.
// Every answer is DuckDB's.
func TestSameRelationWindow(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	const with = `with t as (select o_custkey k, case when o_orderpriority = '1-URGENT' then null else o_orderpriority end p, sum(o_totalprice) v
		from orders group by 1, 2) `
	cases := []struct {
		name   string
		sql    string
		window bool
	}{
		{"avg", with + `select k, p from t t1 where v > (select avg(v) * 1.2 from t t2 where t2.p = t1.p) order by 1, 2 limit 50`, true},
		{"sum and max, joined after", with + `select count(*) from t t1, lineitem where l_suppkey = k
			and v > (select max(v) / 2 + sum(v) / 100000 from t t2 where t1.p = t2.p)`, true},
		// The largest relation of its join: the subquery is joined above
		// the joins, not to the WITH query's rows.
		{"above the joins", with + `select c_name, p from t t1, customer where c_custkey = k and c_acctbal > 9000
			and v > (select max(v) / 2 + sum(v) / 100000 from t t2 where t1.p = t2.p) order by 1, 2`, false},
		{"NULL keys dropped", with + `select count(*) from t t1 where v > (select min(v) from t t2 where t2.p = t1.p)`, true},
		{"filtered subquery", with + `select k, p from t t1 where v > (select avg(v) from t t2 where t2.p = t1.p and t2.v > 100000) order by 1, 2 limit 50`, false},
		{"another key", with + `select k, p from t t1 where v > (select avg(v) from t t2 where t2.k = t1.k) order by 1, 2 limit 50`, true},
		{"count", with + `select k, p from t t1 where 0 < (select count(*) from t t2 where t2.p = t1.p and t2.k = t1.k) order by 1, 2 limit 50`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkWindowCase(t, cat, db, c.sql, c.window) })
	}
}
