package planner

import "testing"

// TestTopNRankingPushdown: a filter bounding a window's one ranking
// function puts a TopNRanking under the window, and answers stay
// DuckDB's, with ties at the bound, nulls, and bounds written either way
// round; a filter that does not bound the ranking alone, a window with
// more than the ranking, and a window another reader shares get none.
func TestTopNRankingPushdown(t *testing.T) {
	cat, db := tpchCatalog(t), tpchOracle(t)
	const top = `TopNRanking\(`
	for _, c := range []struct {
		sql   string
		holds string
	}{
		{`select * from (select o_custkey, o_orderkey, o_totalprice,
				rank() over (partition by o_custkey order by o_totalprice desc) r from orders) t
			where r <= 2 order by o_custkey, r, o_orderkey limit 50`, `TopNRanking\(rank <= 2, partition=\[o_custkey@`},
		{`select o_orderstatus, o_orderdate, rn from (select o_orderstatus, o_orderdate,
				row_number() over (partition by o_orderstatus order by o_orderdate) rn from orders) t
			where rn < 6 order by 1, 2, 3`, `TopNRanking\(row_number <= 5`},
		{`select l_returnflag, cast(l_quantity as bigint), dr, count(*) from (select l_returnflag, l_quantity,
				dense_rank() over (partition by l_returnflag order by l_quantity desc nulls first) dr from lineitem) t
			where 2 >= dr group by 1, 2, 3 order by 1, 2`, `TopNRanking\(dense_rank <= 2`},
		{`select c_nationkey, c_acctbal, r from (select c_nationkey, c_acctbal,
				rank() over (order by c_acctbal) r from customer) t where r = 1 order by 1`, `TopNRanking\(rank <= 1, partition=\[\]`},
		{`select count(*) from (select o_custkey, rank() over (partition by o_custkey order by o_totalprice) r from orders) t
			where r <= 2 or o_custkey < 10`, "!" + top},
		{`select o_custkey, r, s from (select o_custkey, rank() over (partition by o_custkey order by o_totalprice) r,
				sum(o_totalprice) over (partition by o_custkey order by o_totalprice) s from orders) t
			where r <= 1 order by 1 limit 20`, "!" + top},
		{`with w as (select o_custkey, rank() over (partition by o_custkey order by o_totalprice) r from orders)
			select count(*) from w where r <= 1 union all select count(*) from w`, "!" + top},
	} {
		t.Run(c.sql, func(t *testing.T) { checkAgainstDuckDB(t, cat, db, c.sql, c.holds) })
	}
}
