package planner

import "testing"

// TestGroupingSetsExpand: grouping sets whose aggregates combine are one
// aggregation over the all-keys aggregate cross joined with the sets
// (expandSets), not a union recomputing it per set, and the set of every
// key is that aggregate's groups finished, beside it; the answers stay
// DuckDB's: NULL keys beside rolled-up NULLs, GROUPING() values, the grand
// total over no rows, CUBE, count/avg/min/max, and the union where an
// aggregate does not combine.
func TestGroupingSetsExpand(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	for _, c := range []struct {
		sql   string
		holds string // a pattern the plan must hold ("!x": must not hold x), or ""
	}{
		{`select n_regionkey, n_name, count(*), sum(n_nationkey), grouping(n_regionkey), grouping(n_regionkey, n_name) from nation group by rollup (n_regionkey, n_name) order by 1, 2, 5, 6`, `(?s)Union\(2 inputs\).*NestedLoopJoin.*Values\(rows=2\)`},
		// The set of every key twice: its groups once as the
		// pre-aggregate's, once re-aggregated.
		{`select n_regionkey, n_name, count(*), grouping(n_name) from nation group by grouping sets ((n_regionkey, n_name), (n_name, n_regionkey), ()) order by 1 nulls first, 2 nulls first`, `Values\(rows=2\)`},
		{`select n_regionkey, count(*), avg(n_nationkey) from nation group by grouping sets ((n_regionkey), (n_regionkey)) order by 1`, `Values\(rows=1\)`},
		{`select n_regionkey, count(*), sum(n_nationkey), avg(n_nationkey), min(n_name), max(n_name) from nation where n_nationkey > 100 group by rollup (n_regionkey)`, `!Union\(3`},
		{`select k, count(*), count(v), sum(v), avg(v) from (select case when n_nationkey % 4 = 0 then null else n_regionkey end k, case when n_nationkey % 3 = 0 then null else n_nationkey end v from nation) t group by rollup (k) order by 1 nulls first, 2`, ""},
		{`select r_name, n_name, count(*) from nation, region where n_regionkey = r_regionkey group by cube (r_name, n_name) order by 1 nulls first, 2 nulls first`, ""},
		{`select n_regionkey, n_name is null, count(*), grouping(n_regionkey) from nation group by grouping sets ((n_regionkey), (n_name is null), ()) order by 1 nulls first, 2 nulls first`, ""},
		{`select o_orderpriority, o_orderstatus, count(*), sum(o_totalprice), avg(o_totalprice) from orders where o_orderkey < 2000 group by rollup (o_orderpriority, o_orderstatus) order by 1 nulls first, 2 nulls first`, ""},
		{`select n_regionkey, count(distinct n_name) from nation group by rollup (n_regionkey) order by 1 nulls first`, `Union`},
	} {
		t.Run(c.sql, func(t *testing.T) { checkAgainstDuckDB(t, cat, db, c.sql, c.holds) })
	}
}

// TestRollupChain: a ROLLUP over an aggregate of many groups (the
// catalog says SF 10) aggregates each set from the one with the next
// more keys (rollupChain: one aggregate per set, no cross join with the
// sets), and answers as DuckDB does: counts, sums, min, max, avg,
// GROUPING() masks, NULL keys beside rolled-up ones, and the grand total
// of an empty input (count 0).
func TestRollupChain(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	scaleStats(cat, map[string]int64{"lineitem": 59_986_052, "orders": 15_000_000})
	for _, c := range []struct{ sql, holds string }{
		{`select l_returnflag, l_linestatus, l_shipmode, count(*), sum(l_quantity), min(l_discount), max(l_tax), avg(l_extendedprice),
			grouping(l_returnflag, l_linestatus, l_shipmode), grouping(l_shipmode)
			from lineitem group by rollup (l_returnflag, l_linestatus, l_shipmode) order by 1 nulls first, 2 nulls first, 3 nulls first`,
			`Union\(4 inputs\)`},
		{`select o_custkey, case when o_orderkey % 3 = 0 then null else o_orderstatus end s, count(*), count(o_comment), sum(o_totalprice), min(o_orderdate)
			from orders group by rollup (1, 2) order by 1 nulls first, 2 nulls first, 3`, `Union\(3 inputs\)`},
		{`select l_returnflag, l_linestatus, count(*), sum(l_quantity), avg(l_tax) from lineitem where l_quantity < 0
			group by rollup (l_returnflag, l_linestatus)`, `Union\(3 inputs\)`},
	} {
		t.Run(c.sql, func(t *testing.T) { checkAgainstDuckDB(t, cat, db, c.sql, c.holds) })
	}
}
