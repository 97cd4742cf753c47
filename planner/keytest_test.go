package planner

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/catalog"
	"github.com/kapot-go/kapot/internal/testkit/oracle"
	"github.com/kapot-go/kapot/internal/testkit/oracle/duck"
)

// TestOuterJoinKeyTests: a WHERE test of a LEFT (RIGHT) join's preserved
// key, a comparison with constants, filters the other side's key before
// the join (rows that fail it match no row kept); the answers stay
// DuckDB's, the unmatched rows' NULLs included.
func TestOuterJoinKeyTests(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for _, c := range []struct {
		sql     string
		derived string // a filter the plan must hold ("!x": must not hold x), or ""
	}{
		{`select n_name, r_name from nation left join region on n_regionkey = r_regionkey where n_regionkey = 1 order by 1`, `r_regionkey@\d+ = 1\b`},
		{`select n_name, r.r_name from nation left join (select * from region where r_regionkey <> 1) r on n_regionkey = r.r_regionkey where n_regionkey in (1, 2) order by 1`, `r_regionkey@\d+ IN \(1, 2\)`},
		{`select n_name, r_name from region right join nation on r_regionkey = n_regionkey where n_regionkey between 3 and 4 order by 1`, `r_regionkey@\d+ (BETWEEN 3 AND 4|>= 3)`},
		{`select n1.n_name, n2.n_nationkey from nation n1 left join nation n2 on n1.n_name = n2.n_name and n2.n_nationkey > 5 where n1.n_name >= 'P' order by 1`, `n_name@\d+ >= 'P'.*\n(.*\n)*.*n_name@\d+ >= 'P'`},
		{`select n_name, r_name from nation left join region on n_regionkey = r_regionkey where n_regionkey = n_nationkey order by 1`, ""},
		{`select s_suppkey, c_custkey from supplier left join customer on s_acctbal = c_acctbal where s_acctbal > 9990 order by 1, 2`, ""},
		{`select count(*), count(r_name) from nation left join region on n_regionkey = r_regionkey where n_regionkey > 10`, `r_regionkey@\d+ > 10`},
		// NULL keys on both sides.
		{`select a.n_name, b.r_name from (select case when n_nationkey % 3 = 0 then null else n_regionkey end k, n_name from nation) a
			left join (select case when r_regionkey = 2 then null else r_regionkey end k, r_name from region) b on a.k = b.k where a.k <> 1 order by 1`, ""},
		{`select a.n_name, b.r_name from (select case when n_nationkey % 3 = 0 then null else n_regionkey end k, n_name from nation) a
			left join (select case when r_regionkey = 2 then null else r_regionkey end k, r_name from region) b on a.k = b.k where a.k in (0, 2, 3) or a.k is null order by 1`, ""},
		{`select a.n_name, b.r_name from (select case when r_regionkey = 2 then null else r_regionkey end k, r_name from region) b
			right join (select case when n_nationkey % 3 = 0 then null else n_regionkey end k, n_name from nation) a on a.k = b.k where a.k >= 2 order by 1`, ""},
		// Outer joins of a FROM item join after the other items
		// (peelOuterJoins): padded rows, WHERE over padded sides and
		// chains of outer joins.
		{`select n_name, r_name, s_name from nation left join region on n_regionkey = r_regionkey and r_name like 'A%', supplier where s_nationkey = n_nationkey and s_suppkey < 20 order by 3`, ""},
		{`select n_name, s_name from nation left join region on n_regionkey = r_regionkey and r_name like 'A%', supplier where s_nationkey = n_nationkey and r_name is null and s_suppkey < 30 order by 2`, ""},
		{`select count(*), count(r_name) from nation left join region on n_regionkey = r_regionkey and r_regionkey < 3, supplier where s_nationkey = n_nationkey and (r_regionkey is null or s_acctbal > 0)`, ""},
		{`select n_name, r_name, s_name from region right join nation on r_regionkey = n_regionkey and r_regionkey > 2, supplier where s_nationkey = n_nationkey and s_suppkey between 5 and 25 order by 3`, ""},
		{`select n_name, r_name, s.s_name, c_name from nation left join region on n_regionkey = r_regionkey and r_regionkey <> 2 left join supplier s on s.s_nationkey = n_nationkey and s.s_suppkey < 5, customer
			where c_nationkey = n_nationkey and c_custkey < 60 order by 4, 3`, ""},
		{`select count(*), count(region.r_name) from nation left join region on n_regionkey = region.r_regionkey and region.r_regionkey = 1, region r2`, ""},
		{`select c_custkey, o_orderkey, n_name from customer left join orders on c_custkey = o_custkey and o_totalprice > 400000, nation
			where c_nationkey = n_nationkey and n_name = 'PERU' and c_custkey < 300 order by 1, 2`, `HashJoin\(LEFT`},
		// A predicate joining a padded side with another item keeps the
		// item whole: peeled, region would join supplier as a cross
		// product (TPC-DS q93's sr_reason_sk = r_reason_sk).
		{`select count(*), count(n_name) from supplier left join nation on s_nationkey = n_nationkey and n_nationkey < 20, region where n_regionkey = r_regionkey and r_name = 'ASIA'`, `!NestedLoopJoin`},
		// Scalar subqueries over one relation of several, correlated or not.
		{`select n_name, r_name from nation, region where n_regionkey = r_regionkey and n_nationkey = (select max(s_nationkey) from supplier) order by 1`, ""},
		{`select n_name, s_name from nation, supplier where s_nationkey = n_nationkey and s_acctbal > (select avg(s2.s_acctbal) from supplier s2 where s2.s_nationkey = supplier.s_nationkey) and n_regionkey = 1 order by 1, 2`, ""},
		{`select count(*) from nation, region where n_regionkey = r_regionkey and r_regionkey = (select r_regionkey from region where r_name = 'ASIA')`, ""},
		{`select count(*) from nation, region where n_regionkey = r_regionkey and n_nationkey > (select count(*) from region where r_regionkey = n_regionkey) * 4`, ""},
	} {
		t.Run(c.sql, func(t *testing.T) { checkAgainstDuckDB(t, cat, db, c.sql, c.derived) })
	}
}

// checkAgainstDuckDB runs sql in kapot and in DuckDB and fails on a
// difference; pattern, when not empty, is a regular expression the plan
// must hold ("!x": must not hold x).
func checkAgainstDuckDB(t *testing.T, cat *catalog.Catalog, db *duck.DB, sql, pattern string) {
	t.Helper()
	_, got := runSQL(t, cat, sql)
	want, err := db.Rows(sql)
	if err != nil {
		t.Fatal(err)
	}
	if err := oracle.SameRows(got, want); err != nil {
		t.Fatalf("%v\nkapot:  %q\nduckdb: %q", err, got, want)
	}
	if pattern == "" {
		return
	}
	p, err := PlanQuery(context.Background(), cat, sql, Options{})
	if err != nil {
		t.Fatal(err)
	}
	text, err := Explain(p)
	if err != nil {
		t.Fatal(err)
	}
	if absent, ok := strings.CutPrefix(pattern, "!"); ok {
		if regexp.MustCompile(absent).MatchString(text) {
			t.Errorf("the plan holds %s:\n%s", absent, text)
		}
	} else if !regexp.MustCompile(pattern).MatchString(text) {
		t.Errorf("the plan lacks %s:\n%s", pattern, text)
	}
}
