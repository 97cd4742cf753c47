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
