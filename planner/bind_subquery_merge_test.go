package planner

import (
	"context"
	"strings"
	"testing"
)

// TestMergeScalarSubqueries: uncorrelated scalar subqueries aggregating
// the same rows of one table read it once, whatever they compute of the
// aggregate (a projection over it) or return over no rows; subqueries
// under another WHERE, or of another table, keep their own scans. Answers
// are DuckDB's.
func TestMergeScalarSubqueries(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for _, c := range []struct {
		sql   string
		scans int // ParquetScans in the plan
	}{
		{`select (select count(*) from lineitem where l_quantity < 10) c,
				(select avg(l_extendedprice) from lineitem where l_quantity < 10) a,
				(select sum(l_discount) from lineitem where l_quantity >= 10) s,
				(select max(l_shipdate) from lineitem) m,
				(select min(l_shipdate) from lineitem) n,
				(select min(o_orderdate) from orders) o
			from region where r_regionkey = 0`, 5},
		{`select (select count(*) * 2 from lineitem where l_quantity < 10 and l_tax > 0.02),
				(select count(*) + 1 from lineitem where l_quantity < 10 and l_tax > 0.02),
				(select sum(l_quantity) from lineitem where l_quantity > 1000),
				(select count(l_quantity) from lineitem where l_quantity > 1000)`, 2},
	} {
		checkAgainstDuckDB(t, cat, db, c.sql, "")
		p, err := PlanQuery(context.Background(), cat, c.sql, Options{TargetPartitions: 2})
		if err != nil {
			t.Fatal(err)
		}
		text, err := Explain(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(text, "ParquetScan"); got != c.scans {
			t.Errorf("%s: %d scans, want %d:\n%s", c.sql, got, c.scans, text)
		}
	}
}
