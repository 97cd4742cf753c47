package planner

import (
	"context"
	"strings"
	"testing"

	"github.com/kapot-go/kapot/internal/testkit/oracle"
)

// A WITH query read in two places, each filtering what it reads, computes
// only the rows either keeps: the disjunction of the filters goes into its
// definition, below its aggregate as what it says of the group keys
// (TPC-DS q04, q11, q74, q39 read one WITH query per channel and year).
// Answers are DuckDB's, including a place that filters on an aggregate
// and a WITH query also read unfiltered (then nothing is pushed).
func TestFiltersIntoSharedRelations(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	const pushed = `with t as (select o_custkey c, extract(year from o_orderdate) y, count(*) n, sum(o_totalprice) s from orders group by 1, 2)
		select a.c, a.n, b.n from t a, t b where a.c = b.c and a.y = 1995 and b.y = 1996 and b.n > 1 order by 1, 2, 3 limit 20`
	for _, sql := range []string{
		pushed,
		`with t as (select o_custkey c, extract(year from o_orderdate) y, count(*) n from orders group by 1, 2)
		select count(*), sum(a.n) from t a, t b where a.c = b.c and a.y = 1995`,
		`with t as (select 's' k, o_custkey c, count(*) n from orders group by 2 union all select 'c' k, c_custkey c, 1 n from customer)
		select x.c, x.n, y.n from t x join t y on x.c = y.c where x.k = 's' and y.k = 'c' order by 1 limit 10`,
	} {
		_, got := runSQL(t, cat, sql)
		want, err := db.Rows(sql)
		if err != nil {
			t.Fatal(err)
		}
		if err := oracle.SameRows(got, want); err != nil || len(got) == 0 {
			t.Fatalf("%v (%d rows)\n%s\nkapot:  %q\nduckdb: %q", err, len(got), sql, head(got), head(want))
		}
	}
	plan, err := ExplainLogical(context.Background(), cat, pushed, Options{TargetPartitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	agg := strings.Index(plan, "Aggregate:")
	if agg < 0 || !strings.Contains(plan[agg:], "Filter:") || !strings.Contains(plan[agg:], "1995") {
		t.Fatalf("the years are not filtered below the WITH query's aggregate:\n%s", plan)
	}
}

// TestSharedFilterThroughJoins: a WITH query's reader's filter goes into
// its definition through the joins that keep it whole (the inner side of
// an outer join's preserved side, either side of an inner join), and
// stays above an outer join for a column of its padded side; the answers
// stay DuckDB's (TPC-DS q78's year reached date_dim under
// store_sales ⟕ store_returns).
func TestSharedFilterThroughJoins(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for _, c := range []struct {
		sql   string
		holds string // a pattern the plan must hold ("!x": must not hold x), or ""
	}{
		{`with t as (select n_name, r_name, n_regionkey from nation left join region on n_regionkey = r_regionkey and r_regionkey < 3)
			select * from t where n_regionkey = 4 order by 1`, `(?s)HashJoin.*Filter\(n_regionkey@\d+ = 4\)\n\s+ParquetScan`},
		{`with t as (select n_name, r_name from nation left join region on n_regionkey = r_regionkey and r_regionkey < 3)
			select * from t where r_name is null order by 1`, `(?s)Filter\(IS NULL\(r_name@\d+\)(, output=\[[^\]]*\])?\)\n\s+HashJoin`},
		{`with t as (select n_name, r_name from region right join nation on n_regionkey = r_regionkey and r_regionkey > 1)
			select * from t where n_name < 'K' and r_name is null order by 1`, `(?s)Filter\(n_name@\d+ < 'K'\)\n\s+ParquetScan`},
		{`with t as (select c_custkey, o_orderkey, o_orderdate from customer left join orders on c_custkey = o_custkey and o_totalprice > 300000
			join nation on c_nationkey = n_nationkey where n_name = 'PERU')
			select count(*), count(o_orderkey) from t where o_orderdate is null or c_custkey < 50`, ""},
		{`with t as (select n_name, r_name from nation full join region on n_regionkey = r_regionkey + 3)
			select * from t where n_name is not null and r_name is null order by 1`, ""},
	} {
		t.Run(c.sql, func(t *testing.T) { checkAgainstDuckDB(t, cat, db, c.sql, c.holds) })
	}
}

// TestSharedComputedOnce: a WITH query grouped by keys, or of joins, and
// read three times is finished once, behind an exchange of its own whose
// stage the readers share; read twice, or aggregated to one row, each
// reader finishes it. Answers against DuckDB.
func TestSharedComputedOnce(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	const grouped = `with t as (select o_custkey k, count(*) c, sum(o_totalprice) s from orders group by o_custkey) `
	once := `(?s)Exchange\(Hash\(\[k@0\], 2\)\)\n\s+Projection\(o_custkey@0 AS k, [^\n]*\n\s+HashAggregate\(mode=FINAL`
	const joined = `with j as (select c_custkey k, c_name n, o_totalprice p from customer join orders on c_custkey = o_custkey
		where o_orderdate < date '1992-03-01') `
	joinedOnce := `(?s)Exchange\(Hash\(\[k@0\], 2\)\)\n\s+Projection\(c_custkey@0 AS k, [^\n]*\n\s+HashJoin\(`
	for _, c := range []struct {
		sql   string
		holds string
	}{
		{grouped + `select t1.k, t1.c, t2.s, t3.c from t t1 join t t2 on t1.k = t2.k join t t3 on t1.k = t3.k + 1
			where t1.c > 20 order by 1 limit 10`, once},
		{grouped + `select t1.k, t1.c, t2.s from t t1 join t t2 on t1.k = t2.k + 1 where t1.c > 20 order by 1 limit 10`, "!" + once},
		{`with t as (select count(*) c, max(o_totalprice) m from orders)
			select t1.c, t2.m, t3.c from t t1, t t2, t t3`, `!(?s)Exchange\(single\)\n\s+Projection\([^\n]*\n\s+HashAggregate\(mode=FINAL, group=\[\]`},
		// Joins read three times: joined once (TPC-DS q27's results).
		{joined + `select count(*), sum(p) from j union all select count(*), max(p) from j where n < 'Customer#0001'
			union all select k, p from (select k, p from j order by p desc, k limit 1)`, joinedOnce},
		{joined + `select count(*), sum(p) from j union all select count(*), max(p) from j where n < 'Customer#0001'`, "!" + joinedOnce},
	} {
		t.Run(c.sql, func(t *testing.T) { checkAgainstDuckDB(t, cat, db, c.sql, c.holds) })
	}
}

// TestTopGroups: the group count a shared aggregate read twice is judged
// by (sharedTwiceGroups) is the product of its keys' distinct values, at
// most its input's rows: lineitem grouped by order and part is about as
// many groups as rows; by return flag, three.
func TestTopGroups(t *testing.T) {
	cat := tpchCatalog(t)
	groups := func(sql string) float64 {
		t.Helper()
		sel, lists, err := parseQuery(sql)
		if err != nil {
			t.Fatal(err)
		}
		lp, err := bindQuery(context.Background(), cat, sel, lists, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var shared *sharedRel
		var walk func(r rel)
		walk = func(r rel) {
			if s, ok := r.(*sharedRel); ok && shared == nil {
				shared = s
			}
			for _, in := range inputs(r) {
				walk(in)
			}
		}
		walk(lp.root)
		if shared == nil {
			t.Fatalf("no shared relation in %s", sql)
		}
		return topGroups(unshared(shared.in))
	}
	lineitem, _ := cat.Lookup("lineitem")
	rows := float64(lineitem.Rows)
	for _, c := range []struct {
		with string
		want float64
	}{
		{"select l_orderkey, l_partkey, count(*) c from lineitem group by l_orderkey, l_partkey having count(*) > 1", rows},
		{"select l_returnflag, sum(l_quantity) q from lineitem group by l_returnflag", lineitem.NDV["l_returnflag"]},
		{"select l_returnflag, l_linestatus, count(*) c from lineitem group by 1, 2 union all select 'x', 'y', 1", lineitem.NDV["l_returnflag"] * lineitem.NDV["l_linestatus"]},
		{"select l_orderkey, count(*) c from lineitem group by l_orderkey", min(lineitem.NDV["l_orderkey"], rows)},
	} {
		sql := "with t as (" + c.with + ") select count(*) from t union all select count(*) from t"
		if got := groups(sql); got != c.want || got == 0 {
			t.Errorf("%s: %v groups, want %v", c.with, got, c.want)
		}
	}
}
